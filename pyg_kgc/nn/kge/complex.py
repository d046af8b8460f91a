from typing import List, Optional, Tuple

import torch
from torch import Tensor

from pyg_kgc.nn.kge.base import KGEDecoder, matmul_scores


def split_complex(x: Tensor) -> Tuple[Tensor, Tensor]:
    r"""The real and imaginary parts of complex vectors stored as
    :math:`[\mathrm{Re}(\mathbf{x}), \mathrm{Im}(\mathbf{x})]`
    concatenated in the last dimension."""
    return x.chunk(2, dim=-1)


def complex_modulus(x: Tensor) -> Tensor:
    r"""The moduli :math:`|x_i|` of complex vectors stored as [real,
    imaginary], with gradient :math:`0` at :math:`0` (unlike
    :func:`torch.hypot`), and several times faster than a norm over the
    strided real/imaginary axis."""
    return torch.complex(*split_complex(x)).abs()


class ComplEx(KGEDecoder):
    r"""The ComplEx decoder from the `"Complex Embeddings for Simple Link
    Prediction" <https://arxiv.org/abs/1606.06357>`_ paper

    .. math::
        f_r(\mathbf{h}, \mathbf{t}) = \mathrm{Re} \left( \sum_{i=1}^{k} h_i
        \, r_i \, \overline{t_i} \right), \qquad \mathbf{h}, \mathbf{r},
        \mathbf{t} \in \mathbb{C}^k,

    a DistMult in complex space: the conjugate makes it asymmetric where
    :math:`\mathrm{Im}(\mathbf{r}) \neq \mathbf{0}`, and it equals DistMult
    when all imaginary parts are zero. Complex vectors are stored as real
    tensors of width :math:`2k`, real parts first. Scoring all candidates is
    one matrix product, with :math:`\mathbf{h} \circ \mathbf{r}` (tails) or
    :math:`\mathbf{r} \circ \overline{\mathbf{t}}` (heads) as the query.

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

    def interaction(self, head: Tensor, relation: Tensor,
                    tail: Tensor) -> Tensor:
        (h_re, h_im), (r_re, r_im), (t_re, t_im) = map(split_complex,
                                                       (head, relation, tail))
        return ((h_re * r_re - h_im * r_im) * t_re +
                (h_re * r_im + h_im * r_re) * t_im).sum(dim=-1)

    def all_tails(self, head: Tensor, relation: Tensor, candidates: Tensor,
                  out: Optional[Tensor] = None) -> Tensor:
        h_re, h_im = split_complex(head)
        r_re, r_im = split_complex(relation)
        query = torch.cat(
            [h_re * r_re - h_im * r_im, h_re * r_im + h_im * r_re], dim=-1)
        return matmul_scores(candidates, query, out)

    def all_heads(self, candidates: Tensor, relation: Tensor, tail: Tensor,
                  out: Optional[Tensor] = None) -> Tensor:
        r_re, r_im = split_complex(relation)
        t_re, t_im = split_complex(tail)
        query = torch.cat(
            [r_re * t_re + r_im * t_im, r_re * t_im - r_im * t_re], dim=-1)
        return matmul_scores(candidates, query, out)
