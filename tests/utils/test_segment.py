import contextlib

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyg_kgc.utils import segment
from pyg_kgc.utils.segment import SegmentLayout, group_pairs, segment_matmul


def dense_weights(weight):
    r"""Full matrices of block-diagonal [G, B, i, o] weights."""
    if weight.dim() == 3:
        return weight
    groups, blocks, i, o = weight.shape
    dense = weight.new_zeros(groups, blocks * i, blocks * o)
    for b in range(blocks):
        dense[:, b * i:(b + 1) * i, b * o:(b + 1) * o] = weight[:, b]
    return dense


@contextlib.contextmanager
def grouped_product(allowed: bool):
    r"""Lets segment_matmul use torch's grouped product (where it works) or
    forces the padded batched product."""
    saved = dict(segment._GROUPED_MM_WORKS)
    if not allowed:
        segment._GROUPED_MM_WORKS[('cpu', torch.float32)] = False
    try:
        yield
    finally:
        segment._GROUPED_MM_WORKS.clear()
        segment._GROUPED_MM_WORKS.update(saved)


def check_against_loop(rows, groups, tile, blocks, seed, dtype, c_in, c_out,
                       tol):
    gen = torch.Generator().manual_seed(seed)
    group = torch.randint(groups, (rows, ), generator=gen)
    x = torch.randn(rows, c_in, generator=gen, dtype=dtype, requires_grad=True)
    shape = ((groups, blocks, c_in // blocks, c_out // blocks) if blocks else
             (groups, c_in, c_out))
    weight = torch.randn(*shape, generator=gen, dtype=dtype,
                         requires_grad=True)
    out = segment_matmul(x, SegmentLayout(group, groups, tile), weight)
    x2 = x.detach().double().requires_grad_()
    w2 = weight.detach().double().requires_grad_()
    dense = dense_weights(w2)
    expected = (torch.stack([x2[i] @ dense[group[i]] for i in range(rows)])
                if rows else torch.zeros(0, c_out, dtype=torch.float64))
    assert out.dtype == dtype and out.shape == (rows, c_out)
    assert torch.allclose(out.double(), expected, rtol=tol, atol=tol)
    if rows:
        g = torch.randn(rows, c_out, generator=gen, dtype=torch.float64)
        grads = torch.autograd.grad((out * g.to(dtype)).sum(), (x, weight),
                                    retain_graph=True)
        expected_grads = torch.autograd.grad((expected * g).sum(), (x2, w2))
        for a, b in zip(grads, expected_grads):
            assert torch.allclose(a.double(), b, rtol=tol, atol=tol)
        # A gradient that is not contiguous (sum) is accepted too.
        grad_x, = torch.autograd.grad(out.sum(), x)
        assert torch.allclose(grad_x.double(), dense[group].sum(-1), rtol=tol,
                              atol=tol)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 60), st.integers(1, 7), st.sampled_from([None, 1, 3]),
       st.sampled_from([0, 2]), st.integers(0, 10_000))
def test_matches_a_loop(rows, groups, tile, blocks, seed):
    check_against_loop(rows, groups, tile, blocks, seed, torch.float64, 6, 4,
                       1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 60), st.integers(1, 7), st.sampled_from([0, 2, 4]),
       st.integers(0, 10_000), st.booleans())
def test_float32_matches_a_loop(rows, groups, blocks, seed, grouped):
    # float32 with 16-byte rows takes torch's grouped product where this
    # torch has one (2 blocks of 8 x 4: blocks as rows; 4 blocks of 4 x 2:
    # full block-diagonal matrices); the padded batched product otherwise.
    with grouped_product(grouped):
        check_against_loop(rows, groups, None, blocks, seed, torch.float32, 16,
                           8, 1e-4)


def test_grouped_product_is_used_where_available(monkeypatch):
    works = segment._grouped_mm_works(torch.device('cpu'), torch.float32)
    if torch.__version__ >= (2, 13):  # the version CI installs
        assert works
    calls, grouped_mm = [], segment._GROUPED_MM

    def spy(*args, **kwargs):
        calls.append(args[1].shape)
        return grouped_mm(*args, **kwargs)

    layout = SegmentLayout(torch.tensor([1, 0, 1]), 2)
    monkeypatch.setattr(segment, '_GROUPED_MM', spy)
    for x, weight in [
        (torch.ones(3, 8), torch.ones(2, 8, 4)),  # [2, 8, 4]
        (torch.ones(3, 16), torch.ones(2, 2, 8, 4)),  # blocks: [4, 8, 4]
        (torch.ones(3, 8), torch.ones(2, 4, 2, 2)),  # dense: [2, 8, 8]
        (torch.ones(3, 8, dtype=torch.float64),
         torch.ones(2, 8, 4, dtype=torch.float64)),  # no
        (torch.ones(3, 6), torch.ones(2, 6, 8)),  # rows not aligned: no
    ]:
        segment_matmul(x, layout, weight)
    if works:
        assert calls == [(2, 8, 4), (4, 8, 4), (2, 8, 8)]


def test_block_diagonal():
    weight = torch.arange(16.).view(1, 2, 2, 4)
    dense = segment.block_diagonal(weight)
    assert torch.equal(dense[0], torch.block_diag(weight[0, 0], weight[0, 1]))


def test_layout_bounds_memory():
    group = torch.cat(
        [torch.zeros(1000, dtype=torch.long),
         torch.arange(1, 100)])  # one big group, 99 small
    layout = SegmentLayout(group, 100)
    assert layout.tile == 11  # ceil(1099 / 100)
    assert layout.num_tiles <= 2 * 100  # padded rows <= rows + G * tile


def test_bad_shapes():
    layout = SegmentLayout(torch.tensor([0, 1, 1]), 2)
    with pytest.raises(ValueError, match='built for 3 rows, got 2'):
        segment_matmul(torch.randn(2, 4), layout, torch.randn(2, 4, 5))
    with pytest.raises(ValueError, match='2 groups, but there are 3'):
        segment_matmul(torch.randn(3, 4), layout, torch.randn(3, 4, 5))


def test_group_pairs():
    index = torch.tensor([3, 0, 3, 3, 1])
    group = torch.tensor([1, 2, 1, 0, 2])
    idx, grp, inverse = group_pairs(index, group)
    pairs = list(zip(idx.tolist(), grp.tolist()))
    assert pairs == [(3, 0), (3, 1), (0, 2), (1, 2)]  # by group, then index
    assert SegmentLayout(grp, 3).is_sorted
    assert [pairs[i] for i in inverse.tolist()
            ] == list(zip(index.tolist(), group.tolist()))
