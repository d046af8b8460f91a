r"""`dropout_positions` / `geometric_dropout`: the dropped entries are
independent Bernoulli(p) draws (the distribution of
`torch.nn.functional.dropout`), values and gradients are those of the mask,
and `ShallowKGE(dropout_sampler="geometric")` uses them."""
import math

import pytest
import torch

import pyg_kgc.nn.kge.bilinear as bilinear_module
from pyg_kgc.nn.kge import Bilinear
from pyg_kgc.nn.kge.bilinear import dropout_bilinear_queries
from pyg_kgc.nn.models import ShallowKGE
from pyg_kgc.utils import dropout_positions, geometric_dropout


@pytest.mark.parametrize('chunk', [None, 3])
def test_positions_are_independent_bernoulli_draws(chunk):
    # 20,000 draws over 8 entries at p = 0.3: each entry's rate, the rate
    # of pairs (independence), and the mean and variance of the count.
    # chunk=3 forces the continuation after too few gaps, many times.
    gen = torch.Generator().manual_seed(0)
    draws, numel, p = 20_000, 8, 0.3
    masks = torch.zeros(draws, numel)
    for i in range(draws):
        positions = dropout_positions(numel, p, gen, chunk=chunk)
        assert bool((positions[1:] > positions[:-1]).all())  # increasing
        assert positions.numel() == 0 or (0 <= int(positions.min())
                                          and int(positions.max()) < numel)
        masks[i, positions] = 1.0
    sd = math.sqrt(p * (1 - p) / draws)
    assert (masks.mean(0) - p).abs().max() < 5 * sd
    both = (masks[:, :-1] * masks[:, 1:]).mean(0)  # neighbours
    sd2 = math.sqrt(p * p * (1 - p * p) / draws)
    assert (both - p * p).abs().max() < 5 * sd2
    first_last = (masks[:, 0] * masks[:, -1]).mean()
    assert abs(float(first_last) - p * p) < 5 * sd2
    count = masks.sum(1)
    assert abs(float(count.mean()) -
               numel * p) < 5 * math.sqrt(numel * p * (1 - p) / draws)
    assert abs(float(count.var()) / (numel * p * (1 - p)) - 1) < 0.05


def test_positions_edge_cases():
    assert dropout_positions(0, 0.5).numel() == 0
    assert dropout_positions(100, 0.0).numel() == 0
    assert torch.equal(dropout_positions(7, 1.0), torch.arange(7))
    assert dropout_positions(5, 0.5).dtype == torch.long
    with pytest.raises(ValueError, match='rate must lie in'):
        dropout_positions(5, 1.5)
    with pytest.raises(ValueError, match='non-negative'):
        dropout_positions(-1, 0.5)
    with pytest.raises(ValueError, match='chunk'):
        dropout_positions(5, 0.5, chunk=0)


def test_large_tensor_rate_and_gaps():
    # A RESCAL-sized draw: the fraction and the mean gap are p and 1 / p.
    gen = torch.Generator().manual_seed(1)
    numel, p = 4_000_000, 0.08
    positions = dropout_positions(numel, p, gen)
    sd = math.sqrt(numel * p * (1 - p))
    assert abs(positions.numel() - numel * p) < 5 * sd
    gaps = positions.diff().double()
    assert abs(float(gaps.mean()) - 1 / p) < 0.05
    # P(gap = 1) = p: the next entry is dropped with probability p
    assert abs(float((gaps == 1).double().mean()) - p) < 0.005


def test_geometric_dropout_values_and_gradient():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(30, 40, dtype=torch.float64, requires_grad=True)
    p = 0.25
    out = geometric_dropout(x, p, generator=gen)
    kept = out != 0
    assert 0 < int((~kept).sum()) < x.numel()
    torch.testing.assert_close(out[kept], x[kept] / (1 - p), rtol=0,
                               atol=1e-15)
    grad = torch.randn(30, 40, dtype=torch.float64)
    out.backward(grad)
    torch.testing.assert_close(x.grad, grad * kept / (1 - p), rtol=0,
                               atol=1e-15)


def test_geometric_dropout_modes_and_layouts():
    x = torch.randn(6, 5)
    assert geometric_dropout(x, 0.3, training=False) is x
    assert geometric_dropout(x, 0.0) is x
    assert torch.equal(geometric_dropout(x, 1.0), torch.zeros(6, 5))
    with pytest.raises(ValueError, match='rate must lie in'):
        geometric_dropout(x, -0.1)
    # a transposed (non-contiguous) input keeps its shape and its entries
    t = x.t()
    out = geometric_dropout(t, 0.5, generator=torch.Generator().manual_seed(3))
    assert out.shape == t.shape
    kept = out != 0
    torch.testing.assert_close(out[kept], t[kept] * 2)


def test_shallow_model_with_the_geometric_sampler():
    torch.manual_seed(0)
    decoder = Bilinear(16, 3)
    model = ShallowKGE(10, decoder, relation_dropout=0.1,
                       dropout_sampler='geometric')
    reference = ShallowKGE(10, Bilinear(16, 3), relation_dropout=0.1)
    reference.load_state_dict(model.state_dict())
    h, r = torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2])
    model.eval()
    reference.eval()  # no dropout: the samplers do not matter
    assert torch.equal(model.score_tails(h, r), reference.score_tails(h, r))
    model.train()
    rel = model.relation(torch.zeros(2000, dtype=torch.long))
    dropped = float((rel == 0).double().mean())
    assert abs(dropped - 0.1) < 0.005  # 512,000 entries
    kept = rel != 0
    expected = decoder.relation_emb[0].expand(2000, -1)[kept] / 0.9
    torch.testing.assert_close(rel[kept], expected)
    with pytest.raises(ValueError, match='dropout_sampler'):
        ShallowKGE(10, Bilinear(16, 3), dropout_sampler='uniform')


def masked_queries(x, weight, relation, positions, p, transpose):
    # The reference: the [B, d, d] masked matrices, formed explicitly.
    num, d = x.shape
    mask = torch.ones(num * d * d, dtype=x.dtype)
    mask[positions] = 0.0
    matrices = weight[relation].view(num, d, d) * mask.view(num, d, d)
    if transpose:
        return torch.einsum('bij,bj->bi', matrices, x) / (1 - p)
    return torch.einsum('bi,bij->bj', x, matrices) / (1 - p)


@pytest.mark.parametrize('compiled', [False, True])
@pytest.mark.parametrize('transpose', [False, True])
@pytest.mark.parametrize('d', [6, 8])  # entry indices by division or shifts
def test_dropout_bilinear_queries_equal_the_masked_matrices(
        transpose, d, compiled):
    gen = torch.Generator().manual_seed(4)
    num, num_relations, p = 9, 4, 0.3
    x = torch.randn(num, d, dtype=torch.float64, generator=gen)
    weight = torch.randn(num_relations, d * d, dtype=torch.float64,
                         generator=gen)
    relation = torch.tensor([3, 0, 0, 2, 3, 3, 1, 0, 2])
    positions = dropout_positions(num * d * d, p,
                                  torch.Generator().manual_seed(5))
    a, w = x.clone().requires_grad_(), weight.clone().requires_grad_()
    out = dropout_bilinear_queries(a, w, relation, p, transpose,
                                   torch.Generator().manual_seed(5),
                                   compiled=compiled)
    b, v = x.clone().requires_grad_(), weight.clone().requires_grad_()
    ref = masked_queries(b, v, relation, positions, p, transpose)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    grad = torch.randn(num, d, dtype=torch.float64, generator=gen)
    for got, expected in zip(torch.autograd.grad(out, (a, w), grad),
                             torch.autograd.grad(ref, (b, v), grad)):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    assert not bilinear_module._Kernels.failed  # no fallback to eager
    with pytest.raises(ValueError, match=rf'relation matrices \[R, {d * d}\]'):
        dropout_bilinear_queries(x, weight[:, :30], relation, p)
    with pytest.raises(ValueError, match='rate must lie in'):
        dropout_bilinear_queries(x, weight, relation, 1.0)
    with pytest.raises(IndexError, match=r'must lie in \[0, 4\)'):
        dropout_bilinear_queries(x, weight, relation + 1, p)
    with pytest.raises(ValueError, match=r'relation ids \[B\]'):
        dropout_bilinear_queries(x, weight, relation[:5], p)


def test_dropout_bilinear_queries_compiled_falls_back_with_a_warning(
        monkeypatch):
    def broken(*args):
        raise RuntimeError('no C++ compiler')

    monkeypatch.setattr(bilinear_module._Kernels, 'functions', (broken, ))
    monkeypatch.setattr(bilinear_module._Kernels, 'failed', False)
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(5, 4, dtype=torch.float64, generator=gen)
    weight = torch.randn(3, 16, dtype=torch.float64, generator=gen)
    relation = torch.tensor([0, 2, 2, 1, 0])
    positions = dropout_positions(5 * 16, 0.4,
                                  torch.Generator().manual_seed(8))
    with pytest.warns(RuntimeWarning,
                      match='dropout_bilinear_queries.*no C\\+\\+'):
        out = dropout_bilinear_queries(
            x, weight, relation, 0.4,
            generator=torch.Generator().manual_seed(8), compiled=True)
    torch.testing.assert_close(
        out, masked_queries(x, weight, relation, positions, 0.4, False),
        rtol=0, atol=1e-12)
    assert bilinear_module._Kernels.failed


@pytest.mark.parametrize('compiled', [False, True])
def test_shallow_rescal_scores_with_masked_matrices_per_query(compiled):
    # ShallowKGE(Bilinear full, geometric relation dropout) in training
    # scores all tails / heads through dropout_bilinear_queries: the same
    # scores as the explicit masked matrices drawn from the same stream.
    torch.manual_seed(0)
    num_nodes, d, p = 12, 4, 0.25
    model = ShallowKGE(num_nodes, Bilinear(d, 3), relation_dropout=p,
                       dropout_sampler='geometric',
                       compiled=compiled).double()
    assert model.compiled == compiled
    h, r, t = torch.tensor([0, 5,
                            7]), torch.tensor([2, 0,
                                               2]), torch.tensor([1, 1, 3])
    entity, weight = model.entity_emb, model.decoder.relation_emb
    for side in ('tails', 'heads'):
        torch.manual_seed(6)
        positions = dropout_positions(3 * d * d, p)
        torch.manual_seed(6)
        if side == 'tails':
            scores = model.score_tails(h, r)
            query = masked_queries(entity[h], weight, r, positions, p, False)
        else:
            scores = model.score_heads(r, t)
            query = masked_queries(entity[t], weight, r, positions, p, True)
        torch.testing.assert_close(scores, query @ entity.t(), rtol=0,
                                   atol=1e-12)
    with pytest.raises(IndexError):
        model.score_tails(h, torch.tensor([0, 3, 1]))
    model.eval()  # no dropout: the ordinary path
    torch.testing.assert_close(
        model.score_tails(h, r),
        torch.einsum('bi,bij->bj', entity[h], weight[r].view(3, d, d))
        @ entity.t())
