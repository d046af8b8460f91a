import pytest
import torch

from pyg_kgc.nn.models import ReFactorGNN


def nll(x, edge_index, edge_type, relation):
    logits = (x[edge_index[0]] * relation[edge_type]) @ x.t()
    return -torch.log_softmax(logits, -1).gather(1, edge_index[1].view(
        -1, 1)).mean()


def graph(seed=0, n=10, r=3, e=30):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randint(n, (2, e), generator=gen),
            torch.randint(r, (e, ), generator=gen))


@pytest.mark.parametrize('optimizer', ['sgd', 'adagrad'])
def test_layers_are_gradient_steps(optimizer):
    edge_index, edge_type = graph()
    model = ReFactorGNN(3, 8, num_layers=3, lr=2.0,
                        optimizer=optimizer).double().eval()
    out = model(None, edge_index, edge_type, 10)
    # The same random start, and three steps of the optimiser by autograd.
    embedding = torch.nn.Parameter(model.features(10).double())
    relation = model.decoder.relation_emb.detach()
    steps = (torch.optim.SGD if optimizer == 'sgd' else torch.optim.Adagrad)(
        [embedding], lr=2.0)
    for _ in range(3):
        steps.zero_grad()
        nll(embedding, edge_index, edge_type, relation).backward()
        steps.step()
    assert torch.allclose(out, embedding.detach(), rtol=1e-10, atol=1e-10)
    # Evaluation is reproducible; training draws new random vectors.
    assert torch.equal(out, model(None, edge_index, edge_type, 10))
    model.train()
    assert not torch.allclose(model(None, edge_index, edge_type, 10),
                              model(None, edge_index, edge_type, 10))


def test_trains_the_relations_through_the_layers():
    edge_index, edge_type = graph(1)
    model = ReFactorGNN(3, 8, num_layers=2, lr=1.0).eval()
    scorer = model.scorer(None, edge_index, edge_type, 10)
    loss = scorer.score_tails(edge_index[0], edge_type).logsumexp(-1).sum()
    loss.backward()
    assert model.decoder.relation_emb.grad.abs().sum() > 0


def test_features_and_errors():
    edge_index, edge_type = graph(2)
    model = ReFactorGNN(3, 8, num_layers=1, lr=1.0, in_channels=5)
    assert model(torch.randn(10, 5), edge_index, edge_type,
                 10).shape == (10, 8)
    with pytest.raises(ValueError, match=r'features \[10, 5\], got \[10, 4\]'):
        model(torch.randn(10, 4), edge_index, edge_type, 10)
    with pytest.raises(ValueError, match='if and only if'):
        model(None, edge_index, edge_type, 10)
    with pytest.raises(ValueError, match='num_layers must be at least 1'):
        ReFactorGNN(3, 8, num_layers=0, lr=1.0)
