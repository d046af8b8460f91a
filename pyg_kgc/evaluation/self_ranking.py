r"""A diagnostic of link predictors: how often a query's own entity comes
first."""
from typing import Dict, Iterable, Optional

import torch
from torch import Tensor

from pyg_kgc.evaluation.known_triples import check_triples
from pyg_kgc.evaluation.ranking import (
    SIDES,
    check_finite_scores,
    check_score_shape,
    check_sides,
)
from pyg_kgc.evaluation.scoring import KGScorer


@torch.no_grad()
def self_ranked_first(scorer: KGScorer, edge_index: Tensor, edge_type: Tensor,
                      sides: Iterable[str] = SIDES,
                      batch_size: Optional[int] = None,
                      max_scores: int = 1 << 22) -> Dict[str, float]:
    r"""The fraction of queries whose anchor, scored as its own answer,
    outscores every other entity: the tail query :math:`(h, r, ?)` counts
    when :math:`s(h, r, h) > s(h, r, e)` for every entity :math:`e \ne h`,
    the head query :math:`(?, r, t)` when :math:`s(t, r, t) > s(e, r, t)`
    for every :math:`e \ne t`.

    Self-loops are rarely true answers, yet scoring functions that are
    symmetric in head and tail favour them: DistMult's
    :math:`\langle h, r, h \rangle = \sum_i r_i h_i^2` is large unless
    :obj:`r` learns to keep it small. A high fraction explains part of an
    MRR that falls short, and it is what excluding self-loops from the
    candidates would gain at most (a query counted here loses at least one
    rank to the self-loop, unless the self-loop is a known triple).
    Unfiltered: every entity is a candidate.

    Args:
        scorer (KGScorer): The model, bound to the queries' graph.
        edge_index (torch.Tensor): Query heads and tails, :math:`[2, Q]`.
        edge_type (torch.Tensor): Query relations, :math:`[Q]`.
        sides (Iterable[str], optional): :obj:`"head"` and/or
            :obj:`"tail"`. (default: both)
        batch_size (int, optional): Queries scored at once. (default: as
            many as keep :obj:`max_scores` scores in memory)
        max_scores (int, optional): See :obj:`batch_size`. (default:
            :obj:`2**22`)

    Returns:
        A dictionary with the fraction per side (keys :obj:`"head"`,
        :obj:`"tail"`) and over the queries of all requested sides
        (:obj:`"both"`).

    Raises:
        ValueError: On an unknown side, no queries, a query whose entity or
            relation the scorer does not know, or scores of the wrong
            shape, or NaN scores.
    """
    sides = check_sides(sides)
    if not sides:
        raise ValueError("sides must name 'head' and/or 'tail', got none")
    num_nodes, num_relations = scorer.num_entities, scorer.num_relations
    check_triples(edge_index, edge_type, num_nodes, num_relations, 'queries')
    if edge_type.numel() == 0:
        raise ValueError("No queries to evaluate")
    head, tail = edge_index.long()
    relation = edge_type.long()
    batch_size = batch_size or max(1, max_scores // num_nodes)
    out: Dict[str, float] = {}
    total = 0
    for side in sides:
        first = 0
        for start in range(0, relation.numel(), batch_size):
            r = relation[start:start + batch_size]
            if side == 'tail':
                anchor = head[start:start + batch_size]
                scores = scorer.score_tails(anchor, r)
            else:
                anchor = tail[start:start + batch_size]
                scores = scorer.score_heads(r, anchor)
            check_score_shape(scores, side, anchor.numel(), num_nodes)
            check_finite_scores(scores)
            rows = torch.arange(anchor.numel(), device=scores.device)
            own = scores[rows, anchor]  # a copy; then mask it in a copy
            scores = scores.clone()
            scores[rows, anchor] = float('-inf')
            first += int((own > scores.max(dim=1).values).sum())
        out[side] = first / relation.numel()
        total += first
    out['both'] = total / (relation.numel() * len(sides))
    return out
