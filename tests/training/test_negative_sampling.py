import pytest
import torch
from torch_geometric.data import Data

from pyg_kgc.evaluation import KnownTriples
from pyg_kgc.training import (
    NegativeSampler,
    bernoulli_head_probability,
    cross_entropy_loss,
    in_batch_candidates,
    one_to_n_targets,
)


def random_triples(n, r, e, seed=0):
    gen = torch.Generator().manual_seed(seed)
    triples = torch.stack([
        torch.randint(n, (e, ), generator=gen),
        torch.randint(r, (e, ), generator=gen),
        torch.randint(n, (e, ), generator=gen)
    ])
    return torch.unique(triples, dim=1)


def test_bernoulli_probability_matches_definition():
    triples = random_triples(15, 4, 120)
    # A 1-N relation: one head, many tails.
    one_to_n = torch.stack([
        torch.zeros(10, dtype=torch.long),
        torch.full((10, ), 4),
        torch.arange(10)
    ])
    triples = torch.cat([triples, one_to_n], dim=1)
    prob = bernoulli_head_probability(triples[[0, 2]], triples[1], 6)
    for rel in range(6):
        h, _, t = triples[:, triples[1] == rel].tolist()
        if not h:
            assert prob[rel] == 0.5  # unseen relation
            continue
        tph = len(h) / len(set(h))
        hpt = len(h) / len(set(t))
        assert prob[rel].item() == pytest.approx(tph / (tph + hpt))
    assert prob[4].item() == pytest.approx(10 / 11)  # mostly corrupt heads


def test_uniform_sampler():
    n = 50
    triples = random_triples(n, 3, 400)
    sampler = NegativeSampler(n, num_negatives=7)
    gen = torch.Generator().manual_seed(0)
    h, r, t = sampler(*triples, generator=gen)
    assert h.shape == r.shape == t.shape == (triples.size(1), 7)
    assert torch.equal(r, triples[1].view(-1, 1).expand(-1, 7))
    head_kept = h == triples[0].view(-1, 1)
    tail_kept = t == triples[2].view(-1, 1)
    assert (head_kept | tail_kept).all()  # one side is left in place
    # Heads and tails are corrupted about equally often.
    assert 0.45 < (~head_kept).float().mean() / (
        ~head_kept | ~tail_kept).float().mean() < 0.55
    again = sampler(*triples, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip((h, r, t), again))


def test_sampler_excluding_the_own_entity():
    # Five entities, 20,000 corruptions of the same triple (0, 0, 1): the
    # replaced entity never comes back, the four others come equally often.
    n, b = 5, 4000
    triples = torch.tensor([[0], [0], [1]]).repeat(1, b)
    sampler = NegativeSampler(n, num_negatives=5, exclude_own=True)
    entity, corrupt_head = sampler.sample(
        *triples, generator=torch.Generator().manual_seed(0))
    own = torch.where(corrupt_head, 0, 1)
    assert not (entity == own).any()
    for side, replaced in ((corrupt_head, 0), (~corrupt_head, 1)):
        counts = torch.bincount(entity[side], minlength=n).float()
        assert counts[replaced] == 0
        share = counts / counts.sum()
        others = [v for v in range(n) if v != replaced]
        assert ((share[others] - 0.25).abs() < 0.02).all(), share
    # Without the option the positive's own entity is drawn (1 in 5).
    plain, corrupt_head = NegativeSampler(n, num_negatives=5).sample(
        *triples, generator=torch.Generator().manual_seed(0))
    hits = (plain == torch.where(corrupt_head, 0, 1)).float().mean()
    assert 0.17 < hits < 0.23
    with pytest.raises(ValueError, match='at least 2'):
        NegativeSampler(1, exclude_own=True)


def test_bernoulli_sampler_follows_probabilities():
    n = 40
    one_to_n = torch.stack([
        torch.zeros(30, dtype=torch.long),
        torch.zeros(30, dtype=torch.long),
        torch.arange(10, 40)
    ])
    data = Data(edge_index=one_to_n[[0, 2]], edge_type=one_to_n[1],
                num_nodes=n, num_relations=1)
    sampler = NegativeSampler.bernoulli(data, num_negatives=200)
    h, _, t = sampler(*one_to_n, generator=torch.Generator().manual_seed(1))
    corrupted_head = (t == one_to_n[2].view(-1, 1)) & (h != 0)
    rate = corrupted_head.float().mean().item()
    expected = 30 / 31 * (1 - 1 / n)  # a drawn head may equal the original
    assert abs(rate - expected) < 0.02


def test_filtered_sampler_avoids_known_triples():
    n = 12
    triples = random_triples(n, 2, 90, seed=3)
    known = KnownTriples(triples[[0, 2]], triples[1], n, 2)
    sampler = NegativeSampler(n, num_negatives=5, known=known)
    h, r, t = sampler(*triples, generator=torch.Generator().manual_seed(2))
    known_set = set(map(tuple, triples.t().tolist()))
    negatives = zip(h.flatten().tolist(),
                    r.flatten().tolist(),
                    t.flatten().tolist())
    assert not known_set & set(negatives)


def test_sampler_bad_input():
    sampler = NegativeSampler(5)
    with pytest.raises(ValueError, match='positives: tail id 5'):
        sampler(torch.tensor([0]), torch.tensor([0]), torch.tensor([5]))
    with pytest.raises(ValueError, match='num_negatives must be positive'):
        NegativeSampler(5, num_negatives=0)
    known = KnownTriples(torch.tensor([[0], [1]]), torch.tensor([0]), 3, 1)
    with pytest.raises(ValueError, match='graph of 3 entities, not 5'):
        NegativeSampler(5, known=known)


def test_one_to_n_targets():
    n = 6
    triples = random_triples(n, 2, 20, seed=4)
    known = KnownTriples(triples[[0, 2]], triples[1], n, 2)
    anchor, relation = torch.tensor([0, 1, 5]), torch.tensor([1, 0, 1])
    tails = one_to_n_targets(anchor, relation, known, 'tail')
    heads = one_to_n_targets(anchor, relation, known, 'head')
    known_set = set(map(tuple, triples.t().tolist()))
    for i, (a, rel) in enumerate(zip(anchor.tolist(), relation.tolist())):
        for c in range(n):
            assert tails[i, c] == float((a, rel, c) in known_set)
            assert heads[i, c] == float((c, rel, a) in known_set)
    smooth = one_to_n_targets(anchor, relation, known, 'tail', 0.1)
    assert torch.allclose(smooth, 0.9 * tails + 0.1 / n)
    with pytest.raises(ValueError, match="side must be 'head' or 'tail'"):
        one_to_n_targets(anchor, relation, known, 'both')


def test_in_batch_candidates_hold_every_answer_once():
    positive = torch.tensor([4, 7, 4, 0, 9, 7])
    gen = torch.Generator().manual_seed(0)
    candidates, target = in_batch_candidates(positive, 12, 5, gen)
    assert torch.equal(candidates[target], positive)
    assert torch.equal(candidates, torch.unique(candidates))  # sorted, once
    assert set(positive.tolist()) <= set(candidates.tolist())
    # The rest are the global negatives: at most 5 of them.
    assert candidates.numel() - positive.unique().numel() <= 5
    assert candidates.min() >= 0 and candidates.max() < 12
    # The same generator state draws the same set.
    again = in_batch_candidates(positive, 12, 5,
                                torch.Generator().manual_seed(0))
    assert torch.equal(again[0], candidates)
    assert torch.equal(again[1], target)


def test_in_batch_candidates_default_one_global_per_positive():
    positive = torch.arange(50)
    candidates, target = in_batch_candidates(
        positive, 10**6, generator=torch.Generator().manual_seed(1))
    # 50 draws out of a million entities: all new, all distinct.
    assert candidates.numel() == 100
    assert torch.equal(target, torch.arange(50))
    only_answers, _ = in_batch_candidates(positive, 10**6, 0)
    assert torch.equal(only_answers, positive)


def test_in_batch_cross_entropy_is_softmax_over_the_set():
    # The loss of a query is -log softmax of its answer among the set,
    # computed here entity by entity.
    gen = torch.Generator().manual_seed(2)
    scores_all = torch.randn(3, 20, generator=gen)  # 3 queries, 20 entities
    positive = torch.tensor([5, 11, 5])
    candidates, target = in_batch_candidates(positive, 20, 4, gen)
    loss = cross_entropy_loss(scores_all[:, candidates], target)
    expected = 0.0
    for i, answer in enumerate(positive.tolist()):
        row = scores_all[i, candidates]
        expected += -(scores_all[i, answer] - torch.logsumexp(row, 0))
    assert torch.allclose(loss, expected / 3, atol=1e-6)


def test_in_batch_candidates_bad_input():
    with pytest.raises(IndexError, match=r"\[0, 5\)"):
        in_batch_candidates(torch.tensor([1, 5]), 5)
    with pytest.raises(IndexError):
        in_batch_candidates(torch.tensor([-1]), 5)
    with pytest.raises(ValueError, match="at least one positive"):
        in_batch_candidates(torch.tensor([], dtype=torch.long), 5)
    with pytest.raises(ValueError, match="num_nodes"):
        in_batch_candidates(torch.tensor([0]), 0)
    with pytest.raises(ValueError, match="num_global"):
        in_batch_candidates(torch.tensor([0]), 5, -1)
