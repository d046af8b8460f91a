import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyg_kgc.utils.segment import SegmentLayout, group_pairs, segment_matmul


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 60), st.integers(1, 7), st.sampled_from([None, 1, 3]),
       st.booleans(), st.integers(0, 10_000))
def test_matches_a_loop(rows, groups, tile, blocks, seed):
    gen = torch.Generator().manual_seed(seed)
    group = torch.randint(groups, (rows, ), generator=gen)
    x = torch.randn(rows, 6, generator=gen, dtype=torch.float64,
                    requires_grad=True)
    if blocks:
        weight = torch.randn(groups, 2, 3, 2, generator=gen,
                             dtype=torch.float64)
        dense = torch.zeros(groups, 6, 4, dtype=torch.float64)
        dense[:, :3, :2], dense[:, 3:, 2:] = weight[:, 0], weight[:, 1]
    else:
        weight = torch.randn(groups, 6, 4, generator=gen, dtype=torch.float64)
        dense = weight
    weight.requires_grad_()
    out = segment_matmul(x, SegmentLayout(group, groups, tile), weight)
    expected = torch.stack([x[i] @ dense[group[i]] for i in range(rows)
                            ]) if rows else torch.zeros(0, 4)
    assert torch.allclose(out, expected.to(out.dtype), rtol=1e-12, atol=1e-12)
    if rows:
        g = torch.randn(rows, 4, generator=gen, dtype=torch.float64)
        grads = torch.autograd.grad((out * g).sum(), (x, weight))
        x2 = x.detach().clone().requires_grad_()
        w2 = weight.detach().clone().requires_grad_()
        if blocks:
            d2 = torch.zeros(groups, 6, 4, dtype=torch.float64)
            d2[:, :3, :2], d2[:, 3:, 2:] = w2[:, 0], w2[:, 1]
        else:
            d2 = w2
        ref = torch.stack([x2[i] @ d2[group[i]] for i in range(rows)])
        expected_grads = torch.autograd.grad((ref * g).sum(), (x2, w2))
        for a, b in zip(grads, expected_grads):
            assert torch.allclose(a, b, rtol=1e-12, atol=1e-12)


def test_layout_bounds_memory():
    group = torch.cat([torch.zeros(1000, dtype=torch.long),
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
    idx, grp, inverse = group_pairs(index, group, 3)
    pairs = list(zip(idx.tolist(), grp.tolist()))
    assert pairs == sorted({(3, 1), (0, 2), (3, 0), (1, 2)})
    assert [pairs[i] for i in inverse.tolist()] == list(
        zip(index.tolist(), group.tolist()))
