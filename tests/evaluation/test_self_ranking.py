r"""`self_ranked_first` against a loop over queries and candidates written
here, and on DistMult, where the answer follows from Cauchy-Schwarz."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyg_kgc.evaluation import KGScorer, ReciprocalScorer, self_ranked_first
from pyg_kgc.nn.kge import DistMult, EmbeddingScorer


class TableScorer(KGScorer):
    r"""score(h, r, t) = table[r, h, t], all-candidate scoring by the
    generic chunked path."""
    def __init__(self, table: torch.Tensor):
        self.table = table
        self.num_relations, self.num_entities, _ = table.shape
        self.chunk_size = 5

    def score_triples(self, head, relation, tail):
        return self.table[relation, head, tail]


def reference(table, edge_index, edge_type, side):
    count = 0
    for (h, t), r in zip(edge_index.t().tolist(), edge_type.tolist()):
        anchor = h if side == 'tail' else t
        own = table[r, anchor, anchor]
        others = [
            table[r, anchor, e] if side == 'tail' else table[r, e, anchor]
            for e in range(table.size(1)) if e != anchor
        ]
        count += all(own > other for other in others)
    return count / edge_type.numel()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), num_nodes=st.integers(1, 6),
       num_queries=st.integers(1, 9), levels=st.integers(2, 4),
       batch_size=st.sampled_from([None, 1, 2, 4]))
def test_equals_loop_reference_with_ties(seed, num_nodes, num_queries, levels,
                                         batch_size):
    gen = torch.Generator().manual_seed(seed)
    # Few score levels: ties with the anchor are frequent, and a tie is
    # not first.
    table = torch.randint(levels, (3, num_nodes, num_nodes),
                          generator=gen).float()
    edge_index = torch.randint(num_nodes, (2, num_queries), generator=gen)
    edge_type = torch.randint(3, (num_queries, ), generator=gen)
    out = self_ranked_first(TableScorer(table), edge_index, edge_type,
                            batch_size=batch_size)
    expected = {
        side: reference(table, edge_index, edge_type, side)
        for side in ('head', 'tail')
    }
    assert out['head'] == pytest.approx(expected['head'])
    assert out['tail'] == pytest.approx(expected['tail'])
    assert out['both'] == pytest.approx(
        (expected['head'] + expected['tail']) / 2)
    tail_only = self_ranked_first(TableScorer(table), edge_index, edge_type,
                                  sides=['tail'])
    assert set(tail_only) == {'tail', 'both'}
    assert tail_only['both'] == pytest.approx(expected['tail'])


@pytest.mark.parametrize('sign', [1.0, -1.0])
def test_distmult_self_loop_by_cauchy_schwarz(sign):
    # Distinct entities of equal r-weighted norm: with r > 0,
    # <h, r, e> < <h, r, h> for every e != h (Cauchy-Schwarz), so every
    # query ranks its anchor first; with r < 0 the anchor is last.
    gen = torch.Generator().manual_seed(0)
    entity = torch.randn(7, 5, generator=gen, dtype=torch.float64)
    relation = sign * (torch.rand(2, 5, generator=gen, dtype=torch.float64) +
                       0.5)
    weighted = (entity.pow(2) * relation[0].abs()).sum(1, keepdim=True)
    entity = entity / weighted.sqrt()  # equal norms under relation 0
    scorer = EmbeddingScorer(DistMult(5), entity, relation)
    edge_index = torch.tensor([[0, 1, 2, 3, 6], [4, 5, 6, 0, 1]])
    edge_type = torch.zeros(5, dtype=torch.long)
    out = self_ranked_first(scorer, edge_index, edge_type)
    assert out == {side: float(sign > 0) for side in ('head', 'tail', 'both')}


def test_reciprocal_head_queries_are_inverse_tail_queries():
    gen = torch.Generator().manual_seed(1)
    table = torch.randn(4, 6, 6, generator=gen)
    edge_index = torch.randint(6, (2, 10), generator=gen)
    edge_type = torch.randint(2, (10, ), generator=gen)
    scorer = ReciprocalScorer(TableScorer(table), 2)
    head = self_ranked_first(scorer, edge_index, edge_type, sides=['head'])
    inverse = self_ranked_first(TableScorer(table), edge_index.flip(0),
                                edge_type + 2, sides=['tail'])
    assert head['head'] == inverse['tail']
    assert head['head'] == pytest.approx(
        reference(table, edge_index.flip(0), edge_type + 2, 'tail'))


def test_bad_input():
    scorer = TableScorer(torch.randn(2, 4, 4))
    edge_index = torch.tensor([[0, 1], [2, 3]])
    edge_type = torch.tensor([0, 1])
    with pytest.raises(ValueError, match='sides'):
        self_ranked_first(scorer, edge_index, edge_type, sides=['left'])
    with pytest.raises(ValueError, match='sides'):
        self_ranked_first(scorer, edge_index, edge_type, sides=[])
    with pytest.raises(ValueError, match='No queries'):
        self_ranked_first(scorer, edge_index[:, :0], edge_type[:0])
    with pytest.raises(ValueError, match='queries'):
        self_ranked_first(scorer, torch.tensor([[0, 4], [2, 3]]), edge_type)
    with pytest.raises(ValueError, match='queries'):
        self_ranked_first(scorer, edge_index, torch.tensor([0, 2]))

    class Narrow(TableScorer):
        def score_tails(self, head, relation, candidates=None, out=None):
            return super().score_tails(head, relation)[:, :3]

    with pytest.raises(ValueError, match=r'score_tails returned shape'):
        self_ranked_first(Narrow(scorer.table), edge_index, edge_type)
    table = scorer.table.clone()
    table[0, 0, 1] = float('nan')
    with pytest.raises(ValueError, match='NaN'):
        self_ranked_first(TableScorer(table), edge_index, edge_type)
