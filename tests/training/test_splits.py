from collections import deque

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyg_kgc.training import appearance_order, spanning_forest, split_messages


def test_split_is_a_partition():
    edge_index = torch.arange(20).view(2, 10)
    edge_type = torch.arange(10) % 3
    gen = torch.Generator().manual_seed(0)
    (msg_index, msg_type), (sup_index,
                            sup_type) = split_messages(edge_index, edge_type,
                                                       0.7, generator=gen)
    assert msg_type.numel() == 7 and sup_type.numel() == 3
    triples = {(h, r, t)
               for h, r, t in zip(edge_index[0].tolist(), edge_type.tolist(),
                                  edge_index[1].tolist())}
    msg = {(h, r, t)
           for h, r, t in zip(msg_index[0].tolist(), msg_type.tolist(),
                              msg_index[1].tolist())}
    sup = {(h, r, t)
           for h, r, t in zip(sup_index[0].tolist(), sup_type.tolist(),
                              sup_index[1].tolist())}
    assert msg | sup == triples and not msg & sup
    # A fresh split each call; the same one from the same seed.
    again = split_messages(edge_index, edge_type, 0.7,
                           generator=torch.Generator().manual_seed(0))
    assert torch.equal(again[0][0], msg_index)
    other = split_messages(edge_index, edge_type, 0.7,
                           generator=torch.Generator().manual_seed(1))
    assert not torch.equal(other[0][0], msg_index)


def test_both_sides_non_empty():
    edge_index, edge_type = torch.zeros(2, 3, dtype=torch.long), torch.zeros(
        3, dtype=torch.long)
    (_, msg), (_, sup) = split_messages(edge_index, edge_type, 0.99)
    assert msg.numel() == 2 and sup.numel() == 1
    (_, msg), (_, sup) = split_messages(edge_index, edge_type, 0.01)
    assert msg.numel() == 1 and sup.numel() == 2


def test_bad_input():
    edge_index, edge_type = torch.zeros(2, 3, dtype=torch.long), torch.zeros(
        3, dtype=torch.long)
    with pytest.raises(ValueError, match=r'message_ratio must lie in'):
        split_messages(edge_index, edge_type, 1.0)
    with pytest.raises(ValueError, match=r'Cannot split 1 triple'):
        split_messages(edge_index[:, :1], edge_type[:1], 0.5)
    with pytest.raises(ValueError, match=r'edge_index must have shape'):
        split_messages(edge_index[:, :2], edge_type, 0.5)


def _random_kg(seed: int, num_nodes: int = 30, num_relations: int = 6,
               num_edges: int = 120):
    gen = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(num_nodes, (2, num_edges), generator=gen)
    edge_type = torch.randint(num_relations, (num_edges, ), generator=gen)
    return edge_index, edge_type


@pytest.mark.parametrize('seed', range(5))
def test_cover_keeps_every_entity_and_relation(seed):
    edge_index, edge_type = _random_kg(seed)
    gen = torch.Generator().manual_seed(seed)
    (msg_index, msg_type), (sup_index,
                            sup_type) = split_messages(edge_index, edge_type,
                                                       0.1, generator=gen,
                                                       cover=True)
    # Every entity and relation of the triples occurs among the messages,
    # although the ratio asked for 12 messages only.
    assert set(msg_index.view(-1).tolist()) == set(
        edge_index.view(-1).tolist())
    assert set(msg_type.tolist()) == set(edge_type.tolist())
    assert msg_type.numel() > 12
    # Still a partition of the triples (as a multiset).
    both = torch.cat([
        torch.cat([msg_index, msg_type.view(1, -1)]),
        torch.cat([sup_index, sup_type.view(1, -1)])
    ], dim=1)
    full = torch.cat([edge_index, edge_type.view(1, -1)])
    key = lambda t: sorted(map(tuple, t.t().tolist()))  # noqa: E731
    assert key(both) == key(full)


def test_cover_honours_the_ratio_when_it_can():
    edge_index, edge_type = _random_kg(0, num_nodes=10, num_relations=3,
                                       num_edges=200)
    (_, msg), (_, sup) = split_messages(edge_index, edge_type, 0.75,
                                        cover=True)
    assert msg.numel() == 150 and sup.numel() == 50
    # Reproducible from a seed.
    a = split_messages(edge_index, edge_type, 0.75, cover=True,
                       generator=torch.Generator().manual_seed(3))
    b = split_messages(edge_index, edge_type, 0.75, cover=True,
                       generator=torch.Generator().manual_seed(3))
    assert torch.equal(a[1][0], b[1][0])


def test_cover_impossible():
    # Two disjoint triples: both are needed to cover the four entities.
    edge_index = torch.tensor([[0, 2], [1, 3]])
    with pytest.raises(ValueError, match='every triple is needed'):
        split_messages(edge_index, torch.tensor([0, 0]), 0.5, cover=True)


def _components(edge_index, nodes):
    # Union-find over the triples, a loop (the reference).
    parent = {v: v for v in nodes}

    def find(v):
        while parent[v] != v:
            v = parent[v]
        return v

    for h, t in edge_index.t().tolist():
        parent[find(h)] = find(t)
    return {v: find(v) for v in nodes}


@pytest.mark.parametrize('seed', range(5))
def test_forest_cover_keeps_the_components(seed):
    # Sparse enough to have several components; a ratio too low to fill.
    edge_index, edge_type = _random_kg(seed, num_nodes=60, num_relations=7,
                                       num_edges=50)
    gen = torch.Generator().manual_seed(seed)
    (msg_index, msg_type), (sup_index,
                            sup_type) = split_messages(edge_index, edge_type,
                                                       0.05, generator=gen,
                                                       cover='forest')
    nodes = sorted(set(edge_index.view(-1).tolist()))
    full = _components(edge_index, nodes)
    kept = _components(msg_index, nodes)

    def groups(c):
        return {
            frozenset(v for v in nodes if c[v] == root)
            for root in set(c.values())
        }

    # The same partition of the entities into components ...
    assert groups(kept) == groups(full)
    # ... by a forest (entities minus components triples) plus at most one
    # triple for each relation the forest misses; every relation covered.
    num_forest = len(nodes) - len(groups(full))
    assert num_forest <= msg_type.numel() <= num_forest + 7
    assert set(msg_type.tolist()) == set(edge_type.tolist())
    full_triples = torch.cat([edge_index, edge_type.view(1, -1)])
    both = torch.cat([
        torch.cat([msg_index, msg_type.view(1, -1)]),
        torch.cat([sup_index, sup_type.view(1, -1)])
    ], dim=1)
    key = lambda t: sorted(map(tuple, t.t().tolist()))  # noqa: E731
    assert key(both) == key(full_triples)
    # The plain cover need not keep the components: a random split at the
    # same ratio loses some here.
    (plain,
     _), _ = split_messages(edge_index, edge_type, 0.05,
                            generator=torch.Generator().manual_seed(seed),
                            cover=False)
    assert groups(_components(plain, nodes)) != groups(full)


def test_forest_cover_is_random_and_reproducible():
    edge_index, edge_type = _random_kg(0, num_nodes=10, num_relations=3,
                                       num_edges=200)
    splits = [
        split_messages(edge_index, edge_type, 0.05, cover='forest',
                       generator=torch.Generator().manual_seed(s))[0][1]
        for s in (0, 0, 1)
    ]
    assert torch.equal(splits[0], splits[1])
    msgs = [
        split_messages(edge_index, edge_type, 0.05, cover='forest',
                       generator=torch.Generator().manual_seed(s))[0][0]
        for s in (0, 1)
    ]
    assert not torch.equal(msgs[0], msgs[1])
    with pytest.raises(ValueError, match="'forest'"):
        split_messages(edge_index, edge_type, 0.5, cover='tree')


@pytest.mark.parametrize('seed', range(3))
def test_spanning_forest(seed):
    edge_index, _ = _random_kg(seed, num_nodes=60, num_relations=7,
                               num_edges=50)
    forest = spanning_forest(edge_index, torch.Generator().manual_seed(seed))
    assert forest.dtype == torch.bool and forest.shape == (50, )
    nodes = sorted(set(edge_index.view(-1).tolist()))
    full = _components(edge_index, nodes)
    kept = _components(edge_index[:, forest], nodes)
    # A forest: as many edges as entities less components, and the same
    # components (so no cycle among them).
    num_components = len(set(full.values()))
    assert int(forest.sum()) == len(nodes) - num_components
    assert len(set(kept.values())) == num_components
    assert all((full[u] == full[v]) == (kept[u] == kept[v]) for u in nodes
               for v in nodes)
    again = spanning_forest(edge_index, torch.Generator().manual_seed(seed))
    assert torch.equal(again, forest)


def test_spanning_forest_is_random():
    edge_index, _ = _random_kg(0, num_nodes=10, num_relations=3, num_edges=200)
    forests = {
        tuple(
            spanning_forest(edge_index,
                            torch.Generator().manual_seed(s)).tolist())
        for s in range(5)
    }
    assert len(forests) > 1
    with pytest.raises(ValueError, match='empty graph'):
        spanning_forest(torch.empty(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match=r'shape \[2, E\]'):
        spanning_forest(torch.zeros(3, 4, dtype=torch.long))


def _queue_bfs_tree(edge_index, rank):
    # The reference: igraph's unweighted spanning tree, written as a plain
    # queue over the entities numbered by rank. A vertex's incident triples
    # come by the neighbour's number, those it heads before those it is the
    # tail of, then in input order; every unreached neighbour is joined by
    # the first of them.
    rank = rank.tolist()
    incident = {v: [] for v in range(len(rank))}
    for e, (h, t) in enumerate(edge_index.t().tolist()):
        incident[h].append((rank[t], 0, e, t))
        incident[t].append((rank[h], 1, e, h))
    reached, tree = set(), set()
    for root in sorted(range(len(rank)), key=rank.__getitem__):
        if root in reached:
            continue
        reached.add(root)
        queue = deque([root])
        while queue:
            for _, _, e, v in sorted(incident[queue.popleft()]):
                if v not in reached:
                    reached.add(v)
                    tree.add(e)
                    queue.append(v)
    return tree


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 25), st.integers(1, 60), st.integers(0, 2**31 - 1))
def test_ordered_forest_is_the_queue_search(num_nodes, num_edges, seed):
    # Random multigraphs with self-loops, both directions on a pair, several
    # components and entities in no triple; a random numbering.
    gen = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(num_nodes, (2, num_edges), generator=gen)
    rank = torch.randperm(num_nodes, generator=gen)
    forest = spanning_forest(edge_index, order=rank)
    assert set(forest.nonzero().view(-1).tolist()) == _queue_bfs_tree(
        edge_index, rank)
    # No draw: the generator plays no part; only the order of the values
    # counts.
    assert torch.equal(
        spanning_forest(edge_index, torch.Generator().manual_seed(1),
                        order=rank), forest)
    assert torch.equal(spanning_forest(edge_index, order=7 * rank - 5),
                       forest)


def test_ordered_forest_prefers_the_earliest_neighbour():
    # 0 reaches 1 and 2; 3 is a neighbour of both. In the order 0, 2, 1, 3
    # entity 2 is dequeued first and claims 3; in the order 0, 1, 2, 3
    # entity 1 does. Of the two triples joining 1 and 3, the one headed by
    # the parent 1 is taken although the other comes first.
    edge_index = torch.tensor([[0, 0, 3, 2, 1], [1, 2, 1, 3, 3]])
    first = spanning_forest(edge_index, order=torch.tensor([0, 2, 1, 3]))
    assert first.tolist() == [True, True, False, True, False]
    second = spanning_forest(edge_index, order=torch.tensor([0, 1, 2, 3]))
    assert second.tolist() == [True, True, False, False, True]
    # Only the tail side joins 1 and 3: that triple is taken.
    tail_only = spanning_forest(edge_index[:, :4],
                                order=torch.tensor([0, 1, 2, 3]))
    assert tail_only.tolist() == [True, True, True, False]


def test_ordered_forest_is_igraphs_spanning_tree():
    igraph = pytest.importorskip('igraph')
    edge_index, _ = _random_kg(3, num_nodes=40, num_relations=4,
                               num_edges=70)
    rank = appearance_order(edge_index)
    # The official code's graph: entities numbered by first appearance.
    graph = igraph.Graph.TupleList(
        [(int(rank[h]), int(rank[t])) for h, t in edge_index.t().tolist()],
        directed=True)
    tree = graph.spanning_tree()
    expected = {(tree.vs[a]['name'], tree.vs[b]['name'])
                for a, b in tree.get_edgelist()}
    forest = spanning_forest(edge_index, order=rank)
    assert {(int(rank[h]), int(rank[t]))
            for h, t in edge_index[:, forest].t().tolist()} == expected


def test_appearance_order():
    edge_index = torch.tensor([[4, 1, 4], [1, 0, 6]])
    # Read as 4, 1, 1, 0, 4, 6: entities 4, 1, 0, 6 in that order, then 2,
    # 3 and 5, which are in no triple.
    assert appearance_order(edge_index).tolist() == [2, 1, 4, 5, 0, 6, 3]
    assert appearance_order(edge_index, num_nodes=8).tolist()[-1] == 7
    with pytest.raises(ValueError, match='num_nodes is 5'):
        appearance_order(edge_index, num_nodes=5)
    with pytest.raises(ValueError, match=r'shape \[2, E\]'):
        appearance_order(torch.zeros(3, 2, dtype=torch.long))


def test_ordered_forest_bad_order():
    edge_index = torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(ValueError, match='each of the 3 entities'):
        spanning_forest(edge_index, order=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='distinct integer ranks'):
        spanning_forest(edge_index, order=torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match='distinct integer ranks'):
        spanning_forest(edge_index, order=torch.tensor([0., 1., 2.]))


def test_fixed_forest_keeps_its_pairs_with_a_random_relation():
    # Few entities, many triples: most entity pairs carry several
    # relations.
    edge_index, edge_type = _random_kg(1, num_nodes=8, num_relations=5,
                                       num_edges=150)
    forest = spanning_forest(edge_index, torch.Generator().manual_seed(0))
    pairs = set(map(tuple, edge_index[:, forest].t().tolist()))
    assert len(pairs) == 7
    chosen = {pair: set() for pair in pairs}
    for s in range(40):
        (msg_index, msg_type), (sup_index, sup_type) = split_messages(
            edge_index, edge_type, 0.01, cover='forest', forest=forest,
            generator=torch.Generator().manual_seed(s))
        # The ratio is too low to fill: the messages are one triple on each
        # forest pair, and a triple of each relation those miss.
        on_pair = [(h, t) in pairs for h, t in msg_index.t().tolist()]
        assert sum(on_pair) >= len(pairs)
        per_pair = {}
        for (h, t), r, on in zip(msg_index.t().tolist(), msg_type.tolist(),
                                 on_pair):
            if on:
                per_pair.setdefault((h, t), []).append(r)
        assert set(per_pair) == pairs
        for pair, rels in per_pair.items():
            chosen[pair].update(rels)
        assert set(msg_type.tolist()) == set(edge_type.tolist())
        assert msg_type.numel() <= len(pairs) + 5
        assert msg_type.numel() + sup_type.numel() == 150
    # Over the calls, every relation that links a forest pair was drawn.
    for (h, t), rels in chosen.items():
        on = (edge_index[0] == h) & (edge_index[1] == t)
        assert rels == set(edge_type[on].tolist())
    assert any(len(rels) > 1 for rels in chosen.values())


def test_fixed_forest_bad_input():
    edge_index, edge_type = _random_kg(0)
    forest = spanning_forest(edge_index)
    with pytest.raises(ValueError, match="needs cover='forest'"):
        split_messages(edge_index, edge_type, 0.5, cover=True, forest=forest)
    with pytest.raises(ValueError, match=r'boolean mask of shape \[120\]'):
        split_messages(edge_index, edge_type, 0.5, cover='forest',
                       forest=forest[:-1])
    with pytest.raises(ValueError, match='boolean mask'):
        split_messages(edge_index, edge_type, 0.5, cover='forest',
                       forest=forest.long())
