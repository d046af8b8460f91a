r"""Matrix products of row groups with a matrix per group, without a Python
loop over the groups and without a matrix per row."""
from typing import Optional, Tuple

import torch
from torch import Tensor


class SegmentLayout:
    r"""How :func:`segment_matmul` lays out :math:`P` rows of :math:`G`
    groups: the rows sorted by group and cut into tiles of :obj:`tile` rows,
    each tile holding rows of one group (the last tile of a group padded), so
    that one batched product of :math:`[T, \text{tile}, c_{in}]` tiles with
    the :math:`[T, c_{in}, c_{out}]` matrices of their groups computes every
    row's product. With :obj:`tile` :math:`\approx P / G`, there are at most
    :math:`2G` tiles: memory :math:`O(P c_{in} + G c_{in} c_{out})`.

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
        position = torch.arange(num_rows, device=device) - first_row[
            sorted_group]
        slot_sorted = ((first_tile[sorted_group] + position // tile) * tile +
                       position % tile)
        # slot[i]: where row i goes in the [num_tiles * tile] buffer.
        self.slot = torch.empty_like(slot_sorted)
        self.slot[order] = slot_sorted
        self.num_tiles = int(tiles_per_group.sum())

    def to(self, device) -> 'SegmentLayout':
        self.tile_group = self.tile_group.to(device)
        self.slot = self.slot.to(device)
        return self


def segment_matmul(x: Tensor, layout: SegmentLayout,
                   weight: Tensor) -> Tensor:
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


def group_pairs(index: Tensor, group: Tensor,
                num_groups: int) -> Tuple[Tensor, Tensor, Tensor]:
    r"""The distinct :math:`(\text{index}, \text{group})` pairs of the
    entries: their index, their group, and the pair of every entry.

    :rtype: (:class:`torch.Tensor` :math:`[P]`, :class:`torch.Tensor`
        :math:`[P]`, :class:`torch.Tensor` :math:`[E]`)
    """
    key = index * num_groups + group
    pairs, inverse = torch.unique(key, return_inverse=True)
    return pairs // num_groups, pairs % num_groups, inverse
