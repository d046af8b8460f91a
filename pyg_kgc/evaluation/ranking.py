r"""Ranks with ties, and the metrics computed from them."""
from dataclasses import dataclass, field
from typing import Dict, Iterable, Optional, Tuple

import torch
from torch import Tensor

TIES = ('optimistic', 'pessimistic', 'realistic')
SIDES = ('head', 'tail')


def check_sides(sides: Iterable[str]) -> Tuple[str, ...]:
    r"""The query sides as a tuple, each :obj:`"head"` or :obj:`"tail"`;
    raises a :class:`ValueError` on any other."""
    sides = tuple(sides)
    for side in sides:
        if side not in SIDES:
            raise ValueError(f"Unknown side {side!r} in sides; expected "
                             f"'head' and/or 'tail'")
    return sides


def check_score_shape(scores: Tensor, side: str, num_queries: int,
                      num_candidates: int) -> None:
    r"""Raises a :class:`ValueError` unless :obj:`scores`, returned by a
    scorer's :obj:`score_{side}s`, have the shape :math:`[Q, C]`."""
    if scores.shape != (num_queries, num_candidates):
        raise ValueError(f"score_{side}s returned shape {list(scores.shape)}, "
                         f"expected {[num_queries, num_candidates]}")


def check_finite_scores(scores: Tensor) -> None:
    r"""Raises a :class:`ValueError` if :obj:`scores` hold a NaN (a NaN
    compares false with everything and would silently rank first)."""
    total = scores.sum()
    if not bool(torch.isfinite(total)) and bool(torch.isnan(scores).any()):
        rows = torch.isnan(scores).any(dim=-1).nonzero().view(-1)
        raise ValueError(f"The scorer returned NaN scores for {rows.numel()} "
                         f"queries of the batch (first: row {int(rows[0])})")


def filtered_ranks(
        scores: Tensor, target: Tensor, filter_row: Optional[Tensor] = None,
        filter_col: Optional[Tensor] = None,
        workspace: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    r"""The rank of :obj:`scores[i, target[i]]` within row :obj:`i`,
    leaving out the filtered entries :obj:`scores[filter_row,
    filter_col]` (other than the target itself, which is never left out).

    With :math:`s^*` the target's score and :math:`\mathcal{F}_i` the
    filtered columns of row :math:`i` other than the target, the optimistic
    rank is :math:`1 + |\{j \notin \mathcal{F}_i : s_j > s^*\}|` and the
    pessimistic rank :math:`|\{j \notin \mathcal{F}_i : s_j \geq
    s^*\}|` (the target counts itself); they differ by the number of ties,
    and their mean is the expected rank under random tie breaking.

    Comparisons followed by integer sums, twice, would be the slow part of
    ranking; the scores are read once instead: with :math:`\sigma_j =
    \mathrm{sign}(s_j - s^*)`, set to :math:`0` at filtered entries,
    :math:`\sum_j \sigma_j = n_> - n_<` and :math:`\sum_j |\sigma_j| = n_>
    + n_<`, floating point sums of :math:`\pm 1` that are exact below
    :math:`2^{24}` candidates, and the zeros are the ties plus the filtered
    entries. The sign of a difference of two floats is the sign of their
    comparison (IEEE 754 with subnormals, PyTorch's default). A batch with
    non-finite scores is counted by exact comparisons instead, which raise
    on NaN.

    Args:
        scores (torch.Tensor): :math:`[B, C]`, any strides (a transposed
            view of a :math:`[C, B]` product works as fast).
        target (torch.Tensor): The column of the true answer of each row,
            :math:`[B]`.
        filter_row, filter_col (torch.Tensor, optional): Entries to leave
            out, :math:`[F]` each, without duplicates; they may include the
            targets.
        workspace (torch.Tensor, optional): Scratch space of the shape,
            dtype and strides of :obj:`scores`, reused across calls; it may
            be :obj:`scores` itself, which is then overwritten.

    :rtype: (:class:`torch.Tensor`, :class:`torch.Tensor`), the optimistic
        and pessimistic ranks, :math:`[B]` each, :obj:`torch.long`.
    """
    num_rows, num_candidates = scores.shape
    target = target.view(-1, 1)
    true = scores.gather(1, target)
    if filter_row is None:
        filter_row = filter_col = target.new_empty(0)
    num_filtered = torch.bincount(filter_row, minlength=num_rows)
    is_target = filter_col == target.view(-1)[filter_row]
    target_filtered = torch.bincount(filter_row, weights=is_target.double(),
                                     minlength=num_rows).long()
    if (scores.is_floating_point() and num_candidates < (1 << 24)
            and bool(torch.isfinite(scores.sum()))):
        # Finite scores (NaN would turn into a sign of 0): the differences
        # are finite or overflow to +-inf, and their signs are exact.
        sign = torch.sub(scores, true, out=workspace).sign_()
        sign[filter_row, filter_col] = 0
        difference = sign.sum(dim=1, dtype=torch.float32)
        unequal = sign.abs_().sum(dim=1, dtype=torch.float32)
        greater = ((difference + unequal) / 2).round_().long()
        zeros = num_candidates - unequal.round_().long()
        # Zeros: the target, its unfiltered ties, the filtered others.
        ties = zeros - num_filtered + target_filtered - 1
        return greater + 1, greater + 1 + ties
    check_finite_scores(scores)
    values = scores[filter_row, filter_col]
    true_of_row = true.view(-1)[filter_row]
    greater = (scores > true).sum(dim=1) - torch.bincount(
        filter_row[values > true_of_row], minlength=num_rows)
    greater_equal = (scores >= true).sum(dim=1) - torch.bincount(
        filter_row[values >= true_of_row], minlength=num_rows)
    return greater + 1, greater_equal + target_filtered


def ranks_with_ties(optimistic: Tensor, pessimistic: Tensor,
                    ties: str = 'realistic') -> Tensor:
    r"""The ranks under a tie policy: :obj:`"optimistic"`,
    :obj:`"pessimistic"`, or :obj:`"realistic"` (their mean, the expected
    rank under random tie breaking) as :obj:`torch.float64`."""
    if ties == 'optimistic':
        return optimistic.double()
    if ties == 'pessimistic':
        return pessimistic.double()
    if ties == 'realistic':
        return (optimistic.double() + pessimistic.double()) / 2
    raise ValueError(f"Unknown tie policy {ties!r}; expected one of {TIES}")


def rank_metrics(ranks: Tensor,
                 ks: Iterable[int] = (1, 3, 10)) -> Dict[str, float]:
    r"""MRR, MR and Hits@k of :obj:`ranks`."""
    if ranks.numel() == 0:
        raise ValueError("No ranks to compute metrics from")
    ranks = ranks.double()
    out = {
        'mrr': float((1.0 / ranks).mean()),
        'mr': float(ranks.mean()),
    }
    for k in ks:
        out[f'hits@{k}'] = float((ranks <= k).double().mean())
    return out


@dataclass
class RankingResult:
    r"""The optimistic and pessimistic ranks of every query, per side
    (:obj:`"head"`: the true head ranked among candidate heads,
    :obj:`"tail"`: the true tail among candidate tails), in query order.

    :meth:`metrics` computes MRR, MR and Hits@k for each side and for both
    (the mean over all head and tail ranks)."""
    optimistic: Dict[str, Tensor] = field(default_factory=dict)
    pessimistic: Dict[str, Tensor] = field(default_factory=dict)

    def ranks(self, side: str = 'both', ties: str = 'realistic') -> Tensor:
        r"""The ranks of :obj:`side` (:obj:`"head"`, :obj:`"tail"` or
        :obj:`"both"`) under the tie policy :obj:`ties`."""
        sides = [s for s in SIDES if s in self.optimistic]
        if side != 'both':
            if side not in self.optimistic:
                raise KeyError(f"No {side} ranks; evaluated sides: {sides}")
            sides = [side]
        return torch.cat([
            ranks_with_ties(self.optimistic[s], self.pessimistic[s], ties)
            for s in sides
        ])

    def metrics(
        self, ties: str = 'realistic', ks: Iterable[int] = (1, 3, 10)
    ) -> Dict[str, Dict[str, float]]:
        r"""Metrics per side and for :obj:`"both"`, e.g.
        :obj:`result.metrics()["both"]["mrr"]`."""
        ks = tuple(ks)
        sides = [s for s in SIDES if s in self.optimistic]
        return {
            side: rank_metrics(self.ranks(side, ties), ks)
            for side in sides + ['both']
        }

    def __repr__(self) -> str:
        sides = [s for s in SIDES if s in self.optimistic]
        n = {s: self.optimistic[s].numel() for s in sides}
        return f'{self.__class__.__name__}(queries={n})'
