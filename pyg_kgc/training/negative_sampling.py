r"""Negative sampling by corruption, and 1-N targets."""
from typing import Optional, Tuple

import torch
from torch import Tensor

from pyg_kgc.evaluation.known_triples import KnownTriples, check_triples


def bernoulli_head_probability(edge_index: Tensor, edge_type: Tensor,
                               num_relations: int) -> Tensor:
    r"""The probability of corrupting the head of a triple of each relation
    in Bernoulli negative sampling (`Wang et al., 2014
    <https://ojs.aaai.org/index.php/AAAI/article/view/8870>`_):
    :math:`\mathrm{tph}_r / (\mathrm{tph}_r + \mathrm{hpt}_r)`, with
    :math:`\mathrm{tph}_r` the mean number of tails per head and
    :math:`\mathrm{hpt}_r` the mean number of heads per tail of relation
    :math:`r`, so that the side with many answers (the "N" of a 1-N
    relation) is rarely corrupted, which would likely give a true triple.
    Relations without triples get :math:`0.5`.

    :rtype: :class:`torch.Tensor` :math:`[R]`
    """
    head, tail = edge_index
    relation = edge_type.long()
    triples = torch.bincount(relation, minlength=num_relations).double()
    num_nodes = int(edge_index.max()) + 1 if edge_index.numel() else 1

    def distinct(anchor: Tensor) -> Tensor:
        pairs = torch.unique(relation * num_nodes + anchor)
        return torch.bincount(pairs // num_nodes,
                              minlength=num_relations).double()

    tails_per_head = triples / distinct(head).clamp(min=1)
    heads_per_tail = triples / distinct(tail).clamp(min=1)
    prob = tails_per_head / (tails_per_head + heads_per_tail)
    return torch.where(triples > 0, prob, torch.full_like(prob, 0.5)).float()


class NegativeSampler:
    r"""Corrupts the head or the tail of positive triples with entities
    drawn uniformly at random.

    Args:
        num_nodes (int): Number of entities to draw from.
        num_negatives (int, optional): Corruptions per positive triple.
            (default: :obj:`1`)
        head_probability (torch.Tensor, optional): Per relation, the
            probability of corrupting the head (see
            :func:`bernoulli_head_probability`). (default: :obj:`0.5`,
            uniform corruption)
        known (KnownTriples, optional): If given, corruptions that are
            known true triples (false negatives) are rejected and drawn
            again. (default: :obj:`None`)
        exclude_own (bool, optional): If set to :obj:`True`, the replacing
            entity is drawn uniformly from the entities other than the one
            it replaces, so that no corruption is the positive itself (as
            the official InGram code draws them; implied by :obj:`known`
            when it holds the positives). (default: :obj:`False`)

    Example:
        >>> sampler = NegativeSampler.bernoulli(data, num_negatives=10)
        >>> h, r, t = sampler(head, relation, tail)  # [B, 10] each
    """
    def __init__(self, num_nodes: int, num_negatives: int = 1,
                 head_probability: Optional[Tensor] = None,
                 known: Optional[KnownTriples] = None,
                 exclude_own: bool = False) -> None:
        if num_negatives < 1:
            raise ValueError(f"num_negatives must be positive, got "
                             f"{num_negatives}")
        if known is not None and known.num_nodes != num_nodes:
            raise ValueError(f"The known triples are of a graph of "
                             f"{known.num_nodes} entities, not {num_nodes}")
        self.num_nodes = num_nodes
        self.num_negatives = num_negatives
        self.head_probability = head_probability
        self.known = known
        if exclude_own and num_nodes < 2:
            raise ValueError("exclude_own needs at least 2 entities")
        self.exclude_own = exclude_own

    @classmethod
    def bernoulli(cls, data, num_negatives: int = 1,
                  filtered: bool = False) -> 'NegativeSampler':
        r"""Bernoulli corruption with statistics of the message triples of
        :obj:`data`; with :obj:`filtered`, rejecting the known triples of
        :obj:`data`'s filter."""
        prob = bernoulli_head_probability(data.edge_index, data.edge_type,
                                          data.num_relations)
        known = KnownTriples.from_data(data) if filtered else None
        return cls(data.num_nodes, num_negatives, prob, known)

    def sample(
            self, head: Tensor, relation: Tensor, tail: Tensor,
            generator: Optional[torch.Generator] = None
    ) -> Tuple[Tensor, Tensor]:
        r"""Corruptions of the triples :obj:`(head, relation, tail)`
        (:math:`[B]` each) as the replacing entities and the replaced side,
        :math:`[B, k]` each with :math:`k` = :obj:`num_negatives`: the input
        of :meth:`~pyg_kgc.evaluation.KGScorer.score_corruptions`.

        :rtype: (:class:`torch.Tensor` entity ids, :class:`torch.Tensor`
            :obj:`corrupt_head`)
        """
        check_triples(torch.stack([head, tail]), relation, self.num_nodes,
                      self._num_relations(relation), 'positives')
        shape = (head.numel(), self.num_negatives)
        if self.head_probability is None:
            prob = torch.full(shape, 0.5, device=head.device)
        else:
            prob = self.head_probability.to(head.device)[relation]
            prob = prob.view(-1, 1).expand(shape)
        corrupt_head = torch.rand(shape, generator=generator,
                                  device=head.device) < prob
        if self.known is None:
            high = self.num_nodes - int(self.exclude_own)
            entity = torch.randint(high, shape, generator=generator,
                                   device=head.device)
            if self.exclude_own:  # skip the replaced entity
                own = torch.where(corrupt_head, head.view(-1, 1),
                                  tail.view(-1, 1))
                entity += (entity >= own).to(entity.dtype)
        else:
            k = self.num_negatives
            entity = self.known.sample_corruptions(
                head.repeat_interleave(k), relation.repeat_interleave(k),
                tail.repeat_interleave(k), corrupt_head.view(-1), 1,
                generator).view(shape)
        return entity, corrupt_head

    def __call__(
        self, head: Tensor, relation: Tensor, tail: Tensor,
        generator: Optional[torch.Generator] = None
    ) -> Tuple[Tensor, Tensor, Tensor]:
        r"""Corruptions of the triples :obj:`(head, relation, tail)`
        (:math:`[B]` each), as :math:`[B, k]` head, relation and tail ids
        with :math:`k` = :obj:`num_negatives` (see :meth:`sample`)."""
        entity, corrupt_head = self.sample(head, relation, tail, generator)
        neg_head = torch.where(corrupt_head, entity, head.view(-1, 1))
        neg_tail = torch.where(corrupt_head, tail.view(-1, 1), entity)
        return (neg_head, relation.view(-1, 1).expand_as(entity).contiguous(),
                neg_tail)

    def _num_relations(self, relation: Tensor) -> int:
        if self.head_probability is not None:
            return self.head_probability.numel()
        if self.known is not None:
            return self.known.num_relations
        return int(relation.max()) + 1 if relation.numel() else 1

    def __repr__(self) -> str:
        kind = 'uniform' if self.head_probability is None else 'bernoulli'
        return (f'{self.__class__.__name__}({kind}, num_negatives='
                f'{self.num_negatives}, filtered={self.known is not None})')


def one_to_n_targets(anchor: Tensor, relation: Tensor, known: KnownTriples,
                     side: str = 'tail',
                     label_smoothing: float = 0.0) -> Tensor:
    r"""Dense 1-N targets: for every query :math:`(h, r, ?)` (side
    :obj:`"tail"`, :obj:`anchor` = heads) or :math:`(?, r, t)` (side
    :obj:`"head"`, :obj:`anchor` = tails), :math:`1` at every known answer
    and :math:`0` elsewhere, smoothed to :math:`(1 - \epsilon) y +
    \epsilon / N` (label smoothing, :math:`\epsilon` =
    :obj:`label_smoothing`; ConvE's and LibKGE's code add :math:`1 / N`
    instead of :math:`\epsilon / N`, see ``examples/kge_transductive.py``).

    :rtype: :class:`torch.Tensor` :math:`[B, N]`
    """
    if side == 'tail':
        row, col = known.tails(anchor, relation)
    elif side == 'head':
        row, col = known.heads(relation, anchor)
    else:
        raise ValueError(f"side must be 'head' or 'tail', got {side!r}")
    targets = torch.zeros((anchor.numel(), known.num_nodes),
                          device=anchor.device)
    targets[row, col] = 1.0
    if label_smoothing > 0:
        targets = (1 - label_smoothing) * targets + (label_smoothing /
                                                     known.num_nodes)
    return targets


def in_batch_candidates(
        positive: Tensor, num_nodes: int, num_global: Optional[int] = None,
        generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
    r"""A shared candidate set for a batch of queries: the true answers of
    all queries of the batch (every query's answer is a negative of the
    others, "in-batch negatives") and :obj:`num_global` entities drawn
    uniformly from all :obj:`num_nodes` ("global negatives"), as ReFactor
    GNNs are trained (`Chen et al., 2022
    <https://arxiv.org/abs/2207.09980>`_, Section 5: one global negative per
    positive). Each entity appears once, so a query never competes with a
    copy of its own answer; the other answers of a query that happen to be
    in the set are not filtered (as in the paper).

    Score the queries against the set with
    :meth:`~pyg_kgc.evaluation.KGScorer.score_tails` (or
    :meth:`~pyg_kgc.evaluation.KGScorer.score_heads`) and train with
    :func:`~pyg_kgc.training.cross_entropy_loss` on the returned targets.

    Args:
        positive (torch.Tensor): The true answer of each query, :math:`[B]`.
        num_nodes (int): Number of entities to draw global negatives from.
        num_global (int, optional): Number of global negatives.
            (default: :math:`B`, one per positive)
        generator (torch.Generator, optional): The random generator.

    :rtype: (:class:`torch.Tensor` candidate ids :math:`[C]`,
        :class:`torch.Tensor` target :math:`[B]`, the position of each
        positive among the candidates)
    """
    if num_nodes < 1:
        raise ValueError(f"num_nodes must be positive, got {num_nodes}")
    positive = positive.view(-1).long()
    if positive.numel() == 0:
        raise ValueError("in_batch_candidates needs at least one positive")
    if int(positive.min()) < 0 or int(positive.max()) >= num_nodes:
        raise IndexError(f"Positive entity ids must lie in [0, {num_nodes}),"
                         f" got [{int(positive.min())}, "
                         f"{int(positive.max())}]")
    num_global = positive.numel() if num_global is None else num_global
    if num_global < 0:
        raise ValueError(f"num_global must be non-negative, got "
                         f"{num_global}")
    drawn = torch.randint(num_nodes, (num_global, ), generator=generator,
                          device=positive.device)
    candidates, position = torch.unique(torch.cat([positive, drawn]),
                                        return_inverse=True)
    return candidates, position[:positive.numel()]
