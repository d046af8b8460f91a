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


def _spanning_forest(edge_index: Tensor, position: Tensor) -> Tensor:
    r"""A mask of triples that form a spanning forest of the undirected
    graph of the triples' entities, one triple per tree edge: breadth-first
    from the smallest entity id of every connected component, each newly
    reached entity joined by its candidate triple that comes first in the
    random order whose positions are :obj:`position` (a loop over the
    levels, not the triples)."""
    num_edges = position.numel()
    device = position.device
    num_nodes = int(edge_index.max()) + 1
    src = torch.cat([edge_index[0], edge_index[1]])
    dst = torch.cat([edge_index[1], edge_index[0]])
    triple = torch.arange(num_edges, device=device).repeat(2)
    key = position.repeat(2)
    # Connected components: the smallest entity id each one reaches.
    node = torch.arange(num_nodes, device=device)
    label = node
    while True:
        new = label.scatter_reduce(0, dst, label[src], 'amin')
        if torch.equal(new, label):
            break
        label = new
    visited = label == node  # the roots
    frontier = visited.clone()
    mask = torch.zeros(num_edges, dtype=torch.bool, device=device)
    while True:
        candidate = frontier[src] & ~visited[dst]
        if not bool(candidate.any()):
            return mask
        to, first = dst[candidate], key[candidate]
        best = torch.full((num_nodes, ), num_edges,
                          device=device).scatter_reduce_(0, to, first, 'amin')
        mask[triple[candidate][first == best[to]]] = True
        frontier = torch.zeros_like(visited)
        frontier[to] = True
        visited |= frontier


def spanning_forest(edge_index: Tensor,
                    generator: Optional[torch.Generator] = None) -> Tensor:
    r"""Draws a spanning forest of the undirected graph of the triples'
    entities: breadth-first from the smallest entity id of every connected
    component, each newly reached entity joined by one of its candidate
    triples drawn at random. Computed once, it is the fixed forest the
    official InGram code keeps in the messages of every epoch
    (:obj:`split_messages(..., cover='forest', forest=...)`).

    Args:
        edge_index (torch.Tensor): Heads and tails :math:`[2, E]`.
        generator (torch.Generator, optional): The random generator.

    :rtype: :class:`torch.Tensor` :math:`[E]`, a boolean mask of the triples
        that form the forest (one per tree edge: the number of entities
        less the number of components).
    """
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must have shape [2, E], got "
                         f"{list(edge_index.shape)}")
    if edge_index.numel() == 0:
        raise ValueError("Cannot draw a spanning forest of an empty graph")
    num_edges = edge_index.size(1)
    position = torch.randperm(num_edges, generator=generator,
                              device='cpu').to(edge_index.device)
    return _spanning_forest(edge_index, position)


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
