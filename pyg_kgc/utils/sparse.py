r"""A constant sparse matrix that multiplies dense features, with a backward
pass that reuses a transposed copy instead of scattering per entry."""
import warnings
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor


def _csr(row: Tensor, col: Tensor, value: Tensor, num_rows: int,
         num_cols: int) -> Tuple[Tensor, Tensor, Tensor]:
    order = torch.argsort(row * num_cols + col)
    counts = torch.bincount(row, minlength=num_rows)
    crow = torch.zeros(num_rows + 1, dtype=torch.long, device=row.device)
    crow[1:] = counts.cumsum(0)
    return crow, col[order], value[order]


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
        for ids, bound, name in ((row, self.size[0], 'row'),
                                 (col, self.size[1], 'col')):
            if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= bound):
                raise ValueError(f"{name} index out of range [0, {bound})")
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
                with warnings.catch_warnings():  # "CSR support is in beta"
                    warnings.simplefilter('ignore', UserWarning)
                    built.append(
                        torch.sparse_csr_tensor(crow.to(device),
                                                col.to(device),
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
