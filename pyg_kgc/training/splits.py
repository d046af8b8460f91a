r"""Splitting training triples into the graph a model sees and the triples
it is asked to predict."""
from typing import Optional, Tuple, Union

import torch
from torch import Tensor


def _first_triples(sides: Tuple[Tensor, ...], perm: Tensor,
                   position: Tensor) -> Tensor:
    r"""A mask of triples such that every id of every side (heads, tails,
    relations, :math:`[E]` each) occurs in one of them: for each id, its
    triple that comes first in the random order :obj:`perm`, whose
    positions are :obj:`position`."""
    num_edges = perm.numel()
    mask = torch.zeros(num_edges, dtype=torch.bool, device=perm.device)
    for ids in sides:
        first = torch.full(
            (int(ids.max()) + 1, ), num_edges,
            device=perm.device).scatter_reduce_(0, ids, position, 'amin')
        mask[perm[first[first < num_edges]]] = True
    return mask


def _component_minimum(src: Tensor, dst: Tensor, value: Tensor) -> Tensor:
    r"""The smallest :obj:`value` in each entity's connected component,
    over the edges :obj:`src` to :obj:`dst` given in both directions."""
    while True:
        new = value.scatter_reduce(0, dst, value[src], 'amin')
        if torch.equal(new, value):
            return value
        value = new


def _spanning_forest(edge_index: Tensor, position: Optional[Tensor] = None,
                     rank: Optional[Tensor] = None) -> Tensor:
    r"""A mask of triples that form a spanning forest of the undirected
    graph of the triples' entities, one triple per tree edge, by a
    breadth-first search (a loop over its levels, not the triples).

    With :obj:`position` (the place of each triple in a random order), each
    component is rooted at its smallest entity id and each newly reached
    entity joined by its candidate triple (to an entity of the level
    before) that comes first in that order.

    With :obj:`rank` instead (a distinct rank per entity, lower first), the
    search is igraph's :obj:`Graph.spanning_tree()` over the entities
    numbered in that order: each component is rooted at its entity of
    lowest rank, a dequeued entity enqueues its unreached neighbours by
    rank, and each newly reached entity is joined to its neighbour dequeued
    first, by a triple with that neighbour as head if there is one, else as
    tail, the first such triple in the input order."""
    num_edges = edge_index.size(1)
    device = edge_index.device
    src = torch.cat([edge_index[0], edge_index[1]])
    dst = torch.cat([edge_index[1], edge_index[0]])
    triple = torch.arange(num_edges, device=device).repeat(2)
    if rank is None:
        assert position is not None
        num_nodes = int(edge_index.max()) + 1
        rank = torch.arange(num_nodes, device=device)
        tie = position.repeat(2)
    else:
        num_nodes = rank.numel()
        # One key per (triple, direction): the triples with the parent as
        # head come first, then those with the parent as tail; each by input
        # order.
        tie = torch.arange(2 * num_edges, device=device)
    # The roots: the lowest rank of each connected component.
    visited = _component_minimum(src, dst, rank) == rank
    # Each reached entity's place in the queue (used with a rank only). A
    # root's is its rank, lower than every later place; it is only compared
    # within its component.
    queue = torch.where(visited, rank, 2 * num_nodes)
    placed = num_nodes
    frontier = visited.clone()
    mask = torch.zeros(num_edges, dtype=torch.bool, device=device)
    while True:
        candidate = frontier[src] & ~visited[dst]
        if not bool(candidate.any()):
            return mask
        to, key = dst[candidate], tie[candidate]
        if position is None:  # the parent dequeued first, then the triple
            key = queue[src[candidate]] * (2 * num_edges) + key
        best = torch.full((num_nodes, ), torch.iinfo(key.dtype).max,
                          device=device).scatter_reduce_(0, to, key, 'amin')
        won = key == best[to]
        mask[triple[candidate][won]] = True
        reached = to[won]
        if position is None:  # their places: by the parent's, then by rank
            parent = queue[src[candidate][won]]
            order = torch.argsort(parent * num_nodes + rank[reached])
            queue[reached[order]] = placed + torch.arange(
                reached.numel(), device=device)
            placed += reached.numel()
        frontier = torch.zeros_like(visited)
        frontier[reached] = True
        visited |= frontier


def appearance_order(edge_index: Tensor,
                     num_nodes: Optional[int] = None) -> Tensor:
    r"""Ranks the entities by their first appearance in the triples read in
    order, head then tail of each: the entity ids the official InGram code
    (and many a KG loader) gives when it reads :obj:`train.txt`. Entities
    that appear in no triple come last, by id.

    Args:
        edge_index (torch.Tensor): Heads and tails :math:`[2, E]`, in the
            order of the file.
        num_nodes (int, optional): The number of entities.
            (default: :obj:`edge_index.max() + 1`)

    :rtype: :class:`torch.Tensor` :math:`[N]`, the rank of each entity
        (a permutation of :math:`0, \ldots, N - 1`).
    """
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must have shape [2, E], got "
                         f"{list(edge_index.shape)}")
    sequence = edge_index.t().reshape(-1)
    largest = int(sequence.max()) + 1 if sequence.numel() else 0
    num_nodes = largest if num_nodes is None else num_nodes
    if num_nodes < largest:
        raise ValueError(f"edge_index holds entity {largest - 1}, but "
                         f"num_nodes is {num_nodes}")
    first = torch.full((num_nodes, ), sequence.numel(),
                       device=edge_index.device).scatter_reduce_(
                           0, sequence,
                           torch.arange(sequence.numel(),
                                        device=edge_index.device), 'amin')
    rank = torch.empty_like(first)
    rank[torch.argsort(first, stable=True)] = torch.arange(
        num_nodes, device=edge_index.device)
    return rank


def spanning_forest(edge_index: Tensor,
                    generator: Optional[torch.Generator] = None,
                    order: Optional[Tensor] = None) -> Tensor:
    r"""A spanning forest of the undirected graph of the triples' entities,
    breadth-first. By default it is drawn: each component is rooted at its
    smallest entity id and each newly reached entity joined by one of its
    candidate triples (to an entity of the level before) drawn at random.
    With :obj:`order`, nothing is drawn: the forest is igraph's
    :obj:`Graph.spanning_tree()` of the entities numbered by that order,
    the one the official InGram code keeps (its ids are
    :func:`appearance_order` of :obj:`train.txt`). Computed once, it is the
    fixed forest of :obj:`split_messages(..., cover='forest',
    forest=...)`.

    Args:
        edge_index (torch.Tensor): Heads and tails :math:`[2, E]`.
        generator (torch.Generator, optional): The random generator.
        order (torch.Tensor, optional): A distinct rank per entity
            :math:`[N]`, lower first. If given, the search roots each
            component at its entity of lowest rank, dequeues the entities
            in breadth-first order, a dequeued entity enqueuing its
            unreached neighbours by rank, and joins each newly reached
            entity to its neighbour dequeued first, by the first triple
            with that neighbour as head, or else as tail.
            (default: :obj:`None`)

    :rtype: :class:`torch.Tensor` :math:`[E]`, a boolean mask of the triples
        that form the forest (one per tree edge: the number of entities
        less the number of components).
    """
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must have shape [2, E], got "
                         f"{list(edge_index.shape)}")
    if edge_index.numel() == 0:
        raise ValueError("Cannot draw a spanning forest of an empty graph")
    if order is not None:
        largest = int(edge_index.max()) + 1
        if order.dim() != 1 or order.numel() < largest:
            raise ValueError(f"order must hold a rank for each of the "
                             f"{largest} entities, got shape "
                             f"{list(order.shape)}")
        if order.is_floating_point() or torch.unique(
                order).numel() != order.numel():
            raise ValueError("order must hold distinct integer ranks")
        # Any distinct values: their ranks 0, ..., N - 1.
        rank = torch.argsort(torch.argsort(order.to(edge_index.device)))
        return _spanning_forest(edge_index, rank=rank)
    num_edges = edge_index.size(1)
    position = torch.randperm(num_edges, generator=generator,
                              device='cpu').to(edge_index.device)
    return _spanning_forest(edge_index, position=position)


def _forest_pairs_first(edge_index: Tensor, forest: Tensor, perm: Tensor,
                        position: Tensor) -> Tensor:
    r"""A mask of one triple per (head, tail) pair of the :obj:`forest`
    triples: of all triples on that ordered pair (one per relation that
    links them), the one first in the random order :obj:`perm`, whose
    positions are :obj:`position`."""
    num_nodes = int(edge_index.max()) + 1
    _, pair = torch.unique(edge_index[0] * num_nodes + edge_index[1],
                           return_inverse=True)
    on_forest = torch.zeros(
        int(pair.max()) + 1, dtype=torch.bool, device=pair.device)
    on_forest[pair[forest]] = True
    return _first_triples((pair, ), perm, position) & on_forest[pair]


def split_messages(
    edge_index: Tensor, edge_type: Tensor, message_ratio: float,
    generator: Optional[torch.Generator] = None,
    cover: Union[bool, str] = False, forest: Optional[Tensor] = None
) -> Tuple[Tuple[Tensor, Tensor], Tuple[Tensor, Tensor]]:
    r"""Splits training triples at random into message triples (the graph a
    GNN encoder passes messages over) and supervision triples (scored by
    the decoder and the loss), disjoint, so that the model learns to predict
    triples that are missing from the graph it sees, as it must at test
    time. Call it every epoch for a fresh split.

    Args:
        edge_index (torch.Tensor): Heads and tails :math:`[2, E]`.
        edge_type (torch.Tensor): Relations :math:`[E]`.
        message_ratio (float): The fraction of triples that become
            messages, in :math:`(0, 1)`; at least one triple goes to each
            side.
        generator (torch.Generator, optional): The random generator.
        cover (bool, optional): If set to :obj:`True`, every entity and
            every relation of the triples is kept in the message part (as
            InGram's training does): for each, one of its triples drawn at
            random becomes a message first, and the rest of the message
            part is filled at random up to the ratio (exceeded if the
            covering triples alone are more). With :obj:`"forest"`, as
            the official InGram code does, a random spanning forest of the
            entities (one triple per tree edge, so that the message graph
            keeps the components of the triples' graph) and one random
            triple of each relation the forest misses come first.
            (default: :obj:`False`)
        forest (torch.Tensor, optional): With :obj:`cover="forest"`, a fixed
            forest instead of a new one each call: a boolean mask
            :math:`[E]` of triples, e.g. drawn once by
            :func:`spanning_forest`. Each call keeps its entity pairs in the
            messages, each by one triple on that (head, tail) pair drawn at
            random (another relation may link the same pair), as the
            official InGram code does. (default: :obj:`None`)

    :rtype: ((:class:`torch.Tensor` :math:`[2, M]`, :class:`torch.Tensor`
        :math:`[M]`), (:class:`torch.Tensor` :math:`[2, E - M]`,
        :class:`torch.Tensor` :math:`[E - M]`))
    """
    if not 0 < message_ratio < 1:
        raise ValueError(f"message_ratio must lie in (0, 1), got "
                         f"{message_ratio}")
    num_edges = edge_type.numel()
    if edge_index.dim() != 2 or edge_index.size(1) != num_edges:
        raise ValueError(f"edge_index must have shape [2, {num_edges}], got "
                         f"{list(edge_index.shape)}")
    if num_edges < 2:
        raise ValueError(f"Cannot split {num_edges} triple(s) into messages "
                         f"and supervision")
    cut = min(max(round(message_ratio * num_edges), 1), num_edges - 1)
    perm = torch.randperm(num_edges, generator=generator,
                          device='cpu').to(edge_type.device)
    if cover not in (False, True, 'forest'):
        raise ValueError(f"cover must be False, True or 'forest', got "
                         f"{cover!r}")
    if forest is not None:
        if cover != 'forest':
            raise ValueError(f"A fixed forest needs cover='forest', got "
                             f"cover={cover!r}")
        if forest.dtype != torch.bool or forest.shape != edge_type.shape:
            raise ValueError(f"forest must be a boolean mask of shape "
                             f"[{num_edges}], got {forest.dtype} of shape "
                             f"{list(forest.shape)}")
    if cover:
        position = torch.empty_like(perm).scatter_(
            0, perm, torch.arange(num_edges, device=perm.device))
        if cover == 'forest':
            forced = (_spanning_forest(edge_index, position)
                      if forest is None else _forest_pairs_first(
                          edge_index, forest.to(position.device), perm,
                          position))
            missing = torch.ones(
                int(edge_type.max()) + 1, dtype=torch.bool,
                device=edge_type.device)
            missing[edge_type[forced]] = False
            forced |= (_first_triples((edge_type, ), perm, position)
                       & missing[edge_type])
        else:
            forced = _first_triples((edge_index[0], edge_index[1], edge_type),
                                    perm, position)
        if bool(forced.all()):
            raise ValueError("Cannot split: every triple is needed to "
                             "cover the entities and relations")
        # Forced triples first, then the others in random order.
        perm = torch.cat([perm[forced[perm]], perm[~forced[perm]]])
        cut = max(cut, int(forced.sum()))
    messages, supervision = perm[:cut], perm[cut:]
    return ((edge_index[:, messages], edge_type[messages]),
            (edge_index[:, supervision], edge_type[supervision]))
