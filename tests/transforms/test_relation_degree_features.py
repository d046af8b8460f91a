import pytest
import torch
from torch_geometric.data import Data

from pyg_kgc.transforms import RelationDegreeFeatures, relation_degree_features


def test_counts_match_a_loop():
    gen = torch.Generator().manual_seed(0)
    n, r, e = 7, 3, 40
    edge_index = torch.randint(n, (2, e), generator=gen)
    edge_type = torch.randint(r, (e, ), generator=gen)
    x = relation_degree_features(edge_index, edge_type, n, r, log=False)
    assert x.shape == (n, 2 * r)
    expected = torch.zeros(n, 2 * r)
    for (h, t), rel in zip(edge_index.t().tolist(), edge_type.tolist()):
        expected[h, rel] += 1
        expected[t, r + rel] += 1
    assert torch.equal(x, expected)
    logged = relation_degree_features(edge_index, edge_type, n, r)
    assert torch.allclose(logged, expected.log1p())


def test_features_do_not_depend_on_entity_ids():
    gen = torch.Generator().manual_seed(1)
    n, r = 9, 2
    edge_index = torch.randint(n, (2, 30), generator=gen)
    edge_type = torch.randint(r, (30, ), generator=gen)
    perm = torch.randperm(n, generator=gen)  # entity i becomes perm[i]
    x = relation_degree_features(edge_index, edge_type, n, r)
    y = relation_degree_features(perm[edge_index], edge_type, n, r)
    assert torch.equal(y[perm], x)


def test_transform_and_bad_input():
    data = Data(edge_index=torch.tensor([[0, 1], [1, 2]]),
                edge_type=torch.tensor([0, 1]), num_nodes=3, num_relations=2)
    out = RelationDegreeFeatures(log=False)(data)
    assert out.x.tolist() == [[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1]]
    with pytest.raises(ValueError, match='relation id 2 at position 1'):
        relation_degree_features(data.edge_index, torch.tensor([0, 2]), 3, 2)
