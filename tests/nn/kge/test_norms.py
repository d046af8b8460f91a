r"""The norm helpers of the decoders (`lp_norm`, `pair_moduli`,
`complex_modulus`) against `torch.linalg.vector_norm`: values and
(sub)gradients, with exact zeros where the subgradient convention matters."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyg_kgc.nn.kge.base import lp_norm, pair_moduli
from pyg_kgc.nn.kge.complex import complex_modulus


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
