r"""The one interface between link predictors and everything that judges or
trains them (evaluators, negative sampling, losses)."""
from typing import Optional

import torch
from torch import Tensor


class KGScorer:
    r"""Scores :math:`(h, r, t)` triples of one graph; higher means more
    plausible.

    A subclass implements :meth:`score_triples` and, where the decoder
    allows it, faster :meth:`score_tails` / :meth:`score_heads` (a matrix
    product for DistMult, ComplEx or bilinear decoders). The defaults score
    every candidate through :meth:`score_triples`, :obj:`chunk_size`
    triples at a time, so that memory stays bounded by the
    :math:`[B, C]` output.

    :meth:`score_tails` and :meth:`score_heads` take an optional
    :obj:`out`, a :math:`[B, C]` tensor that an implementation may write
    its scores into and return, so that callers scoring batch after batch
    (the evaluator) recycle one buffer instead of allocating fresh memory
    every time; an implementation is free to ignore it (e.g. when its
    layout does not suit).

    Subclasses set :obj:`num_entities` and :obj:`num_relations` (as
    attributes or properties).
    """
    num_entities: int
    num_relations: int

    #: Triples scored at once by the default :meth:`score_tails` and
    #: :meth:`score_heads`.
    chunk_size: int = 1 << 20

    def score_triples(self, head: Tensor, relation: Tensor,
                      tail: Tensor) -> Tensor:
        r"""Scores of the triples :obj:`(head[i], relation[i], tail[i])`.

        Args:
            head, relation, tail (torch.Tensor): Ids, :math:`[B]` each.

        :rtype: :class:`torch.Tensor` :math:`[B]`
        """
        raise NotImplementedError

    def score_tails(self, head: Tensor, relation: Tensor,
                    candidates: Optional[Tensor] = None,
                    out: Optional[Tensor] = None) -> Tensor:
        r"""Scores of :obj:`(head[i], relation[i], c)` for every candidate
        tail :obj:`c`.

        Args:
            head, relation (torch.Tensor): Ids, :math:`[B]` each.
            candidates (torch.Tensor, optional): Candidate entity ids
                :math:`[C]`. (default: all :obj:`num_entities` entities)
            out (torch.Tensor, optional): A buffer for the scores, see
                above. (default: :obj:`None`)

        :rtype: :class:`torch.Tensor` :math:`[B, C]`
        """
        return self._expand(head, relation, candidates, True, out)

    def score_heads(self, relation: Tensor, tail: Tensor,
                    candidates: Optional[Tensor] = None,
                    out: Optional[Tensor] = None) -> Tensor:
        r"""Scores of :obj:`(c, relation[i], tail[i])` for every candidate
        head :obj:`c`.

        Args:
            relation, tail (torch.Tensor): Ids, :math:`[B]` each.
            candidates (torch.Tensor, optional): Candidate entity ids
                :math:`[C]`. (default: all :obj:`num_entities` entities)
            out (torch.Tensor, optional): A buffer for the scores, see
                above. (default: :obj:`None`)

        :rtype: :class:`torch.Tensor` :math:`[B, C]`
        """
        return self._expand(tail, relation, candidates, False, out)

    def score_corruptions(self, head: Tensor, relation: Tensor, tail: Tensor,
                          entity: Tensor, corrupt_head: Tensor) -> Tensor:
        r"""Scores of :math:`k` corruptions of each triple
        :obj:`(head[i], relation[i], tail[i])`: :obj:`entity[i, j]` replaces
        the head where :obj:`corrupt_head[i, j]`, else the tail (the output
        of :meth:`~pyg_kgc.training.NegativeSampler.sample`).
        Implementations may compute what the corruptions of a triple share
        once; the default scores every corrupted triple.

        Args:
            head, relation, tail (torch.Tensor): Ids, :math:`[B]` each.
            entity (torch.Tensor): Replacing entity ids, :math:`[B, k]`.
            corrupt_head (torch.Tensor): Boolean, :math:`[B, k]`.

        :rtype: :class:`torch.Tensor` :math:`[B, k]`
        """
        h = torch.where(corrupt_head, entity, head.view(-1, 1))
        t = torch.where(corrupt_head, tail.view(-1, 1), entity)
        r = relation.view(-1, 1).expand_as(entity)
        return self.score_triples(h.reshape(-1), r.reshape(-1),
                                  t.reshape(-1)).view(entity.shape)

    def _expand(self, anchor: Tensor, relation: Tensor,
                candidates: Optional[Tensor], tails: bool,
                out: Optional[Tensor]) -> Tensor:
        if candidates is None:
            candidates = torch.arange(self.num_entities, device=anchor.device)
        num_candidates = candidates.numel()
        if num_candidates == 0 or anchor.numel() == 0:
            return torch.empty((anchor.numel(), num_candidates),
                               device=anchor.device)
        rows = max(1, self.chunk_size // num_candidates)
        if out is not None and out.shape != (anchor.numel(), num_candidates):
            out = None
        for start in range(0, anchor.numel(), rows):
            a = anchor[start:start + rows].repeat_interleave(num_candidates)
            r = relation[start:start + rows].repeat_interleave(num_candidates)
            c = candidates.repeat(min(rows, anchor.numel() - start))
            scores = (self.score_triples(a, r, c)
                      if tails else self.score_triples(c, r, a))
            if out is None or out.dtype != scores.dtype:
                out = scores.new_empty((anchor.numel(), num_candidates))
            out[start:start + rows] = scores.view(-1, num_candidates)
        assert out is not None
        return out


class ReciprocalScorer(KGScorer):
    r"""Answers the head queries :math:`(?, r, t)` of a model trained with
    reciprocal relations (every training triple also as :math:`(t, r + R,
    h)`, e.g. with :class:`~pyg_kgc.transforms.AddInverseRelations` and
    :obj:`targets=True`, and tail queries only; Lacroix et al., 2018) as the
    tail queries :math:`(t, r + R, ?)`.

    Args:
        scorer (KGScorer): The model, with :math:`2R` relations.
        num_relations (int): :math:`R`, the number of original relations.
    """
    def __init__(self, scorer: KGScorer, num_relations: int) -> None:
        if scorer.num_relations != 2 * num_relations:
            raise ValueError(f"A reciprocal model of {num_relations} "
                             f"relations has {2 * num_relations}, not "
                             f"{scorer.num_relations}")
        self.scorer = scorer
        self.num_entities = scorer.num_entities
        self.num_relations = num_relations

    def score_triples(self, head: Tensor, relation: Tensor,
                      tail: Tensor) -> Tensor:
        return self.scorer.score_triples(head, relation, tail)

    def score_tails(self, head: Tensor, relation: Tensor,
                    candidates: Optional[Tensor] = None,
                    out: Optional[Tensor] = None) -> Tensor:
        return self.scorer.score_tails(head, relation, candidates, out)

    def score_heads(self, relation: Tensor, tail: Tensor,
                    candidates: Optional[Tensor] = None,
                    out: Optional[Tensor] = None) -> Tensor:
        return self.scorer.score_tails(tail, relation + self.num_relations,
                                       candidates, out)
