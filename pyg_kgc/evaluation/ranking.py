r"""Ranks with ties, and the metrics computed from them."""
from dataclasses import dataclass, field
from typing import Dict, Iterable, Optional, Tuple

import torch
from torch import Tensor

TIES = ('optimistic', 'pessimistic', 'realistic')
SIDES = ('head', 'tail')


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
        filter_col: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    r"""The rank of :obj:`scores[i, target[i]]` within row :obj:`i`,
    leaving out the filtered entries :obj:`scores[filter_row,
    filter_col]`.

    With :math:`s^*` the target's score and :math:`\mathcal{F}_i` the
    filtered columns of row :math:`i` (which must not contain the target),
    the optimistic rank is :math:`1 + |\{j \notin \mathcal{F}_i : s_j >
    s^*\}|` and the pessimistic rank :math:`|\{j \notin \mathcal{F}_i : s_j
    \geq s^*\}|` (the target counts itself); they differ by the number of
    ties, and their mean is the expected rank under random tie breaking.

    Args:
        scores (torch.Tensor): :math:`[B, C]`, any strides (a transposed
            view of a :math:`[C, B]` product works as fast).
        target (torch.Tensor): The column of the true answer of each row,
            :math:`[B]`.
        filter_row, filter_col (torch.Tensor, optional): Entries to leave
            out, :math:`[F]` each.

    :rtype: (:class:`torch.Tensor`, :class:`torch.Tensor`), the optimistic
        and pessimistic ranks, :math:`[B]` each, :obj:`torch.long`.
    """
    check_finite_scores(scores)
    true = scores.gather(1, target.view(-1, 1))
    greater = (scores > true).sum(dim=1)
    greater_equal = (scores >= true).sum(dim=1)
    if filter_row is not None and filter_row.numel() > 0:
        values = scores[filter_row, filter_col]
        true_of_row = true.view(-1)[filter_row]
        greater -= torch.zeros_like(greater).index_add_(
            0, filter_row, (values > true_of_row).long())
        greater_equal -= torch.zeros_like(greater).index_add_(
            0, filter_row, (values >= true_of_row).long())
    return greater + 1, greater_equal


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
