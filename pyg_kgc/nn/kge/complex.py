from typing import List, Optional

import torch
from torch import Tensor

from pyg_kgc.nn.kge.base import DotProductDecoder, pair_moduli


def as_complex(x: Tensor) -> Tensor:
    r"""The complex view :math:`[*, k]` of complex vectors stored as real
    tensors :math:`[*, 2k]` with real and imaginary parts interleaved
    (:func:`torch.view_as_real`'s layout); no copy where the memory layout
    allows a view."""
    pairs = x.unflatten(-1, (-1, 2))
    try:
        return torch.view_as_complex(pairs)
    except RuntimeError:  # strides that no complex view can express
        return torch.view_as_complex(pairs.contiguous())


def as_real(z: Tensor) -> Tensor:
    r"""The interleaved real storage :math:`[*, 2k]` of complex vectors
    :math:`[*, k]`, the inverse of :func:`as_complex`."""
    return torch.view_as_real(z).flatten(-2)


class _PairModulus(torch.autograd.Function):
    r"""The moduli :math:`\sqrt{a^2 + b^2}` of pairs :math:`[*, 2]`, with
    the gradient :math:`(a, b) / m` in one pass over the pairs, and
    :math:`0` where :math:`m = 0` (a subgradient; :func:`torch.hypot` gives
    NaN there)."""
    @staticmethod
    def forward(ctx, pairs: Tensor) -> Tensor:
        modulus = pair_moduli(pairs)
        ctx.save_for_backward(pairs, modulus)
        return modulus

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        pairs, modulus = ctx.saved_tensors
        # grad / 0 is +-inf or NaN: exactly the entries where m = 0.
        scale = (grad / modulus).nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
        return pairs * scale.unsqueeze(-1)


def complex_modulus(x: Tensor) -> Tensor:
    r"""The moduli :math:`|x_i|` of complex vectors stored as interleaved
    real tensors :math:`[*, 2k]`, with gradient :math:`0` at :math:`0`
    (unlike :func:`torch.hypot`) and faster than :func:`torch.abs` of
    complex tensors."""
    return _PairModulus.apply(x.unflatten(-1, (-1, 2)))


class ComplEx(DotProductDecoder):
    r"""The ComplEx decoder from the `"Complex Embeddings for Simple Link
    Prediction" <https://arxiv.org/abs/1606.06357>`_ paper

    .. math::
        f_r(\mathbf{h}, \mathbf{t}) = \mathrm{Re} \left( \sum_{i=1}^{k} h_i
        \, r_i \, \overline{t_i} \right), \qquad \mathbf{h}, \mathbf{r},
        \mathbf{t} \in \mathbb{C}^k,

    a DistMult in complex space: the conjugate makes it asymmetric where
    :math:`\mathrm{Im}(\mathbf{r}) \neq \mathbf{0}`, and it equals DistMult
    when all imaginary parts are zero. Complex vectors are stored as real
    tensors of width :math:`2k` with real and imaginary parts interleaved
    (the layout of :func:`torch.view_as_real`, so that arithmetic runs on
    complex views without copies). Scoring all candidates is one matrix
    product, with :math:`\mathbf{h} \circ \mathbf{r}` (tails) or
    :math:`\overline{\mathbf{r}} \circ \mathbf{t}` (heads) as the query.

    Args:
        dim (int): Width :math:`2k` of the real storage of entity and
            relation representations (even).
        num_relations (int, optional): If given, the decoder owns the
            relation embeddings. (default: :obj:`None`)

    Shapes:
        - **input:** head :math:`(*, 2k)`, relation ids :math:`(*)` or
          representations :math:`(*, 2k)`, tail :math:`(*, 2k)`
        - **output:** scores :math:`(*)`
    """
    def __init__(self, dim: int, num_relations: Optional[int] = None) -> None:
        if dim % 2 != 0:
            raise ValueError(f"ComplEx stores complex vectors as [real, "
                             f"imaginary]: dim must be even, got {dim}")
        super().__init__(dim, dim, num_relations)
        self.reset_parameters()

    def factors(self, head: Tensor, relation: Tensor,
                tail: Tensor) -> List[Tensor]:
        r"""The moduli of the complex coordinates of head, relation and
        tail, as the N3 regulariser of Lacroix et al. (2018) takes them."""
        return [
            complex_modulus(x) for x in (head, self.relation(relation), tail)
        ]

    def tail_query(self, head: Tensor, relation: Tensor) -> Tensor:
        r"""The pairs of :math:`\mathbf{h} \circ \mathbf{r}`: the score of
        a tail :math:`\mathbf{c}` is their real dot product with its pairs,
        :math:`\mathrm{Re}(\langle \mathbf{h} \circ \mathbf{r},
        \overline{\mathbf{c}} \rangle)`."""
        return as_real(as_complex(head) * as_complex(relation))

    def head_query(self, relation: Tensor, tail: Tensor) -> Tensor:
        r"""The pairs of :math:`\overline{\mathbf{r}} \circ \mathbf{t}`:
        :math:`\mathrm{Re}(\langle \mathbf{c}, \mathbf{w} \rangle)` with
        :math:`\mathbf{w} = \mathbf{r} \circ \overline{\mathbf{t}}` is the
        real dot product of :math:`\mathbf{c}` with
        :math:`\overline{\mathbf{w}}`."""
        return as_real(as_complex(relation).conj() * as_complex(tail))
