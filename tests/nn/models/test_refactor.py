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
    # Random input vectors: entries N(0, 1/K) by default, or feature_std.
    for std, expected in ((None, 64**-0.5), (1e-3, 1e-3), (2.0, 2.0)):
        features = ReFactorGNN(3, 64, num_layers=1, lr=1.0,
                               feature_std=std).features(500)
        assert features.shape == (500, 64)
        assert abs(float(features.std()) / expected - 1) < 0.02
    with pytest.raises(ValueError, match='feature_std must be positive'):
        ReFactorGNN(3, 8, num_layers=1, lr=1.0, feature_std=0.0)


def test_dropout_of_the_decoded_states():
    from pyg_kgc.nn.kge import EmbeddingScorer
    edge_index, edge_type = graph(4)
    model = ReFactorGNN(3, 64, num_layers=1, lr=1.0, dropout=0.25)
    assert 'dropout=0.25' in repr(model)
    h = torch.randn(10, 64)
    reference = EmbeddingScorer(model.decoder, h)
    head, relation = edge_index[0], edge_type
    # Evaluation scores the states as they are.
    model.eval()
    assert torch.equal(model.decode(h).score_tails(head, relation),
                       reference.score_tails(head, relation))
    # Training drops entries with probability p and rescales the rest.
    model.train()
    dropped = model.decode(h).entity
    zero = dropped == 0
    assert abs(float(zero.float().mean()) - 0.25) < 0.05
    assert torch.allclose(dropped[~zero], h[~zero] / 0.75)
    assert not torch.allclose(model.decode(h).score_tails(head, relation),
                              reference.score_tails(head, relation))
    # The layers' states are not dropped; the scorer of a message graph
    # drops them in training only.
    assert (model(None, edge_index, edge_type, 10) != 0).all()
    assert (model.scorer(None, edge_index, edge_type, 10).entity == 0).any()
    model.eval()
    assert (model.scorer(None, edge_index, edge_type, 10).entity != 0).all()
    for p in (-0.1, 1.0):
        with pytest.raises(ValueError, match=r'dropout must lie in \[0, 1\)'):
            ReFactorGNN(3, 8, num_layers=1, lr=1.0, dropout=p)


def test_node_state_cache_cycles_through_the_depths():
    from pyg_kgc.nn.models import NodeStateCache
    edge_index, edge_type = graph(3)
    model = ReFactorGNN(3, 8, num_layers=3, lr=2.0).double().eval()
    cache = NodeStateCache(period=3)
    states, restarts = [], []
    for _ in range(4):
        restarts.append(cache.restarts)
        states.append(cache.step(model, None, edge_index, edge_type, 10))
    assert restarts == [True, False, False, True]
    h = model.inputs(None, 10)
    for depth in range(3):
        h, _ = model.layer(h, edge_index, edge_type)
        assert torch.allclose(states[depth], h, rtol=1e-12, atol=1e-12)
    # The third step is the model's own L-layer output; the fourth starts
    # again from the inputs.
    assert torch.allclose(states[2], model(None, edge_index, edge_type, 10))
    assert torch.allclose(states[3], states[0])
    assert cache.steps == 4 and 'period=3' in repr(cache)


def test_node_state_cache_trains_one_layer_at_a_time():
    from pyg_kgc.nn.models import NodeStateCache
    edge_index, edge_type = graph(4)
    model = ReFactorGNN(3, 8, num_layers=2, lr=2.0).double().eval()
    cache = NodeStateCache(period=None)
    cache.step(model, None, edge_index, edge_type, 10)
    previous = cache.states.clone()
    h = cache.step(model, None, edge_index, edge_type, 10)
    h.pow(2).sum().backward()
    grad = model.decoder.relation_emb.grad.clone()
    # The same gradient as one layer on the (constant) cached states.
    model.zero_grad()
    model.layer(previous, edge_index, edge_type)[0].pow(2).sum().backward()
    assert torch.allclose(grad, model.decoder.relation_emb.grad)
    assert not previous.requires_grad


def test_node_state_cache_transductive_mode():
    from pyg_kgc.nn.models import NodeStateCache
    from pyg_kgc.training import cross_entropy_loss
    edge_index, edge_type = graph(5, n=10, r=3, e=40)
    torch.manual_seed(0)
    model = ReFactorGNN(3, 16, num_layers=1, lr=0.3, optimizer='adagrad')
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    cache = NodeStateCache()  # L = infinity: never cleared
    losses = []
    for _ in range(100):
        h = cache.step(model, None, edge_index, edge_type, 10)
        scores = model.decoder.score_tails(h[edge_index[0]], edge_type, h)
        loss = cross_entropy_loss(scores, edge_index[1])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    # States and relations learn the graph together (many subject-relation
    # pairs of this random graph have several objects: hits@1 cannot be 1).
    assert losses[-1] < 0.4 * losses[0]
    scorer = cache.scorer(model)
    assert torch.equal(scorer.entity, cache.states)
    ranks = (scorer.score_tails(edge_index[0], edge_type)
             > scorer.score_triples(edge_index[0], edge_type,
                                    edge_index[1]).view(-1, 1)).sum(1)
    assert (ranks == 0).float().mean() > 0.3  # chance: 0.1
    assert not cache.restarts  # never restarts by itself
    cache.clear()
    assert cache.restarts


def test_node_state_cache_errors():
    from pyg_kgc.nn.models import NodeStateCache
    with pytest.raises(ValueError, match='period must be positive'):
        NodeStateCache(period=0)
    with pytest.raises(ValueError, match='cache is empty'):
        NodeStateCache().scorer(ReFactorGNN(3, 4, 1, 1.0))
    edge_index, edge_type = graph(6)
    model = ReFactorGNN(3, 4, 1, 1.0)
    cache = NodeStateCache()
    cache.step(model, None, edge_index, edge_type, 10)
    with pytest.raises(ValueError, match='states of 10 nodes, not 12'):
        cache.step(model, None, edge_index, edge_type, 12)


@pytest.mark.parametrize('optimizer', ['sgd', 'adagrad'])
def test_node_state_cache_state_dict_round_trip(optimizer):
    # A restored cache continues the cycle exactly: same next states, same
    # restart points; a cache of another period is refused.
    from pyg_kgc.nn.models import NodeStateCache
    edge_index, edge_type = graph(7)
    model = ReFactorGNN(3, 8, num_layers=3, lr=0.5, optimizer=optimizer)
    cache = NodeStateCache(period=3)
    for _ in range(4):  # one full cycle and one step into the next
        cache.step(model, None, edge_index, edge_type, 10)
    saved = cache.state_dict()
    restored = NodeStateCache(period=3)
    restored.load_state_dict(saved)
    assert restored.steps == 4 and not restored.restarts
    for _ in range(2):  # the rest of the cycle, then a restart in both
        a = cache.step(model, None, edge_index, edge_type, 10)
        b = restored.step(model, None, edge_index, edge_type, 10)
        assert torch.equal(a, b)
    assert cache.restarts and restored.restarts
    if optimizer == 'adagrad':
        assert torch.equal(cache.accumulator, restored.accumulator)
    with pytest.raises(ValueError, match='saved cache has period 3'):
        NodeStateCache(period=6).load_state_dict(saved)
