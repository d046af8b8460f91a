r"""ReFactorConv against the paper's Theorem 3.1: one layer is one
full-batch gradient step of DistMult's softmax likelihood, computed here
by autograd."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyg_kgc.nn.conv import ReFactorConv
from pyg_kgc.nn.kge import ComplEx


def graph(seed, n=9, r=3, e=25, k=5, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, k, generator=gen, dtype=dtype)
    relation = torch.randn(r, k, generator=gen, dtype=dtype)
    edge_index = torch.randint(n, (2, e), generator=gen)
    edge_type = torch.randint(r, (e, ), generator=gen)
    return x, edge_index, edge_type, relation


def nll(x, edge_index, edge_type, relation):
    r"""DistMult's negative log-likelihood of the objects (Eq. (3))."""
    logits = (x[edge_index[0]] * relation[edge_type]) @ x.t()
    return -torch.log_softmax(logits, -1).gather(1, edge_index[1].view(
        -1, 1)).mean()


def gradient_step(x, edge_index, edge_type, relation, lr):
    x = x.detach().clone().requires_grad_()
    grad, = torch.autograd.grad(nll(x, edge_index, edge_type, relation), x)
    return x.detach() - lr * grad


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 30), st.sampled_from([1, 4, 64]),
       st.floats(0.01, 5.0))
def test_equals_a_gradient_step(seed, num_edges, chunk_size, lr):
    x, edge_index, edge_type, relation = graph(seed, e=num_edges)
    conv = ReFactorConv(lr, chunk_size=chunk_size)
    out = conv(x, edge_index, edge_type, relation)
    expected = gradient_step(x, edge_index, edge_type, relation, lr)
    assert torch.allclose(out, expected, rtol=1e-10, atol=1e-10)


def test_complex_decoder_equals_a_gradient_step():
    # The paper's appendix: the same reading for ComplEx.
    decoder = ComplEx(6).double()  # 3 complex coordinates
    x, edge_index, edge_type, relation = graph(6, k=decoder.entity_dim)
    x = x.requires_grad_()
    logits = decoder.tail_query(x[edge_index[0]], relation[edge_type]) @ x.t()
    loss = -torch.log_softmax(logits, -1).gather(1, edge_index[1].view(
        -1, 1)).mean()
    expected = x - 0.4 * torch.autograd.grad(loss, x)[0]
    conv = ReFactorConv(0.4, decoder=decoder, chunk_size=6)
    out = conv(x.detach(), edge_index, edge_type, relation)
    assert torch.allclose(out, expected, rtol=1e-10, atol=1e-10)
    # DistMult's layer is a different step on the same input.
    assert not torch.allclose(
        ReFactorConv(0.4)(x.detach(), edge_index, edge_type, relation), out)


def test_float32_and_self_loops():
    x, edge_index, edge_type, relation = graph(1, dtype=torch.float32)
    edge_index[1, :5] = edge_index[0, :5]  # (v, r, v) triples
    out = ReFactorConv(0.5, chunk_size=7)(x, edge_index, edge_type, relation)
    expected = gradient_step(x, edge_index, edge_type, relation, 0.5)
    assert torch.allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_equals_adagrad_steps():
    # Three layers with AdaGrad equal three steps of torch.optim.Adagrad on
    # the node embeddings; the accumulator is carried as node state.
    x, edge_index, edge_type, relation = graph(5)
    conv = ReFactorConv(0.2, optimizer='adagrad', chunk_size=8)
    embedding = torch.nn.Parameter(x.clone())
    optimizer = torch.optim.Adagrad([embedding], lr=0.2)
    h, accumulator = x, None
    for _ in range(3):
        h, accumulator = conv(h, edge_index, edge_type, relation, accumulator)
        optimizer.zero_grad()
        nll(embedding, edge_index, edge_type, relation).backward()
        optimizer.step()
        assert torch.allclose(h, embedding.detach(), rtol=1e-10, atol=1e-10)
    state = optimizer.state[embedding]['sum']
    assert torch.allclose(accumulator, state, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match='accumulator must have shape'):
        conv(h, edge_index, edge_type, relation, accumulator[:3])
    with pytest.raises(ValueError, match="only used with optimizer='adagrad'"):
        ReFactorConv(0.2)(h, edge_index, edge_type, relation, accumulator)


def test_without_the_global_term():
    # Only the neighbours' messages: objects pull their subjects, subjects
    # pull their objects with weight 1 - P(o | s, r), edge by edge.
    x, edge_index, edge_type, relation = graph(2)
    lr = 0.7
    out = ReFactorConv(lr, use_global=False)(x, edge_index, edge_type,
                                             relation)
    expected = x.clone()
    num = edge_type.numel()
    for (s, o), r in zip(edge_index.t().tolist(), edge_type.tolist()):
        logits = (x[s] * relation[r]) @ x.t()
        p = torch.softmax(logits, 0)[o]
        expected[s] += lr / num * x[o] * relation[r]
        expected[o] += lr / num * (1 - p) * x[s] * relation[r]
    assert torch.allclose(out, expected, atol=1e-12)
    # The global term is what is left of the gradient step.
    full = ReFactorConv(lr)(x, edge_index, edge_type, relation)
    assert not torch.allclose(full, out)


def test_differentiable_in_relations_and_states():
    x, edge_index, edge_type, relation = graph(3)
    x.requires_grad_()
    relation.requires_grad_()
    out = ReFactorConv(0.3, chunk_size=4)(x, edge_index, edge_type, relation)
    grads = torch.autograd.grad(out.pow(2).sum(), (x, relation))
    # Against the autograd step itself, differentiated again.
    step = x - 0.3 * torch.autograd.grad(
        nll(x, edge_index, edge_type, relation), x, create_graph=True)[0]
    expected = torch.autograd.grad(step.pow(2).sum(), (x, relation))
    for a, b in zip(grads, expected):
        assert torch.allclose(a, b, atol=1e-10)


@pytest.mark.parametrize('chunk_size', [1, 2, 4096])
@pytest.mark.parametrize('use_global', [True, False])
def test_triples_sharing_their_query(chunk_size, use_global):
    # The layer scores each distinct (subject, relation) once: a 1-to-N
    # query (0, 1, *) with five answers, a triple given three times, the
    # same subject under another relation, and interleaved other triples.
    x, _, _, relation = graph(4, n=8, r=3)
    x.requires_grad_()
    relation.requires_grad_()
    triples = [(0, 1, 2), (5, 0, 6), (0, 1, 3), (0, 1, 4), (0, 2, 7),
               (2, 1, 0), (0, 1, 5), (5, 0, 6), (0, 1, 6), (5, 0, 6),
               (3, 0, 3)]
    edge_index = torch.tensor([[s, o] for s, _, o in triples]).t()
    edge_type = torch.tensor([r for _, r, _ in triples])
    conv = ReFactorConv(0.6, use_global=use_global, chunk_size=chunk_size)
    out = conv(x, edge_index, edge_type, relation)
    grads = torch.autograd.grad(out.pow(2).sum(), (x, relation))
    if use_global:
        step = x - 0.6 * torch.autograd.grad(
            nll(x, edge_index, edge_type, relation), x, create_graph=True)[0]
    else:  # the messages edge by edge, as above
        step = x
        for (s, o), r in zip(edge_index.t().tolist(), edge_type.tolist()):
            p = torch.softmax((x[s] * relation[r]) @ x.t(), 0)[o]
            w = 0.6 / len(triples) * relation[r]
            step = step.index_add(0, torch.tensor([s, o]),
                                  torch.stack([x[o] * w, (1 - p) * x[s] * w]))
    assert torch.allclose(out, step, rtol=1e-10, atol=1e-10)
    expected = torch.autograd.grad(step.pow(2).sum(), (x, relation))
    for a, b in zip(grads, expected):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize('use_global', [True, False])
def test_adagrad_backward_with_entities_without_triples(use_global):
    # Entities 7 and 8 are in no triple: without n[v] their gradient is
    # exactly 0, so is AdaGrad's accumulator, and sqrt'(0) is infinite.
    # Their states must stay put, and the backward pass stay finite and
    # equal to the one through an explicit step of the same formula.
    x, edge_index, edge_type, relation = graph(5)
    edge_index = edge_index % 7
    relation.requires_grad_()
    conv = ReFactorConv(0.2, use_global=use_global, optimizer='adagrad')
    out, accumulator = conv(x, edge_index, edge_type, relation)
    if not use_global:
        assert torch.equal(out[7:], x[7:])
        assert torch.equal(accumulator[7:], torch.zeros_like(x[7:]))
    grad, = torch.autograd.grad(out.pow(2).sum(), relation)
    assert torch.isfinite(grad).all()
    sgd = ReFactorConv(1.0, use_global=use_global)
    descent = sgd(x, edge_index, edge_type, relation) - x  # lr = 1
    positive = descent != 0
    root = descent.abs().where(positive, torch.ones_like(descent))
    expected = x + 0.2 * torch.where(positive, descent /
                                     (root + 1e-10), torch.zeros_like(descent))
    expected_grad, = torch.autograd.grad(expected.pow(2).sum(), relation)
    assert torch.allclose(out, expected, atol=1e-12)
    assert torch.allclose(grad, expected_grad, atol=1e-8)


def test_adagrad_backward_when_the_accumulator_underflows():
    # In float32 a tiny gradient coordinate (1e-25) squares to 0: the
    # accumulator is 0 where the gradient is not, and sqrt'(0) = inf made
    # the relations' gradient NaN in training. The step must stay finite.
    x, edge_index, edge_type, relation = graph(6, dtype=torch.float32)
    x[0] *= 1e-24  # entity 0's neighbours get tiny messages from it
    edge_index = torch.tensor([[0, 0, 2, 3], [1, 4, 3, 2]])
    edge_type = torch.tensor([0, 1, 2, 0])
    relation.requires_grad_()
    conv = ReFactorConv(0.1, use_global=False, optimizer='adagrad')
    out, accumulator = conv(x, edge_index, edge_type, relation)
    assert (accumulator[1] == 0).any()  # underflowed
    assert torch.isfinite(out).all()
    grad, = torch.autograd.grad(out.pow(2).sum(), relation)
    assert torch.isfinite(grad).all()
    # Away from the underflow, the same gradient as float64 computes.
    conv64 = ReFactorConv(0.1, use_global=False, optimizer='adagrad')
    relation64 = relation.detach().double().requires_grad_()
    out64, _ = conv64(x.double(), edge_index, edge_type, relation64)
    grad64, = torch.autograd.grad(out64[2:4].pow(2).sum(), relation64)
    grad32, = torch.autograd.grad(
        conv(x, edge_index, edge_type, relation)[0][2:4].pow(2).sum(),
        relation)
    assert torch.allclose(grad32.double(), grad64, rtol=1e-4, atol=1e-6)


def test_bad_input():
    x, edge_index, edge_type, relation = graph(4)
    conv = ReFactorConv(0.1)
    with pytest.raises(ValueError, match=r'relation id 3 at position 0'):
        conv(x, edge_index, torch.full_like(edge_type, 3), relation)
    with pytest.raises(ValueError, match=r'node states \[N, K\]'):
        conv(x[:, :4], edge_index, edge_type, relation)
    with pytest.raises(ValueError, match='at least one triple'):
        conv(x, edge_index[:, :0], edge_type[:0], relation)
    bad = edge_index.clone()
    bad[0, 2] = 9
    with pytest.raises(ValueError, match=r'head id 9 at position 2'):
        conv(x, bad, edge_type, relation)
    with pytest.raises(ValueError, match='lr must be positive'):
        ReFactorConv(0.0)
    with pytest.raises(ValueError, match="Unknown optimizer 'adam'"):
        ReFactorConv(0.1, optimizer='adam')


def n3_term(x, edge_index, weight):
    r"""Lacroix et al.'s N3 over the entity factors of the triples."""
    return weight * (x[edge_index[0]].abs().pow(3).sum() +
                     x[edge_index[1]].abs().pow(3).sum()) / edge_index.size(1)


@pytest.mark.parametrize('seed', range(3))
def test_n3_equals_the_regularised_step(seed):
    x, edge_index, edge_type, relation = graph(seed)
    x = x.requires_grad_()
    loss = nll(x, edge_index, edge_type, relation) + n3_term(
        x, edge_index, 0.3)
    expected = x - 0.7 * torch.autograd.grad(loss, x)[0]
    out = ReFactorConv(0.7, n3=0.3)(x.detach(), edge_index, edge_type,
                                    relation)
    assert torch.allclose(out, expected, rtol=1e-10, atol=1e-10)
    assert not torch.allclose(
        ReFactorConv(0.7)(x.detach(), edge_index, edge_type, relation), out)


def test_n3_with_complex_uses_moduli():
    decoder = ComplEx(4).double()
    x, edge_index, edge_type, relation = graph(3, k=decoder.entity_dim)
    x = x.requires_grad_()
    logits = decoder.tail_query(x[edge_index[0]], relation[edge_type]) @ x.t()
    loss = -torch.log_softmax(logits, -1).gather(1, edge_index[1].view(
        -1, 1)).mean()
    modulus = x.view(x.size(0), -1, 2).norm(dim=-1)  # [N, 2]
    loss = loss + 0.2 * (modulus[edge_index[0]].pow(3).sum() +
                         modulus[edge_index[1]].pow(3).sum()) / 25
    expected = x - 0.5 * torch.autograd.grad(loss, x)[0]
    out = ReFactorConv(0.5, decoder=decoder, n3=0.2)(x.detach(), edge_index,
                                                     edge_type, relation)
    assert torch.allclose(out, expected, rtol=1e-10, atol=1e-10)


def in_batch_sgd(x, edge_index, edge_type, relation, lr, batch_size,
                 adagrad=False):
    r"""Mini-batch gradient descent, batch after batch, each batch's loss the
    mean likelihood of its triples with the softmax over the entities that
    occur in it; by autograd on the full state matrix."""
    x = x.detach().clone()
    acc = torch.zeros_like(x)
    for start in range(0, edge_type.numel(), batch_size):
        ei = edge_index[:, start:start + batch_size]
        et = edge_type[start:start + batch_size]
        nodes = torch.unique(ei)
        x.requires_grad_()
        candidates = x[nodes]
        logits = (x[ei[0]] * relation[et]) @ candidates.t()
        target = torch.searchsorted(nodes, ei[1])
        loss = -torch.log_softmax(logits, -1).gather(1, target.view(-1,
                                                                    1)).mean()
        grad, = torch.autograd.grad(loss, x)
        x = x.detach()
        if adagrad:
            acc[nodes] += grad[nodes].pow(2)
            x[nodes] -= lr * grad[nodes] / (acc[nodes].sqrt() + 1e-10)
        else:
            x -= lr * grad
    return x, acc


@pytest.mark.parametrize('batch_size', [1, 4, 7])
@pytest.mark.parametrize('optimizer', ['sgd', 'adagrad'])
def test_mini_batches_cascade_in_batch_steps(batch_size, optimizer):
    x, edge_index, edge_type, relation = graph(11, e=20)
    conv = ReFactorConv(0.8, optimizer=optimizer, batch_size=batch_size,
                        chunk_size=3)
    out = conv(x, edge_index, edge_type, relation)
    expected, acc = in_batch_sgd(x, edge_index, edge_type, relation, 0.8,
                                 batch_size, optimizer == 'adagrad')
    if optimizer == 'adagrad':
        out, out_acc = out
        assert torch.allclose(out_acc, acc, rtol=1e-10, atol=1e-12)
    assert torch.allclose(out, expected, rtol=1e-10, atol=1e-10)
    # Entities outside every batch keep their states.
    untouched = torch.ones(9, dtype=torch.bool)
    untouched[edge_index.view(-1)] = False
    assert torch.equal(out[untouched], x[untouched])
    # A batch as large as the graph is the full-batch layer.
    full = ReFactorConv(0.8, optimizer=optimizer, batch_size=20)
    assert torch.equal(
        torch.as_tensor(full(x, edge_index, edge_type, relation)[0]),
        torch.as_tensor(
            ReFactorConv(0.8, optimizer=optimizer)(x, edge_index, edge_type,
                                                   relation)[0]))


def test_mini_batches_are_differentiable():
    x, edge_index, edge_type, relation = graph(12, e=20)
    relation = relation.requires_grad_()
    out = ReFactorConv(0.8, batch_size=6)(x, edge_index, edge_type, relation)
    out.pow(2).sum().backward()
    assert relation.grad.abs().sum() > 0


def test_bad_options():
    from pyg_kgc.nn.kge import Bilinear
    with pytest.raises(ValueError, match='n3 must be non-negative'):
        ReFactorConv(1.0, n3=-1.0)
    with pytest.raises(ValueError, match='batch_size must be positive'):
        ReFactorConv(1.0, batch_size=0)
    with pytest.raises(ValueError, match='n3 is supported with DistMult'):
        ReFactorConv(1.0, n3=0.1, decoder=Bilinear(4))
    assert 'n3=0.1, batch_size=8' in repr(
        ReFactorConv(1.0, n3=0.1, batch_size=8))
