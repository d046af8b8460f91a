r"""Matrix products of row groups with a matrix per group, without a Python
loop over the groups and without a matrix per row."""
from typing import Callable, Dict, Optional, Tuple

import torch
from torch import Tensor

_GROUPED_MM: Optional[Callable] = getattr(torch.nn.functional, 'grouped_mm',
                                          getattr(torch, '_grouped_mm', None))
_GROUPED_MM_WORKS: Dict[Tuple[str, torch.dtype], bool] = {}


def _grouped_mm_works(device: torch.device, dtype: torch.dtype) -> bool:
    r"""Whether this torch has a grouped matrix product (forward and
    backward) for :obj:`dtype` on :obj:`device`: tried once on a tiny
    input, since support differs between versions, devices and types."""
    key = (device.type, dtype)
    if key not in _GROUPED_MM_WORKS:
        works = _GROUPED_MM is not None
        if works:
            try:
                with torch.inference_mode(False), torch.enable_grad():
                    works = _probe(device, dtype)
            except (RuntimeError, NotImplementedError, TypeError):
                works = False
        _GROUPED_MM_WORKS[key] = works
    return _GROUPED_MM_WORKS[key]


def _probe(device: torch.device, dtype: torch.dtype) -> bool:
    a = torch.ones(3, 8, dtype=dtype, device=device, requires_grad=True)
    w = torch.ones(2, 8, 8, dtype=dtype, device=device, requires_grad=True)
    offs = torch.tensor([1, 3], dtype=torch.int32, device=device)
    out = _GROUPED_MM(a, w, offs=offs)
    out.backward(torch.ones_like(out))
    return bool(out[0, 0] == 8 and w.grad[1, 0, 0] == 2)


class _ContiguousGrad(torch.autograd.Function):
    r"""Identity whose backward makes the gradient contiguous (the grouped
    product's backward rejects expanded gradients such as those of
    :meth:`sum`)."""
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return grad.contiguous()


class SegmentLayout:
    r"""How :func:`segment_matmul` lays out :math:`P` rows of :math:`G`
    groups: the rows sorted by group and cut into tiles of :obj:`tile` rows,
    each tile holding rows of one group (the last tile of a group padded), so
    that one batched product of :math:`[T, \text{tile}, c_{in}]` tiles with
    the :math:`[T, c_{in}, c_{out}]` matrices of their groups computes every
    row's product. With :obj:`tile` :math:`\approx P / G`, there are at most
    :math:`2G` tiles: memory :math:`O(P c_{in} + G c_{in} c_{out})`.
    Where torch has a grouped matrix product for the device and type
    (:func:`torch.nn.functional.grouped_mm`; float32 on CPU in recent
    versions), the rows sorted by group are multiplied with it instead,
    without padding or copies of the matrices.

    Depends only on the group of every row, so it can be built once and
    reused for several products (e.g. every layer of an encoder).

    Args:
        group (torch.Tensor): The group of every row, :math:`[P]`, in
            :math:`\{0, \ldots, G-1\}`.
        num_groups (int): :math:`G`.
        tile (int, optional): Rows per tile. (default: :math:`\lceil P / G
            \rceil`, at least 8)
    """
    def __init__(self, group: Tensor, num_groups: int,
                 tile: Optional[int] = None) -> None:
        num_rows = group.numel()
        if tile is None:
            tile = max(8, -(-num_rows // max(1, num_groups)))
        self.num_rows, self.num_groups, self.tile = num_rows, num_groups, tile
        device = group.device
        counts = torch.bincount(group, minlength=num_groups)
        tiles_per_group = (counts + tile - 1) // tile
        self.tile_group = torch.repeat_interleave(
            torch.arange(num_groups, device=device), tiles_per_group)
        first_tile = tiles_per_group.cumsum(0) - tiles_per_group
        first_row = counts.cumsum(0) - counts
        order = torch.argsort(group, stable=True)
        sorted_group = group[order]
        position = torch.arange(num_rows,
                                device=device) - first_row[sorted_group]
        slot_sorted = ((first_tile[sorted_group] + position // tile) * tile +
                       position % tile)
        # slot[i]: where row i goes in the [num_tiles * tile] buffer.
        self.slot = torch.empty_like(slot_sorted)
        self.slot[order] = slot_sorted
        self.num_tiles = int(tiles_per_group.sum())
        # For the grouped product: rows in group order, and group ends.
        self.group = group
        self.is_sorted = bool((order == torch.arange(num_rows,
                                                     device=device)).all())
        self.order = order
        self.offsets = counts.cumsum(0).to(torch.int32)
        self._expanded: Dict[int, 'SegmentLayout'] = {}

    def expanded(self, blocks: int) -> 'SegmentLayout':
        r"""The layout of the :math:`P \cdot B` rows of :math:`B` blocks per
        row, row :math:`i`'s block :math:`b` in group :math:`g_i B + b`."""
        if blocks not in self._expanded:
            group = self.group
            within = torch.arange(blocks, device=group.device)
            self._expanded[blocks] = SegmentLayout(
                (group.view(-1, 1) * blocks + within).view(-1),
                self.num_groups * blocks)
        return self._expanded[blocks]

    def to(self, device) -> 'SegmentLayout':
        for name in ('tile_group', 'slot', 'order', 'offsets', 'group'):
            setattr(self, name, getattr(self, name).to(device))
        self._expanded = {}
        return self


def _grouped_usable(x: Tensor, weight: Tensor, *widths: int) -> bool:
    # Rows of both operands must start at 16-byte boundaries.
    return (x.dtype == weight.dtype
            and all(w * x.element_size() % 16 == 0 for w in widths)
            and _grouped_mm_works(x.device, x.dtype))


def block_diagonal(weight: Tensor) -> Tensor:
    r"""The full :math:`[G, c_{in}, c_{out}]` matrices of block-diagonal
    ones given as :math:`[G, B, c_{in}/B, c_{out}/B]` (differentiable)."""
    groups, blocks, c_in, c_out = weight.shape
    eye = torch.eye(blocks, dtype=weight.dtype, device=weight.device)
    return torch.einsum('gbio,bc->gbico', weight,
                        eye).reshape(groups, blocks * c_in, blocks * c_out)


def segment_matmul(x: Tensor, layout: SegmentLayout, weight: Tensor) -> Tensor:
    r"""Computes :math:`\mathbf{x}_i \mathbf{W}_{g_i}` for every row
    :math:`i` of :obj:`x` :math:`[P, c_{in}]`, with the groups of
    :obj:`layout` and :obj:`weight` :math:`[G, c_{in}, c_{out}]`, or
    block-diagonal matrices given as :math:`[G, B, c_{in}/B, c_{out}/B]`.
    Differentiable in :obj:`x` and :obj:`weight`.

    :rtype: :class:`torch.Tensor` :math:`[P, c_{out}]`
    """
    if x.size(0) != layout.num_rows:
        raise ValueError(f"The layout was built for {layout.num_rows} rows, "
                         f"got {x.size(0)}")
    if weight.size(0) != layout.num_groups:
        raise ValueError(f"The layout has {layout.num_groups} groups, but "
                         f"there are {weight.size(0)} matrices")
    out_channels = weight.size(-1) * (weight.size(1)
                                      if weight.dim() == 4 else 1)
    if layout.num_rows == 0:
        return x.new_zeros(0, out_channels)
    if weight.dim() == 4:
        blocks, block_in, block_out = weight.shape[1:]
        if _grouped_usable(x, weight, block_in, block_out):
            # Every block of every row as a row of its own (group, block).
            out = segment_matmul(x.reshape(x.size(0) * blocks, block_in),
                                 layout.expanded(blocks), weight.flatten(0, 1))
            return out.view(x.size(0), out_channels)
        if _grouped_usable(x, weight, x.size(1), out_channels):
            # Blocks too narrow to align: B times the products, but one
            # fast grouped product instead of padded batches.
            return segment_matmul(x, layout, block_diagonal(weight))
    elif _grouped_usable(x, weight, x.size(1), out_channels):
        rows = x if layout.is_sorted else x.index_select(0, layout.order)
        if not (weight.device.type == 'cpu'
                and weight.transpose(-1, -2).is_contiguous()):
            # On the CPU the grouped product also takes column-major
            # matrices (transposed views), which saves a copy of them all
            # forward and backward; elsewhere only row-major is assumed.
            weight = weight.contiguous()
        out = _ContiguousGrad.apply(
            _GROUPED_MM(rows.contiguous(), weight, offs=layout.offsets))
        if layout.is_sorted:
            return out
        return out.new_empty(out.shape).index_copy(0, layout.order, out)
    size = layout.num_tiles * layout.tile
    buffer = x.new_zeros(size, x.size(1)).index_copy(0, layout.slot, x)
    tiles = buffer.view(layout.num_tiles, layout.tile, x.size(1))
    matrices = weight.index_select(0, layout.tile_group)
    if weight.dim() == 3:
        out = torch.bmm(tiles, matrices)
    else:  # block-diagonal: [T, tile, B, in / B] x [T, B, in / B, out / B]
        blocks = weight.size(1)
        out = torch.einsum('ntbi,nbio->ntbo',
                           tiles.view(*tiles.shape[:2], blocks, -1), matrices)
    return out.reshape(size, out_channels).index_select(0, layout.slot)


def group_pairs(index: Tensor, group: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    r"""The distinct :math:`(\text{index}, \text{group})` pairs of the
    entries, sorted by group and then index (a :class:`SegmentLayout` of
    their groups needs no reordering): their index, their group, and the
    pair of every entry.

    :rtype: (:class:`torch.Tensor` :math:`[P]`, :class:`torch.Tensor`
        :math:`[P]`, :class:`torch.Tensor` :math:`[E]`)
    """
    num_index = int(index.max()) + 1 if index.numel() else 1
    pairs, inverse = torch.unique(group * num_index + index,
                                  return_inverse=True)
    return pairs % num_index, pairs // num_index, inverse
