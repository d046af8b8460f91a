from typing import Optional

import torch
from torch import Tensor

from pyg_kgc.nn.kge.base import (
    KGEDecoder,
    corruption_distances,
    lp_norm,
    select_queries,
)


class TransE(KGEDecoder):
    r"""The TransE decoder from the `"Translating Embeddings for Modeling
    Multi-Relational Data"
    <https://proceedings.neurips.cc/paper/2013/file/
    1cecc7a77928ca8133fa24680a88d2f9-Paper.pdf>`_ paper

    .. math::
        f_r(\mathbf{h}, \mathbf{t}) = - \| \mathbf{h} + \mathbf{r} -
        \mathbf{t} \|_p,

    a relation is a translation: true triples have :math:`\mathbf{h} +
    \mathbf{r} \approx \mathbf{t}`. Translations compose and invert
    (:math:`\mathbf{r}_3 = \mathbf{r}_1 + \mathbf{r}_2`, :math:`-\mathbf{r}`),
    but a symmetric relation forces :math:`\mathbf{r} = \mathbf{0}`. The
    margin of the original paper belongs to the loss
    (:func:`~pyg_kgc.training.margin_ranking_loss`).

    Args:
        dim (int): Width :math:`d` of entity and relation representations.
        num_relations (int, optional): If given, the decoder owns the
            relation embeddings. (default: :obj:`None`)
        p (int, optional): The norm, :obj:`1` or :obj:`2`. (default:
            :obj:`1`)

    Shapes:
        - **input:** head :math:`(*, d)`, relation ids :math:`(*)` or
          representations :math:`(*, d)`, tail :math:`(*, d)`
        - **output:** scores :math:`(*)`
    """
    def __init__(self, dim: int, num_relations: Optional[int] = None,
                 p: int = 1) -> None:
        if p not in (1, 2):
            raise ValueError(f"TransE supports the L1 and L2 norms, got p={p}")
        super().__init__(dim, dim, num_relations)
        self.p = p
        self.reset_parameters()

    def interaction(self, head: Tensor, relation: Tensor,
                    tail: Tensor) -> Tensor:
        return -lp_norm(head + relation - tail, self.p)

    def all_tails(self, head: Tensor, relation: Tensor, candidates: Tensor,
                  out: Optional[Tensor] = None) -> Tensor:
        return -torch.cdist(head + relation, candidates, p=self.p)

    def all_heads(self, candidates: Tensor, relation: Tensor, tail: Tensor,
                  out: Optional[Tensor] = None) -> Tensor:
        # || c + r - t || = || c - (t - r) ||
        return -torch.cdist(tail - relation, candidates, p=self.p)

    def corruptions(self, head: Tensor, relation: Tensor, tail: Tensor,
                    candidates: Tensor, corrupt_head: Tensor) -> Tensor:
        # Tails are compared with h + r, heads with t - r.
        query = select_queries(head + relation, tail - relation, corrupt_head)
        return -lp_norm(candidates - query, self.p)

    def score_corruptions_of(self, head: Tensor, relation: Tensor,
                             tail: Tensor, entity: Tensor, candidates: Tensor,
                             corrupt_head: Tensor) -> Tensor:
        # || h + r - c || for tails, || c - (t - r) || for heads: distances
        # to two queries per triple, one fused op forward and backward.
        self._check_entities(head, tail, entity)
        relation = self.relation(relation)
        return -corruption_distances(head + relation, tail - relation, entity,
                                     candidates, corrupt_head, self.p)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.entity_dim}, num_relations='
                f'{self.num_relations}, p={self.p})')
