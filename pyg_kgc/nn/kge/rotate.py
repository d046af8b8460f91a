import math
from typing import List, Optional

import torch
from torch import Tensor

from pyg_kgc.nn.kge.base import (
    KGEDecoder,
    corruption_distances,
    select_queries,
)
from pyg_kgc.nn.kge.complex import as_complex, as_real, complex_modulus


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

    Shapes:
        - **input:** head :math:`(*, 2k)`, relation ids :math:`(*)` or
          phases :math:`(*, k)`, tail :math:`(*, 2k)`
        - **output:** scores :math:`(*)`
    """
    def __init__(self, dim: int, num_relations: Optional[int] = None) -> None:
        super().__init__(2 * dim, dim, num_relations)
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
        return self.broadcast(
            queries.size(0), candidates, lambda rows: -complex_l1_distance(
                queries[rows, None], candidates[None]))

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
