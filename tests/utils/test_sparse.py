import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyg_kgc.utils.sparse import SparseMatrix, head_products, sampled_dot


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 9), st.integers(1, 9), st.integers(0, 40), st.booleans(),
       st.sampled_from([torch.float32, torch.float64]), st.integers(0, 10_000))
def test_matches_dense_product(rows, cols, entries, weighted, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    if rows == 0:
        entries = 0
    row = torch.randint(max(rows, 1), (entries, ), generator=gen)
    col = torch.randint(cols, (entries, ), generator=gen)
    value = (torch.rand(entries, generator=gen, dtype=torch.float64)
             if weighted else None)
    dense = torch.zeros(rows, cols, dtype=torch.float64)
    for e in range(entries):  # repeated entries add up
        dense[row[e], col[e]] += 1.0 if value is None else value[e]
    matrix = SparseMatrix(row, col, value, (rows, cols))
    x = torch.randn(cols, 3, generator=gen, dtype=dtype, requires_grad=True)
    out = matrix @ x
    assert out.dtype == dtype and out.shape == (rows, 3)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    assert torch.allclose(out.double(), dense @ x.double(), atol=tol)
    g = torch.randn(rows, 3, generator=gen, dtype=dtype)
    grad, = torch.autograd.grad((out * g).sum(), x)
    assert torch.allclose(grad.double(), dense.t() @ g.double(), atol=tol)
    # The same matrix serves another product (and a second type).
    x2 = torch.randn(cols, 2, generator=gen, dtype=torch.float64)
    assert torch.allclose(matrix @ x2, dense @ x2, atol=1e-12)


def test_expanded_gradient():
    matrix = SparseMatrix(torch.tensor([0, 1, 1]), torch.tensor([1, 0, 1]),
                          torch.tensor([2.0, 3.0, 4.0]), (2, 2))
    x = torch.ones(2, 2, requires_grad=True)
    (matrix @ x).sum().backward()  # a stride-0 gradient
    assert x.grad.tolist() == [[3.0, 3.0], [6.0, 6.0]]


def test_bad_input():
    with pytest.raises(ValueError, match='col index out of range'):
        SparseMatrix(torch.tensor([0]), torch.tensor([3]), None, (1, 3))
    with pytest.raises(ValueError, match='row index out of range'):
        SparseMatrix(torch.tensor([-1]), torch.tensor([0]), None, (1, 3))
    with pytest.raises(ValueError, match='one length'):
        SparseMatrix(torch.tensor([0, 0]), torch.tensor([0]), None, (1, 3))
    with pytest.raises(ValueError, match='value must have shape'):
        SparseMatrix(torch.tensor([0]), torch.tensor([0]), torch.ones(2),
                     (1, 3))
    matrix = SparseMatrix(torch.tensor([0]), torch.tensor([0]), None, (1, 3))
    with pytest.raises(ValueError, match=r'shape \[3, F\], got \[2, 4\]'):
        matrix @ torch.ones(2, 4)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(0, 30),
       st.sampled_from([torch.float32, torch.float64]), st.integers(0, 10_000))
def test_sampled_dot_matches_gathered_rows(rows, cols, entries, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    row = torch.randint(rows, (entries, ), generator=gen)  # with repeats
    col = torch.randint(cols, (entries, ), generator=gen)
    x = torch.randn(rows, 4, generator=gen, dtype=dtype, requires_grad=True)
    y = torch.randn(cols, 4, generator=gen, dtype=dtype, requires_grad=True)
    out = sampled_dot(x, y, row, col)
    expected = torch.stack([x[i] @ y[j] for i, j in zip(row, col)]) \
        if entries else x.new_zeros(0)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    assert out.dtype == dtype and out.shape == (entries, )
    assert torch.allclose(out, expected, atol=tol)
    g = torch.randn(entries, generator=gen, dtype=dtype)
    if entries:
        grads = torch.autograd.grad((out * g).sum(), (x, y))
        expected_grads = torch.autograd.grad((expected * g).sum(), (x, y))
        for got, want in zip(grads, expected_grads):
            assert torch.allclose(got, want, atol=tol)


def test_sampled_dot_gradient_of_one_input():
    x = torch.randn(3, 2, dtype=torch.float64)
    y = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    row, col = torch.tensor([0, 2, 2]), torch.tensor([3, 3, 1])
    sampled_dot(x, y, row, col).sum().backward()
    expected = torch.zeros(4, 2, dtype=torch.float64)
    expected[3] = x[0] + x[2]
    expected[1] = x[2]
    assert torch.allclose(y.grad, expected, atol=1e-12)
    assert torch.autograd.gradcheck(
        lambda a, b: sampled_dot(a, b, row, col),
        (x.clone().requires_grad_(), y.detach().clone().requires_grad_()))


def test_sampled_dot_bad_input():
    x, y = torch.ones(2, 3), torch.ones(4, 3)
    with pytest.raises(ValueError, match=r'x \[M, F\] and y \[N, F\]'):
        sampled_dot(x, torch.ones(4, 2), torch.tensor([0]), torch.tensor([0]))
    with pytest.raises(ValueError, match='floating point type'):
        sampled_dot(x, y.double(), torch.tensor([0]), torch.tensor([0]))
    with pytest.raises(ValueError, match='one length'):
        sampled_dot(x, y, torch.tensor([0, 1]), torch.tensor([0]))
    with pytest.raises(ValueError, match=r'row index out of range \[0, 2\)'):
        sampled_dot(x, y, torch.tensor([2]), torch.tensor([0]))
    with pytest.raises(ValueError, match=r'col index out of range \[0, 4\)'):
        sampled_dot(x, y, torch.tensor([0]), torch.tensor([-1]))


def reference_head_products(weight, table, row, col, num_rows):
    # Entry by entry: out[row_e, h] += weight[e, h] * table[col_e, h].
    out = table.new_zeros(num_rows, table.size(1), table.size(2))
    for e in range(row.numel()):
        out[int(row[e])] = out[int(
            row[e])] + (weight[e].unsqueeze(-1) * table[int(col[e])])
    return out


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(0, 25),
       st.integers(1, 3), st.integers(1, 4), st.integers(0, 10_000))
def test_head_products_match_entry_by_entry_sums(rows, cols, entries, heads,
                                                 channels, seed):
    # Small index ranges make repeated entries and empty rows common.
    gen = torch.Generator().manual_seed(seed)
    row = torch.randint(rows, (entries, ), generator=gen)
    col = torch.randint(cols, (entries, ), generator=gen)
    weight = torch.randn(entries, heads, generator=gen,
                         dtype=torch.float64).requires_grad_()
    table = torch.randn(cols, heads, channels, generator=gen,
                        dtype=torch.float64).requires_grad_()
    out = head_products(weight, table, row, col, rows)
    ref = reference_head_products(weight, table, row, col, rows)
    assert out.shape == (rows, heads, channels)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    if entries == 0:
        return
    grad = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    ours = torch.autograd.grad((out * grad).sum(), (weight, table))
    theirs = torch.autograd.grad((ref * grad).sum(), (weight, table))
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_head_products_gradient_of_one_input():
    weight = torch.rand(5, 2, dtype=torch.float64)
    table = torch.randn(3, 2, 4, dtype=torch.float64, requires_grad=True)
    row, col = torch.tensor([0, 0, 1, 2, 2]), torch.tensor([0, 0, 2, 1, 0])
    assert torch.autograd.gradcheck(
        lambda t: head_products(weight, t, row, col, 3), (table, ))
    weight.requires_grad_()
    table = table.detach()
    assert torch.autograd.gradcheck(
        lambda w: head_products(w, table, row, col, 3), (weight, ))


def test_head_products_bad_input():
    weight, table = torch.rand(4, 2), torch.randn(3, 2, 5)
    row, col = torch.tensor([0, 1, 1, 2]), torch.tensor([0, 2, 1, 0])
    with pytest.raises(ValueError, match=r'weights \[E, H\] and a table'):
        head_products(weight, table[:, :1], row, col, 3)
    with pytest.raises(ValueError, match='floating point type'):
        head_products(weight, table.double(), row, col, 3)
    with pytest.raises(ValueError, match='vectors of length 4'):
        head_products(weight, table, row[:3], col[:3], 3)
    with pytest.raises(ValueError, match=r'row index out of range \[0, 2\)'):
        head_products(weight, table, row, col, 2)
    with pytest.raises(ValueError, match=r'col index out of range \[0, 3\)'):
        head_products(weight, table, row, col + 1, 3)
