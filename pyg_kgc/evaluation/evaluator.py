r"""Filtered rank-based evaluation of link prediction."""
from typing import Iterable, Optional, Sequence

import torch
from torch import Tensor
from tqdm.auto import tqdm

from pyg_kgc.evaluation.known_triples import KnownTriples, check_triples
from pyg_kgc.evaluation.ranking import (
    SIDES,
    RankingResult,
    check_score_shape,
    check_sides,
    filtered_ranks,
)
from pyg_kgc.evaluation.scoring import KGScorer


def _alike(a: Tensor, b: Optional[Tensor]) -> bool:
    return (b is not None and a.shape == b.shape and a.stride() == b.stride()
            and a.dtype == b.dtype and a.device == b.device)


def _aliases(a: Tensor, b: Tensor) -> bool:
    return _alike(a, b) and a.data_ptr() == b.data_ptr()


class RankingEvaluator:
    r"""Filtered rank-based link prediction evaluation, both sides.

    For a query :math:`(h, r, t)`, the true tail :math:`t` is ranked among
    the candidate tails of :math:`(h, r, ?)` and, separately, the true head
    among the candidate heads of :math:`(?, r, t)`. Filtering removes every
    other known true triple of the graph from the candidates (Bordes et al.,
    2013), so that a model is not penalised for ranking another correct
    answer first. Ties count optimistically, pessimistically, or
    realistically (the mean; the default of :meth:`RankingResult.metrics`).

    A batch of queries is scored against all candidates with one call of
    :meth:`KGScorer.score_tails` / :meth:`KGScorer.score_heads` (a matrix
    product for multiplicative decoders); the filter is applied by
    index arithmetic on the precomputed :class:`KnownTriples`, never by
    building dense masks; memory is bounded by :obj:`batch_size` times the
    number of candidates.

    Args:
        known (KnownTriples): The known true triples of the graph the
            queries come from (train, validation and test triples; for an
            inductive split, the inference graph's facts and queries).
        batch_size (int, optional): Queries scored at once. (default:
            as many as keep :obj:`max_scores` scores in memory)
        max_scores (int, optional): The number of scores held at once when
            :obj:`batch_size` is not given. (default: :obj:`2**22`)
        progress (bool, optional): Show a progress bar. (default:
            :obj:`False`)

    Example:
        >>> evaluator = RankingEvaluator.from_data(data)
        >>> result = evaluator.evaluate(model, data.target_edge_index,
        ...                             data.target_edge_type)
        >>> result.metrics()['both']['mrr']
    """
    def __init__(self, known: KnownTriples, batch_size: Optional[int] = None,
                 max_scores: int = 1 << 22, progress: bool = False) -> None:
        self.known = known
        self.batch_size = batch_size
        self.max_scores = max_scores
        self.progress = progress

    @classmethod
    def from_data(cls, data, **kwargs) -> 'RankingEvaluator':
        r"""The evaluator of a benchmark split, filtering with its
        :obj:`filter_edge_index` / :obj:`filter_edge_type`."""
        return cls(KnownTriples.from_data(data), **kwargs)

    @property
    def num_nodes(self) -> int:
        return self.known.num_nodes

    @property
    def num_relations(self) -> int:
        return self.known.num_relations

    def _check(self, scorer: KGScorer, edge_index: Tensor, edge_type: Tensor,
               sides: Sequence[str]) -> None:
        check_sides(sides)
        num_entities = getattr(scorer, 'num_entities', None)
        if num_entities is not None and num_entities != self.num_nodes:
            raise ValueError(
                f"The scorer scores {num_entities} entities, but the filter "
                f"was built for a graph of {self.num_nodes}: was the "
                f"evaluator built for another graph?")
        check_triples(edge_index, edge_type, self.num_nodes,
                      self.num_relations, 'queries')
        if edge_index.size(1) == 0:
            raise ValueError("No queries to evaluate")

    def _candidate_map(self, candidates: Tensor, device) -> Tensor:
        if candidates.dim() != 1 or candidates.numel() == 0:
            raise ValueError("candidates must be a non-empty 1-D tensor of "
                             "entity ids")
        check_triples(torch.stack([candidates, candidates]),
                      torch.zeros_like(candidates), self.num_nodes, 1,
                      'candidates')
        position = torch.full((self.num_nodes, ), -1, dtype=torch.long,
                              device=device)
        position[candidates] = torch.arange(candidates.numel(), device=device)
        if int((position >= 0).sum()) != candidates.numel():
            raise ValueError("candidates hold duplicate entity ids")
        return position

    @torch.no_grad()
    def evaluate(self, scorer: KGScorer, edge_index: Tensor, edge_type: Tensor,
                 sides: Iterable[str] = SIDES,
                 candidates: Optional[Tensor] = None) -> RankingResult:
        r"""Ranks the queries :obj:`(edge_index[0], edge_type,
        edge_index[1])`.

        Args:
            scorer (KGScorer): The model, bound to the queries' graph.
            edge_index (torch.Tensor): Query heads and tails, :math:`[2, Q]`.
            edge_type (torch.Tensor): Query relations, :math:`[Q]`.
            sides (Iterable[str], optional): :obj:`"head"` and/or
                :obj:`"tail"`. (default: both)
            candidates (torch.Tensor, optional): Restricts the candidates to
                these entity ids; every true answer must be among them.
                (default: all entities)

        Raises:
            ValueError: If a query is out of range or is not among the known
                triples (a filter built for another graph), if the scorer
                was built for another number of entities, or if it returns
                NaN scores.
        """
        sides = tuple(sides)
        self._check(scorer, edge_index, edge_type, sides)
        device = edge_index.device
        if self.known.keys.device != device:
            self.known.to(device)
        head, tail = edge_index.long()
        relation = edge_type.long()
        unknown = ~self.known.contains(head, relation, tail)
        if bool(unknown.any()):
            i = int(unknown.nonzero()[0])
            raise ValueError(
                f"Query {i} ({int(head[i])}, {int(relation[i])}, "
                f"{int(tail[i])}) is not among the {len(self.known)} known "
                f"triples of the filter: was the evaluator built for another "
                f"graph?")
        position = None
        if candidates is not None:
            candidates = candidates.to(device)
            position = self._candidate_map(candidates, device)
            missing = (position[head] < 0) | (position[tail] < 0)
            if bool(missing.any()):
                i = int(missing.nonzero()[0])
                raise ValueError(f"Query {i}'s true answer is not among the "
                                 f"candidates")

        num_candidates = (self.num_nodes
                          if candidates is None else candidates.numel())
        batch_size = self.batch_size or max(1,
                                            self.max_scores // num_candidates)
        result = RankingResult()
        # One buffer of ours, offered to the scorer as `out` and used as the
        # workspace of the ranks: no fresh [B, C] memory batch after batch.
        buffer: Optional[Tensor] = None
        for side in sides:
            optimistic, pessimistic = [], []
            starts = range(0, head.numel(), batch_size)
            for start in tqdm(starts, desc=f'{side} ranks',
                              disable=not self.progress, leave=False):
                h = head[start:start + batch_size]
                r = relation[start:start + batch_size]
                t = tail[start:start + batch_size]
                if side == 'tail':
                    scores = scorer.score_tails(h, r, candidates, out=buffer)
                    row, col = self.known.tails(h, r)
                    target = t
                else:
                    scores = scorer.score_heads(r, t, candidates, out=buffer)
                    row, col = self.known.heads(r, t)
                    target = h
                check_score_shape(scores, side, h.numel(), num_candidates)
                if position is not None:
                    target, col = position[target], position[col]
                    keep = col >= 0
                    row, col = row[keep], col[keep]
                in_buffer = buffer is not None and _aliases(scores, buffer)
                if not in_buffer and not _alike(scores, buffer):
                    buffer = torch.empty_like(scores)
                opt, pess = filtered_ranks(scores, target, row, col,
                                           scores if in_buffer else buffer)
                optimistic.append(opt)
                pessimistic.append(pess)
            result.optimistic[side] = torch.cat(optimistic).cpu()
            result.pessimistic[side] = torch.cat(pessimistic).cpu()
        return result

    @torch.no_grad()
    def evaluate_sampled(self, scorer: KGScorer, edge_index: Tensor,
                         edge_type: Tensor, num_negatives: int = 49,
                         exclude: Optional[KnownTriples] = None, seed: int = 0,
                         sides: Iterable[str] = SIDES) -> RankingResult:
        r"""Ranks every query against :obj:`num_negatives` sampled
        corruptions instead of all entities: the protocol of GraIL (Teru et
        al., 2020), kept for comparison with papers that report it.

        For each query and side, negatives are drawn uniformly with
        replacement from all entities, rejecting the entity left in place
        (no self-loops), the true answer, and every corruption that is a
        triple of :obj:`exclude`. GraIL ranks the true triple among 50
        candidates (itself and 49 negatives; its :obj:`num_samples=50`
        counts the positive) and rejects only triples of the inference
        graph's facts, i.e. :obj:`exclude=KnownTriples(data.edge_index,
        data.edge_type, ...)`; unlike GraIL's code, the true answer is
        never drawn as its own negative.

        Args:
            scorer (KGScorer): The model, bound to the queries' graph.
            edge_index (torch.Tensor): Query heads and tails, :math:`[2, Q]`.
            edge_type (torch.Tensor): Query relations, :math:`[Q]`.
            num_negatives (int, optional): Negatives per query and side.
                (default: :obj:`49`)
            exclude (KnownTriples, optional): Triples that are not
                negatives. (default: the evaluator's known triples)
            seed (int, optional): Seed of the sampling; the negatives depend
                only on it and the queries. (default: :obj:`0`)
            sides (Iterable[str], optional): :obj:`"head"` and/or
                :obj:`"tail"`. (default: both)
        """
        sides = tuple(sides)
        self._check(scorer, edge_index, edge_type, sides)
        exclude = self.known if exclude is None else exclude
        if (exclude.num_nodes, exclude.num_relations) != (self.num_nodes,
                                                          self.num_relations):
            raise ValueError("exclude was built for another graph")
        device = edge_index.device
        exclude.to(device)
        head, tail = edge_index.long()
        relation = edge_type.long()
        generator = torch.Generator(device=device).manual_seed(seed)
        result = RankingResult()
        for side in sides:
            corrupt_head = torch.full_like(head, side == 'head',
                                           dtype=torch.bool)
            negatives = exclude.sample_corruptions(head, relation, tail,
                                                   corrupt_head, num_negatives,
                                                   generator,
                                                   no_self_loops=True)
            true = torch.where(corrupt_head, head, tail)
            candidates = torch.cat([true.view(-1, 1), negatives], dim=1)
            k = candidates.size(1)
            h = head.view(-1, 1).expand(-1, k)
            t = tail.view(-1, 1).expand(-1, k)
            h, t = (candidates, t) if side == 'head' else (h, candidates)
            r = relation.view(-1, 1).expand(-1, k)
            scores = torch.cat([
                scorer.score_triples(*(x.reshape(-1)[i:i + self.max_scores]
                                       for x in (h, r, t)))
                for i in range(0, h.numel(), self.max_scores)
            ]).view(-1, k)
            target = torch.zeros_like(head)
            opt, pess = filtered_ranks(scores, target)
            result.optimistic[side] = opt.cpu()
            result.pessimistic[side] = pess.cpu()
        return result
