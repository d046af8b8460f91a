r"""An index of the known true triples of a graph, for filtered ranking and
for filtering sampled negatives."""
from typing import Optional, Tuple

import torch
from torch import Tensor


def check_triples(edge_index: Tensor, edge_type: Tensor, num_nodes: int,
                  num_relations: int, what: str = 'triples') -> None:
    r"""Raises a :class:`ValueError` naming :obj:`what` and the first
    offending position unless :obj:`edge_index` :math:`[2, E]` and
    :obj:`edge_type` :math:`[E]` hold integer ids within
    :obj:`[0, num_nodes)` and :obj:`[0, num_relations)`."""
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"{what}: edge_index must have shape [2, E], got "
                         f"{list(edge_index.shape)}")
    if edge_type.dim() != 1 or edge_type.numel() != edge_index.size(1):
        raise ValueError(
            f"{what}: edge_type must have shape "
            f"[{edge_index.size(1)}], got {list(edge_type.shape)}")
    for t, name in ((edge_index, 'edge_index'), (edge_type, 'edge_type')):
        if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            raise ValueError(f"{what}: {name} must hold integer ids, got "
                             f"{t.dtype}")
    columns = ((edge_index[0], num_nodes, 'head'),
               (edge_type, num_relations, 'relation'),
               (edge_index[1], num_nodes, 'tail'))
    for ids, size, name in columns:
        bad = (ids < 0) | (ids >= size)
        if bool(bad.any()):
            i = int(bad.nonzero()[0])
            raise ValueError(f"{what}: {name} id {int(ids[i])} at position "
                             f"{i} is out of range [0, {size})")


class KnownTriples:
    r"""The set of known true triples of one graph, indexed for fast
    lookup of all known tails of :math:`(h, r)` and all known heads of
    :math:`(r, t)` (two CSR arrays), and of membership.

    Duplicates are removed. Memory is :math:`O(F)` for :math:`F` triples.

    Args:
        edge_index (torch.Tensor): Heads and tails, :math:`[2, F]`.
        edge_type (torch.Tensor): Relations, :math:`[F]`.
        num_nodes (int): Number of entities of the graph.
        num_relations (int): Number of relations of the graph.
    """
    def __init__(self, edge_index: Tensor, edge_type: Tensor, num_nodes: int,
                 num_relations: int) -> None:
        check_triples(edge_index, edge_type, num_nodes, num_relations,
                      'known triples')
        self.num_nodes = int(num_nodes)
        self.num_relations = int(num_relations)
        head, tail = edge_index.long()
        relation = edge_type.long()
        n, r = self.num_nodes, self.num_relations
        # Triples sorted by (h, r, t), and by (t, r, h).
        self.keys = torch.unique((head * r + relation) * n + tail)
        self._tail_index = self._csr(self.keys)
        reverse = torch.unique((tail * r + relation) * n + head)
        self._head_index = self._csr(reverse)

    @classmethod
    def from_data(cls, data) -> 'KnownTriples':
        r"""The filter of a benchmark split: its :obj:`filter_edge_index`
        and :obj:`filter_edge_type`."""
        for key in ('filter_edge_index', 'filter_edge_type'):
            if key not in data:
                raise ValueError(f"The data has no '{key}' (the known true "
                                 f"triples that filter its ranking)")
        return cls(data.filter_edge_index, data.filter_edge_type,
                   data.num_nodes, data.num_relations)

    def _csr(self, keys: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        pair, answer = keys // self.num_nodes, keys % self.num_nodes
        pairs, counts = torch.unique_consecutive(pair, return_counts=True)
        ptr = torch.zeros(pairs.numel() + 1, dtype=torch.long,
                          device=keys.device)
        ptr[1:] = counts.cumsum(0)
        return pairs, ptr, answer

    def __len__(self) -> int:
        return self.keys.numel()

    def to(self, device) -> 'KnownTriples':
        r"""Moves the index to :obj:`device`, in place."""
        self.keys = self.keys.to(device)
        self._tail_index = tuple(t.to(device) for t in self._tail_index)
        self._head_index = tuple(t.to(device) for t in self._head_index)
        return self

    def contains(self, head: Tensor, relation: Tensor, tail: Tensor) -> Tensor:
        r"""Whether each :obj:`(head[i], relation[i], tail[i])` is known;
        inputs broadcast against each other."""
        key = (head * self.num_relations + relation) * self.num_nodes + tail
        pos = torch.searchsorted(self.keys, key).clamp_(max=len(self) - 1)
        return self.keys[pos] == key if len(self) > 0 else key < 0

    def tails(self, head: Tensor, relation: Tensor) -> Tuple[Tensor, Tensor]:
        r"""All known tails of the queries :obj:`(head[i], relation[i])`, as
        flat :obj:`(query, tail)` index pairs."""
        return self._answers(self._tail_index, head, relation)

    def heads(self, relation: Tensor, tail: Tensor) -> Tuple[Tensor, Tensor]:
        r"""All known heads of the queries :obj:`(relation[i], tail[i])`, as
        flat :obj:`(query, head)` index pairs."""
        return self._answers(self._head_index, tail, relation)

    def _answers(self, index, anchor: Tensor,
                 relation: Tensor) -> Tuple[Tensor, Tensor]:
        pairs, ptr, answer = index
        key = anchor * self.num_relations + relation
        if pairs.numel() == 0:
            empty = key.new_empty(0)
            return empty, empty
        pos = torch.searchsorted(pairs, key)
        found = pos < pairs.numel()
        found[found.clone()] = pairs[pos[found]] == key[found]
        start = ptr[pos.clamp(max=pairs.numel() - 1)]
        count = torch.where(found,
                            ptr[(pos + 1).clamp(max=pairs.numel())] - start,
                            torch.zeros_like(start))
        query = torch.repeat_interleave(
            torch.arange(key.numel(), device=key.device), count)
        offset = torch.arange(query.numel(), device=key.device)
        offset -= torch.repeat_interleave(count.cumsum(0) - count, count)
        return query, answer[start[query] + offset]

    def sample_corruptions(self, head: Tensor, relation: Tensor, tail: Tensor,
                           corrupt_head: Tensor, num_samples: int,
                           generator: Optional[torch.Generator] = None,
                           no_self_loops: bool = False,
                           max_rounds: int = 1000) -> Tensor:
        r"""Samples, uniformly with replacement, :obj:`num_samples` entities
        for every triple :obj:`(head[i], relation[i], tail[i])` to replace
        its head (where :obj:`corrupt_head[i]`) or its tail, such that no
        corrupted triple is a known triple or the original one.

        Args:
            head, relation, tail (torch.Tensor): The triples, :math:`[Q]`.
            corrupt_head (torch.Tensor): Boolean, :math:`[Q]`.
            num_samples (int): Corruptions per triple.
            generator (torch.Generator, optional): The random generator.
            no_self_loops (bool, optional): Also reject the entity left in
                place, as GraIL's protocol does. (default: :obj:`False`)
            max_rounds (int, optional): Rounds of rejection sampling before
                giving up on a triple that has too few admissible
                replacements. (default: :obj:`1000`)

        :rtype: :class:`torch.Tensor` :math:`[Q, \text{num_samples}]`
        """
        device = head.device
        kept = torch.where(corrupt_head, tail, head)
        original = torch.where(corrupt_head, head, tail)
        out = torch.empty((head.numel(), num_samples), dtype=torch.long,
                          device=device)
        filled = torch.zeros(head.numel(), dtype=torch.long, device=device)
        rows = torch.arange(head.numel(), device=device)
        for _ in range(max_rounds):
            if rows.numel() == 0:
                return out
            cand = torch.randint(self.num_nodes, (rows.numel(), num_samples),
                                 generator=generator, device=device)
            ch = corrupt_head[rows, None]
            h = torch.where(ch, cand, head[rows, None])
            t = torch.where(ch, tail[rows, None], cand)
            ok = ~self.contains(h, relation[rows, None], t)
            ok &= cand != original[rows, None]
            if no_self_loops:
                ok &= cand != kept[rows, None]
            position = filled[rows, None] + ok.cumsum(1) - 1
            ok &= position < num_samples
            i, j = ok.nonzero(as_tuple=True)
            out[rows[i], position[i, j]] = cand[i, j]
            filled[rows] += ok.sum(1)
            rows = rows[filled[rows] < num_samples]
        raise RuntimeError(
            f"Could not sample {num_samples} admissible corruptions of "
            f"triple {int(rows[0])} in {max_rounds} rounds: too few entities "
            f"give an unknown triple")

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({len(self)}, '
                f'num_nodes={self.num_nodes}, '
                f'num_relations={self.num_relations})')
