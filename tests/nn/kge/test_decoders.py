r"""Every decoder against a plain formula written here, all-candidate scoring
against one candidate at a time, and the relation patterns of the primer's
table as exact constructions."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyg_kgc.nn.kge import (
    Bilinear,
    ComplEx,
    DistMult,
    EmbeddingScorer,
    RotatE,
    TransE,
    TransR,
    l2_regularizer,
    n3_regularizer,
)

K = 3  # complex coordinates
D = 6  # real width


def rand(*shape, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def as_complex(x):  # interleaved [re_0, im_0, re_1, im_1, ...]
    pairs = x.reshape(*x.shape[:-1], -1, 2)
    return torch.complex(pairs[..., 0], pairs[..., 1])


def from_complex(z):
    return torch.stack([z.real, z.imag], dim=-1).flatten(-2)


# Plain formulas, one triple at a time ########################################


def transe_ref(h, r, t, p):
    return -sum(abs(h[i] + r[i] - t[i])**p for i in range(len(h)))**(1 / p)


def transr_ref(h, r, t, k, p):
    d = len(h)
    translation, m = r[:k], r[k:].view(k, d)
    x = [
        sum(m[j, i] * h[i]
            for i in range(d)) + translation[j] - sum(m[j, i] * t[i]
                                                      for i in range(d))
        for j in range(k)
    ]
    return -sum(abs(v)**p for v in x)**(1 / p)


def complex_ref(h, r, t):
    return (as_complex(h) * as_complex(r) * as_complex(t).conj()).sum().real


def rotate_ref(h, theta, t):
    rotated = as_complex(h) * torch.exp(1j * theta)
    return -(rotated - as_complex(t)).abs().sum()


def rescal_ref(h, w, t):
    d = len(h)
    return sum(h[i] * w[i, j] * t[j] for i in range(d) for j in range(d))


DECODERS = {
    'TransE-L1': lambda: TransE(D, 4, p=1),
    'TransE-L2': lambda: TransE(D, 4, p=2),
    'TransR-L2': lambda: TransR(D, 4, 4, p=2),
    'TransR-L1': lambda: TransR(D, 4, 4, p=1),
    'DistMult': lambda: DistMult(D, 4),
    'ComplEx': lambda: ComplEx(D, 4),
    'RotatE': lambda: RotatE(K, 4),
    'RESCAL': lambda: Bilinear(D, 4),
    'RESCAL-diagonal': lambda: Bilinear(D, 4, mode='diagonal'),
    'RESCAL-basis': lambda: Bilinear(D, 4, mode='basis', num_bases=2),
}


def reference(name, decoder, h, r, t):
    if name.startswith('TransE'):
        return transe_ref(h, r, t, decoder.p)
    if name.startswith('TransR'):
        return transr_ref(h, r, t, decoder.space_dim, decoder.p)
    if name in ('DistMult', 'RESCAL-diagonal'):
        return sum(h[i] * r[i] * t[i] for i in range(len(h)))
    if name == 'ComplEx':
        return complex_ref(h, r, t)
    if name == 'RotatE':
        return rotate_ref(h, r, t)
    if name == 'RESCAL':
        return rescal_ref(h, r.view(D, D), t)
    if name == 'RESCAL-basis':
        w = sum(r[b] * decoder.bases[b] for b in range(decoder.num_bases))
        return rescal_ref(h, w, t)
    raise KeyError(name)


def perturbed(decoder):
    # Random relation parameters (e.g. TransR starts from the identity).
    decoder = decoder.double()
    with torch.no_grad():
        decoder.relation_emb.copy_(rand(*decoder.relation_emb.shape, seed=9))
    return decoder


@pytest.mark.parametrize('name', DECODERS)
def test_equals_plain_formula(name):
    decoder = perturbed(DECODERS[name]())
    entity = rand(5, decoder.entity_dim)
    head, relation, tail = [0, 2, 4, 1], [3, 0, 1, 1], [1, 1, 3, 0]
    with torch.no_grad():
        scores = decoder(entity[head], torch.tensor(relation), entity[tail])
    for i in range(4):
        with torch.no_grad():
            r = decoder.relation_emb[relation[i]]
            expected = reference(name, decoder, entity[head[i]], r,
                                 entity[tail[i]])
        assert scores[i].item() == pytest.approx(float(expected), rel=1e-9,
                                                 abs=1e-9)


@pytest.mark.parametrize('name', DECODERS)
@pytest.mark.parametrize('owned', [True, False])
def test_all_candidates_equal_one_by_one(name, owned):
    decoder = perturbed(DECODERS[name]())
    entity = rand(11, decoder.entity_dim, seed=1)
    relations = decoder.relation_emb.detach().clone()
    scorer = EmbeddingScorer(decoder, entity, None if owned else relations)
    h, r, t = torch.tensor([0, 5,
                            10]), torch.tensor([3, 0,
                                                3]), torch.tensor([2, 2, 7])
    tails, heads = scorer.score_tails(h, r), scorer.score_heads(r, t)
    for c in range(11):
        c_ = torch.full((3, ), c)
        assert torch.allclose(tails[:, c], scorer.score_triples(h, r, c_),
                              rtol=1e-10, atol=1e-10)
        assert torch.allclose(heads[:, c], scorer.score_triples(c_, r, t),
                              rtol=1e-10, atol=1e-10)
    subset = torch.tensor([9, 0, 4])
    assert torch.allclose(scorer.score_tails(h, r, subset), tails[:, subset])
    assert torch.allclose(scorer.score_heads(r, t, subset), heads[:, subset])
    buffer = torch.empty(11, 3, dtype=torch.float64).t()
    assert torch.allclose(scorer.score_tails(h, r, out=buffer), tails)


@pytest.mark.parametrize('name', DECODERS)
def test_bad_widths(name):
    decoder = DECODERS[name]()
    entity = torch.randn(2, decoder.entity_dim + 1)
    with pytest.raises(ValueError, match='entity representations of width'):
        decoder(entity, torch.tensor([0, 1]), entity)
    good = torch.randn(2, decoder.entity_dim)
    with pytest.raises(ValueError, match='relation representations of width'):
        decoder(good, torch.randn(2, decoder.relation_dim + 1), good)
    with pytest.raises(IndexError, match=r'Relation ids must lie in \[0, 4\)'):
        decoder(good, torch.tensor([0, 4]), good)


def test_bad_arguments():
    with pytest.raises(ValueError, match='dim must be even'):
        ComplEx(5)
    with pytest.raises(ValueError, match='L1 and L2 norms'):
        TransE(4, p=3)
    with pytest.raises(ValueError, match='L1 and L2 norms'):
        TransR(4, 2, p=0)
    with pytest.raises(ValueError, match="Unknown mode 'tucker'"):
        Bilinear(4, mode='tucker')
    with pytest.raises(ValueError, match='num_bases is required'):
        Bilinear(4, mode='basis')


# Relation patterns ##########################################################


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 100_000))
def test_symmetry(seed):
    h, t = rand(2, D, seed=seed)
    theta = rand(K, seed=seed + 1)
    # DistMult: always.
    r = rand(D, seed=seed + 2)
    assert torch.allclose(DistMult(D)(h, r, t), DistMult(D)(t, r, h))
    # ComplEx: with a real relation.
    real = from_complex(torch.complex(r[:K], torch.zeros_like(r[:K])))
    assert torch.allclose(ComplEx(D)(h, real, t), ComplEx(D)(t, real, h))
    # RotatE: with phases in {0, pi}.
    phases = math.pi * (theta > 0).double()
    assert torch.allclose(RotatE(K)(h, phases, t), RotatE(K)(t, phases, h))
    # TransE: only with r = 0.
    zero = torch.zeros(D, dtype=torch.float64)
    assert torch.allclose(TransE(D)(h, zero, t), TransE(D)(t, zero, h))


def test_transe_cannot_be_symmetric_unless_r_is_zero():
    h, r = rand(2, D, seed=3)
    t = h + r  # a perfect triple
    transe = TransE(D, p=2)
    assert transe(h, r, t).item() == pytest.approx(0.0, abs=1e-12)
    # Its reverse is 2|r| away: only r = 0 makes both perfect.
    assert transe(t, r, h).item() == pytest.approx(-2 * r.norm().item())


def test_antisymmetry():
    h = rand(D, seed=4)
    # ComplEx with a purely imaginary relation: f(h, t) = -f(t, h).
    im = rand(K, seed=5)
    imaginary = from_complex(torch.complex(torch.zeros_like(im), im))
    t = rand(D, seed=6)
    complex_ = ComplEx(D)
    assert complex_(
        h, imaginary,
        t).item() == pytest.approx(-complex_(t, imaginary, h).item())
    assert abs(complex_(h, imaginary, t).item()) > 1e-3
    # RotatE with phases pi/2: t = h r is perfect, (t, r, h) is not.
    theta = torch.full((K, ), math.pi / 2, dtype=torch.float64)
    t = from_complex(as_complex(h) * torch.exp(1j * theta))
    rotate = RotatE(K)
    assert rotate(h, theta, t).item() == pytest.approx(0.0, abs=1e-12)
    assert rotate(t, theta, h).item() < -1e-3
    # TransE: t = h + r is perfect, (t, r, h) is not.
    r = rand(D, seed=7)
    assert TransE(D)(h, r, h + r).item() == pytest.approx(0.0, abs=1e-12)
    assert TransE(D)(h + r, r, h).item() < -1e-3
    # DistMult cannot: it is symmetric for every relation.
    assert DistMult(D)(h, r,
                       t).item() == pytest.approx(DistMult(D)(t, r, h).item())


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 100_000))
def test_inverse(seed):
    h, t = rand(2, D, seed=seed)
    theta = rand(K, seed=seed + 1)
    # RotatE: r2 = conj(r1), i.e. theta2 = -theta1.
    assert torch.allclose(RotatE(K)(h, theta, t), RotatE(K)(t, -theta, h))
    # ComplEx: r2 = conj(r1).
    r = rand(D, seed=seed + 2)
    conj = from_complex(as_complex(r).conj())
    assert torch.allclose(ComplEx(D)(h, r, t), ComplEx(D)(t, conj, h))
    # TransE: r2 = -r1.
    assert torch.allclose(TransE(D)(h, r, t), TransE(D)(t, -r, h))


def test_composition():
    h = rand(D, seed=8)
    theta1, theta2 = rand(2, K, seed=9)
    rotate = RotatE(K)
    m = from_complex(as_complex(h) * torch.exp(1j * theta1))
    t = from_complex(as_complex(m) * torch.exp(1j * theta2))
    assert rotate(h, theta1, m).item() == pytest.approx(0.0, abs=1e-12)
    assert rotate(m, theta2, t).item() == pytest.approx(0.0, abs=1e-12)
    assert rotate(h, theta1 + theta2,
                  t).item() == pytest.approx(0.0, abs=1e-12)
    r1, r2 = rand(2, D, seed=10)
    transe = TransE(D)
    assert transe(h, r1 + r2,
                  h + r1 + r2).item() == pytest.approx(0.0, abs=1e-12)


def test_one_to_many():
    # TransR maps two different tails to the same point of a relation's
    # space: both are perfect answers of (h, r, ?).
    d, k = 4, 2
    projection = torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 0]],
                              dtype=torch.float64)  # forgets coordinates 2-3
    translation = torch.tensor([0.5, -1.0], dtype=torch.float64)
    relation = torch.cat([translation, projection.flatten()])
    h = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    t1 = torch.tensor([1.5, 1.0, 0.0, 0.0], dtype=torch.float64)
    t2 = torch.tensor([1.5, 1.0, -7.0, 9.0], dtype=torch.float64)
    transr = TransR(d, k)
    assert transr(h, relation, t1).item() == pytest.approx(0.0, abs=1e-12)
    assert transr(h, relation, t2).item() == pytest.approx(0.0, abs=1e-12)
    # TransE cannot: h + r is one point.
    transe = TransE(d)
    r = t1 - h
    assert transe(h, r, t1).item() == pytest.approx(0.0, abs=1e-12)
    assert transe(h, r, t2).item() < -1.0


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 100_000))
def test_complex_with_real_parts_is_distmult(seed):
    h, r, t = rand(3, K, seed=seed)
    real = [
        from_complex(torch.complex(x, torch.zeros_like(x))) for x in (h, r, t)
    ]
    assert torch.allclose(ComplEx(2 * K)(*real), DistMult(K)(h, r, t))


# Regularisers ###############################################################


def test_regularizers():
    h, r, t = rand(3, 2, D, seed=11)
    expected = sum(x.abs().pow(3).sum() for x in (h, r, t)) / 2
    assert n3_regularizer(DistMult(D).factors(h, r, t)) == pytest.approx(
        expected.item())
    expected = sum(x.pow(2).sum() for x in (h, r, t)) / 2
    assert l2_regularizer([h, r, t]) == pytest.approx(expected.item())
    # ComplEx: N3 of the moduli of complex coordinates (Lacroix et al.).
    moduli = [as_complex(x).abs() for x in (h, r, t)]
    expected = sum(m.pow(3).sum() for m in moduli) / 2
    assert n3_regularizer(ComplEx(D).factors(h, r, t)) == pytest.approx(
        expected.item())


@pytest.mark.parametrize('name', DECODERS)
def test_all_candidate_gradients(name):
    # The fast paths (matrix products, TransR's expansion) differentiate
    # like scoring every candidate on its own.
    decoder = perturbed(DECODERS[name]())
    h, r = torch.tensor([0, 5, 10, 5]), torch.tensor([3, 0, 3, 3])

    def grads(all_at_once):
        entity = rand(11, decoder.entity_dim, seed=1).requires_grad_()
        decoder.zero_grad()
        if all_at_once:
            scores = decoder.score_tails(entity[h], r, entity)
        else:
            scores = torch.stack([
                decoder(entity[h], r, entity[c].expand(4, -1))
                for c in range(11)
            ], dim=1)
        (scores * rand(*scores.shape, seed=2)).sum().backward()
        return entity.grad, decoder.relation_emb.grad

    for fast, slow in zip(grads(True), grads(False)):
        assert torch.allclose(fast, slow, rtol=1e-8, atol=1e-8)


def test_rotate_gradient_at_a_perfect_triple_is_finite():
    # The moduli of zero differences must not give NaN gradients.
    h = rand(D, seed=12).requires_grad_()
    theta = rand(K, seed=13)
    t = from_complex(as_complex(h.detach()) * torch.exp(1j * theta))
    RotatE(K)(h, theta, t).backward()
    assert torch.isfinite(h.grad).all()
    h.grad = None
    n3_regularizer(
        ComplEx(D).factors(h, torch.zeros(D, dtype=torch.float64),
                           t)).backward()
    assert torch.isfinite(h.grad).all()


@pytest.mark.parametrize('name', DECODERS)
def test_corruptions_equal_corrupted_triples(name):
    # The per-triple queries of score_corruptions (values and gradients)
    # against scoring every corrupted triple on its own.
    decoder = perturbed(DECODERS[name]())
    gen = torch.Generator().manual_seed(3)
    entity = rand(9, decoder.entity_dim, seed=4)
    h, r, t = (torch.randint(n, (5, ), generator=gen) for n in (9, 4, 9))
    cand = torch.randint(9, (5, 6), generator=gen)
    corrupt_head = torch.rand(5, 6, generator=gen) < 0.5

    def grads(mode):
        x = entity.clone().requires_grad_()
        decoder.zero_grad()
        if mode == 'gathered':
            scores = decoder.score_corruptions(x[h], r, x[t], x[cand],
                                               corrupt_head)
        elif mode == 'table':  # DistMult, ComplEx, bilinear: sampled_dot
            scores = decoder.score_corruptions_of(x[h], r, x[t], x, cand,
                                                  corrupt_head)
        else:
            nh = torch.where(corrupt_head, cand, h.view(-1, 1))
            nt = torch.where(corrupt_head, t.view(-1, 1), cand)
            scores = decoder(x[nh], r.view(-1, 1).expand(-1, 6), x[nt])
        (scores * rand(5, 6, seed=5)).sum().backward()
        return scores.detach(), x.grad, decoder.relation_emb.grad

    slow = grads('each')
    for mode in ('gathered', 'table'):
        for got, want in zip(grads(mode), slow):
            assert torch.allclose(got, want, rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match='corrupt_head must have the shape'):
        DistMult(4,
                 3).score_corruptions_of(torch.randn(2,
                                                     4), torch.tensor([0, 1]),
                                         torch.randn(2, 4), torch.randn(5, 4),
                                         torch.zeros(2, 3, dtype=torch.long),
                                         torch.zeros(2, 2, dtype=torch.bool))


def test_embedding_scorer_checks_supplied_relation_ids():
    scorer = EmbeddingScorer(DistMult(4), torch.randn(5, 4), torch.randn(3, 4))
    one = torch.tensor([0])
    assert scorer.score_tails(one, torch.tensor([2])).shape == (1, 5)
    for bad in (3, -1):
        with pytest.raises(IndexError,
                           match=r'Relation ids must lie in \[0, 3\)'):
            scorer.score_tails(one, torch.tensor([bad]))
