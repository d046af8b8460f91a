from typing import Optional, Tuple

import torch
from torch import Tensor

from pyg_kgc.nn.kge.base import KGEDecoder, lp_norm


class TransR(KGEDecoder):
    r"""The TransR decoder from the `"Learning Entity and Relation Embeddings
    for Knowledge Graph Completion"
    <https://ojs.aaai.org/index.php/AAAI/article/view/9491>`_ paper

    .. math::
        f_r(\mathbf{h}, \mathbf{t}) = - \| \mathbf{M}_r \mathbf{h} +
        \mathbf{r} - \mathbf{M}_r \mathbf{t} \|_p, \qquad \mathbf{h},
        \mathbf{t} \in \mathbb{R}^d, \; \mathbf{r} \in \mathbb{R}^k, \;
        \mathbf{M}_r \in \mathbb{R}^{k \times d}:

    entities are projected into a space of each relation before the
    translation, so that different entities can land on the same point for
    one relation (1-to-N) and stay apart for others. A relation is
    represented by :math:`[\mathbf{r}, \mathrm{vec}(\mathbf{M}_r)]`, a vector
    of width :math:`k + kd` (projection row-major); owned projections start
    as the identity, as in the paper.

    Scoring all candidates with :math:`p = 2` expands :math:`\|\mathbf{x} -
    \mathbf{M}_r \mathbf{t}\|^2 = \|\mathbf{x}\|^2 - 2
    (\mathbf{M}_r^{\top} \mathbf{x})^{\top} \mathbf{t} + \|\mathbf{M}_r
    \mathbf{t}\|^2` with :math:`\mathbf{x} = \mathbf{M}_r \mathbf{h} +
    \mathbf{r}`: a matrix product, plus the projected norms of the
    candidates once per distinct relation of the batch; it never builds a
    :math:`[B, C, k]` tensor.

    Args:
        entity_dim (int): Width :math:`d` of entity representations.
        relation_dim (int): Width :math:`k` of the relation space.
        num_relations (int, optional): If given, the decoder owns the
            relation representations. (default: :obj:`None`)
        p (int, optional): The norm, :obj:`1` or :obj:`2`. (default:
            :obj:`2`)

    Shapes:
        - **input:** head :math:`(*, d)`, relation ids :math:`(*)` or
          representations :math:`(*, k + kd)`, tail :math:`(*, d)`
        - **output:** scores :math:`(*)`
    """
    def __init__(self, entity_dim: int, relation_dim: int,
                 num_relations: Optional[int] = None, p: int = 2) -> None:
        if p not in (1, 2):
            raise ValueError(f"TransR supports the L1 and L2 norms, got p={p}")
        super().__init__(entity_dim, relation_dim + relation_dim * entity_dim,
                         num_relations)
        self.space_dim = relation_dim
        self.p = p
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.relation_emb is not None:
            k, d = self.space_dim, self.entity_dim
            bound = 6 / k**0.5
            with torch.no_grad():
                torch.nn.init.uniform_(self.relation_emb[:, :k], -bound, bound)
                self.relation_emb[:, k:] = torch.eye(k, d).view(1, -1)

    def unpack(self, relation: Tensor) -> Tuple[Tensor, Tensor]:
        r"""The translations :math:`[*, k]` and projections :math:`[*, k,
        d]` of relation representations."""
        k = self.space_dim
        return relation[..., :k], relation[...,
                                           k:].reshape(*relation.shape[:-1], k,
                                                       self.entity_dim)

    def interaction(self, head: Tensor, relation: Tensor,
                    tail: Tensor) -> Tensor:
        translation, projection = self.unpack(relation)
        moved = (projection @ (head - tail).unsqueeze(-1)).squeeze(-1)
        return -lp_norm(moved + translation, self.p)

    def _expanded(self, x: Tensor, projection: Tensor, candidates: Tensor,
                  sign: float) -> Tensor:
        # -|| x + sign * M c || for every candidate c, p = 2.
        # The distinct projections of the batch (unique has no derivative:
        # find them on detached values, gather them differentiably).
        _, inverse = torch.unique(projection.detach().flatten(1), dim=0,
                                  return_inverse=True)
        first = torch.full((int(inverse.max()) + 1, ), inverse.numel(),
                           device=inverse.device).scatter_reduce_(
                               0, inverse,
                               torch.arange(inverse.numel(),
                                            device=inverse.device), 'amin')
        unique = projection.index_select(0, first)
        per_chunk = max(
            1, self.max_elements // max(1,
                                        candidates.size(0) * self.space_dim))
        norms = torch.cat([(candidates @ m.transpose(1, 2)).pow(2).sum(dim=-1)
                           for m in unique.split(per_chunk)
                           ])  # [U, C]: || M_u c ||^2
        y = (projection.transpose(1, 2) @ x.unsqueeze(-1)).squeeze(-1)
        squared = (x.pow(2).sum(dim=-1, keepdim=True) +
                   2 * sign * y @ candidates.t() + norms[inverse])
        return -squared.clamp(min=1e-30).sqrt()

    def all_tails(self, head: Tensor, relation: Tensor, candidates: Tensor,
                  out: Optional[Tensor] = None) -> Tensor:
        if self.p != 2:
            return super().all_tails(head, relation, candidates)
        translation, projection = self.unpack(relation)
        x = (projection @ head.unsqueeze(-1)).squeeze(-1) + translation
        return self._expanded(x, projection, candidates, -1.0)

    def all_heads(self, candidates: Tensor, relation: Tensor, tail: Tensor,
                  out: Optional[Tensor] = None) -> Tensor:
        if self.p != 2:
            return super().all_heads(candidates, relation, tail)
        translation, projection = self.unpack(relation)
        x = translation - (projection @ tail.unsqueeze(-1)).squeeze(-1)
        return self._expanded(x, projection, candidates, 1.0)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.entity_dim}, '
                f'{self.space_dim}, num_relations={self.num_relations}, '
                f'p={self.p})')
