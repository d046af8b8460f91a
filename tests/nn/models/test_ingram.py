import math

import pytest
import torch

from pyg_kgc.nn.models import InGram, glorot_features
from pyg_kgc.training import (
    NegativeSampler,
    margin_ranking_loss,
    split_messages,
)
from pyg_kgc.transforms import add_inverse_triples, relation_graph


def small_model(**kwargs):
    torch.manual_seed(0)
    args = dict(entity_channels=8, relation_channels=4, entity_hidden_ratio=2,
                relation_hidden_ratio=2, heads=2, num_bins=3)
    args.update(kwargs)
    return InGram(**args).double()


def random_kg(seed, n=12, r=4, e=40):
    gen = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(n, (2, e), generator=gen)
    edge_type = torch.arange(e) % r  # every relation has triples
    return edge_index, edge_type


@pytest.mark.parametrize('seed', range(3))
def test_double_equivariance(seed):
    r"""Renaming the entities and the relations of a graph (and permuting
    the random features the same way) renames the outputs: nothing in the
    model depends on ids."""
    n, r = 12, 4
    model = small_model()
    edge_index, edge_type = random_kg(seed, n, r)
    gen = torch.Generator().manual_seed(100 + seed)
    x = torch.randn(n, 8, generator=gen, dtype=torch.float64)
    rel_x = torch.randn(2 * r, 4, generator=gen, dtype=torch.float64)
    h, z = model.encode(edge_index, edge_type, n, r, x=x, relation_x=rel_x)

    ent_perm = torch.randperm(n, generator=gen)  # old id -> new id
    rel_perm = torch.randperm(r, generator=gen)
    full = torch.cat([rel_perm, rel_perm + r])
    new_x = torch.empty_like(x)
    new_x[ent_perm] = x
    new_rel_x = torch.empty_like(rel_x)
    new_rel_x[full] = rel_x
    # The triples in another order too.
    order = torch.randperm(edge_type.numel(), generator=gen)
    h2, z2 = model.encode(ent_perm[edge_index][:, order],
                          rel_perm[edge_type][order], n, r, x=new_x,
                          relation_x=new_rel_x)
    assert torch.allclose(h2[ent_perm], h, atol=1e-10)
    assert torch.allclose(z2[rel_perm], z, atol=1e-10)
    # So are the scores of all triples.
    s1 = model.scorer_from(h, z)
    s2 = model.scorer_from(h2, z2)
    head = torch.arange(n).repeat_interleave(r)
    rel = torch.arange(r).repeat(n)
    tails = s1.score_tails(head, rel)
    tails2 = s2.score_tails(ent_perm[head], rel_perm[rel])
    assert torch.allclose(tails2[:, ent_perm], tails, atol=1e-10)


def test_forward_is_the_layer_stack():
    model = small_model()
    edge_index, edge_type = random_kg(1)
    x = torch.randn(12, 8, dtype=torch.float64)
    rel_x = torch.randn(8, 4, dtype=torch.float64)
    h, z = model.encode(edge_index, edge_type, 12, 4, x=x, relation_x=rel_x)
    index, kind = add_inverse_triples(edge_index, edge_type, 4)
    rel_index, _, rel_bin = relation_graph(edge_index, edge_type, 12, 4, 3)
    zz = model.relation_in(rel_x)
    for conv in model.relation_convs:
        zz = torch.relu(conv(zz, rel_index, rel_bin))
    hh = model.entity_in(x)
    for conv in model.entity_convs:
        hh = torch.relu(conv(hh, index, kind, zz))
    assert torch.allclose(h, model.entity_out(hh), atol=1e-12)
    assert torch.allclose(z, model.relation_out(zz)[:4], atol=1e-12)
    # The score is DistMult with the projected relation.
    s = model.scorer_from(h, z)
    score = s.score_triples(torch.tensor([0]), torch.tensor([2]),
                            torch.tensor([5]))
    manual = (h[0] * model.relation_proj(z[2]) * h[5]).sum()
    assert torch.allclose(score, manual.view(1))
    assert torch.allclose(
        model.score(h, z, torch.tensor([0]), torch.tensor([2]),
                    torch.tensor([5])), manual.view(1))


def test_bin_ties():
    # With bin_ties='order' the relation-level layers see the bins of
    # relation_graph(..., ties='order'); where a tie group straddles two
    # bins (10 bins here) and the bin biases differ, the outputs differ from
    # the default's.
    edge_index, edge_type = random_kg(7, n=40, r=6, e=200)
    models = [small_model(num_bins=10, bin_ties=ties)
              for ties in ('best', 'order')]
    for model in models:
        for conv in model.relation_convs:
            conv.bin_bias.data = torch.linspace(
                -1, 1, conv.bin_bias.numel(),
                dtype=torch.float64).view_as(conv.bin_bias)
    x = torch.randn(40, 8, dtype=torch.float64)
    rel_x = torch.randn(12, 4, dtype=torch.float64)
    (_, z_best), (_, z_order) = (m.encode(edge_index, edge_type, 40, 6, x=x,
                                          relation_x=rel_x) for m in models)
    assert not torch.allclose(z_best, z_order)
    rel_index, _, rel_bin = relation_graph(edge_index, edge_type, 40, 6, 10,
                                           ties='order')
    zz = models[1].relation_in(rel_x)
    for conv in models[1].relation_convs:
        zz = torch.relu(conv(zz, rel_index, rel_bin))
    assert torch.allclose(z_order, models[1].relation_out(zz)[:6],
                          atol=1e-12)
    assert "bin_ties='order'" in repr(models[1])
    assert 'bin_ties' not in repr(models[0])
    with pytest.raises(ValueError, match="bin_ties must be 'best' or"):
        small_model(bin_ties='stable')


def test_random_features():
    gen = torch.Generator().manual_seed(0)
    x = glorot_features(3000, 32, gen)
    std = math.sqrt(2.0) * math.sqrt(2.0 / 3032)
    assert x.shape == (3000, 32)
    assert abs(float(x.std()) / std - 1) < 0.02
    assert abs(float(x.mean())) < 0.01 * std * 10
    again = glorot_features(3000, 32, torch.Generator().manual_seed(0))
    assert torch.equal(x, again)
    # Fresh features for every call without a fixed generator.
    assert not torch.equal(glorot_features(10, 4), glorot_features(10, 4))


def test_bad_input():
    model = small_model()
    edge_index, edge_type = random_kg(0)
    # Relation 4 has no triples: the graph encodes, but a query with it
    # is refused, wherever it comes.
    scorer = model.scorer(edge_index, edge_type, 12, 5)
    one = torch.tensor([0])
    assert scorer.score_tails(one, torch.tensor([3])).shape == (1, 12)
    with pytest.raises(ValueError, match='relation 4 has no triples'):
        scorer.score_tails(one, torch.tensor([4]))
    with pytest.raises(ValueError, match='relation 4 has no triples'):
        scorer.score_triples(one, torch.tensor([2, 4]), one)
    with pytest.raises(IndexError, match=r'must lie in \[0, 5\)'):
        scorer.score_heads(torch.tensor([5]), one)
    with pytest.raises(ValueError, match='message graph is empty'):
        model.encode(torch.empty(2, 0, dtype=torch.long),
                     torch.empty(0, dtype=torch.long), 12, 4)
    with pytest.raises(ValueError, match='tail id 12 at position'):
        bad = edge_index.clone()
        bad[1, 3] = 12
        model.encode(bad, edge_type, 12, 4)
    with pytest.raises(ValueError, match=r'x must have shape \[\*, 8\]'):
        model.encode(edge_index, edge_type, 12, 4,
                     x=torch.randn(12, 7, dtype=torch.float64))


SIGNATURES = [(0, 1), (1, 2), (2, 0), (0, 2), (1, 0), (2, 1)]


def typed_kg(seed, relation_ids):
    r"""Three types of 20 entities; relation r links entities of type
    SIGNATURES[r][0] to entities of type SIGNATURES[r][1], at random."""
    gen = torch.Generator().manual_seed(seed)
    rel = torch.randint(6, (300, ), generator=gen)
    sig = torch.tensor(SIGNATURES)[rel]
    heads = sig[:, 0] * 20 + torch.randint(20, (300, ), generator=gen)
    tails = sig[:, 1] * 20 + torch.randint(20, (300, ), generator=gen)
    return torch.stack([heads, tails]), relation_ids[rel]


def wrong_type_below_truth(model, edge_index, edge_type) -> float:
    r"""How often a tail of the wrong type scores below the true tail, over
    five splits and draws of the random features."""
    total = 0.0
    for seed in range(5):
        gen = torch.Generator().manual_seed(seed)
        (mi, mt), (si, st) = split_messages(edge_index, edge_type, 0.75,
                                            cover=True, generator=gen)
        with torch.no_grad():
            scores = model.scorer(mi, mt, 60, 6, gen).score_tails(si[0], st)
        true = scores.gather(1, si[1].view(-1, 1))
        wrong = (torch.arange(60).view(1, -1) // 20) != (si[1].view(-1, 1) //
                                                         20)
        total += float(
            (((scores < true) & wrong).sum(1) / wrong.sum(1)).mean())
    return total / 5


def test_learns_a_new_graph_with_new_relations():
    r"""Trained with the paper's recipe on one graph, InGram separates the
    right type of answer from the wrong ones on a graph with other
    entities and renamed relations: relations are recognised by their
    structure, not their ids."""
    torch.manual_seed(0)
    model = InGram(entity_channels=16, relation_channels=16,
                   entity_hidden_ratio=2, relation_hidden_ratio=2, heads=2,
                   num_bins=4)
    new_graph = typed_kg(1, torch.tensor([3, 5, 0, 1, 4, 2]))
    before = wrong_type_below_truth(model, *new_graph)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    edge_index, edge_type = typed_kg(0, torch.arange(6))
    sampler = NegativeSampler(60, 10)
    for _ in range(120):
        (mi, mt), (si, st) = split_messages(edge_index, edge_type, 0.75,
                                            cover=True)
        s = model.scorer(mi, mt, 60, 6)
        ent, corrupt = sampler.sample(si[0], st, si[1])
        loss = margin_ranking_loss(
            s.score_triples(si[0], st, si[1]),
            s.score_corruptions(si[0], st, si[1], ent, corrupt), 2.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = wrong_type_below_truth(model, *new_graph)
    assert 0.35 < before < 0.6  # chance
    assert after > before + 0.15
