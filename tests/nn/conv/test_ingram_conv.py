import warnings

import pytest
import torch
import torch.nn.functional as F

import pyg_kgc.nn.conv.ingram_conv as ingram_conv_module
from pyg_kgc.nn.conv import InGramEntityConv, InGramRelationConv
from pyg_kgc.nn.conv.ingram_conv import attention_logits
from pyg_kgc.nn.models import InGram


def leaky(x):
    return F.leaky_relu(x, 0.2)


def reference_relation_conv(conv, x, edge_index, edge_bin):
    r"""The layer as the paper writes it, target by target: logits from the
    projection of the concatenation [z_i || z_j] plus the bin's bias."""
    heads, c = conv.heads, conv.head_channels
    out = torch.zeros(x.size(0), heads, c, dtype=x.dtype)
    alphas = torch.zeros(edge_index.size(1), heads, dtype=x.dtype)
    for i in range(x.size(0)):
        edges = (edge_index[1] == i).nonzero().view(-1).tolist()
        if not edges:
            continue
        logits = []
        for e in edges:
            j = int(edge_index[0, e])
            pre = conv.lin_att(torch.cat([x[i], x[j]])).view(heads, c)
            logits.append((leaky(pre) * conv.att[0]).sum(-1) +
                          conv.bin_bias[edge_bin[e]])
        alpha = torch.softmax(torch.stack(logits), dim=0)
        for k, e in enumerate(edges):
            j = int(edge_index[0, e])
            out[i] += alpha[k].view(-1, 1) * conv.lin_msg(x[j]).view(heads, c)
            alphas[e] = alpha[k]
    out = out.view(x.size(0), -1)
    if conv.res is not None:
        out = out + conv.res(x)
    return out, alphas


def reference_entity_conv(conv, x, edge_index, edge_type, rel):
    r"""The layer as the paper writes it, entity by entity: neighbours
    (u, r) of the triples (u, r, v) and a self-loop whose relation is the
    mean of v's incoming relations."""
    heads, c = conv.heads, conv.head_channels
    n = x.size(0)
    out = torch.zeros(n, heads, c, dtype=x.dtype)
    for v in range(n):
        edges = (edge_index[1] == v).nonzero().view(-1).tolist()
        if edges:
            loop_rel = torch.stack([rel[edge_type[e]] for e in edges]).mean(0)
        else:
            loop_rel = torch.zeros(rel.size(1), dtype=x.dtype)
        neighbours = [(int(edge_index[0, e]), rel[edge_type[e]])
                      for e in edges] + [(v, loop_rel)]
        logits, values = [], []
        for u, z in neighbours:
            pre = conv.lin_att(torch.cat([x[v], x[u], z])).view(heads, c)
            logits.append((leaky(pre) * conv.att[0]).sum(-1))
            values.append(conv.lin_msg(torch.cat([x[u], z])).view(heads, c))
        alpha = torch.softmax(torch.stack(logits), dim=0)
        out[v] = (alpha.unsqueeze(-1) * torch.stack(values)).sum(0)
    out = out.view(n, -1)
    if conv.res is not None:
        out = out + conv.res(x)
    return out


def random_relation_graph(seed, num=7, num_edges=20, num_bins=4):
    gen = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(num, (2, num_edges), generator=gen)
    edge_index[:, 0] = torch.tensor([0, 0])  # a self-edge
    return edge_index, torch.randint(num_bins, (num_edges, ), generator=gen)


def randomise(module, seed):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))


@pytest.mark.parametrize('residual', [True, False])
@pytest.mark.parametrize('heads', [1, 4])
def test_relation_conv_equals_reference(heads, residual):
    torch.manual_seed(0)
    conv = InGramRelationConv(6, 8, num_bins=4, heads=heads,
                              residual=residual).double()
    randomise(conv, 1)  # bin biases and biases non-zero
    x = torch.randn(7, 6, dtype=torch.float64, requires_grad=True)
    edge_index, edge_bin = random_relation_graph(2)
    out, (index, alpha) = conv(x, edge_index, edge_bin,
                               return_attention_weights=True)
    ref, ref_alpha = reference_relation_conv(conv, x, edge_index, edge_bin)
    assert out.shape == (7, 8) and alpha.shape == (20, heads)
    assert torch.equal(index, edge_index)
    assert torch.allclose(out, ref, atol=1e-12)
    assert torch.allclose(alpha, ref_alpha, atol=1e-12)
    # Gradients agree for the input and every parameter.
    grad = torch.randn_like(out)
    params = [x] + list(conv.parameters())
    ours = torch.autograd.grad((out * grad).sum(), params)
    theirs = torch.autograd.grad((ref * grad).sum(), params)
    for a, b in zip(ours, theirs):
        assert torch.allclose(a, b, atol=1e-10)


def test_relation_attention_sums_to_one_per_target():
    conv = InGramRelationConv(6, 8, num_bins=4, heads=2)
    x = torch.randn(7, 6)
    edge_index, edge_bin = random_relation_graph(3)
    _, (index, alpha) = conv(x, edge_index, edge_bin,
                             return_attention_weights=True)
    sums = torch.zeros(7, 2).index_add_(0, index[1], alpha)
    has_edges = torch.zeros(7, dtype=torch.bool)
    has_edges[index[1]] = True
    assert torch.allclose(sums[has_edges], torch.ones_like(sums[has_edges]))
    assert bool((sums[~has_edges] == 0).all())


def test_bin_bias_changes_attention():
    conv = InGramRelationConv(4, 4, num_bins=2, heads=1).double()
    x = torch.randn(3, 4, dtype=torch.float64)
    edge_index = torch.tensor([[0, 1], [2, 2]])
    _, (_, before) = conv(x, edge_index, torch.tensor([0, 1]),
                          return_attention_weights=True)
    with torch.no_grad():
        conv.bin_bias[0] = 3.0
    _, (_, after) = conv(x, edge_index, torch.tensor([0, 1]),
                         return_attention_weights=True)
    # A bias of 3 on bin 0 multiplies the odds of edge 0 by e^3.
    ratio = (after[0] / after[1]) / (before[0] / before[1])
    assert torch.allclose(ratio,
                          torch.exp(torch.tensor(3.0, dtype=ratio.dtype)))


def random_kg(seed, n=6, r=3, e=14):
    gen = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(n, (2, e), generator=gen)
    edge_index[1, :2] = 0  # entity 0 has several incoming triples
    edge_index[1] = torch.where(edge_index[1] == n - 1, 0, edge_index[1])
    return edge_index, torch.randint(r, (e, ), generator=gen)


@pytest.mark.parametrize('residual', [True, False])
@pytest.mark.parametrize('heads', [1, 2])
def test_entity_conv_equals_reference(heads, residual):
    torch.manual_seed(0)
    conv = InGramEntityConv(5, 6, relation_channels=3, heads=heads,
                            residual=residual).double()
    randomise(conv, 4)
    x = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    rel = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    edge_index, edge_type = random_kg(5)
    out = conv(x, edge_index, edge_type, rel)
    ref = reference_entity_conv(conv, x, edge_index, edge_type, rel)
    assert out.shape == (6, 6)
    # Entity 5 has no incoming triple: it attends to its self-loop only.
    assert not bool((edge_index[1] == 5).any())
    assert torch.allclose(out, ref, atol=1e-12)
    grad = torch.randn_like(out)
    params = [x, rel] + list(conv.parameters())
    ours = torch.autograd.grad((out * grad).sum(), params)
    theirs = torch.autograd.grad((ref * grad).sum(), params)
    for a, b in zip(ours, theirs):
        assert torch.allclose(a, b, atol=1e-10)


def test_entity_attention_sums_to_one_with_self_loops():
    conv = InGramEntityConv(5, 6, relation_channels=3, heads=3)
    x, rel = torch.randn(6, 5), torch.randn(3, 3)
    edge_index, edge_type = random_kg(6)
    _, (index, alpha) = conv(x, edge_index, edge_type, rel,
                             return_attention_weights=True)
    assert index.size(1) == edge_index.size(1) + 6
    assert torch.equal(index[:, -6:], torch.arange(6).expand(2, -1))
    sums = torch.zeros(6, 3).index_add_(0, index[1], alpha)
    assert torch.allclose(sums, torch.ones(6, 3))


def test_float32_matches_float64():
    conv = InGramEntityConv(5, 8, relation_channels=3, heads=2)
    x, rel = torch.randn(6, 5), torch.randn(3, 3)
    edge_index, edge_type = random_kg(7)
    out = conv(x, edge_index, edge_type, rel)
    ref = conv.double()(x.double(), edge_index, edge_type, rel.double())
    assert torch.allclose(out.double(), ref, atol=1e-5)


def test_bad_input():
    conv = InGramEntityConv(5, 6, relation_channels=3, heads=2)
    x, rel = torch.randn(6, 5), torch.randn(3, 3)
    edge_index, edge_type = random_kg(8)
    with pytest.raises(ValueError, match=r'x must have shape \[\*, 5\]'):
        conv(x[:, :4], edge_index, edge_type, rel)
    with pytest.raises(ValueError, match=r'relation_x must have shape'):
        conv(x, edge_index, edge_type, rel[:, :2])
    with pytest.raises(ValueError, match='relation id 3 at position'):
        conv(x, edge_index, torch.full_like(edge_type, 3), rel)
    with pytest.raises(ValueError, match='tail id 6 at position 0'):
        bad = edge_index.clone()
        bad[1, 0] = 6
        conv(x, bad, edge_type, rel)
    with pytest.raises(ValueError, match='multiple of heads'):
        InGramEntityConv(5, 7, relation_channels=3, heads=2)
    rconv = InGramRelationConv(4, 4, num_bins=3, heads=2)
    with pytest.raises(ValueError, match=r'relation id 3 at position 1 .*'
                       r'\[0, 3\)'):
        rconv(torch.randn(3, 4), torch.tensor([[0, 1], [1, 2]]),
              torch.tensor([0, 3]))
    with pytest.raises(ValueError, match='num_bins must be positive'):
        InGramRelationConv(8, 8, num_bins=0)


def test_repr():
    assert repr(InGramRelationConv(4, 8, num_bins=10)) == (
        'InGramRelationConv(4, 8, num_bins=10, heads=8, residual=True)')
    assert repr(InGramEntityConv(4, 8, 2, heads=4, residual=False)) == (
        'InGramEntityConv(4, 8, relation_channels=2, heads=4, '
        'residual=False)')


@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
@pytest.mark.parametrize('parts', [2, 3])
def test_attention_logits_compiled_equals_formula(parts, dtype):
    # Both paths against the formula written out: y_k^T LeakyReLU(sum of
    # the index's rows), values and gradients of the table and heads, with
    # graphs of two sizes through the same kernels (the row counts vary).
    tol = dict(rtol=0, atol=1e-12) if dtype == torch.float64 else dict(
        rtol=1e-5, atol=1e-4)
    gen = torch.Generator().manual_seed(parts)
    for rows, edges in ((9, 30), (13, 41)):
        table = torch.randn(rows, 12, dtype=dtype, generator=gen,
                            requires_grad=True)
        index = torch.randint(rows, (edges, parts), generator=gen)
        att = torch.randn(1, 3, 4, dtype=dtype, generator=gen,
                          requires_grad=True)
        pre = sum(table[index[:, j]] for j in range(parts)).view(-1, 3, 4)
        expected = (leaky(pre) * att).sum(-1)
        grad = torch.randn(edges, 3, dtype=dtype, generator=gen)
        want = torch.autograd.grad((expected * grad).sum(), (table, att))
        for compiled in (False, True):
            out = attention_logits(table, index, att, 0.2, compiled)
            assert out.shape == (edges, 3)
            torch.testing.assert_close(out, expected, **tol)
            got = torch.autograd.grad((out * grad).sum(), (table, att))
            for a, b in zip(got, want):
                torch.testing.assert_close(a, b, **tol)
    assert not ingram_conv_module._Kernels.failed  # no fallback to eager
    with pytest.raises(ValueError, match=r'table \[T, K C\]'):
        attention_logits(torch.randn(5, 10), index, att.detach())
    with pytest.raises(ValueError, match=r'index \[E, p\]'):
        attention_logits(torch.randn(5, 12), index[:, 0], att.detach())


def test_compiled_layers_equal_eager_layers():
    # The layers and the whole model with compiled=True: the same outputs
    # and gradients as the eager ones with the same weights.
    torch.manual_seed(0)
    edge_index, edge_type = random_kg(3, n=7, r=3, e=20)
    x, rel = torch.randn(7, 5), torch.randn(3, 3)
    eager = InGramEntityConv(5, 8, relation_channels=3, heads=2)
    fast = InGramEntityConv(5, 8, relation_channels=3, heads=2, compiled=True)
    fast.load_state_dict(eager.state_dict())
    outs = [conv(x, edge_index, edge_type, rel) for conv in (eager, fast)]
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-5, atol=1e-5)
    grads = [
        torch.autograd.grad(out.square().sum(), list(conv.parameters()))
        for out, conv in zip(outs, (eager, fast))
    ]
    for a, b in zip(*grads):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)

    rel_graph = torch.tensor([[0, 1, 2, 0, 1], [1, 2, 0, 0, 1]])
    bins = torch.tensor([0, 1, 1, 2, 0])
    eager = InGramRelationConv(4, 8, num_bins=3, heads=2)
    fast = InGramRelationConv(4, 8, num_bins=3, heads=2, compiled=True)
    fast.load_state_dict(eager.state_dict())
    z = torch.randn(3, 4)
    torch.testing.assert_close(fast(z, rel_graph, bins),
                               eager(z, rel_graph, bins), rtol=1e-5, atol=1e-5)

    eager_model = InGram(4, 4, 2, 2, num_bins=3, heads=2)
    fast_model = InGram(4, 4, 2, 2, num_bins=3, heads=2, compiled=True)
    fast_model.load_state_dict(eager_model.state_dict())
    assert all(conv.compiled for conv in fast_model.entity_convs)
    assert all(conv.compiled for conv in fast_model.relation_convs)
    scores = []
    for model in (eager_model, fast_model):
        gen = torch.Generator().manual_seed(5)
        scorer = model.scorer(edge_index, edge_type, 7, 3, gen)
        scores.append(
            scorer.score_tails(torch.tensor([0, 1]), torch.tensor([2, 0])))
    torch.testing.assert_close(scores[1], scores[0], rtol=1e-5, atol=1e-5)
    assert not ingram_conv_module._Kernels.failed


def test_attention_logits_compiled_falls_back_with_a_warning(monkeypatch):
    def broken(*args):
        raise RuntimeError('no C++ compiler')

    monkeypatch.setattr(ingram_conv_module._Kernels, 'functions', (broken, ))
    monkeypatch.setattr(ingram_conv_module._Kernels, 'failed', False)
    table = torch.randn(5, 4, dtype=torch.float64)
    index = torch.tensor([[0, 1], [2, 4], [3, 3]])
    att = torch.randn(1, 2, 2, dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match='InGram attention logits.*'
                      'no C\\+\\+ compiler'):
        out = attention_logits(table, index, att, compiled=True)
    pre = (table[index[:, 0]] + table[index[:, 1]]).view(-1, 2, 2)
    torch.testing.assert_close(out, (leaky(pre) * att).sum(-1), rtol=0,
                               atol=1e-12)
    assert ingram_conv_module._Kernels.failed
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        attention_logits(table, index, att, compiled=True)
    assert not [w for w in caught if 'InGram' in str(w.message)]
