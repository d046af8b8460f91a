import pytest
import torch

from pyg_kgc.utils.compile import CompiledKernels


def square_sum(x):
    return (x * x).sum(dim=-1)


def test_compiled_kernels_build_once_and_fall_back():
    kernels = CompiledKernels('square_sum', square_sum)
    assert repr(kernels).endswith('1 functions, not built)')
    assert kernels.usable(torch.device('cpu'))
    assert not kernels.usable(torch.device('meta'))  # not the CPU
    first, = kernels.get()
    assert kernels.get()[0] is first  # built once
    assert repr(kernels).endswith('1 functions, built)')
    x = torch.randn(3, 5, dtype=torch.float64)
    torch.testing.assert_close(first(x), square_sum(x), rtol=0, atol=1e-12)
    with pytest.warns(RuntimeWarning, match='square_sum.*ValueError: boom'):
        kernels.disable(ValueError('boom'))
    assert kernels.failed and not kernels.usable(torch.device('cpu'))
    assert repr(kernels).endswith('1 functions, failed)')
    with pytest.raises(ValueError, match='no functions'):
        CompiledKernels('nothing')


def test_compiled_kernels_not_used_inside_a_compiled_region():
    kernels = CompiledKernels('square_sum', square_sum)
    seen = []

    def outer(x):
        seen.append(kernels.usable(x.device))
        return x + 1

    torch.compile(outer, backend='eager')(torch.randn(2))
    assert seen == [False]
    assert kernels.usable(torch.device('cpu'))
