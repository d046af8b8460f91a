r"""The INN decoder: every mode against a plain formula, all-candidate and
corruption scoring against one triple at a time, exact symmetry, inverse
relations through the same flow, the stochastic density, bad arguments, and
a short training run."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyg_kgc.evaluation import ReciprocalScorer
from pyg_kgc.nn.kge import (
    EmbeddingScorer,
    INNDecoder,
    l2_regularizer,
    n3_regularizer,
)
from pyg_kgc.nn.models import ShallowKGE
from pyg_kgc.training import cross_entropy_loss

D = 4  # entity width
C = 3  # context width
R = 3  # relations
N = 7  # entities

VARIANTS = {
    'directional-L2':
    dict(mode='directional'),
    'directional-L1-hyper-lu':
    dict(mode='directional', p=1, conditioner='hyper', linear='relation',
         split='random'),
    'inverse-map-L2':
    dict(mode='directional', inverse_map=True),
    'inverse-map-L1-hyper-lu':
    dict(mode='directional', p=1, inverse_map=True, conditioner='hyper',
         linear='relation'),
    'symmetric-L2':
    dict(mode='symmetric', linear='shared'),
    'symmetric-L1-additive':
    dict(mode='symmetric', p=1, coupling='additive'),
    'density':
    dict(mode='stochastic', linear='relation'),
    'density-hyper':
    dict(mode='stochastic', conditioner='hyper'),
    'best-of-k-L2':
    dict(mode='stochastic', stochastic_score='best_of_k'),
    'best-of-k-L1':
    dict(mode='stochastic', stochastic_score='best_of_k', p=1, num_samples=3,
         conditioner='hyper'),
}


def rand(*shape, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def make(name, seed=0, **kwargs):
    torch.manual_seed(seed)
    options = dict(VARIANTS[name], **kwargs)
    decoder = INNDecoder(D, R, context_dim=C, hidden=8, num_layers=2,
                         inverse_relations=True, **options).double().eval()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # a non-trivial flow (it starts as the identity)
        for p in decoder.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen).to(p))
    return decoder


# Plain formulas, one triple at a time ########################################


def norm(x, p):
    return sum(abs(v)**p for v in x.tolist())**(1 / p)


def reference(decoder, h, c, t):
    # The score of one triple (h, r, t) with context c, forward direction.
    f = decoder.flow
    if decoder.mode == 'directional':
        return -norm(f(h, c)[0] - t, decoder.p)
    if decoder.mode == 'symmetric':
        g = f.inverse
        return -(norm(f(h, c)[0] - t, decoder.p) + norm(
            g(t, c)[0] - h, decoder.p) + norm(f(t, c)[0] - h, decoder.p) +
                 norm(g(h, c)[0] - t, decoder.p)) / 4
    sigma = (decoder.min_sigma +
             math.log1p(math.exp(decoder.sigma_lin(c).item())))
    if decoder.stochastic_score == 'density':
        u, logdet = f.inverse(t, c)
        log_gauss = sum(-(u[i] - h[i]).item()**2 / (2 * sigma**2) -
                        math.log(sigma) - 0.5 * math.log(2 * math.pi)
                        for i in range(D))
        return log_gauss + logdet.item()
    gen = torch.Generator().manual_seed(decoder.sample_seed)
    z = torch.randn(decoder.num_samples, D, generator=gen, dtype=torch.float64)
    return -min(
        norm(f(h + sigma * z[j], c)[0] - t, decoder.p)
        for j in range(decoder.num_samples))


@pytest.mark.parametrize('name', VARIANTS)
def test_equals_plain_formula(name):
    decoder = make(name)
    entity = rand(N, D)
    head, relation, tail = [0, 2, 4, 1, 6], [2, 0, 1, 1, 4], [1, 1, 3, 0, 2]
    with torch.no_grad():
        scores = decoder(entity[head], torch.tensor(relation), entity[tail])
        for i in range(5):
            h, t = entity[head[i]], entity[tail[i]]
            c = decoder.relation_emb[relation[i] % R]
            if relation[i] >= R and decoder.inverse_map:  # r^-1 is f^{-1}
                expected = -norm(decoder.flow.inverse(h, c)[0] - t, decoder.p)
            else:
                if relation[i] >= R:  # (h, r^-1, t) is (t, r, h)
                    h, t = t, h
                expected = reference(decoder, h, c, t)
            assert scores[i].item() == pytest.approx(expected, rel=1e-9,
                                                     abs=1e-9)


@pytest.mark.parametrize('name', VARIANTS)
@pytest.mark.parametrize('owned', [True, False])
@pytest.mark.parametrize('max_elements', [200, 8])
def test_all_candidates_equal_one_by_one(name, owned, max_elements):
    decoder = make(name)
    # Forces chunks of queries and relations (8: one query at a time).
    decoder.max_elements = max_elements
    entity = rand(N, D, seed=1)
    relations = None if owned else decoder.with_inverses(
        decoder.relation_emb.detach().clone())
    scorer = EmbeddingScorer(decoder, entity, relations)
    # forward and inverse relations, repeated and mixed
    h = torch.tensor([0, 5, 6, 2, 3, 3])
    r = torch.tensor([2, 0, 2, 4, 5, 1])
    t = torch.tensor([2, 2, 1, 0, 6, 4])
    with torch.no_grad():
        tails, heads = scorer.score_tails(h, r), scorer.score_heads(r, t)
        for c in range(N):
            c_ = torch.full((6, ), c)
            assert torch.allclose(tails[:, c], scorer.score_triples(h, r, c_),
                                  rtol=1e-10, atol=1e-10)
            assert torch.allclose(heads[:, c], scorer.score_triples(c_, r, t),
                                  rtol=1e-10, atol=1e-10)
        subset = torch.tensor([6, 0, 4])
        assert torch.allclose(scorer.score_tails(h, r, subset), tails[:,
                                                                      subset])
        assert torch.allclose(scorer.score_heads(r, t, subset), heads[:,
                                                                      subset])
        # all forward or all inverse
        assert torch.allclose(scorer.score_tails(h[:2], r[:2]), tails[:2])
        assert torch.allclose(scorer.score_tails(h[3:5], r[3:5]), tails[3:5])


@pytest.mark.parametrize('name', VARIANTS)
def test_corruptions_equal_one_by_one(name):
    decoder = make(name)
    entity = rand(N, D, seed=2)
    gen = torch.Generator().manual_seed(3)
    h, r, t = (torch.tensor([0, 1, 2, 3]), torch.tensor([0, 4, 2, 3]),
               torch.tensor([4, 5, 6, 0]))
    negatives = torch.randint(N, (4, 5), generator=gen)
    corrupt_head = torch.rand(4, 5, generator=gen) < 0.5
    scorer = EmbeddingScorer(decoder, entity)
    with torch.no_grad():
        scores = scorer.score_corruptions(h, r, t, negatives, corrupt_head)
        for i in range(4):
            for j in range(5):
                c = negatives[i, j].view(1)
                if corrupt_head[i, j]:
                    expected = scorer.score_triples(c, r[i:i + 1], t[i:i + 1])
                else:
                    expected = scorer.score_triples(h[i:i + 1], r[i:i + 1], c)
                assert scores[i, j].item() == pytest.approx(
                    expected.item(), rel=1e-10, abs=1e-10)


def test_broadcast_negatives_equal_corruptions():
    # model(a[:, None], r[:, None], negatives) as the examples write it
    decoder = make('directional-L2')
    entity = rand(N, D, seed=4)
    relation = decoder.relation(torch.tensor([0, 3, 1]))
    negatives = entity[torch.tensor([[1, 2], [3, 4], [5, 6]])]
    with torch.no_grad():
        scores = decoder(entity[:3, None], relation[:, None], negatives)
        expected = decoder.corruptions(entity[:3], relation, entity[:3],
                                       negatives,
                                       torch.zeros(3, 2, dtype=torch.bool))
    assert torch.allclose(scores, expected, atol=1e-12)


# Relation patterns ##########################################################


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000),
       st.sampled_from(['symmetric-L2', 'symmetric-L1-additive']))
def test_symmetric_mode_is_exactly_symmetric(seed, name):
    decoder = make(name, seed=seed % 7)
    h, t = rand(2, 5, D, seed=seed)
    context = rand(5, C, seed=seed + 1)
    with torch.no_grad():
        forward, backward = decoder(h, context, t), decoder(t, context, h)
        assert torch.equal(forward, backward)
        # all candidates: tails of h equal heads given h as the tail
        entity = rand(N, D, seed=seed + 2)
        tails = decoder.score_tails(h, context, entity)
        heads = decoder.score_heads(entity, context, h)
    assert torch.allclose(tails, heads, rtol=0, atol=1e-12)


def test_symmetric_mode_uses_the_inverse():
    # At t = f(h) the forward half vanishes, and what is left is the fit of
    # (t, r, h): f(t) ~ h and f^{-1}(h) ~ t; 0 only for a 2-cycle of f.
    decoder = make('symmetric-L2')
    h = rand(5, D, seed=17)
    context = rand(5, C, seed=18)
    with torch.no_grad():
        t = decoder.flow(h, context)[0]
        scores = decoder(h, context, t)
        backward = (decoder.flow(t, context)[0] - h).norm(
            dim=-1) + (decoder.flow.inverse(h, context)[0] - t).norm(dim=-1)
    assert torch.allclose(scores, -backward / 4, rtol=1e-9, atol=1e-9)
    assert (scores < -1e-3).all()
    # an identity flow (as initialised) makes every (h, r, h) a 2-cycle
    fresh = INNDecoder(D, R, context_dim=C).double()
    with torch.no_grad():
        loops = fresh(h, torch.tensor([0, 1, 2, 0, 1]), h)
    assert torch.allclose(loops, torch.zeros(5, dtype=torch.float64),
                          atol=1e-12)
    assert (fresh(h, torch.tensor([0, 1, 2, 0, 1]), t) < 0).all()


def test_directional_mode_is_not_symmetric():
    decoder = make('directional-L2')
    h, t = rand(2, 5, D, seed=5)
    context = rand(5, C, seed=6)
    with torch.no_grad():
        assert not torch.allclose(decoder(h, context, t), decoder(
            t, context, h), atol=1e-3)


@pytest.mark.parametrize(
    'name', [name for name in VARIANTS if 'inverse-map' not in name])
def test_inverse_relations_reuse_the_flow_exactly(name):
    decoder = make(name)
    h, t = rand(2, 6, D, seed=7)
    r = torch.tensor([0, 1, 2, 0, 1, 2])
    with torch.no_grad():
        forward = decoder(h, r, t)
        assert torch.equal(decoder(t, r + R, h), forward)  # owned ids
        context = decoder.relation_emb[r]  # encoder representations
        assert torch.equal(decoder(h, context, t), forward)
        inverse = decoder.invert(decoder.relation(context))
        assert torch.equal(decoder(t, inverse, h), forward)
        assert torch.equal(
            decoder.with_inverses(decoder.relation_emb)[r + R], inverse)
        # reciprocal tail queries are the head queries of r
        entity = rand(N, D, seed=8)
        assert torch.equal(decoder.score_tails(t, r + R, entity),
                           decoder.score_heads(entity, r, t))
        assert torch.equal(decoder.score_heads(entity, r + R, h),
                           decoder.score_tails(h, r, entity))
    assert sum(p.numel() for p in [decoder.relation_emb]) == R * C
    model = ShallowKGE(N, decoder).double().eval()
    reciprocal = ReciprocalScorer(model, R)
    with torch.no_grad():
        assert torch.equal(reciprocal.score_heads(r, torch.arange(6)),
                           model.score_heads(r, torch.arange(6)))


@pytest.mark.parametrize('name', ['inverse-map-L2', 'inverse-map-L1-hyper-lu'])
def test_inverse_map(name):
    # r^-1 maps with f^{-1}: forward relations score as without the option,
    # inverse ones by their own formula, and h = f(t) fits both (t, r, h)
    # and (h, r^-1, t) exactly.
    decoder = make(name)
    plain = INNDecoder(D, R, context_dim=C, hidden=8, num_layers=2,
                       inverse_relations=True,
                       **dict(VARIANTS[name], inverse_map=False)).double()
    plain.load_state_dict(decoder.state_dict())
    plain.eval()
    h, t = rand(2, 6, D, seed=9)
    r = torch.tensor([0, 1, 2, 0, 1, 2])
    context = decoder.relation_emb[r]
    with torch.no_grad():
        assert torch.equal(decoder(h, r, t), plain(h, r, t))
        inverse = decoder(h, r + R, t)
        image = decoder.flow.inverse(h, context)[0]
        assert torch.allclose(inverse, -lp(image - t, decoder.p), rtol=1e-12)
        assert not torch.allclose(inverse, plain(h, r + R, t), atol=1e-3)
        # encoder representations: the same scores as owned ids
        rep = decoder.invert(decoder.relation(context))
        assert torch.equal(decoder(h, rep, t), inverse)
        # an exact fit in both directions
        fit = decoder.flow(t, context)[0]  # fit = f(t)
        assert torch.allclose(decoder(t, r, fit),
                              torch.zeros(6).double(), atol=1e-9)
        assert torch.allclose(decoder(fit, r + R, t),
                              torch.zeros(6).double(), atol=1e-9)
        # reciprocal head queries: one inverse pass per query, then distances
        entity = rand(N, D, seed=10)
        tails = decoder.score_tails(t, r + R, entity)
        expected = -torch.cdist(
            decoder.flow.inverse(t, context)[0], entity, p=decoder.p)
        assert torch.allclose(tails, expected, rtol=1e-10, atol=1e-10)
    model = ShallowKGE(N, decoder).double().eval()
    reciprocal = ReciprocalScorer(model, R)
    with torch.no_grad():
        assert torch.equal(reciprocal.score_heads(r, torch.arange(6)),
                           model.score_tails(torch.arange(6), r + R))
    assert 'inverse_map=True' in repr(decoder)
    assert 'inverse_map' not in repr(plain)


def lp(x, p):
    return x.abs().pow(p).sum(-1).pow(1 / p)


def test_inverse_map_needs_the_directional_mode():
    for mode in ('symmetric', 'stochastic'):
        with pytest.raises(
                ValueError, match='inverse_map=True needs the '
                'directional mode'):
            INNDecoder(D, R, mode=mode, inverse_map=True)


# The stochastic mode #########################################################


def test_density_of_volume_preserving_flow_is_gaussian():
    decoder = make('density', coupling='additive', linear='none',
                   elementwise=False)
    h, t = rand(2, 5, D, seed=9)
    r = torch.tensor([0, 1, 2, 1, 0])
    with torch.no_grad():
        scores = decoder(h, r, t)
        context = decoder.relation_emb[r]
        u, logdet = decoder.flow.inverse(t, context)
        sigma = decoder.sigma(context)
        gauss = torch.distributions.Normal(h, sigma[:, None].expand(5, D))
        expected = gauss.log_prob(u).sum(dim=-1)
    assert torch.equal(logdet, torch.zeros(5, dtype=torch.float64))
    assert torch.allclose(scores, expected, rtol=0, atol=1e-12)


def test_density_integrates_to_one():
    torch.manual_seed(0)
    decoder = INNDecoder(2, 1, mode='stochastic', hidden=8,
                         init_sigma=0.4).double().eval()
    with torch.no_grad():
        for p in decoder.flow.parameters():
            p.add_(0.3 * torch.randn_like(p))
    step = 0.04
    axis = torch.arange(-8, 8, step, dtype=torch.float64)
    grid = torch.cartesian_prod(axis, axis)
    head = torch.tensor([[0.3, -0.2]], dtype=torch.float64)
    with torch.no_grad():
        log_density = decoder.score_tails(head, torch.tensor([0]), grid)
    assert log_density.exp().sum().item() * step**2 == pytest.approx(
        1.0, abs=1e-3)


def test_density_ranks_heads_by_distance_to_one_point():
    # For a fixed (r, t) the density score of a candidate head h is
    # -||f_r^{-1}(t) - h||^2 / (2 sigma_r^2) plus terms that do not depend on
    # h: a head query is ranked by the distance to the single point
    # f_r^{-1}(t), as with the deterministic inverse map, so the noise cannot
    # spread the answers of an N-1 head query over several modes. The tail
    # side carries log|det J| of each candidate and is not a distance.
    decoder = make('density')
    candidates = rand(N, D, seed=12)
    tail = rand(4, D, seed=13)
    head = rand(4, D, seed=14)
    r = torch.tensor([0, 1, 2, 1])
    with torch.no_grad():
        scores = decoder.score_heads(candidates, r, tail)
        context = decoder.relation_emb[r]
        u, logdet = decoder.flow.inverse(tail, context)
        sigma = decoder.sigma(context)
        dist = torch.cdist(u, candidates)**2
        offset = scores + dist / (2 * sigma[:, None]**2)
        tails = decoder.score_tails(head, r, candidates)
        image = decoder.flow(head, context)[0]
    assert torch.allclose(offset, offset[:, :1].expand_as(offset), rtol=0,
                          atol=1e-10)
    assert torch.equal(scores.argsort(dim=1), (-dist).argsort(dim=1))
    assert not logdet.eq(0).all()
    # The tail side is not the deterministic ranking by the distance to
    # f_r(h): distances are taken in head space at f_r^{-1}(candidate), plus
    # each candidate's log|det J|.
    by_distance = (-torch.cdist(image, candidates)).argsort(dim=1)
    assert not torch.equal(tails.argsort(dim=1), by_distance)


def test_sampled_tails_are_denser_than_far_points():
    decoder = make('density', min_sigma=1e-3, init_sigma=0.05)
    h = rand(16, D, seed=10)
    r = torch.arange(16) % R
    with torch.no_grad():
        context = decoder.relation_emb[r]
        sigma = decoder.sigma(context)
        z = rand(16, D, seed=11)
        sampled = decoder.flow(h + sigma[:, None] * z, context)[0]
        near = decoder(h, r, sampled)
        far = decoder(h, r, sampled + 3.0)
    assert (near > far).all()
    assert near.mean() > far.mean() + 100


def test_best_of_k_is_reproducible():
    decoder = make('best-of-k-L2')
    h, t = rand(2, 5, D, seed=12)
    r = torch.tensor([0, 1, 2, 3, 4])
    with torch.no_grad():
        first = decoder(h, r, t)
        assert torch.equal(decoder(h, r, t), first)  # evaluation: seeded
        other = make('best-of-k-L2', sample_seed=1)
        assert not torch.allclose(other(h, r, t), first)
        decoder.train()  # training: fresh noise every call
        assert not torch.allclose(decoder(h, r, t), decoder(h, r, t))
        decoder.eval()
        decoder.sample_seed = None
        assert not torch.allclose(decoder(h, r, t), decoder(h, r, t))


def test_best_of_k_with_tiny_noise_is_directional():
    stochastic = make('best-of-k-L2', min_sigma=1e-9, init_sigma=2e-9)
    directional = make('best-of-k-L2', mode='directional')
    directional.load_state_dict({
        k: v
        for k, v in stochastic.state_dict().items()
        if not k.startswith('sigma_lin')
    })
    h, t = rand(2, 5, D, seed=13)
    r = torch.tensor([0, 1, 2, 0, 1])
    with torch.no_grad():
        assert torch.allclose(stochastic(h, r, t), directional(h, r, t),
                              atol=1e-7)


# Interface ##################################################################


def test_factors_and_regularisers():
    decoder = make('directional-L2')
    h, t = rand(2, 5, D, seed=14)
    r = torch.tensor([0, 4, 2, 3, 1])
    factors = decoder.factors(h, r, t)
    assert [tuple(f.shape) for f in factors] == [(5, D), (5, C), (5, D)]
    assert torch.equal(factors[1], decoder.relation_emb[r % R])
    n3 = sum(f.abs().pow(3).sum() for f in factors) / 5
    assert torch.allclose(n3_regularizer(factors), n3)
    assert l2_regularizer(factors) > 0


def test_gradients_reach_contexts_and_flow():
    decoder = make('symmetric-L2').train()
    entity = rand(N, D, seed=15).requires_grad_()
    scores = decoder.score_tails(entity[:4], torch.tensor([0, 1, 4, 0]),
                                 entity)
    scores.logsumexp(dim=1).sum().backward()
    assert decoder.relation_emb.grad[:2].abs().sum() > 0
    assert entity.grad.abs().sum() > 0
    assert all(
        torch.isfinite(p.grad).all() for p in decoder.parameters()
        if p.grad is not None)


def test_float32():
    decoder = INNDecoder(D, R, mode='stochastic',
                         stochastic_score='best_of_k').eval()
    entity = torch.randn(N, D)
    scores = decoder.score_tails(entity[:3], torch.tensor([0, 1, 2]), entity)
    assert scores.dtype == torch.float32 and scores.shape == (3, N)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA device')
def test_cuda():
    decoder = make('best-of-k-L2').cuda()
    entity = rand(N, D, seed=16).cuda()
    r = torch.tensor([0, 4, 2], device='cuda')
    tails = decoder.score_tails(entity[:3], r, entity)
    assert tails.is_cuda
    cpu = decoder.cpu().score_tails(entity[:3].cpu(), r.cpu(), entity.cpu())
    assert torch.allclose(tails.cpu(), cpu, atol=1e-10)


def test_bad_input():
    decoder = INNDecoder(D, R, context_dim=C, inverse_relations=True)
    good = torch.randn(2, D)
    with pytest.raises(ValueError, match='entity representations of width'):
        decoder(torch.randn(2, D + 1), torch.tensor([0, 1]), good)
    with pytest.raises(ValueError, match=r'width 3 \(a context\) or 4'):
        decoder(good, torch.randn(2, C + 2), good)
    with pytest.raises(IndexError, match=r'Relation ids must lie in \[0, 6\)'):
        decoder(good, torch.tensor([0, 6]), good)
    with pytest.raises(IndexError, match=r'\[0, 3\)'):
        INNDecoder(D, R)(good, torch.tensor([-1, 3]), good)
    with pytest.raises(ValueError, match='owns no relation embeddings'):
        INNDecoder(D)(good, torch.tensor([0, 1]), good)
    with pytest.raises(ValueError, match="Unknown mode 'mirror'"):
        INNDecoder(D, mode='mirror')
    with pytest.raises(ValueError, match="Unknown stochastic_score 'mean'"):
        INNDecoder(D, mode='stochastic', stochastic_score='mean')
    with pytest.raises(ValueError, match='L1 and L2 norms'):
        INNDecoder(D, p=3)
    with pytest.raises(ValueError, match='inverse_relations=True'):
        INNDecoder(D, inverse_relations=True)
    with pytest.raises(ValueError, match='min_sigma < init_sigma'):
        INNDecoder(D, mode='stochastic', init_sigma=0.0)
    with pytest.raises(ValueError, match='stochastic mode only'):
        decoder.sigma(torch.randn(2, C))
    with pytest.raises(ValueError, match='needs dim >= 2'):
        INNDecoder(1)


def test_repr():
    assert repr(INNDecoder(D, R, num_layers=1)).startswith(
        "INNDecoder(4, num_relations=3, context_dim=4, mode='directional', "
        "p=2, inverse_relations=False, flow=RelationFlow(4, ")
    assert "stochastic_score='best_of_k', num_samples=8" in repr(
        INNDecoder(D, mode='stochastic', stochastic_score='best_of_k'))


# Training ###################################################################


def test_training_beats_random_ranking():
    # Three relations that are permutations of 20 entities (one true tail
    # per query); reciprocal training on tail queries only.
    torch.manual_seed(0)
    num_nodes = 20
    gen = torch.Generator().manual_seed(0)
    perms = [torch.randperm(num_nodes, generator=gen) for _ in range(3)]
    head = torch.arange(num_nodes).repeat(3)
    relation = torch.arange(3).repeat_interleave(num_nodes)
    tail = torch.cat(perms)
    model = ShallowKGE(
        num_nodes,
        INNDecoder(8, 3, inverse_relations=True, num_layers=2, hidden=16))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    h = torch.cat([head, tail])
    r = torch.cat([relation, relation + 3])
    t = torch.cat([tail, head])

    def mrr():
        with torch.no_grad():
            scores = model.score_tails(h, r)
        rank = (scores > scores.gather(1, t.view(-1, 1))).sum(1) + 1
        return (1 / rank.double()).mean().item()

    random_mrr = sum(1 / k for k in range(1, num_nodes + 1)) / num_nodes
    model.train()
    for _ in range(150):
        loss = cross_entropy_loss(model.score_tails(h, r), t)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    assert mrr() > max(0.8, 3 * random_mrr)
