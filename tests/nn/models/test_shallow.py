import pytest
import torch

from pyg_kgc.evaluation import KGScorer, ReciprocalScorer
from pyg_kgc.nn.kge import (
    Bilinear,
    ComplEx,
    DistMult,
    RotatE,
    TransE,
    TransR,
    n3_regularizer,
)
from pyg_kgc.nn.models import ShallowKGE
from pyg_kgc.training import (
    NegativeSampler,
    binary_cross_entropy_loss,
    cross_entropy_loss,
    margin_ranking_loss,
    self_adversarial_loss,
)

N, R = 12, 3
DECODERS = {
    'TransE': lambda: TransE(8, R),
    'TransR': lambda: TransR(8, 4, R),
    'DistMult': lambda: DistMult(8, R),
    'ComplEx': lambda: ComplEx(8, R),
    'RotatE': lambda: RotatE(4, R),
    'RESCAL': lambda: Bilinear(8, R),
}


def triples():
    gen = torch.Generator().manual_seed(0)
    return torch.unique(
        torch.stack([
            torch.randint(N, (40, ), generator=gen),
            torch.randint(R, (40, ), generator=gen),
            torch.randint(N, (40, ), generator=gen)
        ]), dim=1)


def loss_of(model, kind, h, r, t, sampler, gen):
    if kind == 'cross-entropy':  # 1-N, both sides
        return (cross_entropy_loss(model.score_tails(h, r), t) +
                cross_entropy_loss(model.score_heads(r, t), h))
    pos = model(h, r, t)
    neg = model(*sampler(h, r, t, generator=gen))
    if kind == 'margin':
        return margin_ranking_loss(pos, neg, margin=1.0)
    if kind == 'bce':
        return binary_cross_entropy_loss(pos, neg)
    return self_adversarial_loss(pos, neg, margin=2.0, temperature=1.0)


@pytest.mark.parametrize('name', DECODERS)
@pytest.mark.parametrize(
    'kind', ['margin', 'bce', 'self-adversarial', 'cross-entropy'])
def test_trains_with_every_loss(name, kind):
    torch.manual_seed(0)
    model = ShallowKGE(N, DECODERS[name]())
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    h, r, t = triples()
    sampler = NegativeSampler(N, num_negatives=4)

    def evaluate():
        gen = torch.Generator().manual_seed(123)  # fixed negatives
        with torch.no_grad():
            return loss_of(model, kind, h, r, t, sampler, gen).item()

    before = evaluate()
    gen = torch.Generator().manual_seed(1)
    for _ in range(40):
        loss = loss_of(model, kind, h, r, t, sampler, gen)
        if name == 'ComplEx':
            loss = loss + 1e-3 * n3_regularizer(model.factors(h, r, t))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert evaluate() < 0.8 * before


def test_scoring_interface():
    model = ShallowKGE(N, DistMult(8, R))
    h, r, t = triples()
    assert model.num_entities == N and model.num_relations == R
    tails = model.score_tails(h, r)
    assert tails.shape == (h.numel(), N)
    assert torch.allclose(
        tails.gather(1, t.view(-1, 1)).view(-1), model(h, r, t), atol=1e-6)
    with pytest.raises(IndexError, match=r'Entity ids must lie in \[0, 12\)'):
        model(torch.tensor([12]), torch.tensor([0]), torch.tensor([0]))
    with pytest.raises(ValueError, match='must own its relation embeddings'):
        ShallowKGE(N, DistMult(8))


def test_reciprocal_scorer():
    model = ShallowKGE(N, ComplEx(8, 2 * R))
    scorer = ReciprocalScorer(model, R)
    r, t = torch.tensor([0, 2]), torch.tensor([5, 1])
    assert torch.equal(scorer.score_heads(r, t), model.score_tails(t, r + R))
    assert scorer.num_relations == R and scorer.num_entities == N
    with pytest.raises(ValueError, match='has 6, not 3'):
        ReciprocalScorer(ShallowKGE(N, DistMult(4, R)), R)


def test_sparse_gradients():
    model = ShallowKGE(N, DistMult(8, R), sparse=True)
    h, r, t = triples()
    model(h, r, t).sum().backward()
    assert model.entity_emb.grad.is_sparse


def test_reproducible_gradients():
    model = ShallowKGE(N, RotatE(16, R))
    gen = torch.Generator().manual_seed(2)
    h, r, t = (torch.randint(n, (30000, ), generator=gen) for n in (N, R, N))

    def grad():
        model.zero_grad()
        model(h, r, t).sum().backward()
        return model.entity_emb.grad.clone()

    first = grad()
    assert all(torch.equal(first, grad()) for _ in range(3))


def test_embedding_dropout_only_in_training():
    model = ShallowKGE(N, DistMult(64, R), entity_dropout=0.5,
                       relation_dropout=0.5)
    h, r, t = triples()
    model.eval()
    assert torch.equal(model(h, r, t), model(h, r, t))
    assert torch.equal(model.score_tails(h, r), model.score_tails(h, r))
    model.train()
    assert not torch.equal(model(h, r, t), model(h, r, t))
    assert not torch.equal(model.score_tails(h, r), model.score_tails(h, r))
    # Dropped coordinates are scaled: the expectation is unchanged.
    torch.manual_seed(0)
    mean = torch.stack([model(h, r, t) for _ in range(2000)]).mean(0)
    model.eval()
    assert torch.allclose(mean, model(h, r, t), atol=0.05)


@pytest.mark.parametrize('name', DECODERS)
def test_score_corruptions(name):
    torch.manual_seed(0)
    model = ShallowKGE(N, DECODERS[name]()).double()
    h, r, t = triples()
    entity, corrupt_head = NegativeSampler(N, 5).sample(h, r, t)
    nh = torch.where(corrupt_head, entity, h.view(-1, 1))
    nt = torch.where(corrupt_head, t.view(-1, 1), entity)
    expected = model(nh, r.view(-1, 1).expand_as(entity), nt)
    assert torch.allclose(
        model.score_corruptions(h, r, t, entity, corrupt_head), expected)
    # The scoring interface's generic default gives the same.
    generic = KGScorer.score_corruptions(model, h, r, t, entity, corrupt_head)
    assert torch.allclose(generic, expected)
    # Gradients: the table path (sampled products for DistMult, ComplEx
    # and bilinear) against the corrupted triples scored one by one.
    weight = torch.rand(entity.shape, dtype=torch.float64)
    grads = []
    for scores in (
            lambda: model.score_corruptions(h, r, t, entity, corrupt_head),
            lambda: model(nh,
                          r.view(-1, 1).expand_as(entity), nt)):
        model.zero_grad()
        (scores() * weight).sum().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for got, want in zip(*grads):
        assert torch.allclose(got, want, atol=1e-12)
    with pytest.raises(IndexError, match=r'Entity ids must lie in \[0, '):
        model.score_corruptions(h, r, t, entity + N, corrupt_head)
