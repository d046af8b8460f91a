r"""The evaluator against a brute-force reference written here: a Python loop
over candidates, on random scores with many ties and random filters."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyg_kgc.evaluation import (
    KGScorer,
    KnownTriples,
    RankingEvaluator,
    rank_metrics,
)


class TableScorer(KGScorer):
    r"""score(h, r, t) = table[r, h, t]; uses the generic (chunked)
    all-candidate scoring of :class:`KGScorer`."""
    def __init__(self, table: torch.Tensor, chunk_size: int = 7):
        self.table = table
        self.num_relations, self.num_entities, _ = table.shape
        self.chunk_size = chunk_size

    def score_triples(self, head, relation, tail):
        return self.table[relation, head, tail]


class VectorTableScorer(TableScorer):
    r"""The same scores through vectorised all-candidate scoring, returned
    as a transposed (non-contiguous) view, as fast decoders do."""
    def score_tails(self, head, relation, candidates=None, out=None):
        scores = self.table[relation, head]
        if candidates is not None:
            scores = scores[:, candidates]
        return scores.t().contiguous().t()

    def score_heads(self, relation, tail, candidates=None, out=None):
        scores = self.table[relation, :, tail]
        if candidates is not None:
            scores = scores[:, candidates]
        return scores.t().contiguous().t()


def brute_force_ranks(table, known, queries, side, candidates):
    r"""Optimistic and pessimistic filtered ranks, one candidate at a
    time."""
    known = set(known)
    optimistic, pessimistic = [], []
    for h, r, t in queries:
        true = table[r, h, t].item()
        answer = t if side == 'tail' else h
        greater = greater_equal = 0
        for c in candidates:
            if c == answer:
                continue
            triple = (h, r, c) if side == 'tail' else (c, r, t)
            if triple in known:  # filtered
                continue
            score = table[triple[1], triple[0], triple[2]].item()
            greater += score > true
            greater_equal += score >= true
        optimistic.append(1 + greater)
        pessimistic.append(1 + greater_equal)
    return optimistic, pessimistic


@st.composite
def problems(draw):
    n = draw(st.integers(2, 9))
    r = draw(st.integers(1, 3))
    all_triples = [(h, rel, t) for h in range(n) for rel in range(r)
                   for t in range(n)]
    known = draw(
        st.lists(st.sampled_from(all_triples), min_size=1, max_size=40))
    queries = draw(st.lists(st.sampled_from(known), min_size=1, max_size=12))
    levels = draw(st.integers(1, 4))  # few score levels: many ties
    seed = draw(st.integers(0, 2**16))
    batch_size = draw(st.integers(1, 13))
    subset = draw(st.booleans())
    infinite = draw(st.booleans())
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    return (n, r, known, queries, levels, seed, batch_size, subset, infinite,
            dtype)


@settings(max_examples=200, deadline=None)
@given(problems(), st.sampled_from([TableScorer, VectorTableScorer]))
def test_matches_brute_force(problem, scorer_cls):
    (n, r, known, queries, levels, seed, batch_size, subset, infinite,
     dtype) = problem
    gen = torch.Generator().manual_seed(seed)
    table = torch.randint(levels, (r, n, n), generator=gen).to(dtype)
    if infinite:  # some scores are -inf or +inf
        mask = torch.randint(4, (r, n, n), generator=gen)
        table[mask == 0] = -math.inf
        table[mask == 1] = math.inf
    scorer = scorer_cls(table)
    index = torch.tensor(known).t()
    evaluator = RankingEvaluator(KnownTriples(index[[0, 2]], index[1], n, r),
                                 batch_size=batch_size)
    q = torch.tensor(queries).t()
    candidates = None
    if subset:  # a random subset that holds every true answer
        must = set(q[0].tolist()) | set(q[2].tolist())
        extra = set(torch.randperm(n, generator=gen)[:n // 2].tolist())
        candidates = torch.tensor(sorted(must | extra))
        candidates = candidates[torch.randperm(candidates.numel(),
                                               generator=gen)]
    result = evaluator.evaluate(scorer, q[[0, 2]], q[1], candidates=candidates)
    cands = range(n) if candidates is None else candidates.tolist()
    for side in ('head', 'tail'):
        opt, pess = brute_force_ranks(table, known, queries, side, cands)
        assert result.optimistic[side].tolist() == opt
        assert result.pessimistic[side].tolist() == pess
        realistic = result.ranks(side, 'realistic').tolist()
        assert realistic == [(a + b) / 2 for a, b in zip(opt, pess)]


def test_true_answer_is_never_filtered():
    # Every candidate scores the same and every triple is known: each query
    # is filtered against all others, yet ranks itself (rank 1, no ties).
    n, r = 5, 2
    known = [(h, rel, t) for h in range(n) for rel in range(r)
             for t in range(n)]
    index = torch.tensor(known).t()
    evaluator = RankingEvaluator(KnownTriples(index[[0, 2]], index[1], n, r))
    result = evaluator.evaluate(TableScorer(torch.zeros(r, n, n)),
                                index[[0, 2]], index[1])
    for ties in ('optimistic', 'pessimistic', 'realistic'):
        assert result.ranks('both', ties).eq(1).all()
    assert result.metrics()['both']['mrr'] == 1.0


def test_unfiltered_ties_and_metrics():
    # One query, no other known triple: ranks count ties among candidates.
    table = torch.tensor([[[0., 3., 3., 1.], [0., 0., 0., 0.],
                           [0., 0., 0., 0.], [5., 0., 0., 0.]]])
    evaluator = RankingEvaluator(
        KnownTriples(torch.tensor([[0], [2]]), torch.tensor([0]), 4, 1))
    result = evaluator.evaluate(TableScorer(table), torch.tensor([[0], [2]]),
                                torch.tensor([0]))
    # Tail side: scores [0, 3, 3, 1], true 3 (entity 2) ties entity 1.
    assert result.optimistic['tail'].tolist() == [1]
    assert result.pessimistic['tail'].tolist() == [2]
    # Head side: scores of (c, 0, 2) = [3, 0, 0, 0], true head 0 ranks first.
    assert result.pessimistic['head'].tolist() == [1]
    metrics = result.metrics()
    assert metrics['tail'] == pytest.approx({
        'mrr': 1 / 1.5,
        'mr': 1.5,
        'hits@1': 0.0,
        'hits@3': 1.0,
        'hits@10': 1.0
    })
    assert metrics['both']['mrr'] == pytest.approx((1 / 1.5 + 1) / 2)
    assert result.metrics('optimistic')['both']['hits@1'] == 1.0
    assert result.metrics('pessimistic')['both']['hits@1'] == 0.5


def test_rank_metrics():
    m = rank_metrics(torch.tensor([1, 2, 4, 20]), ks=(1, 3))
    assert m == pytest.approx({
        'mrr': (1 + 1 / 2 + 1 / 4 + 1 / 20) / 4,
        'mr': 27 / 4,
        'hits@1': 0.25,
        'hits@3': 0.5
    })
    with pytest.raises(ValueError, match='No ranks'):
        rank_metrics(torch.tensor([]))


@pytest.fixture
def small():
    n, r = 6, 2
    gen = torch.Generator().manual_seed(0)
    known = torch.tensor([[0, 0, 1], [1, 1, 2], [2, 0, 3], [3, 1, 4]]).t()
    table = torch.randn(r, n, n, generator=gen)
    evaluator = RankingEvaluator(KnownTriples(known[[0, 2]], known[1], n, r))
    return evaluator, TableScorer(table), known


@pytest.mark.parametrize('edge_index, edge_type, message', [
    ([[0], [6]], [0], r'queries: tail id 6 at position 0 is out of range'),
    ([[-1], [1]], [0], r'queries: head id -1 at position 0 is out of range'),
    ([[0], [1]], [2], r'queries: relation id 2 at position 0 is out of'),
    ([[0, 1], [1, 2]], [0], r'edge_type must have shape \[2\]'),
    ([[0], [3]], [0], r'Query 0 \(0, 0, 3\) is not among the 4 known '
     r'triples of the filter: was the evaluator built for another graph'),
])
def test_bad_queries(small, edge_index, edge_type, message):
    evaluator, scorer, _ = small
    with pytest.raises(ValueError, match=message):
        evaluator.evaluate(scorer, torch.tensor(edge_index),
                           torch.tensor(edge_type))


def test_float_ids_are_rejected(small):
    evaluator, scorer, known = small
    with pytest.raises(ValueError, match='must hold integer ids'):
        evaluator.evaluate(scorer, known[[0, 2]].float(), known[1])


def test_scorer_of_another_graph(small):
    evaluator, _, known = small
    other = TableScorer(torch.randn(2, 7, 7))
    with pytest.raises(
            ValueError, match='scores 7 entities, but the filter '
            'was built for a graph of 6'):
        evaluator.evaluate(other, known[[0, 2]], known[1])


def test_nan_scores(small):
    evaluator, scorer, known = small
    scorer.table[0, 2, 5] = math.nan
    with pytest.raises(ValueError, match='NaN scores'):
        evaluator.evaluate(scorer, known[[0, 2]], known[1], sides=['tail'])


def test_no_queries_and_bad_candidates(small):
    evaluator, scorer, known = small
    with pytest.raises(ValueError, match='No queries'):
        evaluator.evaluate(scorer, known[[0, 2], :0], known[1, :0])
    with pytest.raises(ValueError, match='not among the candidates'):
        evaluator.evaluate(scorer, known[[0, 2]], known[1],
                           candidates=torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match='duplicate entity ids'):
        evaluator.evaluate(scorer, known[[0, 2]], known[1],
                           candidates=torch.tensor([0, 1, 2, 3, 4, 4]))
    with pytest.raises(ValueError, match="Unknown side 'middle'"):
        evaluator.evaluate(scorer, known[[0, 2]], known[1], sides=['middle'])


def test_filter_from_data_requires_filter_triples():
    from torch_geometric.data import Data
    with pytest.raises(ValueError, match="no 'filter_edge_index'"):
        RankingEvaluator.from_data(Data(num_nodes=3))


def test_sample_corruptions_constraints():
    n, r = 12, 3
    gen = torch.Generator().manual_seed(1)
    known = torch.randint(n, (3, 60), generator=gen)
    known[1] %= r
    index = KnownTriples(known[[0, 2]], known[1], n, r)
    head, relation, tail = known
    corrupt_head = torch.rand(60, generator=gen) < 0.5
    samples = index.sample_corruptions(head, relation, tail, corrupt_head, 20,
                                       torch.Generator().manual_seed(5),
                                       no_self_loops=True)
    assert samples.shape == (60, 20)
    known_set = set(map(tuple, known.t().tolist()))
    for i in range(60):
        h, rel, t = known[:, i].tolist()
        for c in samples[i].tolist():
            triple = (c, rel, t) if corrupt_head[i] else (h, rel, c)
            assert triple not in known_set
            assert c != (t if corrupt_head[i] else h)  # no self-loop
    again = index.sample_corruptions(head, relation, tail, corrupt_head, 20,
                                     torch.Generator().manual_seed(5),
                                     no_self_loops=True)
    assert torch.equal(samples, again)  # seeded
    full = KnownTriples(torch.tensor([[0, 0], [0, 1]]), torch.tensor([0, 0]),
                        2, 1)
    with pytest.raises(RuntimeError, match='Could not sample'):
        full.sample_corruptions(torch.tensor([0]), torch.tensor([0]),
                                torch.tensor([1]), torch.tensor([False]), 1,
                                max_rounds=5)


def test_known_triples_lookup():
    known = torch.tensor([[0, 0, 1], [0, 0, 2], [0, 1, 1], [3, 0, 1],
                          [0, 0, 2]]).t()  # one duplicate
    index = KnownTriples(known[[0, 2]], known[1], 4, 2)
    assert len(index) == 4
    query, tail = index.tails(torch.tensor([0, 3, 2]), torch.tensor([0, 0, 0]))
    assert list(zip(query.tolist(), tail.tolist())) == [(0, 1), (0, 2), (1, 1)]
    query, head = index.heads(torch.tensor([0, 1]), torch.tensor([1, 1]))
    assert list(zip(query.tolist(), head.tolist())) == [(0, 0), (0, 3), (1, 0)]
    assert index.contains(torch.tensor([0, 0, 2]), torch.tensor([0, 1, 0]),
                          torch.tensor([2, 2,
                                        1])).tolist() == [True, False, False]


def test_sampled_protocol_matches_reference():
    n, r = 30, 2
    gen = torch.Generator().manual_seed(3)
    known = torch.randint(n, (3, 80), generator=gen)
    known[1] %= r
    table = torch.randint(4, (r, n, n), generator=gen).double()
    index = KnownTriples(known[[0, 2]], known[1], n, r)
    messages = KnownTriples(known[[0, 2], :50], known[1, :50], n, r)
    queries = known[:, 50:]
    evaluator = RankingEvaluator(index)
    result = evaluator.evaluate_sampled(TableScorer(table), queries[[0, 2]],
                                        queries[1], num_negatives=49,
                                        exclude=messages, seed=7)
    generator = torch.Generator().manual_seed(7)
    for side in ('head', 'tail'):
        corrupt = torch.full((30, ), side == 'head')
        negatives = messages.sample_corruptions(*queries, corrupt, 49,
                                                generator, no_self_loops=True)
        answer = queries[0] if side == 'head' else queries[2]
        assert not (negatives == answer.view(-1, 1)).any()  # not a negative
        for i, (h, rel, t) in enumerate(queries.t().tolist()):
            true = table[rel, h, t].item()
            scores = [(table[rel, c,
                             t] if side == 'head' else table[rel, h,
                                                             c]).item()
                      for c in negatives[i].tolist()]
            assert result.optimistic[side][i] == 1 + sum(s > true
                                                         for s in scores)
            assert result.pessimistic[side][i] == 1 + sum(s >= true
                                                          for s in scores)
    again = evaluator.evaluate_sampled(TableScorer(table), queries[[0, 2]],
                                       queries[1], exclude=messages, seed=7)
    assert torch.equal(again.pessimistic['tail'], result.pessimistic['tail'])
