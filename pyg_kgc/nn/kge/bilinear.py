import math
from typing import Optional

import torch
from torch import Tensor
from torch.nn import Parameter

from pyg_kgc.nn.kge.base import DotProductDecoder, check_relation_ids
from pyg_kgc.utils.compile import CompiledKernels
from pyg_kgc.utils.dropout import dropout_positions
from pyg_kgc.utils.segment import SegmentLayout, segment_matmul


def _dropped_terms(x: Tensor, weight: Tensor, relation: Tensor,
                   positions: Tensor, transpose: bool) -> Tensor:
    # The terms of the dropped entries W[r_b, first, second] (positions in
    # the row-major [B, d, d] masks), summed per query and output
    # coordinate: [B, d]. Under torch.compile the index arithmetic, both
    # gathers and the scatter are one loop nest forward and one backward.
    num, d = x.shape
    if d & (d - 1) == 0:  # a power of two: shifts and masks, not divisions
        shift = d.bit_length() - 1
        row, entry = positions >> (2 * shift), positions & (d * d - 1)
        first, second = entry >> shift, entry & (d - 1)
    else:
        row, entry = positions // (d * d), positions % (d * d)
        first, second = entry // d, entry % d
    read, write = (second, first) if transpose else (first, second)
    dropped = x[row, read] * weight[relation[row], entry]
    return x.new_zeros(num * d).index_add(0, row * d + write,
                                          dropped).view(num, d)


_Kernels = CompiledKernels('dropout_bilinear_queries', _dropped_terms)


def dropout_bilinear_queries(x: Tensor, weight: Tensor, relation: Tensor,
                             p: float, transpose: bool = False,
                             generator: Optional[torch.Generator] = None,
                             compiled: bool = False) -> Tensor:
    r"""The bilinear queries of :math:`B` entities under dropout of their
    relation matrices, an independent mask :math:`\mathbf{M}_b` per query
    (as dropout on looked-up relation representations does):
    :math:`\mathbf{x}_b^{\top} (\mathbf{W}_{r_b} \odot \mathbf{M}_b) /
    (1 - p)` (tail queries) or, with :obj:`transpose`,
    :math:`(\mathbf{W}_{r_b} \odot \mathbf{M}_b) \mathbf{x}_b / (1 - p)`
    (head queries), without the :math:`[B, d, d]` masked matrices: the
    products with the unmasked :math:`\mathbf{W}_r` grouped by relation
    (:func:`~pyg_kgc.utils.segment_matmul`), minus the terms of the dropped
    entries, drawn by :func:`~pyg_kgc.utils.dropout_positions` over the
    :math:`B d^2` entries in row-major :math:`[B, d, d]` order.

    Args:
        x (torch.Tensor): Entity representations :math:`[B, d]`.
        weight (torch.Tensor): All relation matrices :math:`[R, d^2]`
            (row-major), as :class:`Bilinear` holds them.
        relation (torch.Tensor): Relation ids :math:`[B]`.
        p (float): The dropout rate, in :math:`[0, 1)`.
        transpose (bool, optional): Head queries instead of tail queries.
            (default: :obj:`False`)
        generator (torch.Generator, optional): For the dropped entries.
            (default: :obj:`None`)
        compiled (bool, optional): On CPU, the dropped entries' terms (the
            index arithmetic, both gathers and the scatter, forward and
            backward) by :func:`torch.compile` kernels, built on first use
            (seconds; a C++ compiler is needed, and if building fails a
            warning says so and the eager path is used from then on). The
            same values; a CoDEx-S RESCAL training step (512 dimensions,
            rate 0.0804, 128 triples, both sides) takes 0.23 s instead of
            0.34 s on one thread (``benchmarks/cpu_kernels.py``).
            Elsewhere than on CPU it is ignored. (default: :obj:`False`)

    :rtype: :class:`torch.Tensor` :math:`[B, d]`
    """
    if x.dim() != 2 or relation.shape != (x.size(0), ):
        raise ValueError(f"Expected entities [B, d] and relation ids [B], "
                         f"got {list(x.shape)} and {list(relation.shape)}")
    num, d = x.shape
    check_relation_ids(relation, weight.size(0))
    if weight.size(1) != d * d:
        raise ValueError(f"Expected relation matrices [R, {d * d}] for "
                         f"entities of width {d}, got {list(weight.shape)}")
    if not 0.0 <= p < 1.0:
        raise ValueError(f"The dropout rate must lie in [0, 1), got {p}")
    matrices = weight.view(-1, d, d)
    if transpose:  # a view: segment_matmul takes it without a copy
        matrices = matrices.transpose(1, 2)
    dense = segment_matmul(x, SegmentLayout(relation, weight.size(0)),
                           matrices)
    positions = dropout_positions(num * d * d, p, generator, x.device)
    terms = None
    if compiled and _Kernels.usable(x.device):
        try:
            kernel, = _Kernels.get()
            terms = kernel(x, weight, relation, positions, transpose)
        except Exception as error:  # no C++ compiler, an inductor failure
            _Kernels.disable(error)
    if terms is None:
        terms = _dropped_terms(x, weight, relation, positions, transpose)
    return (dense - terms) / (1.0 - p)


class Bilinear(DotProductDecoder):
    r"""The bilinear decoder of RESCAL, from the `"A Three-Way Model for
    Collective Learning on Multi-Relational Data"
    <https://icml.cc/2011/papers/438_icmlpaper.pdf>`_ paper, and of R-GCN
    link prediction

    .. math::
        f_r(\mathbf{h}, \mathbf{t}) = \mathbf{h}^{\top} \mathbf{W}_r
        \mathbf{t}, \qquad \mathbf{W}_r \in \mathbb{R}^{d \times d},

    with a full matrix per relation (:obj:`mode="full"`, relations
    represented by :math:`\mathrm{vec}(\mathbf{W}_r)`, row-major), a
    diagonal one (:obj:`mode="diagonal"`, i.e. DistMult), or a combination of
    :math:`B` bases shared by all relations, :math:`\mathbf{W}_r = \sum_b
    a_{rb} \mathbf{V}_b` (:obj:`mode="basis"`, relations represented by
    their coefficients :math:`\mathbf{a}_r`; the decoder owns the bases).
    Scoring all candidates is one matrix product with
    :math:`\mathbf{h}^{\top} \mathbf{W}_r` (tails) or :math:`\mathbf{W}_r
    \mathbf{t}` (heads) as the query.

    Args:
        dim (int): Width :math:`d` of entity representations.
        num_relations (int, optional): If given, the decoder owns the
            relation representations. (default: :obj:`None`)
        mode (str, optional): :obj:`"full"`, :obj:`"diagonal"` or
            :obj:`"basis"`. (default: :obj:`"full"`)
        num_bases (int, optional): :math:`B`, for :obj:`mode="basis"`.

    Shapes:
        - **input:** head :math:`(*, d)`, relation ids :math:`(*)` or
          representations :math:`(*, d^2)` / :math:`(*, d)` /
          :math:`(*, B)`, tail :math:`(*, d)`
        - **output:** scores :math:`(*)`
    """
    def __init__(self, dim: int, num_relations: Optional[int] = None,
                 mode: str = 'full', num_bases: Optional[int] = None) -> None:
        if mode not in ('full', 'diagonal', 'basis'):
            raise ValueError(f"Unknown mode {mode!r}; expected 'full', "
                             f"'diagonal' or 'basis'")
        if (mode == 'basis') != (num_bases is not None):
            raise ValueError("num_bases is required by, and only by, "
                             "mode='basis'")
        relation_dim = {
            'full': dim * dim,
            'diagonal': dim,
            'basis': num_bases
        }[mode]
        super().__init__(dim, relation_dim, num_relations)
        self.mode = mode
        self.num_bases = num_bases
        if mode == 'basis':
            self.bases = Parameter(torch.empty(num_bases, dim, dim))
        else:
            self.register_parameter('bases', None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        d = self.entity_dim
        if self.bases is not None:
            torch.nn.init.uniform_(self.bases, -math.sqrt(3 / d),
                                   math.sqrt(3 / d))
        if self.relation_emb is None:
            return
        if self.mode == 'full':  # W_r with unit-variance h^T W t / d
            torch.nn.init.normal_(self.relation_emb, std=1 / math.sqrt(d))
        elif self.mode == 'basis':
            torch.nn.init.normal_(self.relation_emb,
                                  std=1 / math.sqrt(self.num_bases))
        else:
            super().reset_parameters()

    def matrices(self, relation: Tensor) -> Tensor:
        r"""The matrices :math:`\mathbf{W}_r` :math:`[*, d, d]` of relation
        representations (not for :obj:`mode="diagonal"`)."""
        d = self.entity_dim
        if self.mode == 'full':
            return relation.reshape(*relation.shape[:-1], d, d)
        if self.mode == 'basis':
            return torch.einsum('...b,bij->...ij', relation, self.bases)
        raise ValueError("mode='diagonal' has no matrices")

    def interaction(self, head: Tensor, relation: Tensor,
                    tail: Tensor) -> Tensor:
        if self.mode == 'diagonal':
            return (head * relation * tail).sum(dim=-1)
        if self.mode == 'basis':  # sum_b a_b h^T V_b t, without W_r
            per_basis = torch.einsum('...i,bij->...bj', head, self.bases)
            return ((per_basis * tail.unsqueeze(-2)).sum(dim=-1) *
                    relation).sum(dim=-1)
        query = (head.unsqueeze(-2) @ self.matrices(relation)).squeeze(-2)
        return (query * tail).sum(dim=-1)

    def tail_query(self, head: Tensor, relation: Tensor) -> Tensor:
        r""":math:`\mathbf{h}^{\top} \mathbf{W}_r`, whose dot product with
        a tail is the score."""
        if self.mode == 'diagonal':
            return head * relation
        if self.mode == 'basis':
            return torch.einsum('bi,kij,bk->bj', head, self.bases, relation)
        return torch.einsum('bi,bij->bj', head, self.matrices(relation))

    def head_query(self, relation: Tensor, tail: Tensor) -> Tensor:
        r""":math:`\mathbf{W}_r \mathbf{t}`, whose dot product with a head
        is the score."""
        if self.mode == 'diagonal':
            return relation * tail
        if self.mode == 'basis':
            return torch.einsum('kij,bj,bk->bi', self.bases, tail, relation)
        return torch.einsum('bij,bj->bi', self.matrices(relation), tail)

    def __repr__(self) -> str:
        extra = f', num_bases={self.num_bases}' if self.num_bases else ''
        return (f'{self.__class__.__name__}({self.entity_dim}, '
                f'num_relations={self.num_relations}, mode={self.mode!r}'
                f'{extra})')
