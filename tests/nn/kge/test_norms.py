r"""The norm helpers of the decoders (`lp_norm`, `pair_moduli`,
`complex_modulus`) against `torch.linalg.vector_norm`: values and
(sub)gradients, with exact zeros where the subgradient convention matters."""
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import pyg_kgc.nn.kge.rotate as rotate_module
from pyg_kgc.nn.kge import RotatE
from pyg_kgc.nn.kge.base import _chunked_l1, lp_norm, pair_moduli
from pyg_kgc.nn.kge.complex import complex_modulus
from pyg_kgc.nn.kge.rotate import pairwise_complex_l1


def small_integers(seed, *shape, dtype=torch.float64):
    # Integers in [-2, 2]: zero coordinates, zero rows and ties are common.
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(-2, 3, shape, generator=gen).to(dtype)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([1, 2]), st.integers(-3, 2), st.integers(0, 10_000))
def test_lp_norm_equals_vector_norm(p, dim, seed):
    x = small_integers(seed, 3, 4, 5)
    x[0, 0] = 0  # a zero row along every dim
    x[:, :, 0] = 0
    x[1] = 0
    a = x.clone().requires_grad_()
    b = x.clone().requires_grad_()
    out, ref = lp_norm(a, p, dim), torch.linalg.vector_norm(b, p, dim)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    grad = torch.randn(ref.shape, dtype=ref.dtype,
                       generator=torch.Generator().manual_seed(seed))
    (ga, ), (gb, ) = (torch.autograd.grad(out, a, grad),
                      torch.autograd.grad(ref, b, grad))
    torch.testing.assert_close(ga, gb, rtol=0, atol=1e-12)
    if p == 1:  # the subgradient: sign(x) * grad, 0 at x = 0
        assert bool((ga[x == 0] == 0).all())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 7), min_size=1, max_size=3), st.integers(1, 9),
       st.integers(1, 400), st.integers(0, 10_000))
def test_chunked_l1_equals_the_summed_absolute_values(lead, width, chunk,
                                                      seed):
    # Blocks of chunk bytes: one row, several rows with a remainder, all.
    x = small_integers(seed, *lead, width)
    out = _chunked_l1(x, chunk_bytes=chunk)
    assert out.shape == x.shape[:-1] and out.dtype == x.dtype
    assert torch.equal(out, x.abs().sum(-1))


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_pair_moduli(dtype):
    pairs = torch.randn(6, 7, 2, dtype=dtype)
    pairs[0] = 0
    pairs[1, :, 0] = 0
    pairs[2, :, 1] = -3
    out = pair_moduli(pairs)
    assert out.shape == (6, 7) and out.dtype == dtype
    torch.testing.assert_close(out, torch.linalg.vector_norm(pairs, dim=-1))
    assert bool((out[0] == 0).all())
    torch.testing.assert_close(out[1], pairs[1, :, 1].abs())
    # Strided halves of a larger tensor, as the decoders pass them.
    wide = torch.randn(4, 10, dtype=dtype)
    torch.testing.assert_close(pair_moduli(wide.unflatten(-1, (-1, 2))),
                               torch.view_as_complex(wide.view(4, 5, 2)).abs())


def test_complex_modulus_gradient_at_zero():
    x = torch.randn(3, 8, dtype=torch.float64)
    x[0, :2] = 0  # a zero complex coordinate
    a = x.clone().requires_grad_()
    out = complex_modulus(a)
    torch.testing.assert_close(out,
                               torch.view_as_complex(x.view(3, 4, 2)).abs())
    grad = torch.randn(3, 4, dtype=torch.float64)
    (ga, ) = torch.autograd.grad(out, a, grad)
    assert bool((ga[0, :2] == 0).all()) and bool(torch.isfinite(ga).all())
    b = x.clone().requires_grad_()
    ref = torch.linalg.vector_norm(b.unflatten(-1, (-1, 2)), dim=-1)
    (gb, ) = torch.autograd.grad(ref, b, grad)
    torch.testing.assert_close(ga, gb)


def pairwise_reference(queries, candidates):
    diff = queries[:, None] - candidates[None]
    pairs = diff.unflatten(-1, (-1, 2))
    return torch.linalg.vector_norm(pairs, dim=-1).sum(-1)


@pytest.mark.parametrize('compiled', [False, True])
@settings(max_examples=30, deadline=None)
@given(st.integers(1, 7), st.integers(1, 6), st.integers(1, 3),
       st.integers(1, 200), st.integers(0, 10_000))
def test_pairwise_complex_l1(compiled, num, count, k, max_elements, seed):
    # Small integers: equal coordinates and equal rows (a zero complex
    # difference, subgradient 0) are common; max_elements forces chunks
    # (the compiled kernels have none).
    queries = small_integers(seed, num, 2 * k)
    candidates = small_integers(seed + 1, count, 2 * k)
    queries[0, :2] = candidates[0, :2]  # one zero complex difference
    a, b = queries.clone().requires_grad_(), candidates.clone().requires_grad_(
    )
    out = pairwise_complex_l1(a, b, max_elements, compiled=compiled)
    assert not rotate_module._Kernels.failed  # no fallback to eager
    qa, cb = queries.clone().requires_grad_(), candidates.clone(
    ).requires_grad_()
    ref = pairwise_reference(qa, cb)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    grad = torch.randn(num, count, dtype=torch.float64,
                       generator=torch.Generator().manual_seed(seed))
    got = torch.autograd.grad(out, (a, b), grad)
    expected = torch.autograd.grad(ref, (qa, cb), grad)
    for g, e in zip(got, expected):
        assert bool(torch.isfinite(g).all())
        torch.testing.assert_close(g, e, rtol=0, atol=1e-10)


def test_pairwise_complex_l1_float32_and_edge_cases():
    queries, candidates = torch.randn(5, 6), torch.randn(9, 6)
    torch.testing.assert_close(pairwise_complex_l1(queries, candidates, 7),
                               pairwise_reference(queries, candidates))
    assert pairwise_complex_l1(queries[:0], candidates).shape == (0, 9)
    assert pairwise_complex_l1(queries, candidates[:0]).shape == (5, 0)
    with pytest.raises(ValueError, match=r'queries \[B, 2k\]'):
        pairwise_complex_l1(queries, torch.randn(9, 4))
    with pytest.raises(ValueError, match=r'queries \[B, 2k\]'):
        pairwise_complex_l1(torch.randn(5, 5), torch.randn(9, 5))


def test_pairwise_complex_l1_compiled_float32_one_side():
    # float32 (sums of 32 moduli of about 40, in another order than the
    # float64 reference: rounding of ~1e-5), and the gradient of one side
    # only (the other side's kernel is not run).
    gen = torch.Generator().manual_seed(0)
    queries = torch.randn(6, 64, generator=gen, requires_grad=True)
    candidates = torch.randn(1000, 64, generator=gen)
    out = pairwise_complex_l1(queries, candidates, compiled=True)
    q64 = queries.detach().double().requires_grad_()
    ref = pairwise_reference(q64, candidates.double())
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-4)
    grad = torch.randn(6, 1000, generator=gen)
    got, = torch.autograd.grad(out, queries, grad)
    expected, = torch.autograd.grad(ref, q64, grad.double())
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-4)


def test_pairwise_complex_l1_compiled_falls_back_with_a_warning(monkeypatch):
    # A kernel that cannot be built (here: raises) switches to the eager
    # path for good, with a warning naming the error; results stay exact.
    def broken(*args):
        raise RuntimeError('no C++ compiler')

    monkeypatch.setattr(rotate_module._Kernels, 'functions', (broken, broken))
    monkeypatch.setattr(rotate_module._Kernels, 'failed', False)
    queries = torch.randn(4, 6, dtype=torch.float64)
    candidates = torch.randn(5, 6, dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match='no C\\+\\+ compiler'):
        out = pairwise_complex_l1(queries, candidates, compiled=True)
    torch.testing.assert_close(out, pairwise_reference(queries, candidates),
                               rtol=0, atol=1e-12)
    assert rotate_module._Kernels.failed
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        pairwise_complex_l1(queries, candidates, compiled=True)
    # warned once, not at every call
    assert not [w for w in caught if 'pairwise_complex_l1' in str(w.message)]


def test_rotate_compiled_score_tails_and_heads():
    decoder = RotatE(8, 3, compiled=True)
    eager = RotatE(8, 3)
    eager.load_state_dict(decoder.state_dict())
    gen = torch.Generator().manual_seed(1)
    ent = torch.randn(20, 16, generator=gen)
    h, r, t = ent[:4], torch.tensor([0, 1, 2, 1]), ent[4:8]
    for method in ('score_tails', 'score_heads'):
        args = (h, r, ent) if method == 'score_tails' else (ent, r, t)
        torch.testing.assert_close(
            getattr(decoder, method)(*args),
            getattr(eager, method)(*args))
    # the score of a candidate is the score of the triple
    torch.testing.assert_close(
        decoder.score_tails(h, r, ent)[torch.arange(4),
                                       torch.arange(4, 8)], decoder(h, r, t))


def test_pairwise_complex_l1_refuses_double_backward():
    # The backward pass is not itself differentiable: with create_graph the
    # gradient is a constant, and differentiating it through a weighted
    # output raises instead of returning a wrong second derivative.
    queries = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    out = pairwise_complex_l1(queries, torch.randn(5, 4, dtype=torch.float64))
    weight = torch.rand(3, 5, dtype=torch.float64, requires_grad=True)
    (grad, ) = torch.autograd.grad(out, queries, weight, create_graph=True)
    with pytest.raises(RuntimeError, match='differentiate twice'):
        grad.sum().backward()
