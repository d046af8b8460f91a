import math
from typing import List, Optional, Tuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from pyg_kgc.nn.kge.base import (
    KGEDecoder,
    corruption_distances,
    select_queries,
)
from pyg_kgc.nn.kge.complex import as_complex, as_real, complex_modulus
from pyg_kgc.utils.compile import CompiledKernels


def rotate(x: Tensor, phase: Tensor) -> Tensor:
    r"""Multiplies the complex vectors :obj:`x` (interleaved real storage,
    :math:`[*, 2k]`) elementwise by :math:`e^{i \theta}`, :obj:`phase`
    :math:`[*, k]`."""
    return as_real(
        as_complex(x) * torch.complex(torch.cos(phase), torch.sin(phase)))


def complex_l1_distance(x: Tensor, y: Tensor) -> Tensor:
    r""":math:`\sum_i |x_i - y_i|` for complex vectors in interleaved real
    storage: the sum of the moduli of the differences."""
    return complex_modulus(x - y).sum(dim=-1)


def _parts(x: Tensor) -> Tuple[Tensor, Tensor]:
    # Contiguous real and imaginary parts [n, k] of interleaved [n, 2k].
    pairs = x.unflatten(-1, (-1, 2))
    return pairs[..., 0].contiguous(), pairs[..., 1].contiguous()


def _moduli(q_re: Tensor, q_im: Tensor, c_re: Tensor, c_im: Tensor,
            d_re: Tensor, d_im: Tensor, out: Tensor) -> Tensor:
    # |q - c| [n, C, k] for n queries, the differences kept in d_re, d_im.
    torch.sub(q_re[:, None], c_re[None], out=d_re)
    torch.sub(q_im[:, None], c_im[None], out=d_im)
    return torch.mul(d_re, d_re, out=out).addcmul_(d_im, d_im).sqrt_()


class _PairwiseComplexL1(torch.autograd.Function):
    # Chunks of `rows` queries go through three reused [rows, C, k] buffers
    # (real and imaginary differences, moduli) in the forward pass and
    # again, recomputed, in the backward pass: nothing of size B x C x k is
    # kept between the passes, no large tensor is allocated per chunk
    # (fresh memory costs page faults that outweigh the arithmetic here),
    # and with the parts apart every operation runs on contiguous memory.
    @staticmethod
    def forward(ctx, queries: Tensor, candidates: Tensor, rows: int) -> Tensor:
        (q_re, q_im), (c_re, c_im) = _parts(queries), _parts(candidates)
        num, count, k = q_re.size(0), c_re.size(0), q_re.size(1)
        out = queries.new_empty(num, count)
        d_re, d_im, modulus = queries.new_empty(3, rows, count, k)
        for i in range(0, num, rows):
            n = min(rows, num - i)
            _moduli(q_re[i:i + n], q_im[i:i + n], c_re, c_im, d_re[:n],
                    d_im[:n], modulus[:n])
            torch.sum(modulus[:n], dim=-1, out=out[i:i + n])
        ctx.save_for_backward(queries, candidates)
        ctx.rows = rows
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        queries, candidates = ctx.saved_tensors
        (q_re, q_im), (c_re, c_im) = _parts(queries), _parts(candidates)
        num, count, k = q_re.size(0), c_re.size(0), q_re.size(1)
        rows = ctx.rows
        grad_q = queries.new_empty(2, num, k)  # real, imaginary
        grad_c = queries.new_zeros(2, count, k)
        d_re, d_im, scale = queries.new_empty(3, rows, count, k)
        tiny = torch.finfo(queries.dtype).tiny
        for i in range(0, num, rows):
            n = min(rows, num - i)
            s = _moduli(q_re[i:i + n], q_im[i:i + n], c_re, c_im, d_re[:n],
                        d_im[:n], scale[:n])
            # grad / |q - c|, 0 where the difference is 0 (its parts are)
            s.clamp_min_(tiny).reciprocal_().mul_(grad[i:i + n, :, None])
            for part, d in enumerate((d_re[:n], d_im[:n])):
                d.mul_(s)
                torch.sum(d, dim=1, out=grad_q[part, i:i + n])
                grad_c[part].sub_(d.sum(dim=0))
        # Back to the interleaved layout.
        return (torch.stack(tuple(grad_q), dim=-1).flatten(-2),
                torch.stack(tuple(grad_c), dim=-1).flatten(-2), None)


def _compiled_moduli_sum(q_re: Tensor, q_im: Tensor, c_re_t: Tensor,
                         c_im_t: Tensor) -> Tensor:
    # sum_i |q_i - c_i| [n, C] of queries [n, k] and candidates given as
    # transposed parts [k, C]: under torch.compile one loop nest that never
    # holds the [n, k, C] differences (the candidates' axis innermost).
    d_re = q_re[:, :, None] - c_re_t[None]
    d_im = q_im[:, :, None] - c_im_t[None]
    return torch.sqrt(d_re * d_re + d_im * d_im).sum(dim=1)


def _compiled_moduli_grad(q_re: Tensor, q_im: Tensor, c_re_t: Tensor,
                          c_im_t: Tensor,
                          grad: Tensor) -> Tuple[Tensor, Tensor]:
    # The gradient [n, k] (real and imaginary parts) of
    # sum_{n, c} grad[n, c] sum_i |q_i - c_i| with respect to the queries:
    # sum_c grad[n, c] (q_i - c_i) / |q_i - c_i|, 0 where a difference is 0.
    # With the roles of queries and candidates swapped (and grad
    # transposed) it is the candidates' gradient, as |c - q| = |q - c|.
    d_re = q_re[:, :, None] - c_re_t[None]
    d_im = q_im[:, :, None] - c_im_t[None]
    tiny = torch.finfo(grad.dtype).tiny
    scale = grad[:, None, :] / torch.sqrt(d_re * d_re +
                                          d_im * d_im).clamp_min(tiny)
    return (d_re * scale).sum(dim=-1), (d_im * scale).sum(dim=-1)


# The torch.compile'd kernels, built on first use; `failed` once that (or
# running them) raised, after which the eager path is used.
_Kernels = CompiledKernels('pairwise_complex_l1', _compiled_moduli_sum,
                           _compiled_moduli_grad)


class _CompiledPairwiseComplexL1(torch.autograd.Function):
    # The same function as _PairwiseComplexL1 through two compiled kernels:
    # the distances, and the gradient of one side (called once per side).
    @staticmethod
    def forward(ctx, queries: Tensor, candidates: Tensor) -> Tensor:
        forward, _ = _Kernels.get()
        (q_re, q_im), (c_re, c_im) = _parts(queries), _parts(candidates)
        ctx.save_for_backward(queries, candidates)
        return forward(q_re, q_im,
                       c_re.t().contiguous(),
                       c_im.t().contiguous())

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        _, gradient = _Kernels.get()
        queries, candidates = ctx.saved_tensors
        (q_re, q_im), (c_re, c_im) = _parts(queries), _parts(candidates)
        grad = grad.contiguous()
        grad_q = grad_c = None
        if ctx.needs_input_grad[0]:
            grad_q = torch.stack(
                gradient(q_re, q_im,
                         c_re.t().contiguous(),
                         c_im.t().contiguous(), grad), dim=-1).flatten(-2)
        if ctx.needs_input_grad[1]:
            grad_c = torch.stack(
                gradient(c_re, c_im,
                         q_re.t().contiguous(),
                         q_im.t().contiguous(),
                         grad.t().contiguous()), dim=-1).flatten(-2)
        return grad_q, grad_c


def pairwise_complex_l1(queries: Tensor, candidates: Tensor,
                        max_elements: int = 1 << 21,
                        compiled: bool = False) -> Tensor:
    r"""The distances :math:`\sum_i |q_i - c_i|` :math:`[B, C]` of every
    query :math:`[B, 2k]` to every candidate :math:`[C, 2k]` (complex
    vectors in interleaved real storage), with gradient :math:`0` where a
    complex difference is :math:`0`. The queries go in chunks whose
    :math:`[b, C, 2k]` differences hold at most :obj:`max_elements` numbers
    (at least one query), through buffers reused from chunk to chunk; the
    backward pass recomputes the differences instead of keeping
    :math:`B C k` numbers between the passes.

    With :obj:`compiled=True`, on CPU, the distances and each side's
    gradient are instead one :func:`torch.compile` kernel each that never
    holds the differences (no chunks, :obj:`max_elements` is unused):
    about 5 times faster on CPU (a forward and backward pass of 128
    queries against 40,943 candidates, WN18RR's entity count, with
    :math:`k = 32` on one thread: 0.20 s against 1.00 s,
    ``benchmarks/cpu_kernels.py``). The kernels are built on first use
    (seconds, cached by :func:`torch.compile` across processes; one build
    serves every shape) and need a C++ compiler; if building fails, a
    warning says so and the eager path is used from then on. Elsewhere
    than on CPU :obj:`compiled` is ignored."""
    if (queries.dim() != 2 or candidates.dim() != 2
            or queries.size(1) != candidates.size(1)
            or queries.size(1) % 2 != 0):
        raise ValueError(f"Expected queries [B, 2k] and candidates [C, 2k], "
                         f"got {list(queries.shape)} and "
                         f"{list(candidates.shape)}")
    if queries.size(0) == 0 or candidates.size(0) == 0:
        return queries.new_zeros(queries.size(0), candidates.size(0))
    candidates = candidates.to(queries.dtype)
    if compiled and _Kernels.usable(queries.device):
        try:
            return _CompiledPairwiseComplexL1.apply(queries, candidates)
        except Exception as error:  # no C++ compiler, an inductor failure
            _Kernels.disable(error)
    rows = max(1, min(queries.size(0), max_elements // candidates.numel()))
    return _PairwiseComplexL1.apply(queries, candidates, rows)


class RotatE(KGEDecoder):
    r"""The RotatE decoder from the `"RotatE: Knowledge Graph Embedding by
    Relational Rotation in Complex Space" <https://arxiv.org/abs/1902.10197>`_
    paper

    .. math::
        f_r(\mathbf{h}, \mathbf{t}) = - \sum_{i=1}^{k} | h_i \, e^{i
        \theta_{r,i}} - t_i |, \qquad \mathbf{h}, \mathbf{t} \in
        \mathbb{C}^k,

    a relation rotates every coordinate of the head by its phase
    :math:`\theta_{r,i}` (a unit-modulus complex number), so relations
    compose (:math:`\boldsymbol{\theta}_3 = \boldsymbol{\theta}_1 +
    \boldsymbol{\theta}_2`), invert (:math:`-\boldsymbol{\theta}`) and can
    be symmetric (:math:`\theta_{r,i} \in \{0, \pi\}`). The distance is the
    paper's: the sum of the moduli of the complex differences. The margin
    :math:`\gamma` of the paper's score :math:`\gamma - d` belongs to the
    loss (:func:`~pyg_kgc.training.self_adversarial_loss`).

    Relations are represented by their phases (radians), entities by complex
    vectors stored as real tensors of width :math:`2k`, real and imaginary
    parts interleaved (as :func:`torch.view_as_real`).

    Args:
        dim (int): Number :math:`k` of complex coordinates.
        num_relations (int, optional): If given, the decoder owns the
            relation phases, initialised uniformly in :math:`[-\pi, \pi)`.
            (default: :obj:`None`)
        compiled (bool, optional): If set, scoring against all candidates
            on CPU (:meth:`all_tails`, :meth:`all_heads`) runs through the
            :func:`torch.compile` kernels of :func:`pairwise_complex_l1`,
            about 5 times faster; the attribute can be changed at any time.
            (default: :obj:`False`)

    Shapes:
        - **input:** head :math:`(*, 2k)`, relation ids :math:`(*)` or
          phases :math:`(*, k)`, tail :math:`(*, 2k)`
        - **output:** scores :math:`(*)`
    """
    def __init__(self, dim: int, num_relations: Optional[int] = None,
                 compiled: bool = False) -> None:
        super().__init__(2 * dim, dim, num_relations)
        self.compiled = compiled
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.relation_emb is not None:
            torch.nn.init.uniform_(self.relation_emb, -math.pi, math.pi)

    def factors(self, head: Tensor, relation: Tensor,
                tail: Tensor) -> List[Tensor]:
        r"""The moduli of the complex coordinates of head and tail (the
        relation's are all :math:`1`)."""
        return [complex_modulus(head), complex_modulus(tail)]

    def interaction(self, head: Tensor, relation: Tensor,
                    tail: Tensor) -> Tensor:
        return -complex_l1_distance(rotate(head, relation), tail)

    def _distances(self, queries: Tensor, candidates: Tensor) -> Tensor:
        return -pairwise_complex_l1(queries, candidates,
                                    min(self.max_elements, 1 << 21),
                                    compiled=self.compiled)

    def all_tails(self, head: Tensor, relation: Tensor, candidates: Tensor,
                  out: Optional[Tensor] = None) -> Tensor:
        return self._distances(rotate(head, relation), candidates)

    def all_heads(self, candidates: Tensor, relation: Tensor, tail: Tensor,
                  out: Optional[Tensor] = None) -> Tensor:
        # |c e^{i theta} - t| = |c - t e^{-i theta}|, as |e^{i theta}| = 1.
        return self._distances(rotate(tail, -relation), candidates)

    def corruptions(self, head: Tensor, relation: Tensor, tail: Tensor,
                    candidates: Tensor, corrupt_head: Tensor) -> Tensor:
        # Rotations once per triple: tails are compared with h e^{i theta},
        # heads with t e^{-i theta}.
        query = select_queries(rotate(head, relation), rotate(tail, -relation),
                               corrupt_head)
        return -complex_l1_distance(query, candidates)

    def score_corruptions_of(self, head: Tensor, relation: Tensor,
                             tail: Tensor, entity: Tensor, candidates: Tensor,
                             corrupt_head: Tensor) -> Tensor:
        # The same distances as corruptions(), to the two rotated queries
        # of a triple, fused forward and backward.
        self._check_entities(head, tail, entity)
        relation = self.relation(relation)
        return -corruption_distances(rotate(head, relation),
                                     rotate(tail, -relation), entity,
                                     candidates, corrupt_head, 'complex')

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.relation_dim}, '
                f'num_relations={self.num_relations})')
