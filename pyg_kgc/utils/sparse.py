r"""Sparse products with dense features: a constant sparse matrix times
features, with a backward pass that reuses a transposed copy instead of
scattering per entry, and the dot products of selected pairs of rows."""
import warnings
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor


def _check_range(ids: Tensor, bound: int, name: str) -> None:
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= bound):
        raise ValueError(f"{name} index out of range [0, {bound})")


def _crow(row: Tensor, num_rows: int) -> Tensor:
    r"""CSR row pointers of entries sorted by :obj:`row`."""
    crow = torch.zeros(num_rows + 1, dtype=torch.long, device=row.device)
    crow[1:] = torch.bincount(row, minlength=num_rows).cumsum(0)
    return crow


def _csr_pattern(row: Tensor, col: Tensor, num_rows: int,
                 num_cols: int) -> Tuple[Tensor, Tensor, Tensor]:
    r"""CSR row pointers and column indices of the entries :obj:`(row,
    col)` (repeats kept), and the order that sorts the entries into it."""
    order = torch.argsort(row * num_cols + col)
    return _crow(row, num_rows), col[order], order


def _csr_tensor(crow: Tensor, col: Tensor, value: Tensor,
                size: Tuple[int, int]) -> Tensor:
    with warnings.catch_warnings():  # "CSR support is in beta"
        warnings.simplefilter('ignore', UserWarning)
        return torch.sparse_csr_tensor(crow, col, value, size)


def _spmm(matrix: Tensor, dense: Tensor) -> Tensor:
    r"""A CSR matrix times a dense one, for few nonzeros per output row (as
    in :func:`sampled_dot`'s backward pass). There, CPU's
    :func:`torch.mm` given a fresh output (its contents are ignored)
    writes the product directly, several times faster than
    :obj:`matrix @ dense`, which zero-fills a result and copies it between
    layouts. (Not so for the large products of :class:`SparseMatrix`,
    where :obj:`@` is as fast and parallel.)"""
    if matrix.device.type != 'cpu':
        return matrix @ dense
    out = dense.new_empty(matrix.size(0), dense.size(1))
    return torch.mm(matrix, dense, out=out)


def _csr(row: Tensor, col: Tensor, value: Tensor, num_rows: int,
         num_cols: int) -> Tuple[Tensor, Tensor, Tensor]:
    crow, sorted_col, order = _csr_pattern(row, col, num_rows, num_cols)
    return crow, sorted_col, value[order]


class _Multiply(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, matrix: Tensor, transposed: Tensor) -> Tensor:
        ctx.transposed = transposed
        return matrix @ x

    @staticmethod
    def backward(ctx, grad: Tensor):
        return ctx.transposed @ grad.contiguous(), None, None


class SparseMatrix:
    r"""A fixed sparse :math:`[M, N]` matrix :math:`\mathbf{A}` (entries
    :math:`(\text{row}_e, \text{col}_e)` with values :math:`a_e`, repeated
    entries summed) for products :math:`\mathbf{A} \mathbf{X}` with dense
    :math:`\mathbf{X}` :math:`[N, F]`, differentiable in :math:`\mathbf{X}`.

    Both :math:`\mathbf{A}` and :math:`\mathbf{A}^{\top}` are kept in CSR
    format, so the forward and the backward pass are each one sparse-dense
    product (no :math:`[E, F]` intermediate of gathered rows, no scatter).
    Built once per graph, it can serve any number of products.

    Args:
        row (torch.Tensor): Row of every entry, :math:`[E]`.
        col (torch.Tensor): Column of every entry, :math:`[E]`.
        value (torch.Tensor, optional): Value of every entry (ones if
            :obj:`None`); kept in :obj:`torch.float64` and cast to the
            features' type. (default: :obj:`None`)
        size (tuple): :math:`(M, N)`.
    """
    def __init__(self, row: Tensor, col: Tensor, value: Optional[Tensor],
                 size: Tuple[int, int]) -> None:
        if row.shape != col.shape or row.dim() != 1:
            raise ValueError(f"row and col must be vectors of one length, got "
                             f"{list(row.shape)} and {list(col.shape)}")
        if value is not None and value.shape != row.shape:
            raise ValueError(f"value must have shape {list(row.shape)}, got "
                             f"{list(value.shape)}")
        self.size = (int(size[0]), int(size[1]))
        _check_range(row, self.size[0], 'row')
        _check_range(col, self.size[1], 'col')
        if value is None:
            value = torch.ones(row.numel(), dtype=torch.float64,
                               device=row.device)
        value = value.double()
        self._parts = (_csr(row, col, value,
                            *self.size), _csr(col, row, value,
                                              *self.size[::-1]))
        self._built: Dict[Tuple[torch.dtype, torch.device],
                          Tuple[Tensor, Tensor]] = {}

    def _matrices(self, dtype: torch.dtype,
                  device: torch.device) -> Tuple[Tensor, Tensor]:
        key = (dtype, device)
        if key not in self._built:
            built = []
            for (crow, col, value), size in zip(self._parts,
                                                (self.size, self.size[::-1])):
                built.append(
                    _csr_tensor(crow.to(device), col.to(device),
                                value.to(device, dtype), size))
            self._built[key] = (built[0], built[1])
        return self._built[key]

    def matmul(self, x: Tensor) -> Tensor:
        r""":math:`\mathbf{A} \mathbf{X}`, :math:`[M, F]`."""
        if x.dim() != 2 or x.size(0) != self.size[1]:
            raise ValueError(f"Expected features of shape [{self.size[1]}, "
                             f"F], got {list(x.shape)}")
        matrix, transposed = self._matrices(x.dtype, x.device)
        return _Multiply.apply(x.contiguous(), matrix, transposed)

    __matmul__ = matmul

    def to(self, device) -> 'SparseMatrix':
        self._parts = tuple(
            tuple(t.to(device) for t in part) for part in self._parts)
        self._built = {}
        return self


def _check_pairs(x: Tensor, y: Tensor, row: Tensor, col: Tensor) -> None:
    if x.dim() != 2 or y.dim() != 2 or x.size(1) != y.size(1):
        raise ValueError(f"Expected x [M, F] and y [N, F], got "
                         f"{list(x.shape)} and {list(y.shape)}")
    if x.dtype != y.dtype or not x.is_floating_point():
        raise ValueError(f"x and y must share one floating point type, got "
                         f"{x.dtype} and {y.dtype}")
    if row.shape != col.shape or row.dim() != 1:
        raise ValueError(f"row and col must be vectors of one length, got "
                         f"{list(row.shape)} and {list(col.shape)}")
    _check_range(row, x.size(0), 'row')
    _check_range(col, y.size(0), 'col')


def _distinct_pairs(
        row: Tensor, col: Tensor, size: Tuple[int, int],
        like: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    r"""The CSR pattern (values zeros of :obj:`like`'s type) of the distinct
    pairs :obj:`(row, col)` of a :obj:`size` matrix, sorted as CSR wants;
    with its row pointers, the pairs' rows and columns, and where every
    entry's pair went. Sampled products on it compute a repeated pair once
    (and :func:`torch.sparse.sampled_addmm` refuses a pattern with more
    entries than its matrix has)."""
    key, inverse = torch.unique(row * size[1] + col, sorted=True,
                                return_inverse=True)
    pair_row, pair_col = key // size[1], key % size[1]
    crow = _crow(pair_row, size[0])
    pattern = _csr_tensor(crow, pair_col, like.new_zeros(key.numel()), size)
    return pattern, crow, pair_row, pair_col, inverse


def _sampled(pattern: Tensor, x: Tensor, y: Tensor) -> Tensor:
    r"""The dot products of rows of :obj:`x` and :obj:`y` at the entries of
    :obj:`pattern`, in its order."""
    return torch.sparse.sampled_addmm(pattern, x, y.t(), beta=0.0).values()


class _SampledDot(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, y: Tensor, row: Tensor, col: Tensor) -> Tensor:
        pattern, crow, pair_row, pair_col, inverse = _distinct_pairs(
            row, col, (x.size(0), y.size(0)), x)
        ctx.save_for_backward(x, y, crow, pair_row, pair_col, inverse)
        return _sampled(pattern, x, y)[inverse]

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, y, crow, pair_row, pair_col, inverse = ctx.saved_tensors
        size = (x.size(0), y.size(0))
        value = grad.new_zeros(pair_row.numel()).index_add_(0, inverse, grad)
        grad_x = grad_y = None
        if ctx.needs_input_grad[0]:  # A y with A[row, col] = grad
            grad_x = _spmm(_csr_tensor(crow, pair_col, value, size), y)
        if ctx.needs_input_grad[1]:  # A^T x
            crow_t, sorted_row, order = _csr_pattern(pair_col, pair_row,
                                                     *size[::-1])
            grad_y = _spmm(
                _csr_tensor(crow_t, sorted_row, value[order], size[::-1]), x)
        return grad_x, grad_y, None, None


def sampled_dot(x: Tensor, y: Tensor, row: Tensor, col: Tensor) -> Tensor:
    r"""The dot products :math:`\langle \mathbf{x}_{\text{row}_e},
    \mathbf{y}_{\text{col}_e} \rangle` of selected pairs of rows,
    :math:`[E]`, differentiable in :math:`\mathbf{x}` :math:`[M, F]` and
    :math:`\mathbf{y}` :math:`[N, F]`.

    The pairs are the entries of a sparse :math:`[M, N]` pattern: the
    forward pass is one sampled dense-dense product
    (:func:`torch.sparse.sampled_addmm`), the backward pass two
    sparse-dense products with the gradient as values. Unlike gathering
    :obj:`x[row]` and :obj:`y[col]`, no :math:`[E, F]` intermediate is
    written, and no scatter accumulates its gradient: on CPU, scoring the
    corruptions of a training batch (:math:`E = B k`) this way is several
    times faster than the gather path, forward and backward. Repeated
    pairs are computed once.

    Args:
        x (torch.Tensor): :math:`[M, F]`, floating point.
        y (torch.Tensor): :math:`[N, F]`, same type and device.
        row (torch.Tensor): Rows of :obj:`x`, :math:`[E]`.
        col (torch.Tensor): Rows of :obj:`y`, :math:`[E]`.

    :rtype: :class:`torch.Tensor` :math:`[E]`
    """
    _check_pairs(x, y, row, col)
    return _SampledDot.apply(x.contiguous(), y.contiguous(), row.long(),
                             col.long())


def _head(x: Tensor, h: int) -> Tensor:
    return x[:, h].contiguous()


class _HeadProducts(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight: Tensor, table: Tensor, row: Tensor, col: Tensor,
                num_rows: int) -> Tensor:
        size = (num_rows, table.size(0))
        crow, sorted_col, order = _csr_pattern(row, col, *size)
        sorted_weight = weight[order]
        out = torch.stack([
            _spmm(_csr_tensor(crow, sorted_col, _head(sorted_weight, h), size),
                  _head(table, h)) for h in range(weight.size(1))
        ], dim=1)
        ctx.save_for_backward(weight, table, row, col)
        ctx.num_rows = num_rows
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        weight, table, row, col = ctx.saved_tensors
        grad = grad.contiguous()
        size = (ctx.num_rows, table.size(0))
        heads = weight.size(1)
        grad_weight = grad_table = None
        if ctx.needs_input_grad[0]:
            # d out[r, h] / d w[e, h] = table[c, h]: the sampled products
            # <grad[r, h], table[c, h]>, one head at a time, on the pattern
            # of the distinct pairs, gathered back to the entries.
            pattern, _, _, _, inverse = _distinct_pairs(row, col, size, grad)
            grad_weight = torch.stack([
                _sampled(pattern, _head(grad, h), _head(table, h))
                for h in range(heads)
            ], dim=1)[inverse]
        if ctx.needs_input_grad[1]:  # A_h^T grad[:, h]
            crow_t, sorted_row, order_t = _csr_pattern(col, row, *size[::-1])
            weight_t = weight[order_t]
            grad_table = torch.stack([
                _spmm(
                    _csr_tensor(crow_t, sorted_row, _head(weight_t, h),
                                size[::-1]), _head(grad, h))
                for h in range(heads)
            ], dim=1)
        return grad_weight, grad_table, None, None, None


def head_products(weight: Tensor, table: Tensor, row: Tensor, col: Tensor,
                  num_rows: int) -> Tensor:
    r"""For every head :math:`h`, the product :math:`\mathbf{A}_h
    \mathbf{X}_h` of a sparse :math:`[M, N]` matrix with entries
    :math:`(\text{row}_e, \text{col}_e)` and values :math:`w_{e,h}`
    (repeated entries summed) and the head's slice of a table
    :math:`\mathbf{X}` :math:`[N, H, C]`:

    .. math::
        \mathbf{o}_{i,h} = \sum_{e \,:\, \text{row}_e = i} w_{e,h} \,
        \mathbf{x}_{\text{col}_e, h},

    differentiable in :math:`\mathbf{W}` and :math:`\mathbf{X}`. This is
    the weighted aggregation of multi-head attention when every message is
    a sum of rows of tables (e.g. per-entity and per-relation
    projections): one CSR product per head, forward and backward, and the
    gradient of the weights by sampled products on the same pattern, so
    no :math:`[E, H, C]` tensor of messages is ever written.

    Args:
        weight (torch.Tensor): :math:`[E, H]`, floating point.
        table (torch.Tensor): :math:`[N, H, C]`, same type and device.
        row (torch.Tensor): Output row of every entry, :math:`[E]`.
        col (torch.Tensor): Table row of every entry, :math:`[E]`.
        num_rows (int): :math:`M`.

    :rtype: :class:`torch.Tensor` :math:`[M, H, C]`
    """
    if (weight.dim() != 2 or table.dim() != 3
            or table.size(1) != weight.size(1)):
        raise ValueError(f"Expected weights [E, H] and a table [N, H, C], "
                         f"got {list(weight.shape)} and {list(table.shape)}")
    if weight.dtype != table.dtype or not weight.is_floating_point():
        raise ValueError(f"weight and table must share one floating point "
                         f"type, got {weight.dtype} and {table.dtype}")
    if (row.shape != col.shape or row.dim() != 1
            or row.numel() != weight.size(0)):
        raise ValueError(f"row and col must be vectors of length "
                         f"{weight.size(0)}, got {list(row.shape)} and "
                         f"{list(col.shape)}")
    _check_range(row, num_rows, 'row')
    _check_range(col, table.size(0), 'col')
    return _HeadProducts.apply(weight.contiguous(), table.contiguous(),
                               row.long(), col.long(), int(num_rows))
