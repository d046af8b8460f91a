r"""Losses of knowledge graph embedding training.

Scores follow the convention of :class:`~pyg_kgc.evaluation.KGScorer`:
higher is more plausible. Positive scores are :math:`[B]`, negative scores
:math:`[B, k]` (the :math:`k` corruptions of each positive).
"""
import torch
import torch.nn.functional as F
from torch import Tensor


def _check(positive: Tensor, negative: Tensor) -> None:
    if negative.dim() != 2 or negative.size(0) != positive.numel():
        raise ValueError(f"Expected negative scores of shape "
                         f"[{positive.numel()}, k], got "
                         f"{list(negative.shape)}")


def margin_ranking_loss(positive: Tensor, negative: Tensor,
                        margin: float = 1.0) -> Tensor:
    r"""The margin ranking loss of TransE (Bordes et al., 2013),
    :math:`\frac{1}{Bk} \sum_{i,j} \max(0, \gamma - s_i + s'_{ij})`, which
    asks every positive to score :math:`\gamma` = :obj:`margin` above each
    of its negatives."""
    _check(positive, negative)
    return F.relu(margin - positive.view(-1, 1) + negative).mean()


def binary_cross_entropy_loss(positive: Tensor, negative: Tensor,
                              label_smoothing: float = 0.0) -> Tensor:
    r"""Binary cross-entropy with logits (the softplus loss of Trouillon et
    al., 2016): positives labelled :math:`1`, negatives :math:`0` (smoothed
    towards :math:`\epsilon / 2` by :obj:`label_smoothing` :math:`\epsilon`),
    averaged over positives and, separately, over negatives, and summed."""
    _check(positive, negative)
    eps = label_smoothing
    pos = F.binary_cross_entropy_with_logits(
        positive, torch.full_like(positive, 1 - eps / 2))
    neg = F.binary_cross_entropy_with_logits(
        negative, torch.full_like(negative, eps / 2))
    return pos + neg


def self_adversarial_loss(positive: Tensor, negative: Tensor,
                          margin: float = 0.0,
                          temperature: float = 1.0) -> Tensor:
    r"""The self-adversarial negative sampling loss of RotatE (Sun et al.,
    2019):

    .. math::
        -\log \sigma(\gamma + s) - \sum_{j} p_j \log \sigma(-s'_j - \gamma),
        \qquad p_j = \frac{\exp(\alpha s'_j)}{\sum_{l} \exp(\alpha s'_l)},

    with scores :math:`s = -d` for distance-based models, :math:`\gamma` =
    :obj:`margin` and :math:`\alpha` = :obj:`temperature`; the weights
    :math:`p_j` emphasise hard negatives and carry no gradient. Averaged
    over positives."""
    _check(positive, negative)
    weights = torch.softmax(temperature * negative.detach(), dim=1)
    pos = -F.logsigmoid(margin + positive)
    neg = -(weights * F.logsigmoid(-negative - margin)).sum(dim=1)
    return (pos + neg).mean()


def cross_entropy_loss(scores: Tensor, target: Tensor,
                       label_smoothing: float = 0.0) -> Tensor:
    r"""Cross-entropy of the softmax over all candidates (1-N scoring,
    e.g. :math:`(h, r, ?)` against every entity), as in Lacroix et al.
    (2018).

    Args:
        scores (torch.Tensor): :math:`[B, N]`.
        target (torch.Tensor): The true candidate of each row, :math:`[B]`
            (:obj:`torch.long`), or dense targets :math:`[B, N]` (e.g. from
            :func:`~pyg_kgc.training.one_to_n_targets`), normalised per
            row.
        label_smoothing (float, optional): Smoothing of index targets, as
            :func:`torch.nn.functional.cross_entropy`. (default: :obj:`0.0`)
    """
    if target.dim() == 2:
        if target.shape != scores.shape:
            raise ValueError(f"Dense targets of shape {list(target.shape)} "
                             f"do not match scores {list(scores.shape)}")
        target = target / target.sum(dim=1, keepdim=True).clamp(min=1e-12)
        return -(target * torch.log_softmax(scores, dim=1)).sum(dim=1).mean()
    return F.cross_entropy(scores, target, label_smoothing=label_smoothing)


def one_to_n_bce_loss(scores: Tensor, targets: Tensor) -> Tensor:
    r"""Binary cross-entropy of every candidate's score against dense 1-N
    targets in :math:`[0, 1]` (ConvE's loss, Dettmers et al., 2018)."""
    if targets.shape != scores.shape:
        raise ValueError(f"Targets of shape {list(targets.shape)} do not "
                         f"match scores {list(scores.shape)}")
    return F.binary_cross_entropy_with_logits(scores, targets)
