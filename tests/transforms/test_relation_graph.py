import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.data import Data

from pyg_kgc.transforms import (
    AddInverseRelations,
    RelationGraph,
    relation_graph,
)


def dense_affinity(edge_index, edge_type, num_nodes, num_relations,
                   binary=False):
    r"""The paper's formula with dense matrices, inverse relations added
    as relations R..2R-1."""
    head, tail = edge_index.tolist()
    rel = edge_type.tolist()
    num = 2 * num_relations
    e_h = torch.zeros(num_nodes, num, dtype=torch.float64)
    e_t = torch.zeros(num_nodes, num, dtype=torch.float64)
    for h, r, t in zip(head, rel, tail):
        e_h[h, r] += 1
        e_t[t, r] += 1
        e_h[t, r + num_relations] += 1
        e_t[h, r + num_relations] += 1
    if binary:
        e_h, e_t = (e_h > 0).double(), (e_t > 0).double()
    out = torch.zeros(num, num, dtype=torch.float64)
    for e in (e_h, e_t):
        deg = e.sum(1)
        inv = torch.where(deg > 0, deg.pow(-2), torch.zeros_like(deg))
        out += e.t() @ torch.diag(inv) @ e
    return out


def to_dense(index, weight, num):
    out = torch.zeros(num, num, dtype=torch.float64)
    out[index[0], index[1]] = weight
    return out


def random_kg(seed, num_nodes=15, num_relations=4, num_edges=40):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randint(num_nodes, (2, num_edges), generator=gen),
            torch.randint(num_relations, (num_edges, ), generator=gen))


@pytest.mark.parametrize('binary', [False, True])
@pytest.mark.parametrize('seed', range(4))
def test_equals_dense_reference(seed, binary):
    edge_index, edge_type = random_kg(seed)
    index, weight, bins = relation_graph(edge_index, edge_type, 15, 4,
                                         binary=binary)
    ref = dense_affinity(edge_index, edge_type, 15, 4, binary)
    assert torch.allclose(to_dense(index, weight, 8), ref, atol=1e-14)
    # Exactly the non-zero entries, each once; symmetric.
    assert index.size(1) == int((ref > 0).sum())
    assert torch.equal(to_dense(index, weight, 8),
                       to_dense(index, weight, 8).t())
    assert bins.min() >= 0 and bins.max() <= 9
    # Entries in row-major order: the order of the dense matrix's non-zeros.
    assert torch.equal(index, (ref > 0).nonzero().t())


def test_frequency_and_binary_differ_on_repeated_pairs():
    # Entity 0 is the head of relation 0 twice: a frequency of 2.
    edge_index = torch.tensor([[0, 0, 0], [1, 2, 3]])
    edge_type = torch.tensor([0, 0, 1])
    freq = to_dense(*relation_graph(edge_index, edge_type, 4, 2)[:2], 4)
    binary = to_dense(
        *relation_graph(edge_index, edge_type, 4, 2, binary=True)[:2], 4)
    # Head side of entity 0: frequencies (2, 1), degree 3.
    assert freq[0, 1] == pytest.approx(2 / 9)
    assert binary[0, 1] == pytest.approx(1 / 4)


def test_lecture_notes_worked_example():
    # Two relations ("born in" = 0, "acted in" = 1) share two head
    # entities: one with 3 triples in all, one with 7. The weight of the
    # pair is 1/3^2 + 1/7^2 = 0.13 (every triple of an entity has its own
    # relation, so frequency and 0/1 incidence agree).
    triples = [(0, 0, 10), (0, 1, 11), (0, 2, 12),
               (1, 0, 13), (1, 1, 14), (1, 2, 15), (1, 3, 16), (1, 4, 17),
               (1, 5, 18), (1, 6, 19)]  # yapf: disable
    head, rel, tail = zip(*triples)
    edge_index = torch.tensor([head, tail])
    edge_type = torch.tensor(rel)
    for binary in (False, True):
        index, weight, _ = relation_graph(edge_index, edge_type, 20, 7,
                                          binary=binary)
        dense = to_dense(index, weight, 14)
        assert dense[0, 1] == pytest.approx(1 / 9 + 1 / 49, abs=1e-15)
        assert round(float(dense[0, 1]), 2) == 0.13
        # Their inverses (7, 8) share the same two entities as tails; a
        # relation and the other's inverse share none.
        assert dense[7, 8] == dense[0, 1]
        assert dense[0, 8] == 0 and dense[1, 7] == 0


def reference_bins(weight, num_bins):
    r"""The paper's binning, loop by loop: rank 1 for the largest weight,
    tied weights (to 1e-9) sharing their best rank."""
    bins = []
    for w in weight:
        rank = 1 + sum(v - w > 1e-9 * v for v in weight)
        bins.append(math.ceil(rank / len(weight) * num_bins) - 1)
    return bins


@pytest.mark.parametrize('num_bins', [1, 3, 10])
def test_bins_follow_the_rank_formula(num_bins):
    edge_index, edge_type = random_kg(7, num_nodes=40, num_relations=6,
                                      num_edges=200)
    index, weight, bins = relation_graph(edge_index, edge_type, 40, 6,
                                         num_bins)
    values = weight.tolist()
    assert len(set(values)) < len(values)  # ties occur
    assert bins.tolist() == reference_bins(values, num_bins)
    # Bin 0 holds the largest weights; bins never increase with weight.
    order = torch.argsort(weight, descending=True)
    assert bins[order[0]] == 0
    assert bool((bins[order][1:] >= bins[order][:-1]).all())
    assert set(bins.tolist()) <= set(range(num_bins))


def test_ties_share_a_bin_independent_of_relation_ids():
    # A symmetric KG in which every weight is tied: one bin only, whatever
    # the relation ids.
    edge_index = torch.tensor([[0, 1, 2], [1, 2, 0]])
    edge_type = torch.tensor([0, 1, 2])
    _, weight, bins = relation_graph(edge_index, edge_type, 3, 3, 4)
    assert torch.unique(weight).numel() < weight.numel()
    for value in torch.unique(weight):
        assert torch.unique(bins[weight == value]).numel() == 1


@pytest.mark.parametrize('num_bins', [3, 10])
def test_ties_in_entry_order(num_bins):
    # ties='order': rank = 1 + the weights above + the equal ones of earlier
    # entries (sorted by source, then target), a loop per entry. Tie groups
    # then straddle bins and every bin holds M / B entries (to one), as the
    # official code's bins do.
    edge_index, edge_type = random_kg(7, num_nodes=40, num_relations=6,
                                      num_edges=200)
    index, weight, bins = relation_graph(edge_index, edge_type, 40, 6,
                                         num_bins, ties='order')
    best_index, best_weight, best = relation_graph(edge_index, edge_type, 40,
                                                   6, num_bins)
    assert torch.equal(index, best_index) and torch.equal(weight, best_weight)
    keys = index[0] * 12 + index[1]
    assert bool((keys[1:] > keys[:-1]).all())  # the entries' order
    values, expected = weight.tolist(), []
    for i, w in enumerate(values):
        rank = 1 + sum(v > w for v in values) + sum(v == w
                                                    for v in values[:i])
        expected.append(math.ceil(rank / len(values) * num_bins) - 1)
    assert bins.tolist() == expected
    sizes = torch.bincount(bins, minlength=num_bins)
    assert int(sizes.max() - sizes.min()) <= 1
    # With 10 bins some tie groups cross a boundary: the best rank then
    # gives uneven bins, and those entries another bin (with 3, none does).
    uneven = int(torch.bincount(best).max() - torch.bincount(best).min()) > 1
    assert uneven == (not torch.equal(bins, best)) == (num_bins == 10)
    with pytest.raises(ValueError, match="ties must be 'best' or 'order'"):
        relation_graph(edge_index, edge_type, 40, 6, num_bins, ties='random')


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), num_relations=st.integers(1, 5))
def test_relation_permutation_permutes_the_graph(seed, num_relations):
    edge_index, edge_type = random_kg(seed, 12, num_relations, 25)
    perm = torch.randperm(num_relations,
                          generator=torch.Generator().manual_seed(seed))
    index, weight, bins = relation_graph(edge_index, edge_type, 12,
                                         num_relations, 5)
    p_index, p_weight, p_bins = relation_graph(edge_index, perm[edge_type], 12,
                                               num_relations, 5)
    full = torch.cat([perm, perm + num_relations])
    num = 2 * num_relations
    dense = to_dense(index, weight, num)
    p_dense = to_dense(p_index, p_weight, num)
    assert torch.allclose(p_dense[full][:, full], dense, atol=1e-14)
    bin_dense = torch.full((num, num), -1, dtype=torch.long)
    bin_dense[index[0], index[1]] = bins
    p_bin_dense = torch.full((num, num), -1, dtype=torch.long)
    p_bin_dense[p_index[0], p_index[1]] = p_bins
    assert torch.equal(p_bin_dense[full][:, full], bin_dense)
    # Every relation with facts is linked to itself.
    for r in edge_type.unique().tolist():
        assert dense[r, r] > 0 and dense[r + num_relations,
                                         r + num_relations] > 0


def test_transform():
    edge_index, edge_type = random_kg(1)
    data = Data(edge_index=edge_index, edge_type=edge_type, num_nodes=15,
                num_relations=4)
    out = RelationGraph(num_bins=5)(data.clone())
    index, weight, bins = relation_graph(edge_index, edge_type, 15, 4, 5)
    assert torch.equal(out.relation_edge_index, index)
    assert torch.equal(out.relation_edge_weight, weight)
    assert torch.equal(out.relation_edge_bin, bins)
    assert 'binary=False' in repr(RelationGraph(5))
    ordered = RelationGraph(num_bins=5, ties='order')(data.clone())
    assert torch.equal(ordered.relation_edge_bin,
                       relation_graph(edge_index, edge_type, 15, 4, 5,
                                      ties='order')[2])
    assert "ties='order'" in repr(RelationGraph(5, ties='order'))
    with pytest.raises(ValueError, match="ties must be 'best' or 'order'"):
        RelationGraph(ties='first')
    with pytest.raises(ValueError, match='before AddInverseRelations'):
        RelationGraph()(AddInverseRelations()(data.clone()))


def test_bad_input():
    edge_index, edge_type = random_kg(0)
    with pytest.raises(ValueError, match='num_bins must be positive'):
        relation_graph(edge_index, edge_type, 15, 4, 0)
    with pytest.raises(ValueError, match='relation id 4 at position'):
        relation_graph(edge_index,
                       edge_type.clamp(max=3) + (edge_type == 3), 15, 4)
    with pytest.raises(ValueError, match='head id .* out of range'):
        relation_graph(edge_index, edge_type, 10, 4)
    with pytest.raises(ValueError, match='no triples'):
        relation_graph(torch.empty(2, 0, dtype=torch.long),
                       torch.empty(0, dtype=torch.long), 5, 2)
