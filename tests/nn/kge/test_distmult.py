import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyg_kgc.evaluation import KnownTriples, RankingEvaluator
from pyg_kgc.nn.kge import DistMult, EmbeddingScorer


def embeddings(n=9, r=3, d=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d, generator=gen, dtype=torch.float64),
            torch.randn(r, d, generator=gen, dtype=torch.float64))


def test_formula():
    entity, relation = embeddings()
    decoder = DistMult(5)
    h, r, t = entity[[0, 4]], relation[[2, 0]], entity[[7, 7]]
    expected = [
        sum(h[i, k] * r[i, k] * t[i, k] for k in range(5)).item()
        for i in range(2)
    ]
    assert decoder(h, r, t).tolist() == pytest.approx(expected)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_symmetric(seed):
    entity, relation = embeddings(seed=seed)
    decoder = DistMult(5)
    assert torch.allclose(decoder(entity[:3], relation[:3], entity[3:6]),
                          decoder(entity[3:6], relation[:3], entity[:3]))


def test_all_candidates_equal_one_by_one():
    entity, relation = embeddings()
    scorer = EmbeddingScorer(DistMult(5), entity, relation)
    h, r, t = torch.tensor([0, 3,
                            8]), torch.tensor([1, 2,
                                               0]), torch.tensor([5, 5, 1])
    tails = scorer.score_tails(h, r)
    heads = scorer.score_heads(r, t)
    for i in range(3):
        for c in range(9):
            one = scorer.score_triples(h[i:i + 1], r[i:i + 1],
                                       torch.tensor([c]))
            assert tails[i, c].item() == pytest.approx(one.item())
            one = scorer.score_triples(torch.tensor([c]), r[i:i + 1],
                                       t[i:i + 1])
            assert heads[i, c].item() == pytest.approx(one.item())
    subset = torch.tensor([7, 2, 4])
    assert torch.equal(scorer.score_tails(h, r, subset), tails[:, subset])
    # Written into a recycled buffer of the same layout.
    buffer = torch.empty_like(tails)
    assert buffer.stride() == (1, 3)  # a transposed [C, B] product
    out = scorer.score_tails(h, r, out=buffer)
    assert out.data_ptr() == buffer.data_ptr() and torch.equal(out, tails)
    # A buffer of another layout is not used.
    out = scorer.score_tails(h, r, out=torch.empty(3, 9, dtype=torch.float64))
    assert torch.equal(out, tails)


def test_owned_and_supplied_relations():
    entity, relation = embeddings()
    decoder = DistMult(5, num_relations=3).double()
    with torch.no_grad():
        decoder.relation_emb.copy_(relation)
    ids = torch.tensor([2, 0])
    assert torch.equal(decoder(entity[:2], ids, entity[2:4]),
                       decoder(entity[:2], relation[ids], entity[2:4]))
    with pytest.raises(IndexError, match=r'Relation ids must lie in \[0, 3\)'):
        decoder(entity[:1], torch.tensor([3]), entity[:1])
    with pytest.raises(ValueError, match='owns no relation embeddings'):
        DistMult(5)(entity[:1], torch.tensor([0]), entity[:1])
    with pytest.raises(ValueError, match='relation representations of width'):
        decoder(entity[:1], relation[:1, :4], entity[:1])
    with pytest.raises(ValueError, match='entity representations of width'):
        decoder(entity[:1, :4], ids[:1], entity[:1, :4])


def test_gradients_flow_through_all_tails():
    entity, relation = embeddings()
    entity.requires_grad_()
    scores = DistMult(5).score_tails(entity[:2], relation[:2], entity)
    scores.sum().backward()
    assert entity.grad is not None and entity.grad.abs().sum() > 0


def test_evaluator_with_distmult_matches_loop():
    # Full pipeline: the evaluator over a DistMult scorer (in-place buffers)
    # against ranks computed one candidate at a time here.
    entity, relation = embeddings(n=30, r=4, d=6, seed=3)
    entity = entity.float()
    relation = relation.float()
    scorer = EmbeddingScorer(DistMult(6), entity, relation)
    gen = torch.Generator().manual_seed(4)
    known = torch.unique(
        torch.stack([
            torch.randint(30, (200, ), generator=gen),
            torch.randint(4, (200, ), generator=gen),
            torch.randint(30, (200, ), generator=gen)
        ]), dim=1)
    evaluator = RankingEvaluator(KnownTriples(known[[0, 2]], known[1], 30, 4),
                                 batch_size=7)
    queries = known[:, :40]
    result = evaluator.evaluate(scorer, queries[[0, 2]], queries[1])
    known_set = set(map(tuple, known.t().tolist()))
    for i, (h, r, t) in enumerate(queries.t().tolist()):
        true = scorer.score_triples(*map(torch.tensor, ([h], [r], [t])))
        above = 0
        for c in range(30):
            if c != t and (h, r, c) not in known_set:
                s = scorer.score_triples(*map(torch.tensor, ([h], [r], [c])))
                above += int(s > true)
        assert result.optimistic['tail'][i] == above + 1


def test_gradients_are_reproducible():
    # Many repeated ids: gradients accumulate into the same rows. Gathers by
    # advanced indexing accumulate in a thread-dependent order on CPU; the
    # decoders' gathers must give bitwise identical gradients every time.
    gen = torch.Generator().manual_seed(5)
    entity = torch.randn(10, 32, generator=gen).requires_grad_()
    decoder = DistMult(32, num_relations=4)
    head = torch.randint(10, (20000, ), generator=gen)
    relation = torch.randint(4, (20000, ), generator=gen)
    tail = torch.randint(10, (20000, ), generator=gen)

    def gradients():
        entity.grad, decoder.relation_emb.grad = None, None
        scorer = EmbeddingScorer(decoder, entity * 1.0)
        scorer.score_triples(head, relation, tail).pow(2).sum().backward()
        return entity.grad.clone(), decoder.relation_emb.grad.clone()

    first = gradients()
    for _ in range(5):
        again = gradients()
        assert all(torch.equal(a, b) for a, b in zip(first, again))
