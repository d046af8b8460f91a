from typing import Optional

from torch import Tensor

from pyg_kgc.nn.kge.base import DotProductDecoder


class DistMult(DotProductDecoder):
    r"""The DistMult decoder from the `"Embedding Entities and Relations for
    Learning and Inference in Knowledge Bases"
    <https://arxiv.org/abs/1412.6575>`_ paper

    .. math::
        f_r(\mathbf{h}, \mathbf{t}) = \langle \mathbf{h}, \mathbf{r},
        \mathbf{t} \rangle = \sum_{i=1}^{d} h_i \, r_i \, t_i,

    a bilinear model :math:`\mathbf{h}^{\top} \mathbf{W}_r \mathbf{t}` with
    diagonal :math:`\mathbf{W}_r = \mathrm{diag}(\mathbf{r})`, and hence
    symmetric: :math:`f_r(\mathbf{h}, \mathbf{t}) = f_r(\mathbf{t},
    \mathbf{h})`. Scoring all candidates is one matrix product, computed as
    :math:`\mathbf{E} (\mathbf{h} \odot \mathbf{r})^{\top}` and returned
    as a transposed view (the faster orientation for a few queries against
    many candidates).

    Args:
        dim (int): Width :math:`d` of entity and relation representations.
        num_relations (int, optional): If given, the decoder owns the
            relation embeddings. (default: :obj:`None`)

    Shapes:
        - **input:** head :math:`(*, d)`, relation ids :math:`(*)` or
          representations :math:`(*, d)`, tail :math:`(*, d)`
        - **output:** scores :math:`(*)`
    """
    def __init__(self, dim: int, num_relations: Optional[int] = None) -> None:
        super().__init__(dim, dim, num_relations)
        self.reset_parameters()

    def tail_query(self, head: Tensor, relation: Tensor) -> Tensor:
        return head * relation

    def head_query(self, relation: Tensor, tail: Tensor) -> Tensor:
        return relation * tail
