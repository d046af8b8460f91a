from typing import Callable, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Parameter

from pyg_kgc.evaluation.scoring import KGScorer
from pyg_kgc.nn.kge.base import KGEDecoder, matmul_scores
from pyg_kgc.nn.kge.bilinear import Bilinear, dropout_bilinear_queries
from pyg_kgc.utils.dropout import geometric_dropout


class ShallowKGE(torch.nn.Module, KGScorer):
    r"""A shallow knowledge graph embedding model: a learned vector per
    entity (the encoder is a table lookup) and a decoder that owns the
    relation embeddings, as :class:`torch_geometric.nn.kge.KGEModel` with
    any :class:`~pyg_kgc.nn.kge.KGEDecoder`.

    It is a :class:`~pyg_kgc.evaluation.KGScorer`, so it trains with every
    loss and negative sampler of :mod:`pyg_kgc.training` and is evaluated
    by :class:`~pyg_kgc.evaluation.RankingEvaluator`.

    Args:
        num_nodes (int): The number of entities.
        decoder (KGEDecoder): The decoder; it must own its relation
            embeddings (be built with :obj:`num_relations`).
        init (callable, optional): Initialises the entity embedding
            matrix in place. (default:
            :func:`torch.nn.init.xavier_uniform_`)
        sparse (bool, optional): If set to :obj:`True`, the entity
            embedding gets sparse gradients (for
            :class:`torch.optim.SparseAdam` or SGD on large graphs).
            (default: :obj:`False`)
        entity_dropout (float, optional): Dropout on entity embeddings
            (queries and candidates) in training mode. (default: :obj:`0.0`)
        relation_dropout (float, optional): Dropout on relation
            embeddings in training mode. (default: :obj:`0.0`)
        dropout_sampler (str, optional): How the dropout masks are drawn:
            :obj:`"bernoulli"` (:func:`torch.nn.functional.dropout`) or
            :obj:`"geometric"` (:func:`~pyg_kgc.utils.geometric_dropout`: the
            same distribution, one random number per dropped entry; faster
            for low rates on large representations such as RESCAL's
            relation matrices; with a full :class:`Bilinear` decoder, the
            scoring of all tails or heads in training then never forms
            the masked matrices, see
            :func:`~pyg_kgc.nn.kge.bilinear.dropout_bilinear_queries`).
            (default: :obj:`"bernoulli"`)
        compiled (bool, optional): With :obj:`dropout_sampler="geometric"`
            and a full :class:`Bilinear` decoder, compute the dropped
            entries' terms of the queries with :func:`torch.compile`
            kernels on CPU (see
            :func:`~pyg_kgc.nn.kge.bilinear.dropout_bilinear_queries`).
            (default: :obj:`False`)

    Example:
        >>> model = ShallowKGE(data.num_nodes,
        ...                    ComplEx(200, num_relations=data.num_relations))
        >>> scores = model(head, relation, tail)           # [B]
        >>> all_tails = model.score_tails(head, relation)  # [B, N]
    """
    def __init__(
        self,
        num_nodes: int,
        decoder: KGEDecoder,
        init: Optional[Callable[[Tensor], None]] = None,
        sparse: bool = False,
        entity_dropout: float = 0.0,
        relation_dropout: float = 0.0,
        dropout_sampler: str = 'bernoulli',
        compiled: bool = False,
    ) -> None:
        super().__init__()
        if dropout_sampler not in ('bernoulli', 'geometric'):
            raise ValueError(f"Unknown dropout_sampler {dropout_sampler!r}; "
                             f"expected 'bernoulli' or 'geometric'")
        if decoder.num_relations is None:
            raise ValueError("The decoder of a shallow model must own its "
                             "relation embeddings (pass num_relations)")
        self.decoder = decoder
        self.init = init or torch.nn.init.xavier_uniform_
        self.sparse = sparse
        self.entity_dropout = entity_dropout
        self.relation_dropout = relation_dropout
        self.dropout_sampler = dropout_sampler
        self.compiled = compiled
        self.entity_emb = Parameter(torch.empty(num_nodes, decoder.entity_dim))
        self.reset_parameters()

    @property
    def num_entities(self) -> int:
        return self.entity_emb.size(0)

    @property
    def num_relations(self) -> int:
        return self.decoder.num_relations

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        self.init(self.entity_emb.data)
        self.decoder.reset_parameters()

    def _check_ids(self, index: Tensor) -> None:
        if index.numel() > 0 and (int(index.min()) < 0
                                  or int(index.max()) >= self.num_entities):
            raise IndexError(f"Entity ids must lie in [0, "
                             f"{self.num_entities}), got "
                             f"[{int(index.min())}, {int(index.max())}]")

    def entity(self, index: Tensor) -> Tensor:
        r"""The embeddings of entity ids :obj:`index` :math:`[*]`."""
        self._check_ids(index)
        if self.sparse:
            x = F.embedding(index, self.entity_emb, sparse=True)
        else:  # several times faster than F.embedding, backward included
            x = self.entity_emb.index_select(0, index.reshape(-1))
            x = x.view(*index.shape, -1)
        return self._dropout(x, self.entity_dropout)

    def _heads_and_tails(self, head: Tensor,
                         tail: Tensor) -> Tuple[Tensor, Tensor]:
        # One lookup for both sides where the shapes agree: its backward
        # is one dense [N, d] gradient, not two to be added up.
        if self.sparse or head.shape != tail.shape:
            return self.entity(head), self.entity(tail)
        both = self.entity(torch.stack([head, tail]))
        return both[0], both[1]

    def relation(self, relation: Tensor) -> Tensor:
        r"""The representations of relation ids :obj:`relation`."""
        x = self.decoder.relation(relation)
        return self._dropout(x, self.relation_dropout)

    def _dropout(self, x: Tensor, p: float) -> Tensor:
        if self.dropout_sampler == 'geometric':
            return geometric_dropout(x, p, self.training)
        return F.dropout(x, p, self.training)

    def forward(self, head: Tensor, relation: Tensor, tail: Tensor) -> Tensor:
        r"""Scores of the triples of ids :obj:`(head, relation, tail)`, of
        any (equal or broadcastable) shape."""
        head, tail = self._heads_and_tails(head, tail)
        return self.decoder(head, self.relation(relation), tail)

    def factors(self, head: Tensor, relation: Tensor,
                tail: Tensor) -> List[Tensor]:
        r"""The decoder's regularisation factors of a batch of triples."""
        return self.decoder.factors(self.entity(head), self.relation(relation),
                                    self.entity(tail))

    def score_triples(self, head: Tensor, relation: Tensor,
                      tail: Tensor) -> Tensor:
        return self(head, relation, tail)

    def _candidates(self, candidates: Optional[Tensor]) -> Tensor:
        if candidates is None:
            return self._dropout(self.entity_emb, self.entity_dropout)
        return self.entity(candidates)

    def score_tails(self, head: Tensor, relation: Tensor,
                    candidates: Optional[Tensor] = None,
                    out: Optional[Tensor] = None) -> Tensor:
        if self._masked_matrices(relation):
            return matmul_scores(
                self._candidates(candidates),
                self._dropout_queries(self.entity(head), relation, False))
        return self.decoder.score_tails(self.entity(head),
                                        self.relation(relation),
                                        self._candidates(candidates), out)

    def score_heads(self, relation: Tensor, tail: Tensor,
                    candidates: Optional[Tensor] = None,
                    out: Optional[Tensor] = None) -> Tensor:
        if self._masked_matrices(relation):
            return matmul_scores(
                self._candidates(candidates),
                self._dropout_queries(self.entity(tail), relation, True))
        return self.decoder.score_heads(self._candidates(candidates),
                                        self.relation(relation),
                                        self.entity(tail), out)

    def _masked_matrices(self, relation: Tensor) -> bool:
        # Geometric relation dropout in training on full bilinear matrices
        # given as ids: the queries without the [B, d, d] masked matrices.
        return (self.training and self.relation_dropout > 0
                and self.dropout_sampler == 'geometric'
                and isinstance(self.decoder, Bilinear)
                and self.decoder.mode == 'full' and relation.dim() == 1
                and not relation.is_floating_point())

    def _dropout_queries(self, x: Tensor, relation: Tensor,
                         transpose: bool) -> Tensor:
        return dropout_bilinear_queries(x, self.decoder.relation_emb, relation,
                                        self.relation_dropout, transpose,
                                        compiled=self.compiled)

    def score_corruptions(self, head: Tensor, relation: Tensor, tail: Tensor,
                          entity: Tensor, corrupt_head: Tensor) -> Tensor:
        r"""Scores of the corruptions :obj:`entity` :math:`[B, k]` of each
        triple (see :meth:`KGScorer.score_corruptions`), computing what a
        triple's corruptions share once: the decoder scores the replacing
        entities as ids into the embedding table
        (:meth:`KGEDecoder.score_corruptions_of`), or, with sparse
        gradients or entity dropout in training, as gathered rows
        (:meth:`KGEDecoder.score_corruptions`)."""
        head_emb, tail_emb = self._heads_and_tails(head, tail)
        relation = self.relation(relation)
        if self.sparse or (self.training and self.entity_dropout > 0):
            return self.decoder.score_corruptions(head_emb, relation, tail_emb,
                                                  self.entity(entity),
                                                  corrupt_head)
        self._check_ids(entity)
        return self.decoder.score_corruptions_of(head_emb, relation, tail_emb,
                                                 self.entity_emb, entity,
                                                 corrupt_head)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.num_entities}, '
                f'decoder={self.decoder})')
