r"""The invertible layers: exact inverses, log-determinants against autograd
Jacobians, broadcasting against one pair at a time, the conditioners
against plain formulas, and bad arguments."""
import math

import pytest
import torch
import torch.nn.functional as F

from pyg_kgc.nn.flows import (
    ConditionalAffine,
    CouplingLayer,
    HyperConditioner,
    InvertibleLinear,
    InvertibleSequential,
    MLPConditioner,
    RelationFlow,
    soft_clamp,
)

K = 5  # odd: unequal halves
C = 3  # context width


def perturb(module, std=0.05, seed=0):
    # Layers start as the identity: random parameters make them non-trivial
    # (and well conditioned).
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(std * torch.randn(p.shape, generator=gen).to(p))
    return module


def rand(*shape, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen).to(dtype)


LAYERS = {
    'additive-mlp':
    lambda: CouplingLayer(K, C, 'additive', 'mlp', 8),
    'additive-hyper-swap':
    lambda: CouplingLayer(K, C, 'additive', 'hyper', 8, swap=True),
    'affine-mlp-swap':
    lambda: CouplingLayer(K, C, 'affine', 'mlp', 8, swap=True),
    'affine-hyper':
    lambda: CouplingLayer(K, C, 'affine', 'hyper', 8),
    'affine-permuted':
    lambda: CouplingLayer(K, C, 'affine', 'mlp', 8, permutation=torch.tensor(
        [3, 0, 4, 1, 2])),
    'affine-no-context':
    lambda: CouplingLayer(K, 0, 'affine', 'mlp', 8),
    'lu-shared':
    lambda: InvertibleLinear(K, C),
    'lu-no-bias':
    lambda: InvertibleLinear(K, 0, bias=False),
    'lu-relation':
    lambda: InvertibleLinear(K, C, relation_specific=True),
    'elementwise':
    lambda: ConditionalAffine(K, C),
    'flow-alternate-mlp':
    lambda: RelationFlow(K, C, 3, 'affine', 'mlp', 8),
    'flow-random-hyper-lu':
    lambda: RelationFlow(K, C, 3, 'affine', 'hyper', 8, 'random', 'relation',
                         seed=4),
    'flow-additive-shared-lu':
    lambda: RelationFlow(K, C, 2, 'additive', 'mlp', 8, 'alternate', 'shared',
                         False),
    'sequential':
    lambda: InvertibleSequential(
        InvertibleLinear(K, C, relation_specific=True),
        CouplingLayer(K, C, 'affine', 'hyper', 8, swap=True),
        ConditionalAffine(K, C)),
}


def make(name, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    return perturb(LAYERS[name]().to(dtype), seed=seed)


def context_for(layer, *shape, seed=1, dtype=torch.float64):
    return rand(*shape, layer.context_dim, seed=seed,
                dtype=dtype) if layer.context_dim > 0 else None


@pytest.mark.parametrize('name', LAYERS)
@pytest.mark.parametrize('dtype,tol', [(torch.float32, 1e-5),
                                       (torch.float64, 1e-10)])
def test_inverse_both_directions(name, dtype, tol):
    layer = make(name, dtype)
    x = rand(4, 6, K, dtype=dtype)
    context = context_for(layer, 4, 6, dtype=dtype)
    with torch.no_grad():
        y, logdet = layer(x, context)
        x_back, logdet_inv = layer.inverse(y, context)
        # and the other way round: f(f^{-1}(x)) = x
        u, logdet_u = layer.inverse(x, context)
        x_again, logdet_again = layer(u, context)
    assert y.dtype == dtype and logdet.shape == (4, 6)
    assert not torch.allclose(y, x, atol=1e-3)  # a non-trivial map
    assert torch.allclose(x_back, x, rtol=0, atol=tol)
    assert torch.allclose(x_again, x, rtol=0, atol=tol)
    assert torch.allclose(logdet_inv, -logdet, rtol=0, atol=tol)
    assert torch.allclose(logdet_again, -logdet_u, rtol=0, atol=tol)


@pytest.mark.parametrize('name', LAYERS)
def test_logdet_equals_autograd_jacobian(name):
    layer = make(name)
    x = rand(3, K, seed=2)
    contexts = context_for(layer, 3, seed=3)
    for i in range(3):  # one relation (context) at a time
        c = None if contexts is None else contexts[i]
        for direction in (layer.forward, layer.inverse):
            jac = torch.autograd.functional.jacobian(
                lambda v: direction(v, c)[0], x[i])
            expected = torch.linalg.slogdet(jac)[1]
            logdet = direction(x[i], c)[1]
            assert logdet.shape == ()
            assert logdet.item() == pytest.approx(expected.item(), abs=1e-8)


@pytest.mark.parametrize('name', LAYERS)
def test_broadcasting_equals_one_pair_at_a_time(name):
    # All candidates x [1, N, k] against relations [U, 1, c].
    layer = make(name)
    x = rand(1, 7, K, seed=4)
    context = context_for(layer, 3, 1, seed=5)
    with torch.no_grad():
        y, logdet = layer(x, context)
        back, _ = layer.inverse(y, context)
        num = 1 if context is None else 3
        assert y.shape == (num, 7, K) and logdet.shape == (num, 7)
        for u in range(num):
            for n in range(7):
                c = None if context is None else context[u, 0]
                y1, l1 = layer(x[0, n], c)
                assert torch.allclose(y[u, n], y1, rtol=0, atol=1e-12)
                assert torch.allclose(logdet[u, n], l1, rtol=0, atol=1e-12)
                assert torch.allclose(back[u, n], x[0, n], atol=1e-10)


def test_layers_start_as_identity():
    flow = RelationFlow(K, C, 3, 'affine', 'hyper', 8, 'random')
    x, c = rand(4, K, dtype=torch.float32), rand(4, C, dtype=torch.float32)
    y, logdet = flow(x, c)
    assert torch.equal(y, x) and torch.equal(logdet, torch.zeros(4))


def test_mlp_conditioner_is_an_mlp_on_the_concatenation():
    torch.manual_seed(0)
    cond = perturb(MLPConditioner(2, C, 6, 4).double())
    x, c = rand(5, 2), rand(5, C, seed=1)
    weight = torch.cat([cond.lin_x.weight, cond.lin_c.weight], dim=1)
    hidden = F.silu(torch.cat([x, c], dim=1) @ weight.t() + cond.lin_x.bias)
    expected = hidden @ cond.lin_out.weight.t() + cond.lin_out.bias
    assert torch.allclose(cond(x, c), expected, atol=1e-12)


def test_hyper_conditioner_is_a_per_context_mlp():
    torch.manual_seed(0)
    cond = perturb(HyperConditioner(2, C, 6, 4).double())
    x, c = rand(5, 2), rand(5, C, seed=1)
    out = cond(x, c)
    for i in range(5):  # the generated MLP of each context, one by one
        params = (cond.generator.weight @ c[i] / math.sqrt(C) +
                  cond.generator.bias)
        w1 = params[:12].view(2, 6)
        b1 = params[12:18]
        w2 = params[18:42].view(6, 4)
        b2 = params[42:]
        expected = F.silu(x[i] @ w1 + b1) @ w2 + b2
        assert torch.allclose(out[i], expected, atol=1e-12)


def test_affine_coupling_formula_and_bounded_log_scale():
    torch.manual_seed(0)
    layer = perturb(
        CouplingLayer(4, C, 'affine', 'mlp', 8, swap=True,
                      log_scale_bound=0.5).double(), std=5.0)
    x, c = rand(6, 4), rand(6, C, seed=1)
    y, logdet = layer(x, c)
    # swap: the second half conditions the first
    out = layer.conditioner(x[:, 2:], c)
    s, t = soft_clamp(out[:, :2], 0.5), out[:, 2:]
    assert torch.allclose(y[:, 2:], x[:, 2:])
    assert torch.allclose(y[:, :2], x[:, :2] * s.exp() + t, atol=1e-12)
    assert torch.allclose(logdet, s.sum(dim=1), atol=1e-12)
    assert logdet.abs().max() <= 2 * 0.5  # two coordinates, bound 0.5
    assert logdet.abs().max() > 0.5  # large weights saturate the bound


def test_additive_coupling_preserves_volume():
    layer = make('additive-mlp')
    x, c = rand(6, K), rand(6, C, seed=1)
    y, logdet = layer(x, c)
    assert torch.equal(logdet, torch.zeros(6, dtype=torch.float64))
    # the first floor(k/2) coordinates pass through
    assert torch.equal(y[:, :K // 2], x[:, :K // 2])


def test_lu_structure():
    layer = make('lu-relation')
    c = rand(2, C, seed=1)
    lower, upper, log_scale, _ = layer._factors(c)
    assert torch.equal(torch.diagonal(lower, dim1=-2, dim2=-1),
                       torch.ones(2, K, dtype=torch.float64))
    assert torch.equal(torch.triu(lower, 1), torch.zeros_like(lower))
    assert torch.equal(torch.tril(upper, -1), torch.zeros_like(upper))
    assert torch.allclose(
        torch.diagonal(upper, dim1=-2, dim2=-1).abs().log(), log_scale)
    weight = layer.weight(c)
    assert not torch.allclose(weight[0], weight[1])  # relation-specific
    bias = layer.bias + layer.hyper(c[1] / math.sqrt(C))[-K:]
    assert torch.allclose(layer(rand(K), c[1])[0], weight[1] @ rand(K) + bias)
    assert torch.allclose(
        torch.linalg.slogdet(weight)[1], log_scale.sum(-1), atol=1e-12)
    # the permutation matrix stays a permutation
    p = layer.permutation
    assert torch.equal(p.sum(0), torch.ones(K, dtype=p.dtype))
    assert torch.equal(p @ p.t(), torch.eye(K, dtype=p.dtype))


def test_random_split_is_seeded_and_stored():
    a = RelationFlow(6, C, 2, split='random', seed=3)
    b = RelationFlow(6, C, 2, split='random', seed=3)
    other = RelationFlow(6, C, 2, split='random', seed=4)
    assert torch.equal(a[0].index_a, b[0].index_a)
    assert 'layers.0.index_a' in a.state_dict()
    assert any(not torch.equal(x.index_a, y.index_a)
               for x, y in zip(a.layers[:2], other.layers[:2]))
    alternate = RelationFlow(6, C, 2)
    assert alternate[0].index_a.tolist() == [0, 1, 2]
    assert alternate[1].index_a.tolist() == [3, 4, 5]  # halves swapped


def test_gradients_flow_to_parameters_and_context():
    flow = perturb(
        RelationFlow(K, C, 2, 'affine', 'hyper', 8, 'random', 'relation'))
    x = torch.randn(4, K, requires_grad=True)
    c = torch.randn(4, C, requires_grad=True)
    y, logdet = flow(x, c)
    (y.pow(2).sum() + logdet.sum()).backward()
    assert x.grad.abs().sum() > 0 and c.grad.abs().sum() > 0
    assert all(p.grad is not None and torch.isfinite(p.grad).all()
               for p in flow.parameters())


def test_bad_input():
    layer = CouplingLayer(K, C)
    with pytest.raises(ValueError, match='inputs of width 5, got 4'):
        layer(torch.randn(2, 4), torch.randn(2, C))
    with pytest.raises(ValueError, match='context vectors of width 3, got 2'):
        layer(torch.randn(2, K), torch.randn(2, 2))
    with pytest.raises(ValueError, match='needs a context of width 3'):
        layer(torch.randn(2, K))
    with pytest.raises(ValueError, match='do not broadcast'):
        layer(torch.randn(2, K), torch.randn(3, C))
    with pytest.raises(ValueError, match="Unknown transform 'spline'"):
        CouplingLayer(K, C, transform='spline')
    with pytest.raises(ValueError, match="Unknown conditioner 'cnn'"):
        CouplingLayer(K, C, conditioner='cnn')
    with pytest.raises(ValueError, match='needs dim >= 2'):
        CouplingLayer(1, C)
    with pytest.raises(ValueError, match='must be a permutation'):
        CouplingLayer(3, C, permutation=torch.tensor([0, 0, 1]))
    with pytest.raises(ValueError, match='hypernetwork conditioner needs'):
        CouplingLayer(K, 0, conditioner='hyper')
    with pytest.raises(ValueError, match='relation-specific InvertibleLinear'):
        InvertibleLinear(K, 0, relation_specific=True)
    with pytest.raises(ValueError, match="Unknown split 'checkerboard'"):
        RelationFlow(K, C, split='checkerboard')
    with pytest.raises(ValueError, match="Unknown linear 'dense'"):
        RelationFlow(K, C, linear='dense')
    with pytest.raises(ValueError, match='share dim and context_dim'):
        InvertibleSequential(CouplingLayer(4, C), CouplingLayer(K, C))


def test_repr():
    assert repr(CouplingLayer(
        K, C)) == ("CouplingLayer(5, context_dim=3, transform='affine', "
                   "conditioner='mlp', hidden=64, swap=False)")
    assert repr(InvertibleLinear(K, C)).startswith('InvertibleLinear(5, ')
    assert repr(RelationFlow(K, C, 2)).startswith(
        "RelationFlow(5, context_dim=3, num_layers=2, coupling='affine'")
    assert 'ConditionalAffine(5, context_dim=3)' in repr(
        InvertibleSequential(ConditionalAffine(K, C)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA device')
def test_cuda():
    flow = make('flow-random-hyper-lu', torch.float32).cuda()
    x, c = torch.randn(8, K, device='cuda'), torch.randn(8, C, device='cuda')
    y, logdet = flow(x, c)
    back, logdet_inv = flow.inverse(y, c)
    assert y.is_cuda and torch.allclose(back, x, atol=1e-5)
    assert torch.allclose(logdet, -logdet_inv, atol=1e-5)
    cpu_y, _ = flow.cpu()(x.cpu(), c.cpu())
    assert torch.allclose(cpu_y, y.cpu(), atol=1e-5)
