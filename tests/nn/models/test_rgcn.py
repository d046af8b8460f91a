r"""RGCNLinkPredictor against the R-GCN formula written out edge by edge."""
import pytest
import torch

from pyg_kgc.nn.kge import Bilinear, DistMult
from pyg_kgc.nn.models import RGCNLinkPredictor
from pyg_kgc.training import cross_entropy_loss, split_messages

N, R, E, D = 12, 3, 40, 8


def graph(seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randint(N, (2, E), generator=gen),
            torch.randint(R, (E, ), generator=gen))


def loop_reference(model, x, edge_index, edge_type):
    r"""h' = W_0 h + b + sum over (u, r, v) and (v, r^-1, u) of
    W_r h_u / |N_r(v)|, ReLU between layers."""
    triples = [(h, r, t) for h, r, t in zip(
        edge_index[0].tolist(), edge_type.tolist(), edge_index[1].tolist())]
    messages = [(h, r, t) for h, r, t in triples] + [(t, r + R, h)
                                                     for h, r, t in triples]
    h = x.detach()
    for i, conv in enumerate(model.convs):
        weight = conv.relation_weights().detach()
        if weight.dim() == 4:  # blocks [2R, B, i, o] -> block-diagonal
            weight = torch.stack(
                [torch.block_diag(*blocks) for blocks in weight])
        out = h @ conv.root.detach() + conv.bias.detach()
        for u, r, v in messages:
            count = sum(1 for _, r2, v2 in messages if (r2, v2) == (r, v))
            out[v] += h[u] @ weight[r] / count
        h = out.relu() if i < len(model.convs) - 1 else out
    return h


@pytest.mark.parametrize('decomposition', [{}, {
    'num_bases': 2
}, {
    'num_blocks': 2
}])
@pytest.mark.parametrize('num_layers', [1, 2, 3])
def test_matches_the_formula(decomposition, num_layers):
    edge_index, edge_type = graph()
    model = RGCNLinkPredictor(R, D, DistMult(D, R), num_layers=num_layers,
                              num_nodes=N, **decomposition).double()
    model.eval()
    out = model(None, edge_index, edge_type)
    assert out.shape == (N, D)
    expected = loop_reference(model, model.node_emb, edge_index, edge_type)
    assert torch.allclose(out, expected, atol=1e-10)
    # The scorer is the decoder over these representations.
    scorer = model.scorer(None, edge_index, edge_type)
    head, rel = torch.tensor([0, 5]), torch.tensor([2, 0])
    scores = scorer.score_tails(head, rel)
    relation = model.decoder.relation_emb.detach().double()
    manual = (expected[head] * relation[rel]) @ expected.t()
    assert torch.allclose(scores, manual, atol=1e-10)


def test_inductive_features_are_permutation_equivariant():
    # With features that do not depend on ids, renumbering the entities
    # renumbers the representations: nothing is tied to an entity id.
    edge_index, edge_type = graph(1)
    model = RGCNLinkPredictor(R, D, Bilinear(D, R), in_channels=5,
                              num_bases=2).double().eval()
    x = torch.randn(N, 5, dtype=torch.float64)
    perm = torch.randperm(N, generator=torch.Generator().manual_seed(0))
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(N)
    out = model(x, edge_index, edge_type)
    out_perm = model(x[perm], inverse[edge_index], edge_type)
    assert torch.allclose(out_perm, out[perm], atol=1e-10)
    # A graph of other size (new entities) works the same way.
    assert model(torch.randn(30, 5, dtype=torch.float64),
                 torch.randint(30, (2, 50)), torch.randint(R, (50, ))).shape \
        == (30, D)


def test_edge_dropout_drops_triples_for_all_layers():
    edge_index, edge_type = graph(2)
    model = RGCNLinkPredictor(R, D, DistMult(D, R), num_nodes=N,
                              edge_dropout=0.5).double()
    torch.manual_seed(3)
    out = model(None, edge_index, edge_type)
    torch.manual_seed(3)
    kept_index, kept_type = model.message_graph(edge_index, edge_type, N)
    assert kept_type.numel() < 2 * E
    model.eval()
    kept_triples = kept_index[:, :kept_type.numel() // 2]
    expected = loop_reference(model, model.node_emb, kept_triples,
                              kept_type[:kept_type.numel() // 2])
    assert torch.allclose(out, expected, atol=1e-10)
    assert torch.equal(model(None, edge_index, edge_type),
                       model(None, edge_index, edge_type))  # eval: none


def test_learns_to_predict_held_out_triples():
    # A graph whose relation 0 is the reverse of relation 1: a triple held
    # out of the messages is implied by its mirror, which R-GCN sees.
    torch.manual_seed(0)
    n = 30
    heads = torch.randint(n, (60, ))
    tails = (heads + torch.randint(1, n, (60, ))) % n
    edge_index = torch.cat(
        [torch.stack([heads, tails]),
         torch.stack([tails, heads])], dim=1)
    edge_type = torch.cat([torch.zeros(60), torch.ones(60)]).long()
    model = RGCNLinkPredictor(2, 16, DistMult(16, 2), num_nodes=n, num_bases=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    gen = torch.Generator().manual_seed(0)
    for _ in range(150):
        (msg_index, msg_type), (sup_index, sup_type) = split_messages(
            edge_index, edge_type, 0.8, generator=gen)
        scorer = model.scorer(None, msg_index, msg_type)
        h, t = sup_index
        loss = (cross_entropy_loss(scorer.score_tails(h, sup_type), t) +
                cross_entropy_loss(scorer.score_heads(sup_type, t), h))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    # Hold out the last 10 relation-0 triples; their mirrors stay.
    held = torch.arange(50, 60)
    keep = torch.ones(120, dtype=torch.bool)
    keep[held] = False
    with torch.no_grad():
        scorer = model.scorer(None, edge_index[:, keep], edge_type[keep])
        scores = scorer.score_tails(edge_index[0, held], edge_type[held])
    rank = (scores > scores.gather(1, edge_index[1, held].view(-1,
                                                               1))).sum(1) + 1
    assert (1.0 / rank.double()).mean() > 0.3  # random: about 0.13


def test_bad_input():
    edge_index, edge_type = graph()
    with pytest.raises(ValueError, match='either num_nodes'):
        RGCNLinkPredictor(R, D, DistMult(D, R))
    with pytest.raises(ValueError, match='8, but|hidden_channels is 8'):
        RGCNLinkPredictor(R, D, DistMult(4, R), num_nodes=N)
    with pytest.raises(ValueError, match='embeddings for 2 relations'):
        RGCNLinkPredictor(R, D, DistMult(D, 2), num_nodes=N)
    model = RGCNLinkPredictor(R, D, DistMult(D, R), num_nodes=N)
    with pytest.raises(
            ValueError, match=r'message triples: relation id 3 '
            r'at position 0 is out of range \[0, 3\)'):
        model(None, edge_index, torch.full((E, ), R))
    with pytest.raises(ValueError, match='pass x=None'):
        model(torch.randn(N, D), edge_index, edge_type)
    inductive = RGCNLinkPredictor(R, D, DistMult(D, R), in_channels=5)
    with pytest.raises(ValueError, match=r'features \[N, 5\], got \[12, 4\]'):
        inductive(torch.randn(N, 4), edge_index, edge_type)
    bad = edge_index.clone()
    bad[1, 7] = N
    with pytest.raises(ValueError, match=r'tail id 12 at position 7'):
        inductive(torch.randn(N, 5), bad, edge_type)
