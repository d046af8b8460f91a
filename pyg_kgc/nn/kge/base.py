r"""The base class of knowledge graph embedding decoders, and the bridge from
a decoder and entity representations to the scoring interface."""
import math
from typing import Callable, List, Optional, Sequence, Union

import torch
from torch import Tensor
from torch.nn import Parameter

from pyg_kgc.evaluation.scoring import KGScorer
from pyg_kgc.utils.sparse import sampled_dot


def matmul_scores(candidates: Tensor, queries: Tensor,
                  out: Optional[Tensor] = None) -> Tensor:
    r"""The scores :math:`[B, C]` of :math:`B` query vectors against
    :math:`C` candidate vectors, :math:`(\mathbf{C} \mathbf{Q}^{\top})^
    {\top}`: computed as a :math:`[C, B]` product (several times faster
    than :math:`\mathbf{Q} \mathbf{C}^{\top}` for few queries and many
    candidates with CPU BLAS) and returned as a transposed view; written
    into :obj:`out` when that is a transposed :math:`[C, B]` buffer of the
    right shape and dtype (and no gradient is needed)."""
    if (out is not None and out.shape == (queries.size(0), candidates.size(0))
            and out.t().is_contiguous() and out.dtype == queries.dtype
            and not (torch.is_grad_enabled() and
                     (queries.requires_grad or candidates.requires_grad))):
        return torch.mm(candidates, queries.t(), out=out.t()).t()
    return (candidates @ queries.t()).t()


def lp_norm(x: Tensor, p: int, dim: int = -1) -> Tensor:
    r"""The L1 (:obj:`p=1`) or L2 (:obj:`p=2`) norms of :obj:`x` along
    :obj:`dim`, with the (sub)gradients of :func:`torch.linalg.vector_norm`
    (:math:`0` where an L1 coordinate or an L2 norm is :math:`0`). The L1
    norm is summed absolute values: :func:`torch.linalg.vector_norm` with
    :obj:`ord=1` reduces several times slower on CPU (10.6 ms against
    2.7 ms for :math:`[1024, 32, 200]` floats on one thread)."""
    if p == 1:
        return x.abs().sum(dim)
    return torch.linalg.vector_norm(x, ord=p, dim=dim)


def pair_moduli(pairs: Tensor, out: Optional[Tensor] = None) -> Tensor:
    r"""The moduli :math:`\sqrt{a^2 + b^2}` of pairs :math:`[*, 2]` (written
    into :obj:`out` if given), not differentiable: a product, a fused
    multiply-add and a square root over the strided halves, four times
    faster on CPU than :func:`torch.linalg.vector_norm` over a last
    dimension of size 2 (5.6 ms against 22.7 ms for :math:`[1024, 32, 100,
    2]` floats on one thread). Like it, no rescaling: squares beyond the
    dtype's range overflow."""
    re, im = pairs[..., 0], pairs[..., 1]
    return torch.mul(re, re, out=out).addcmul_(im, im).sqrt_()


def dot_corruptions(tail_query: Tensor, head_query: Tensor, candidates: Tensor,
                    corrupt_head: Tensor) -> Tensor:
    r"""Scores :math:`\langle \mathbf{q}, \mathbf{c}_{ij} \rangle` of
    per-row candidates :math:`[B, k, d]` against the tail query (where
    :obj:`corrupt_head` is false) or the head query :math:`[B, d]` of their
    row: both from one batched product that reads the candidates once."""
    both = candidates @ torch.stack([tail_query, head_query], dim=-1)
    return torch.where(corrupt_head, both[..., 1], both[..., 0])


def _stacked_queries(tail_query: Tensor, head_query: Tensor) -> Tensor:
    r"""The :math:`[2B, d]` stack of the queries of :math:`B` triples: row
    :math:`2i` is triple :math:`i`'s tail query, row :math:`2i + 1` its head
    query."""
    return torch.stack([tail_query, head_query], dim=1).flatten(0, 1)


def _query_rows(corrupt_head: Tensor) -> Tensor:
    r"""For the corruptions :math:`[B, k]`, the row of each one's query in
    :func:`_stacked_queries`, flattened to :math:`[B k]`."""
    row = 2 * torch.arange(corrupt_head.size(0), device=corrupt_head.device)
    return (row.view(-1, 1) + corrupt_head.long()).view(-1)


def sampled_dot_corruptions(tail_query: Tensor, head_query: Tensor,
                            entity: Tensor, candidates: Tensor,
                            corrupt_head: Tensor) -> Tensor:
    r"""Scores :math:`\langle \mathbf{q}_{ij}, \mathbf{e}_{c_{ij}}
    \rangle` of corruptions given as ids :obj:`candidates` :math:`[B, k]`
    into the entity table :obj:`entity` :math:`[N, d]`, with
    :math:`\mathbf{q}_{ij}` row :math:`i`'s head query where
    :obj:`corrupt_head[i, j]`, else its tail query: one
    :func:`~pyg_kgc.utils.sampled_dot` of the :math:`[2B, d]` queries and
    the table, without gathering :math:`[B, k, d]` tensors of either."""
    if corrupt_head.shape != candidates.shape:
        raise ValueError(f"corrupt_head must have the shape of the "
                         f"candidates {list(candidates.shape)}, got "
                         f"{list(corrupt_head.shape)}")
    queries = _stacked_queries(tail_query, head_query)
    return sampled_dot(queries, entity.to(queries.dtype),
                       _query_rows(corrupt_head),
                       candidates.reshape(-1)).view(candidates.shape)


def select_queries(tail_query: Tensor, head_query: Tensor,
                   corrupt_head: Tensor) -> Tensor:
    r"""For every corruption :math:`(i, j)`, the head query of row
    :math:`i` where :obj:`corrupt_head[i, j]`, else its tail query:
    :math:`[B, k, q]` from :math:`[B, q]` queries, gathered with
    :func:`torch.index_select` (whose backward is one :obj:`index_add_`,
    unlike a broadcast :func:`torch.where`'s)."""
    num_rows, k = corrupt_head.shape
    both = _stacked_queries(tail_query, head_query)
    return both.index_select(0,
                             _query_rows(corrupt_head)).view(num_rows, k, -1)


def _chunked_l1(x: Tensor, chunk_bytes: int = 1 << 20) -> Tensor:
    r"""The L1 norms of :obj:`x` :math:`[*, d]` along the last dimension,
    with the absolute values made a block of rows at a time: a temporary as
    large as :obj:`x` is a fresh allocation that the operating system
    fills with zeroed pages on every call (a third of a TransE training
    step's time on CPU), a block of about a megabyte is reused."""
    flat = x.reshape(-1, x.size(-1))
    out = flat.new_empty(flat.size(0))
    rows = max(1, chunk_bytes // max(1, flat.size(1) * flat.element_size()))
    for start in range(0, flat.size(0), rows):
        block = flat[start:start + rows]
        torch.sum(block.abs(), dim=-1, out=out[start:start + rows])
    return out.view(x.shape[:-1])


class _CorruptionDistances(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tail_query: Tensor, head_query: Tensor, entity: Tensor,
                candidates: Tensor, corrupt_head: Tensor,
                p: Union[int, str]) -> Tensor:
        num_rows, k = candidates.shape
        # c - q, built in the gathered candidates' memory: minus the tail
        # query everywhere, plus (tail query - head query) where the head
        # is replaced; no [B, k, d] tensor of queries.
        diff = entity.index_select(0, candidates.reshape(-1))
        diff = diff.view(num_rows, k, -1).sub_(tail_query.unsqueeze(1))
        diff.addcmul_(
            corrupt_head.unsqueeze(-1).to(diff.dtype),
            (tail_query - head_query).unsqueeze(1))
        # Keep only what the backward pass needs, in the same memory: the
        # derivative of the distance in c (the signs, the unit vector, or
        # the unit vector of every (re, im) pair; 0 where undefined).
        tiny = torch.finfo(diff.dtype).tiny
        if p == 1:
            out = _chunked_l1(diff)
            diff.sign_()
        elif p == 2:
            out = torch.linalg.vector_norm(diff, ord=2, dim=-1)
            diff.div_(out.clamp_min(tiny).unsqueeze(-1))
        else:  # 'complex': the sum of the moduli of the (re, im) pairs
            pairs = diff.unflatten(-1, (-1, 2))
            modulus = pair_moduli(pairs)
            out = modulus.sum(dim=-1)
            pairs.div_(modulus.clamp_min_(tiny).unsqueeze(-1))
        ctx.save_for_backward(diff, candidates, corrupt_head)
        ctx.num_entities = entity.size(0)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        # The kept [B, k, d] derivatives become the weights in place (no
        # fresh allocation); a second backward pass through the same graph
        # is refused by autograd's check of saved tensors.
        derivative, candidates, corrupt_head = ctx.saved_tensors
        weight = derivative.mul_(grad.unsqueeze(-1))
        num_rows, k, dim = weight.shape
        flat = weight.view(-1, dim)
        grad_tail = grad_head = grad_entity = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            both = weight.new_zeros(2 * num_rows, dim)  # _stacked_queries
            both.index_add_(0, _query_rows(corrupt_head), flat,
                            alpha=-1)  # d / dq = -d / dc
            grad_tail, grad_head = both[0::2], both[1::2]
        if ctx.needs_input_grad[2]:
            grad_entity = weight.new_zeros(ctx.num_entities, dim)
            grad_entity.index_add_(0, candidates.reshape(-1), flat)
        return grad_tail, grad_head, grad_entity, None, None, None


def corruption_distances(tail_query: Tensor, head_query: Tensor,
                         entity: Tensor, candidates: Tensor,
                         corrupt_head: Tensor, p: Union[int,
                                                        str] = 1) -> Tensor:
    r"""Distances :math:`\| \mathbf{q}_{ij} - \mathbf{e}_{c_{ij}} \|` of the
    corruptions of :math:`B` triples, given as ids :obj:`candidates`
    :math:`[B, k]` into the entity table :obj:`entity` :math:`[N, d]`:
    :math:`\mathbf{q}_{ij}` is row :math:`i`'s head query where
    :obj:`corrupt_head[i, j]`, else its tail query (for TransE
    :math:`\mathbf{h} + \mathbf{r}` and :math:`\mathbf{t} - \mathbf{r}`,
    for RotatE :math:`\mathbf{h} \circ e^{i \theta}` and
    :math:`\mathbf{t} \circ e^{-i \theta}`). The distance is the L1
    (:obj:`p=1`) or L2 (:obj:`p=2`) norm, or (:obj:`p="complex"`) the sum
    of the moduli of complex coordinates stored as interleaved
    :math:`(\mathrm{re}, \mathrm{im})` pairs. Differentiable in the
    queries and the table, with derivative 0 where a coordinate difference
    (L1), the distance (L2) or a complex difference is 0.

    One :math:`[B, k, d]` tensor is made, by gathering the candidates, and
    turned in place into the differences, then the derivatives, then the
    backward pass's weights; the queries are never expanded to
    :math:`[B, k, d]`. The backward pass can therefore run once per graph:
    a second one (:obj:`retain_graph=True`) raises autograd's error about
    a saved tensor modified in place.

    :rtype: :class:`torch.Tensor` :math:`[B, k]`
    """
    if p not in (1, 2, 'complex'):
        raise ValueError(f"p must be 1, 2 or 'complex', got {p!r}")
    if (tail_query.dim() != 2 or tail_query.shape != head_query.shape
            or entity.dim() != 2 or entity.size(1) != tail_query.size(1)):
        raise ValueError(f"Expected queries [B, d] and an entity table "
                         f"[N, d], got {list(tail_query.shape)}, "
                         f"{list(head_query.shape)} and {list(entity.shape)}")
    if p == 'complex' and entity.size(1) % 2 != 0:
        raise ValueError(f"Complex coordinates need an even width, got "
                         f"{entity.size(1)}")
    if (candidates.shape != corrupt_head.shape or candidates.dim() != 2
            or candidates.size(0) != tail_query.size(0)):
        raise ValueError(f"candidates and corrupt_head must both be "
                         f"[{tail_query.size(0)}, k], got "
                         f"{list(candidates.shape)} and "
                         f"{list(corrupt_head.shape)}")
    if candidates.numel() and (int(candidates.min()) < 0
                               or int(candidates.max()) >= entity.size(0)):
        raise IndexError(f"Candidate ids must lie in [0, {entity.size(0)})")
    return _CorruptionDistances.apply(tail_query, head_query,
                                      entity.to(tail_query.dtype),
                                      candidates.long(), corrupt_head.bool(),
                                      p)


def check_relation_ids(relation: Tensor, num_relations: int) -> None:
    r"""Raises an :class:`IndexError` unless every relation id lies in
    :math:`[0, \text{num_relations})`."""
    if relation.numel() > 0 and (int(relation.min()) < 0
                                 or int(relation.max()) >= num_relations):
        raise IndexError(f"Relation ids must lie in [0, {num_relations}), "
                         f"got [{int(relation.min())}, "
                         f"{int(relation.max())}]")


class KGEDecoder(torch.nn.Module):
    r"""Base class of the decoders (interaction functions) :math:`f_r(h, t)`
    that score a triple from the representations of its head :math:`h`,
    relation :math:`r` and tail :math:`t`; higher is more plausible.

    The relation representations are either owned by the decoder (when
    :obj:`num_relations` is given; relations are then passed as
    :obj:`torch.long` ids) or supplied by the caller, e.g. an encoder that
    produces relation embeddings, as floating point tensors of width
    :obj:`relation_dim`. Both work everywhere a relation is expected.

    Subclasses implement :meth:`interaction` (broadcasting over leading
    dimensions) and, where it is a matrix product, faster
    :meth:`all_tails` / :meth:`all_heads`.

    Args:
        entity_dim (int): Width of entity representations.
        relation_dim (int): Width of relation representations.
        num_relations (int, optional): If given, the decoder owns a
            :math:`[\text{num_relations}, \text{relation_dim}]` relation
            embedding. (default: :obj:`None`)
    """
    #: Scores held at once as :math:`[B, C, d]` intermediates by the
    #: generic :meth:`all_tails` / :meth:`all_heads`.
    max_elements: int = 1 << 24

    def __init__(self, entity_dim: int, relation_dim: int,
                 num_relations: Optional[int] = None) -> None:
        super().__init__()
        self.entity_dim = entity_dim
        self.relation_dim = relation_dim
        self.num_relations = num_relations
        if num_relations is not None:
            self.relation_emb = Parameter(
                torch.empty(num_relations, relation_dim))
        else:
            self.register_parameter('relation_emb', None)

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        if self.relation_emb is not None:
            bound = 6 / math.sqrt(self.relation_dim)
            torch.nn.init.uniform_(self.relation_emb, -bound, bound)

    def relation(self, relation: Tensor) -> Tensor:
        r"""Relation representations: looked up for :obj:`torch.long` ids
        (if the decoder owns them), passed through for floating point
        representations."""
        if relation.is_floating_point() or relation.is_complex():
            if relation.size(-1) != self.relation_dim:
                raise ValueError(
                    f"{self.__class__.__name__} expects relation "
                    f"representations of width {self.relation_dim}, got "
                    f"{relation.size(-1)}")
            return relation
        if self.relation_emb is None:
            raise ValueError(
                f"{self.__class__.__name__} owns no relation embeddings "
                f"(num_relations=None): pass relation representations")
        check_relation_ids(relation, self.relation_emb.size(0))
        return self.relation_emb.index_select(0, relation.reshape(-1)).view(
            *relation.shape, self.relation_dim)

    def _check_entities(self, *xs: Tensor) -> None:
        for x in xs:
            if x.size(-1) != self.entity_dim:
                raise ValueError(
                    f"{self.__class__.__name__} expects entity "
                    f"representations of width {self.entity_dim}, got "
                    f"{x.size(-1)}")

    def interaction(self, head: Tensor, relation: Tensor,
                    tail: Tensor) -> Tensor:
        r"""The scoring function on representations, broadcasting over all
        but the last dimension."""
        raise NotImplementedError

    def factors(self, head: Tensor, relation: Tensor,
                tail: Tensor) -> List[Tensor]:
        r"""The factors that regularisers (:func:`n3_regularizer`,
        :func:`l2_regularizer`) penalise for a batch of triples: by default
        the three representations (relation ids are looked up)."""
        return [head, self.relation(relation), tail]

    def forward(self, head: Tensor, relation: Tensor, tail: Tensor) -> Tensor:
        r"""Scores of triples.

        Args:
            head (torch.Tensor): Head representations :math:`[*, d_e]`.
            relation (torch.Tensor): Relation ids :math:`[*]` or
                representations :math:`[*, d_r]`.
            tail (torch.Tensor): Tail representations :math:`[*, d_e]`.

        :rtype: :class:`torch.Tensor` :math:`[*]`
        """
        self._check_entities(head, tail)
        return self.interaction(head, self.relation(relation), tail)

    def score_tails(self, head: Tensor, relation: Tensor, candidates: Tensor,
                    out: Optional[Tensor] = None) -> Tensor:
        r"""Scores of :math:`(h_i, r_i, c)` for every candidate tail.

        Args:
            head (torch.Tensor): :math:`[B, d_e]`.
            relation (torch.Tensor): Ids :math:`[B]` or representations
                :math:`[B, d_r]`.
            candidates (torch.Tensor): Candidate tails :math:`[C, d_e]`.
            out (torch.Tensor, optional): A :math:`[B, C]` buffer the scores
                may be written into (see
                :class:`~pyg_kgc.evaluation.KGScorer`). (default:
                :obj:`None`)

        :rtype: :class:`torch.Tensor` :math:`[B, C]`
        """
        self._check_entities(head, candidates)
        return self.all_tails(head, self.relation(relation), candidates, out)

    def score_heads(self, candidates: Tensor, relation: Tensor, tail: Tensor,
                    out: Optional[Tensor] = None) -> Tensor:
        r"""Scores of :math:`(c, r_i, t_i)` for every candidate head.

        Args:
            candidates (torch.Tensor): Candidate heads :math:`[C, d_e]`.
            relation (torch.Tensor): Ids :math:`[B]` or representations
                :math:`[B, d_r]`.
            tail (torch.Tensor): :math:`[B, d_e]`.
            out (torch.Tensor, optional): A :math:`[B, C]` buffer the scores
                may be written into. (default: :obj:`None`)

        :rtype: :class:`torch.Tensor` :math:`[B, C]`
        """
        self._check_entities(candidates, tail)
        return self.all_heads(candidates, self.relation(relation), tail, out)

    def score_corruptions(self, head: Tensor, relation: Tensor, tail: Tensor,
                          candidates: Tensor, corrupt_head: Tensor) -> Tensor:
        r"""Scores of :math:`k` corruptions of each of :math:`B` triples:
        :math:`(c_{ij}, r_i, t_i)` where :obj:`corrupt_head[i, j]`, else
        :math:`(h_i, r_i, c_{ij})`. The corruptions of a triple share its
        relation and one side, which decoders with a query form (DistMult,
        ComplEx, bilinear, TransE, RotatE) compute once per triple instead
        of once per corruption.

        Args:
            head (torch.Tensor): :math:`[B, d_e]`.
            relation (torch.Tensor): Ids :math:`[B]` or representations
                :math:`[B, d_r]`.
            tail (torch.Tensor): :math:`[B, d_e]`.
            candidates (torch.Tensor): The replacing entities, :math:`[B, k,
                d_e]`.
            corrupt_head (torch.Tensor): Which side each replaces,
                :math:`[B, k]`, boolean.

        :rtype: :class:`torch.Tensor` :math:`[B, k]`
        """
        self._check_entities(head, tail, candidates)
        return self.corruptions(head, self.relation(relation), tail,
                                candidates, corrupt_head)

    def corruptions(self, head: Tensor, relation: Tensor, tail: Tensor,
                    candidates: Tensor, corrupt_head: Tensor) -> Tensor:
        r""":meth:`score_corruptions` on representations; by default
        :meth:`interaction` on the corrupted triples."""
        mask = corrupt_head.unsqueeze(-1)
        return self.interaction(
            torch.where(mask, candidates, head.unsqueeze(1)),
            relation.unsqueeze(1),
            torch.where(mask, tail.unsqueeze(1), candidates))

    def score_corruptions_of(self, head: Tensor, relation: Tensor,
                             tail: Tensor, entity: Tensor, candidates: Tensor,
                             corrupt_head: Tensor) -> Tensor:
        r""":meth:`score_corruptions` with the replacing entities given as
        ids :obj:`candidates` :math:`[B, k]` into the entity table
        :obj:`entity` :math:`[N, d_e]` (a shallow model's embedding, an
        encoder's output), so that a decoder may score them without
        gathering :math:`[B, k, d_e]` representations. By default they are
        gathered."""
        gathered = entity.index_select(0, candidates.reshape(-1))
        return self.score_corruptions(head, relation, tail,
                                      gathered.view(*candidates.shape, -1),
                                      corrupt_head)

    def broadcast(self, num_queries: int, candidates: Tensor,
                  score: Callable[[slice], Tensor]) -> Tensor:
        r"""Concatenates :obj:`score(rows)` :math:`[b, C]` over slices of
        the :obj:`num_queries` queries small enough that a :math:`[b, C,
        d]` intermediate stays under :obj:`max_elements`."""
        if num_queries == 0:
            return candidates.new_empty(0, candidates.size(0))
        rows = max(1, self.max_elements // max(1, candidates.numel()))
        return torch.cat(
            [score(slice(i, i + rows)) for i in range(0, num_queries, rows)])

    def all_tails(self, head: Tensor, relation: Tensor, candidates: Tensor,
                  out: Optional[Tensor] = None) -> Tensor:
        r""":meth:`score_tails` on representations; by default a chunked
        broadcast of :meth:`interaction` (which ignores :obj:`out`)."""
        return self.broadcast(
            head.size(0), candidates, lambda rows: self.interaction(
                head[rows, None], relation[rows, None], candidates[None]))

    def all_heads(self, candidates: Tensor, relation: Tensor, tail: Tensor,
                  out: Optional[Tensor] = None) -> Tensor:
        r""":meth:`score_heads` on representations; by default a chunked
        broadcast of :meth:`interaction` (which ignores :obj:`out`)."""
        return self.broadcast(
            tail.size(0), candidates, lambda rows: self.interaction(
                candidates[None], relation[rows, None], tail[rows, None]))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.entity_dim}, '
                f'{self.relation_dim}, num_relations={self.num_relations})')


class DotProductDecoder(KGEDecoder):
    r"""Base class of the decoders whose score is the dot product of a
    query built from the head and the relation (:meth:`tail_query`) with the
    tail, or equally of a query built from the relation and the tail
    (:meth:`head_query`) with the head: DistMult, ComplEx and the bilinear
    decoders. Scoring all candidates is then one matrix product
    (:func:`matmul_scores`), scoring the corruptions of a triple one
    batched product (:func:`dot_corruptions`), and, given candidate ids
    into an entity table on CPU, one sampled product
    (:func:`~pyg_kgc.utils.sampled_dot`, :meth:`score_corruptions_of`)."""
    def tail_query(self, head: Tensor, relation: Tensor) -> Tensor:
        r"""The query :math:`\mathbf{q}` with :math:`f_r(\mathbf{h},
        \mathbf{t}) = \langle \mathbf{q}, \mathbf{t} \rangle`."""
        raise NotImplementedError

    def head_query(self, relation: Tensor, tail: Tensor) -> Tensor:
        r"""The query :math:`\mathbf{q}` with :math:`f_r(\mathbf{h},
        \mathbf{t}) = \langle \mathbf{h}, \mathbf{q} \rangle`."""
        raise NotImplementedError

    def interaction(self, head: Tensor, relation: Tensor,
                    tail: Tensor) -> Tensor:
        return (self.tail_query(head, relation) * tail).sum(dim=-1)

    def all_tails(self, head: Tensor, relation: Tensor, candidates: Tensor,
                  out: Optional[Tensor] = None) -> Tensor:
        return matmul_scores(candidates, self.tail_query(head, relation), out)

    def all_heads(self, candidates: Tensor, relation: Tensor, tail: Tensor,
                  out: Optional[Tensor] = None) -> Tensor:
        return matmul_scores(candidates, self.head_query(relation, tail), out)

    def corruptions(self, head: Tensor, relation: Tensor, tail: Tensor,
                    candidates: Tensor, corrupt_head: Tensor) -> Tensor:
        return dot_corruptions(self.tail_query(head, relation),
                               self.head_query(relation, tail), candidates,
                               corrupt_head)

    def score_corruptions_of(self, head: Tensor, relation: Tensor,
                             tail: Tensor, entity: Tensor, candidates: Tensor,
                             corrupt_head: Tensor) -> Tensor:
        # On CPU, the score of a corruption is the dot product of one of
        # its row's two queries with one row of the table: the sampled
        # product of sampled_dot, forward and backward without [B, k, d]
        # intermediates. (CUDA's batched product is fast already.)
        if (entity.device.type != 'cpu'
                or entity.dtype not in (torch.float32, torch.float64)):
            return super().score_corruptions_of(head, relation, tail, entity,
                                                candidates, corrupt_head)
        self._check_entities(head, tail, entity)
        relation = self.relation(relation)
        return sampled_dot_corruptions(self.tail_query(head, relation),
                                       self.head_query(relation, tail), entity,
                                       candidates, corrupt_head)


class EmbeddingScorer(KGScorer):
    r"""The :class:`~pyg_kgc.evaluation.KGScorer` of a decoder over fixed
    representations: entity representations :math:`[N, d_e]` (from an
    embedding table or an encoder) and, unless the decoder owns them,
    relation representations :math:`[R, d_r]`.

    Args:
        decoder (KGEDecoder): The decoder.
        entity (torch.Tensor): Entity representations :math:`[N, d_e]`.
        relation (torch.Tensor, optional): Relation representations
            :math:`[R, d_r]`. (default: the decoder's own)
    """
    def __init__(self, decoder: KGEDecoder, entity: Tensor,
                 relation: Optional[Tensor] = None) -> None:
        self.decoder = decoder
        self.entity = entity
        self.relation = relation
        self.num_entities = entity.size(0)
        if relation is not None:
            self.num_relations = relation.size(0)
        elif decoder.num_relations is not None:
            self.num_relations = decoder.num_relations
        else:
            raise ValueError("Neither relation representations nor a "
                             "decoder that owns relation embeddings given")

    def _relation(self, relation: Tensor) -> Tensor:
        if self.relation is None:  # ids: the decoder checks them
            return relation
        check_relation_ids(relation, self.num_relations)
        return self.relation.index_select(0, relation)

    def _entity(self, index: Tensor) -> Tensor:
        # index_select, not advanced indexing: its backward sums repeated
        # rows in a fixed order, so gradients are reproducible on CPU.
        return self.entity.index_select(0, index)

    def _candidates(self, candidates: Optional[Tensor]) -> Tensor:
        return self.entity if candidates is None else self._entity(candidates)

    def score_triples(self, head: Tensor, relation: Tensor,
                      tail: Tensor) -> Tensor:
        return self.decoder(self._entity(head), self._relation(relation),
                            self._entity(tail))

    def score_tails(self, head: Tensor, relation: Tensor,
                    candidates: Optional[Tensor] = None,
                    out: Optional[Tensor] = None) -> Tensor:
        return self.decoder.score_tails(self._entity(head),
                                        self._relation(relation),
                                        self._candidates(candidates), out)

    def score_heads(self, relation: Tensor, tail: Tensor,
                    candidates: Optional[Tensor] = None,
                    out: Optional[Tensor] = None) -> Tensor:
        return self.decoder.score_heads(self._candidates(candidates),
                                        self._relation(relation),
                                        self._entity(tail), out)

    def score_corruptions(self, head: Tensor, relation: Tensor, tail: Tensor,
                          entity: Tensor, corrupt_head: Tensor) -> Tensor:
        return self.decoder.score_corruptions_of(self._entity(head),
                                                 self._relation(relation),
                                                 self._entity(tail),
                                                 self.entity, entity,
                                                 corrupt_head)


def n3_regularizer(factors: Sequence[Tensor]) -> Tensor:
    r"""The weighted nuclear 3-norm regulariser of the `"Canonical Tensor
    Decomposition for Knowledge Base Completion"
    <https://arxiv.org/abs/1806.07297>`_ paper, :math:`\frac{1}{B}
    \sum_{f} \sum_{i} |f_i|^3` over the factors :math:`[B, *]` of a batch
    (see :meth:`KGEDecoder.factors`; moduli of complex coordinates for
    ComplEx). Multiply by the regularisation weight."""
    return sum(f.abs().pow(3).sum() for f in factors) / factors[0].size(0)


def l2_regularizer(factors: Sequence[Tensor]) -> Tensor:
    r"""The squared L2 norm :math:`\frac{1}{B} \sum_f \|f\|_2^2` of the
    factors of a batch. Multiply by the regularisation weight."""
    return sum(f.pow(2).sum() for f in factors) / factors[0].size(0)
