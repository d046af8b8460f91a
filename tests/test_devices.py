r"""Every layer, decoder, sparse kernel and the evaluation on every device
at hand, in float32, against the same computation in float64 on the CPU:
outputs and gradients. On a machine without a GPU the float32 CPU run is
what is compared (so the cases themselves are checked everywhere); with
CUDA, the same cases check the CUDA paths (``pytest tests/test_devices.py``
on a GPU machine)."""
from typing import Callable, List

import pytest
import torch

from pyg_kgc.evaluation import KnownTriples, RankingEvaluator
from pyg_kgc.nn.conv import (
    InGramEntityConv,
    InGramRelationConv,
    ReFactorConv,
    RGCNConv,
)
from pyg_kgc.nn.kge import (
    Bilinear,
    ComplEx,
    DistMult,
    INNDecoder,
    RotatE,
    TransE,
    TransR,
)
from pyg_kgc.nn.kge.bilinear import dropout_bilinear_queries
from pyg_kgc.nn.models import InGram, ShallowKGE
from pyg_kgc.training import NegativeSampler
from pyg_kgc.transforms import relation_graph
from pyg_kgc.utils import (
    SparseMatrix,
    dropout_positions,
    geometric_dropout,
    sampled_dot,
)
from pyg_kgc.utils.sparse import head_products

DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
N, R, E, D = 12, 3, 40, 8


def kg(seed: int = 0, num_edges: int = E):
    gen = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(N, (2, num_edges), generator=gen)
    edge_type = torch.randint(R, (num_edges, ), generator=gen)
    return edge_index, edge_type


def normal(gen: torch.Generator, *shape: int, device: str,
           dtype: torch.dtype) -> torch.Tensor:
    # Drawn in float64 and cast, so that both precisions see one input.
    return torch.randn(*shape, generator=gen,
                       dtype=torch.float64).to(device, dtype)


def seeded_module(build: Callable[[], torch.nn.Module], device: str,
                  dtype: torch.dtype) -> torch.nn.Module:
    torch.manual_seed(0)
    module = build()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # every parameter non-trivial (no zero biases)
        for p in module.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=gen))
    return module.to(device, dtype)


def outputs_and_gradients(module: torch.nn.Module, outputs: List[torch.Tensor],
                          inputs: List[torch.Tensor]) -> List[torch.Tensor]:
    r"""The outputs, then the gradients of a fixed random projection of
    them in the parameters and the differentiable inputs, all on the CPU in
    float64."""
    total = 0
    for i, out in enumerate(outputs):
        gen = torch.Generator().manual_seed(100 + i)
        weight = torch.randn(out.shape, generator=gen, dtype=torch.float64)
        total = total + (out * weight.to(out.device, out.dtype)).sum()
    params = [p for p in module.parameters() if p.requires_grad] + inputs
    grads = torch.autograd.grad(total, params, allow_unused=True)
    return [t.detach().double().cpu() for t in outputs] + [
        torch.zeros(p.shape, dtype=torch.float64)
        if g is None else g.double().cpu() for p, g in zip(params, grads)
    ]


def assert_same(case: Callable[[str, torch.dtype], List[torch.Tensor]],
                device: str, atol: float = 1e-4, rtol: float = 1e-4) -> None:
    reference = case('cpu', torch.float64)
    got = case(device, torch.float32)
    assert len(got) == len(reference)
    for i, (a, b) in enumerate(zip(got, reference)):
        assert a.shape == b.shape, i
        # float32 rounding grows with the magnitudes summed: the absolute
        # tolerance scales with the tensor's largest entry.
        scale = max(1.0, float(b.abs().max())) if b.numel() else 1.0
        torch.testing.assert_close(a, b, atol=atol * scale, rtol=rtol,
                                   msg=lambda m: f"tensor {i}: {m}")


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('decomposition', [{}, {
    'num_bases': 2
}, {
    'num_blocks': 2
}])
@pytest.mark.parametrize('normalization', ['relation', 'in_degree', 'none'])
def test_rgcn_conv(device, decomposition, normalization):
    edge_index, edge_type = kg(1)

    def case(dev, dtype):
        conv = seeded_module(
            lambda: RGCNConv(D, 6, R, normalization=normalization, **
                             decomposition), dev, dtype)
        x = normal(torch.Generator().manual_seed(2), N, D, device=dev,
                   dtype=dtype).requires_grad_()
        out = conv(x, edge_index.to(dev), edge_type.to(dev))
        return outputs_and_gradients(conv, [out], [x])

    assert_same(case, device)


@pytest.mark.parametrize('device', DEVICES)
def test_rgcn_conv_featureless(device):
    edge_index, edge_type = kg(2)

    def case(dev, dtype):
        conv = seeded_module(lambda: RGCNConv(N, 6, R, num_bases=2), dev,
                             dtype)
        out = conv(None, edge_index.to(dev), edge_type.to(dev))
        return outputs_and_gradients(conv, [out], [])

    assert_same(case, device)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('compiled', [False, True])
def test_ingram_layers_and_model(device, compiled):
    edge_index, edge_type = kg(3)

    def case(dev, dtype):
        gen = torch.Generator().manual_seed(4)
        rel_conv = seeded_module(
            lambda: InGramRelationConv(4, 8, 3, heads=2, compiled=compiled),
            dev, dtype)
        ent_conv = seeded_module(
            lambda: InGramEntityConv(5, 8, relation_channels=4, heads=2,
                                     compiled=compiled), dev, dtype)
        z = normal(gen, R, 4, device=dev, dtype=dtype)
        x = normal(gen, N, 5, device=dev, dtype=dtype)
        z.requires_grad_()
        x.requires_grad_()
        rel_index = torch.tensor([[0, 1, 2, 0, 2], [0, 0, 1, 2, 2]])
        rel_bin = torch.tensor([0, 2, 1, 1, 0])
        z_out = rel_conv(z, rel_index.to(dev), rel_bin.to(dev))
        x_out = ent_conv(x, edge_index.to(dev), edge_type.to(dev), z)
        layers = outputs_and_gradients(
            torch.nn.ModuleList([rel_conv, ent_conv]), [z_out, x_out], [x, z])
        model = seeded_module(
            lambda: InGram(8, 8, 2, 2, num_bins=4, heads=2, compiled=compiled),
            dev, dtype)
        # Input features drawn in float64 (the model draws them in its own
        # type, which would differ between the two runs).
        g = torch.Generator().manual_seed(5)
        h_out, z_out = model.encode(
            edge_index.to(dev), edge_type.to(dev), N, R,
            x=normal(g, N, 8, device=dev, dtype=dtype),
            relation_x=normal(g, 2 * R, 8, device=dev, dtype=dtype))
        scorer = model.scorer_from(h_out, z_out)
        head = torch.tensor([0, 3, 7], device=dev)
        relation = torch.tensor([2, 0, 1], device=dev)
        scores = scorer.score_tails(head, relation)
        return layers + outputs_and_gradients(model, [scores], [])

    assert_same(case, device)


@pytest.mark.parametrize('device', DEVICES)
def test_relation_graph(device):
    edge_index, edge_type = kg(6)
    ref = relation_graph(edge_index, edge_type, N, R, num_bins=4)
    got = relation_graph(edge_index.to(device), edge_type.to(device), N, R,
                         num_bins=4)
    assert all(t.device.type == device for t in got)
    assert torch.equal(got[0].cpu(), ref[0])
    torch.testing.assert_close(got[1].cpu(), ref[1])
    assert torch.equal(got[2].cpu(), ref[2])


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('optimizer,use_global,n3,batch_size',
                         [('sgd', True, 0.0, None),
                          ('adagrad', True, 0.1, None),
                          ('adagrad', False, 0.0, None),
                          ('sgd', True, 0.0, 16)])
def test_refactor_conv(device, optimizer, use_global, n3, batch_size):
    edge_index, edge_type = kg(7)

    def case(dev, dtype):
        conv = ReFactorConv(0.3, use_global=use_global, chunk_size=5,
                            optimizer=optimizer, n3=n3,
                            batch_size=batch_size).to(dev)
        gen = torch.Generator().manual_seed(8)
        x = normal(gen, N, D, device=dev, dtype=dtype)
        relation = normal(gen, R, D, device=dev, dtype=dtype)
        x.requires_grad_()
        relation.requires_grad_()
        if optimizer == 'adagrad':
            acc = torch.rand(N, D, generator=gen,
                             dtype=torch.float64).to(dev, dtype)
            out, new_acc = conv(x, edge_index.to(dev), edge_type.to(dev),
                                relation, acc)
            outs = [out, new_acc]
        else:
            outs = [conv(x, edge_index.to(dev), edge_type.to(dev), relation)]
        return outputs_and_gradients(conv, outs, [x, relation])

    assert_same(case, device)


DECODERS = {
    'TransE': lambda: TransE(D, R, p=1),
    'TransE-L2': lambda: TransE(D, R, p=2),
    'TransR': lambda: TransR(D, 6, R),
    'DistMult': lambda: DistMult(D, R),
    'ComplEx': lambda: ComplEx(D, R),
    'RotatE': lambda: RotatE(D // 2, R),
    # compiled kernels on the CPU; ignored (the eager path) elsewhere
    'RotatE-compiled': lambda: RotatE(D // 2, R, compiled=True),
    'RESCAL': lambda: Bilinear(D, R),
    'Bilinear-diagonal': lambda: Bilinear(D, R, mode='diagonal'),
    'Bilinear-basis': lambda: Bilinear(D, R, mode='basis', num_bases=2),
    'INN': lambda: INNDecoder(D, R),
}


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('name', list(DECODERS))
def test_shallow_models(device, name):
    edge_index, edge_type = kg(10, num_edges=6)
    head, tail = edge_index
    gen = torch.Generator().manual_seed(11)
    entity = torch.randint(N, (6, 4), generator=gen)
    corrupt_head = torch.rand(6, 4, generator=gen) < 0.5

    def case(dev, dtype):
        model = seeded_module(lambda: ShallowKGE(N, DECODERS[name]()), dev,
                              dtype)
        h, r, t = head.to(dev), edge_type.to(dev), tail.to(dev)
        outs = [
            model(h, r, t),
            model.score_corruptions(h, r, t, entity.to(dev),
                                    corrupt_head.to(dev)),
            model.score_tails(h, r),
            model.score_heads(r, t),
        ]
        return outputs_and_gradients(model, outs, [])

    assert_same(case, device)


@pytest.mark.parametrize('device', DEVICES)
def test_sparse_kernels(device):
    gen = torch.Generator().manual_seed(12)
    row = torch.randint(5, (30, ), generator=gen)
    col = torch.randint(7, (30, ), generator=gen)
    value = torch.rand(30, generator=gen, dtype=torch.float64)

    def case(dev, dtype):
        g = torch.Generator().manual_seed(13)
        x = normal(g, 5, 4, device=dev, dtype=dtype)
        y = normal(g, 7, 4, device=dev, dtype=dtype)
        w = normal(g, 30, 2, device=dev, dtype=dtype)
        table = normal(g, 7, 2, 3, device=dev, dtype=dtype)
        inputs = [t.requires_grad_() for t in (x, y, w, table)]
        matrix = SparseMatrix(row.to(dev), col.to(dev), value.to(dev), (5, 7))
        outs = [
            sampled_dot(x, y, row.to(dev), col.to(dev)),
            matrix @ y,
            head_products(w, table, row.to(dev), col.to(dev), 5),
        ]
        return outputs_and_gradients(torch.nn.Module(), outs, inputs)

    assert_same(case, device)


@pytest.mark.parametrize('device', DEVICES)
def test_evaluation_and_sampling(device):
    edge_index, edge_type = kg(14)
    known = KnownTriples(edge_index, edge_type, N, R)
    torch.manual_seed(0)
    model = ShallowKGE(N, DistMult(D, R))
    ref = RankingEvaluator(known).evaluate(model, edge_index, edge_type)
    got = RankingEvaluator(known.to(device)).evaluate(model.to(device),
                                                      edge_index.to(device),
                                                      edge_type.to(device))
    for side in ('head', 'tail'):
        assert torch.equal(got.ranks(side).cpu(), ref.ranks(side))
    # Means of equal ranks, up to the device's summation order.
    for side, metrics in ref.metrics().items():
        assert got.metrics()[side] == pytest.approx(metrics, rel=1e-12)
    # The index built from triples already on the device ranks the same.
    on_device = KnownTriples(edge_index.to(device), edge_type.to(device), N,
                             R)
    direct = RankingEvaluator(on_device).evaluate(model, edge_index.to(device),
                                                  edge_type.to(device))
    for side in ('head', 'tail'):
        assert torch.equal(direct.ranks(side).cpu(), ref.ranks(side))
    # Filtered corruptions drawn on the device are in range and not known.
    sampler = NegativeSampler(N, 5, known=known.to(device))
    head, tail = edge_index.to(device)
    entity, corrupt_head = sampler.sample(head, edge_type.to(device), tail)
    assert entity.device.type == device and entity.shape == (E, 5)
    assert int(entity.min()) >= 0 and int(entity.max()) < N


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('transpose', [False, True])
@pytest.mark.parametrize('compiled', [False, True])
def test_dropout_kernels(device, transpose, compiled):
    # The random streams differ from device to device, so each device is
    # checked against the masks drawn from its own generator's state:
    # geometric_dropout and dropout_bilinear_queries against the explicit
    # masked computation, values and gradients (float64 and float32).
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        gen = torch.Generator().manual_seed(21)
        x = normal(gen, 10, 4, device=device, dtype=dtype).requires_grad_()
        weight = normal(gen, R, 16, device=device,
                        dtype=dtype).requires_grad_()
        relation = torch.randint(R, (10, ), generator=gen).to(device)
        stream = torch.Generator(device=device).manual_seed(22)
        state = stream.get_state()
        out = dropout_bilinear_queries(x, weight, relation, 0.3, transpose,
                                       generator=stream, compiled=compiled)
        stream.set_state(state)
        mask = torch.ones(10 * 16, dtype=dtype, device=device)
        mask[dropout_positions(10 * 16, 0.3, stream, device)] = 0
        matrices = weight[relation].view(10, 4, 4) * mask.view(10, 4, 4)
        if transpose:
            matrices = matrices.transpose(1, 2)
        ref = torch.einsum('bi,bij->bj', x, matrices) / 0.7
        assert out.device.type == device
        torch.testing.assert_close(out, ref, rtol=tol, atol=tol)
        grad = normal(gen, 10, 4, device=device, dtype=dtype)
        got = torch.autograd.grad((out * grad).sum(), (x, weight))
        want = torch.autograd.grad((ref * grad).sum(), (x, weight))
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b, rtol=tol, atol=tol)

        y = normal(gen, 50, 6, device=device, dtype=dtype)
        state = stream.get_state()
        dropped = geometric_dropout(y, 0.25, generator=stream)
        stream.set_state(state)
        keep = torch.ones(300, dtype=dtype, device=device)
        keep[dropout_positions(300, 0.25, stream, device)] = 0
        torch.testing.assert_close(dropped,
                                   y * keep.view(50, 6) / 0.75, rtol=tol,
                                   atol=tol)
