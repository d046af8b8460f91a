r"""`corruption_distances` (TransE's and RotatE's fused corruption scoring)
against the distances of gathered rows computed by autograd, and finite
differences."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyg_kgc.nn.kge.base import corruption_distances


def gathered(tail_query, head_query, entity, candidates, corrupt_head, p):
    query = torch.where(corrupt_head.unsqueeze(-1), head_query.unsqueeze(1),
                        tail_query.unsqueeze(1))
    diff = query - entity[candidates]
    if p == 'complex':  # moduli of the (re, im) pairs, summed
        pairs = diff.unflatten(-1, (-1, 2))
        return torch.linalg.vector_norm(pairs, ord=2, dim=-1).sum(-1)
    return torch.linalg.vector_norm(diff, ord=p, dim=-1)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 5), st.integers(1, 6), st.integers(1, 4),
       st.sampled_from([1, 2, 'complex']), st.integers(0, 10_000))
def test_equals_gathered_rows(num_rows, num_entities, k, p, seed):
    gen = torch.Generator().manual_seed(seed)

    def leaf(*shape):
        # Small integers: equal coordinates (subgradient 0) and equal rows
        # (distance 0) are common.
        x = torch.randint(-2, 3, shape, generator=gen).double()
        return x.requires_grad_()

    inputs = [leaf(num_rows, 4), leaf(num_rows, 4), leaf(num_entities, 4)]
    candidates = torch.randint(num_entities, (num_rows, k), generator=gen)
    corrupt_head = torch.rand(num_rows, k, generator=gen) < 0.5
    weight = torch.randn(num_rows, k, generator=gen, dtype=torch.float64)
    out = corruption_distances(*inputs, candidates, corrupt_head, p)
    expected = gathered(*inputs, candidates, corrupt_head, p)
    assert out.shape == (num_rows, k)
    assert torch.allclose(out, expected, atol=1e-12)
    grads = torch.autograd.grad((out * weight).sum(), inputs)
    expected_grads = torch.autograd.grad((expected * weight).sum(), inputs)
    for got, want in zip(grads, expected_grads):
        assert torch.allclose(got, want, atol=1e-12)


@pytest.mark.parametrize('p', [1, 2, 'complex'])
def test_finite_differences_and_single_backward(p):
    gen = torch.Generator().manual_seed(7)
    inputs = [
        torch.randn(3, 4, generator=gen, dtype=torch.float64) for _ in range(2)
    ] + [torch.randn(5, 4, generator=gen, dtype=torch.float64)]
    candidates = torch.tensor([[0, 4, 4], [1, 0, 2], [3, 3, 3]])
    corrupt_head = torch.tensor([[True, False, True], [False, False, False],
                                 [True, True, False]])
    weight = torch.rand(3, 3, generator=gen, dtype=torch.float64)

    def loss(*tensors):
        return float(
            (corruption_distances(*tensors, candidates, corrupt_head, p) *
             weight).sum())

    leaves = [x.clone().requires_grad_() for x in inputs]
    (corruption_distances(*leaves, candidates, corrupt_head, p) *
     weight).sum().backward()
    eps = 1e-6
    for which, leaf in enumerate(leaves):
        for index in range(leaf.numel()):
            up = [x.clone() for x in inputs]
            down = [x.clone() for x in inputs]
            up[which].view(-1)[index] += eps
            down[which].view(-1)[index] -= eps
            numeric = (loss(*up) - loss(*down)) / (2 * eps)
            assert abs(numeric - float(leaf.grad.view(-1)[index])) < 1e-6
    # The kept tensor becomes the weights: a second backward through the
    # same graph is refused, not silently wrong.
    leaves = [x.clone().requires_grad_() for x in inputs]
    out = corruption_distances(*leaves, candidates, corrupt_head, p).sum()
    out.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match='modified by an inplace'):
        out.backward()


def test_bad_input():
    query, entity = torch.randn(2, 3), torch.randn(4, 3)
    candidates = torch.tensor([[0, 3], [1, 2]])
    corrupt_head = torch.zeros(2, 2, dtype=torch.bool)
    with pytest.raises(ValueError, match="p must be 1, 2 or 'complex'"):
        corruption_distances(query, query, entity, candidates, corrupt_head, 3)
    with pytest.raises(ValueError, match='even width'):
        corruption_distances(query, query, entity, candidates, corrupt_head,
                             'complex')
    with pytest.raises(ValueError, match='entity table'):
        corruption_distances(query, query, torch.randn(4, 2), candidates,
                             corrupt_head)
    with pytest.raises(ValueError, match=r'both be \[2, k\]'):
        corruption_distances(query, query, entity, candidates,
                             corrupt_head[:, :1])
    with pytest.raises(IndexError, match=r'Candidate ids must lie in \[0, 4'):
        corruption_distances(query, query, entity, candidates + 1,
                             corrupt_head)
