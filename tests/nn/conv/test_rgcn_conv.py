r"""RGCNConv against PyG's RGCNConv and FastRGCNConv with the same weights,
and against a per-edge loop for what PyG does not have."""
import pytest
import torch
from torch_geometric.nn import FastRGCNConv
from torch_geometric.nn import RGCNConv as PyGRGCNConv
from torch_geometric.typing import WITH_TORCH_SPARSE, SparseTensor
from torch_geometric.utils import dropout_edge

from pyg_kgc.nn.conv import RGCNConv

N, R, E, C_IN, C_OUT = 13, 5, 70, 8, 6


def graph(seed=0, n=N):
    gen = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(n, (2, E), generator=gen)
    edge_type = torch.randint(R, (E, ), generator=gen)
    x = torch.randn(n, C_IN, generator=gen, dtype=torch.float64)
    return x, edge_index, edge_type


def loop_reference(conv, x, edge_index, edge_type, normalization):
    r"""The R-GCN formula, one edge at a time."""
    weight = conv.relation_weights().detach()
    if conv.num_blocks is not None:
        full = torch.zeros(R, C_IN, C_OUT, dtype=weight.dtype)
        bi, bo = C_IN // conv.num_blocks, C_OUT // conv.num_blocks
        for b in range(conv.num_blocks):
            full[:, b * bi:(b + 1) * bi, b * bo:(b + 1) * bo] = weight[:, b]
        weight = full
    out = torch.zeros(x.size(0), C_OUT, dtype=x.dtype)
    edges = list(
        zip(edge_index[0].tolist(), edge_index[1].tolist(),
            edge_type.tolist()))
    for u, v, r in edges:
        if normalization == 'relation':
            c = sum(1 for _, v2, r2 in edges if v2 == v and r2 == r)
        elif normalization == 'in_degree':
            c = sum(1 for _, v2, _ in edges if v2 == v)
        else:
            c = 1
        out[v] += x[u] @ weight[r] / c
    if conv.root is not None:
        out += x @ conv.root.detach()
    if conv.bias is not None:
        out += conv.bias.detach()
    return out


def outputs_and_grads(conv, x, edge_index, edge_type):
    r"""The output, and the gradients of a weighted sum of it w.r.t. the
    input and every parameter."""
    x = x.clone().requires_grad_()
    out = conv(x, edge_index, edge_type)
    (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
    return [out, x.grad] + [p.grad for p in conv.parameters()]


DECOMPOSITIONS = [{}, {'num_bases': 3}, {'num_blocks': 2}]


@pytest.mark.parametrize('decomposition', DECOMPOSITIONS)
@pytest.mark.parametrize('normalization, aggr', [('relation', 'mean'),
                                                 ('none', 'add')])
@pytest.mark.parametrize('root_weight', [True, False])
@pytest.mark.parametrize('bias', [True, False])
def test_equals_pyg_rgcnconv(decomposition, normalization, aggr, root_weight,
                             bias):
    x, edge_index, edge_type = graph()
    ours = RGCNConv(C_IN, C_OUT, R, normalization=normalization,
                    root_weight=root_weight, bias=bias,
                    **decomposition).double()
    theirs = PyGRGCNConv(C_IN, C_OUT, R, aggr=aggr, root_weight=root_weight,
                         bias=bias, **decomposition).double()
    theirs.load_state_dict(ours.state_dict())

    for a, b in zip(outputs_and_grads(ours, x, edge_index, edge_type),
                    outputs_and_grads(theirs, x, edge_index, edge_type)):
        assert torch.allclose(a, b, atol=1e-10)
    # And the plain formula.
    assert torch.allclose(
        ours(x, edge_index, edge_type),
        loop_reference(ours, x, edge_index, edge_type, normalization))


@pytest.mark.parametrize('decomposition', DECOMPOSITIONS)
def test_equals_pyg_fastrgcnconv(decomposition):
    x, edge_index, edge_type = graph(1)
    ours = RGCNConv(C_IN, C_OUT, R, **decomposition).double()
    theirs = FastRGCNConv(C_IN, C_OUT, R, aggr='mean',
                          **decomposition).double()
    theirs.load_state_dict(ours.state_dict())
    for a, b in zip(outputs_and_grads(ours, x, edge_index, edge_type),
                    outputs_and_grads(theirs, x, edge_index, edge_type)):
        assert torch.allclose(a, b, atol=1e-10)


@pytest.mark.parametrize('decomposition', DECOMPOSITIONS)
@pytest.mark.parametrize('peer', [PyGRGCNConv, FastRGCNConv])
def test_float32_equals_pyg(decomposition, peer):
    # float32 with 16-byte feature rows: the grouped matrix product path.
    gen = torch.Generator().manual_seed(11)
    edge_index = torch.randint(40, (2, 300), generator=gen)
    edge_type = torch.randint(R, (300, ), generator=gen)
    ours = RGCNConv(16, 8, R, **decomposition)
    theirs = peer(16, 8, R, aggr='mean', **decomposition)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(40, 16, generator=gen)

    for a, b in zip(outputs_and_grads(ours, x, edge_index, edge_type),
                    outputs_and_grads(theirs, x, edge_index, edge_type)):
        assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize('decomposition', [{}, {'num_bases': 3}])
@pytest.mark.parametrize('index', [False, True])
def test_featureless_equals_pyg(decomposition, index):
    _, edge_index, edge_type = graph(2)
    ours = RGCNConv(N, C_OUT, R, **decomposition).double()
    theirs = PyGRGCNConv(N, C_OUT, R, aggr='mean', **decomposition).double()
    theirs.load_state_dict(ours.state_dict())
    x = torch.arange(N) if index else None
    out = ours(x, edge_index, edge_type)
    assert torch.allclose(out, theirs(x, edge_index, edge_type), atol=1e-10)
    for conv in (ours, theirs):  # and the gradients of the weights
        out_ = conv(x, edge_index, edge_type)
        (out_ *
         torch.linspace(-1, 1, out_.numel()).view_as(out_)).sum().backward()
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-10)
    # Featureless is node features equal to the identity matrix.
    eye = torch.eye(N, dtype=torch.float64)
    assert torch.allclose(out, ours(eye, edge_index, edge_type), atol=1e-10)


@pytest.mark.parametrize('decomposition', DECOMPOSITIONS)
def test_in_degree_normalization(decomposition):
    x, edge_index, edge_type = graph(3)
    conv = RGCNConv(C_IN, C_OUT, R, normalization='in_degree',
                    **decomposition).double()
    assert torch.allclose(
        conv(x, edge_index, edge_type),
        loop_reference(conv, x, edge_index, edge_type, 'in_degree'))


def test_edge_and_self_loop_dropout():
    x, edge_index, edge_type = graph(4)
    conv = RGCNConv(C_IN, C_OUT, R, edge_dropout=0.4, self_loop_dropout=0.3,
                    bias=False).double()
    torch.manual_seed(7)
    out = conv(x, edge_index, edge_type)
    torch.manual_seed(7)  # the same draws, made here
    kept, mask = dropout_edge(edge_index, p=0.4)
    keep_root = (torch.rand(N, 1) >= 0.3).double()
    conv.eval()
    without_root = RGCNConv(C_IN, C_OUT, R, root_weight=False,
                            bias=False).double()
    without_root.load_state_dict(conv.state_dict(), strict=False)
    expected = (without_root(x, kept, edge_type[mask]) + keep_root *
                (x @ conv.root.detach()))
    assert torch.allclose(out, expected)
    # Normalisation counts the kept edges: with relation normalisation, a
    # pair's messages average over what survived.
    assert torch.allclose(
        without_root(x, kept, edge_type[mask]),
        loop_reference(without_root, x, kept, edge_type[mask], 'relation'))
    assert torch.equal(conv(x, edge_index, edge_type),
                       conv(x, edge_index, edge_type))  # eval: no dropout


def test_sparse_adjacency():
    x, edge_index, edge_type = graph(5)
    conv = RGCNConv(C_IN, C_OUT, R).double()
    # A coalesced transposed adjacency merges duplicate edges: compare on a
    # graph without them.
    key = edge_index[1] * N + edge_index[0]
    _, first = torch.unique(key, return_inverse=True)
    unique = torch.zeros(int(first.max()) + 1,
                         dtype=torch.long).scatter_(0, first, torch.arange(E))
    edge_index, edge_type = edge_index[:, unique], edge_type[unique]
    expected = conv(x, edge_index, edge_type)
    adj_t = torch.sparse_coo_tensor(edge_index.flip(0), edge_type, (N, N),
                                    check_invariants=True)
    assert torch.allclose(conv(x, adj_t), expected)
    if WITH_TORCH_SPARSE:
        adj_t = SparseTensor(row=edge_index[1], col=edge_index[0],
                             value=edge_type, sparse_sizes=(N, N))
        assert torch.allclose(conv(x, adj_t), expected)


def test_cached_structure():
    x, edge_index, edge_type = graph(6)
    conv = RGCNConv(C_IN, C_OUT, R, num_bases=2, cached=True).double()
    first = conv(x, edge_index, edge_type)
    structure = conv._cache
    assert structure is not None
    assert torch.equal(conv(x, edge_index, edge_type), first)
    assert conv._cache is structure
    conv.reset_parameters()
    assert conv._cache is None


def test_bipartite():
    x, edge_index, edge_type = graph(7)
    x_dst = torch.randn(4, C_IN, dtype=torch.float64)
    edge_index = edge_index[:, edge_index[1] < 4]
    edge_type = edge_type[:edge_index.size(1)]
    ours = RGCNConv(C_IN, C_OUT, R).double()
    theirs = PyGRGCNConv(C_IN, C_OUT, R, aggr='mean').double()
    theirs.load_state_dict(ours.state_dict())
    out = ours((x, x_dst), edge_index, edge_type)
    assert out.shape == (4, C_OUT)
    assert torch.allclose(out, theirs((x, x_dst), edge_index, edge_type))


def test_reproducible_gradients():
    gen = torch.Generator().manual_seed(8)
    edge_index = torch.randint(50, (2, 20000), generator=gen)
    edge_type = torch.randint(3, (20000, ), generator=gen)
    x = torch.randn(50, 16, generator=gen).requires_grad_()
    conv = RGCNConv(16, 16, 3, num_bases=2)

    def grads():
        x.grad = None
        conv.zero_grad()
        conv(x, edge_index, edge_type).pow(2).sum().backward()
        return [x.grad.clone()] + [p.grad.clone() for p in conv.parameters()]

    first = grads()
    for _ in range(3):
        assert all(torch.equal(a, b) for a, b in zip(first, grads()))


def test_empty_graph():
    x, _, _ = graph()
    conv = RGCNConv(C_IN, C_OUT, R).double()
    out = conv(x, torch.empty(2, 0, dtype=torch.long),
               torch.empty(0, dtype=torch.long))
    assert torch.allclose(out, x @ conv.root + conv.bias)


@pytest.mark.parametrize('edge_type, message', [
    (torch.full((E, ), R), r'edge_type holds relation 5, outside \[0, 5\)'),
    (torch.full((E, ), -1), r'edge_type holds relation -1'),
    (torch.zeros(E - 1, dtype=torch.long), r'edge_type must have shape'),
])
def test_bad_edge_types(edge_type, message):
    x, edge_index, _ = graph()
    with pytest.raises(ValueError, match=message):
        RGCNConv(C_IN, C_OUT, R)(x, edge_index, edge_type)


def test_bad_inputs():
    x, edge_index, edge_type = graph()
    conv = RGCNConv(C_IN, C_OUT, R)
    with pytest.raises(ValueError, match='x has 7 features, but in_channels'):
        conv(torch.randn(N, 7), edge_index, edge_type)
    with pytest.raises(
            ValueError, match=r'refers to source node 12, but '
            r'there are 5 source nodes'):
        conv(torch.randn(5, C_IN), edge_index, edge_type)
    with pytest.raises(ValueError, match='edge_type is required'):
        conv(x, edge_index)
    with pytest.raises(ValueError, match='needs node features'):
        RGCNConv(C_IN, C_OUT, R, num_blocks=2)(None, edge_index, edge_type)
    with pytest.raises(ValueError, match='not both'):
        RGCNConv(C_IN, C_OUT, R, num_bases=2, num_blocks=2)
    with pytest.raises(ValueError, match='divisible by num_blocks'):
        RGCNConv(C_IN, C_OUT, R, num_blocks=3)
    with pytest.raises(ValueError, match="Unknown normalization 'mean'"):
        RGCNConv(C_IN, C_OUT, R, normalization='mean')
