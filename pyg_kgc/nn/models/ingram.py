r"""InGram (Lee et al., ICML 2023): entity and relation embeddings computed
from the graph alone, for knowledge graphs with new entities and new
relations."""
import math
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch.nn import Linear, ModuleList

from pyg_kgc.evaluation.known_triples import check_triples
from pyg_kgc.nn.conv.ingram_conv import (
    InGramEntityConv,
    InGramRelationConv,
    _reset_linear,
)
from pyg_kgc.nn.kge.base import EmbeddingScorer
from pyg_kgc.nn.kge.distmult import DistMult
from pyg_kgc.transforms.add_inverse_relations import add_inverse_triples
from pyg_kgc.transforms.relation_graph import check_ties, relation_graph


def glorot_features(num: int, channels: int,
                    generator: Optional[torch.Generator] = None, device=None,
                    dtype=None) -> Tensor:
    r"""Random input features :math:`[\text{num}, \text{channels}]` drawn
    as InGram draws them afresh for every graph (and every training
    epoch): Xavier normal with the gain of ReLU, i.e. normal with standard
    deviation :math:`\sqrt{2} \sqrt{2 / (\text{num} + \text{channels})}`.
    """
    std = math.sqrt(2.0) * math.sqrt(2.0 / (num + channels))
    out = torch.randn(num, channels, generator=generator,
                      device='cpu' if generator is not None else device,
                      dtype=dtype)
    return out.to(device).mul_(std)


class _InGramScorer(EmbeddingScorer):
    r"""An :class:`EmbeddingScorer` that refuses the relations without
    facts in the graph the representations were computed from."""
    def __init__(self, decoder, entity: Tensor, relation: Tensor,
                 has_facts: Optional[Tensor]) -> None:
        super().__init__(decoder, entity, relation)
        self.has_facts = has_facts

    def _relation(self, relation: Tensor) -> Tensor:
        out = super()._relation(relation)  # checks the range
        if self.has_facts is not None:
            bad = ~self.has_facts.to(relation.device)[relation]
            if bool(bad.any()):
                raise ValueError(
                    f"InGram: relation {int(relation[bad][0])} has no "
                    f"triples in the message graph, so it has no "
                    f"representation to score with")
        return out


class InGram(torch.nn.Module):
    r"""The InGram model from the `"InGram: Inductive Knowledge Graph
    Embedding via Relation Graphs" <https://arxiv.org/abs/2305.19987>`_
    paper: :math:`L` relation-level layers
    (:class:`~pyg_kgc.nn.conv.InGramRelationConv`) over the relation graph
    (:func:`~pyg_kgc.transforms.relation_graph`), then :math:`\hat{L}`
    entity-level layers (:class:`~pyg_kgc.nn.conv.InGramEntityConv`) over
    the triples with their inverses, each followed by a ReLU,

    .. math::
        \mathbf{Z}^{(l+1)} = \mathrm{ReLU}\big(\mathrm{RelConv}(
        \mathbf{Z}^{(l)})\big), \qquad
        \mathbf{H}^{(l+1)} = \mathrm{ReLU}\big(\mathrm{EntConv}(
        \mathbf{H}^{(l)}, \mathbf{Z}^{(L)})\big),

    between input projections (:math:`d \to d'`, :math:`\hat{d} \to
    \hat{d}'`) and output projections back to :math:`d` and
    :math:`\hat{d}`, and the paper's DistMult score with a relation
    projection,

    .. math::
        f(h, r, t) = \langle \mathbf{h}_h, \mathbf{M} \mathbf{z}_r,
        \mathbf{h}_t \rangle.

    Nothing in the model is tied to entity or relation ids: the inputs are
    random vectors (:func:`glorot_features`) drawn for each graph, so the
    model applies to graphs whose entities *and* relations are all new.

    Args:
        entity_channels (int, optional): Input and output size
            :math:`\hat{d}` of entity representations. (default: :obj:`32`)
        relation_channels (int, optional): Input and output size :math:`d`
            of relation representations. (default: :obj:`32`)
        entity_hidden_ratio (int, optional): :math:`\hat{d}' /
            \hat{d}`. (default: :obj:`8`)
        relation_hidden_ratio (int, optional): :math:`d' / d`.
            (default: :obj:`4`)
        num_entity_layers (int, optional): :math:`\hat{L}`.
            (default: :obj:`2`)
        num_relation_layers (int, optional): :math:`L`. (default: :obj:`2`)
        num_bins (int, optional): Number :math:`B` of weight bins of the
            relation graph. (default: :obj:`10`)
        heads (int, optional): Attention heads of every layer.
            (default: :obj:`8`)
        bias (bool, optional): Learn additive biases. (default: :obj:`True`)
        bin_ties (str, optional): How equal weights of the relation graph
            are binned: :obj:`"best"`, all in the bin of their best rank, or
            :obj:`"order"`, ranked in the order of the entries, which may
            split them over two bins as the official code does (the
            :obj:`ties` of :func:`~pyg_kgc.transforms.relation_graph`).
            (default: :obj:`"best"`)
        compiled (bool, optional): On CPU, every layer computes its
            attention logits with :func:`torch.compile` kernels
            (:func:`~pyg_kgc.nn.conv.ingram_conv.attention_logits`; the
            same values up to floating-point rounding). (default:
            :obj:`False`)

    The defaults are those of the official code.
    """
    def __init__(self, entity_channels: int = 32, relation_channels: int = 32,
                 entity_hidden_ratio: int = 8, relation_hidden_ratio: int = 4,
                 num_entity_layers: int = 2, num_relation_layers: int = 2,
                 num_bins: int = 10, heads: int = 8, bias: bool = True,
                 compiled: bool = False, bin_ties: str = 'best') -> None:
        super().__init__()
        check_ties(bin_ties, 'bin_ties')
        self.entity_channels = entity_channels
        self.relation_channels = relation_channels
        self.num_bins = num_bins
        self.bin_ties = bin_ties
        ent_hidden = entity_hidden_ratio * entity_channels
        rel_hidden = relation_hidden_ratio * relation_channels
        self.entity_in = Linear(entity_channels, ent_hidden, bias=bias)
        self.relation_in = Linear(relation_channels, rel_hidden, bias=bias)
        self.relation_convs = ModuleList([
            InGramRelationConv(rel_hidden, rel_hidden, num_bins, heads,
                               bias=bias, compiled=compiled)
            for _ in range(num_relation_layers)
        ])
        self.entity_convs = ModuleList([
            InGramEntityConv(ent_hidden, ent_hidden, rel_hidden, heads,
                             bias=bias, compiled=compiled)
            for _ in range(num_entity_layers)
        ])
        self.entity_out = Linear(ent_hidden, entity_channels, bias=bias)
        self.relation_out = Linear(rel_hidden, relation_channels, bias=bias)
        self.relation_proj = Linear(relation_channels, entity_channels,
                                    bias=bias)
        self.decoder = DistMult(entity_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        for lin in (self.entity_in, self.relation_in, self.entity_out,
                    self.relation_out, self.relation_proj):
            _reset_linear(lin)
        for conv in (*self.relation_convs, *self.entity_convs):
            conv.reset_parameters()

    def forward(self, x: Tensor, relation_x: Tensor, edge_index: Tensor,
                edge_type: Tensor, relation_edge_index: Tensor,
                relation_edge_bin: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Entity and relation representations.

        Args:
            x (torch.Tensor): Input entity features :math:`[N, \hat{d}]`.
            relation_x (torch.Tensor): Input relation features
                :math:`[R', d]`, one row per relation of the triples
                (including inverse relations).
            edge_index (torch.Tensor): Heads and tails :math:`[2, E]` of
                the message triples, inverse triples included.
            edge_type (torch.Tensor): Their relations :math:`[E]`.
            relation_edge_index (torch.Tensor): The relation graph
                :math:`[2, M]`.
            relation_edge_bin (torch.Tensor): Its weight bins :math:`[M]`.

        :rtype: (:class:`torch.Tensor` :math:`[N, \hat{d}]`,
            :class:`torch.Tensor` :math:`[R', d]`)
        """
        for t, width, name in ((x, self.entity_channels, 'x'),
                               (relation_x, self.relation_channels,
                                'relation_x')):
            if t.dim() != 2 or t.size(1) != width:
                raise ValueError(f"InGram: {name} must have shape "
                                 f"[*, {width}], got {list(t.shape)}")
        z = self.relation_in(relation_x)
        for conv in self.relation_convs:
            z = conv(z, relation_edge_index, relation_edge_bin).relu()
        h = self.entity_in(x)
        for conv in self.entity_convs:
            h = conv(h, edge_index, edge_type, z).relu()
        return self.entity_out(h), self.relation_out(z)

    def encode(self, edge_index: Tensor, edge_type: Tensor, num_nodes: int,
               num_relations: int, generator: Optional[torch.Generator] = None,
               x: Optional[Tensor] = None,
               relation_x: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        r"""Entity representations :math:`[N, \hat{d}]` and relation
        representations :math:`[R, d]` of a knowledge graph given by its
        triples (without inverses; relations in :math:`\{0, \ldots,
        R-1\}`): adds the inverse triples, builds the relation graph over
        the :math:`2R` relations, draws random input features (unless
        given: :math:`[N, \hat{d}]` and :math:`[2R, d]`) and runs
        :meth:`forward`. A relation without triples gets a representation
        from its random features alone, which means nothing:
        :meth:`scorer` refuses to score it.
        """
        check_triples(edge_index, edge_type, num_nodes, num_relations,
                      'InGram message graph')
        if edge_type.numel() == 0:
            raise ValueError("InGram: the message graph is empty; its "
                             "entities and relations cannot be embedded")
        device, dtype = edge_index.device, self.entity_in.weight.dtype
        rel_index, _, rel_bin = relation_graph(edge_index, edge_type,
                                               num_nodes, num_relations,
                                               self.num_bins,
                                               ties=self.bin_ties)
        if x is None:
            x = glorot_features(num_nodes, self.entity_channels, generator,
                                device, dtype)
        if relation_x is None:
            relation_x = glorot_features(2 * num_relations,
                                         self.relation_channels, generator,
                                         device, dtype)
        index, kind = add_inverse_triples(edge_index, edge_type, num_relations)
        h, z = self(x, relation_x, index, kind, rel_index, rel_bin)
        return h, z[:num_relations]

    def relation_query(self, z: Tensor) -> Tensor:
        r"""The DistMult relation vectors :math:`\mathbf{M} \mathbf{z}_r`
        of relation representations :math:`[R, d]`."""
        return self.relation_proj(z)

    def score(self, h: Tensor, z: Tensor, head: Tensor, relation: Tensor,
              tail: Tensor) -> Tensor:
        r"""Scores :math:`f(h, r, t)` of triples given by ids, from entity
        representations :obj:`h` and relation representations :obj:`z`."""
        return self.decoder(h[head], self.relation_query(z[relation]), h[tail])

    def scorer(self, edge_index: Tensor, edge_type: Tensor, num_nodes: int,
               num_relations: int,
               generator: Optional[torch.Generator] = None) -> EmbeddingScorer:
        r"""The :class:`~pyg_kgc.evaluation.KGScorer` of the graph given by
        its triples (see :meth:`encode`), for training losses and the
        shared ranking evaluation. Scoring a relation that has no triples
        in the graph raises a :class:`ValueError`."""
        h, z = self.encode(edge_index, edge_type, num_nodes, num_relations,
                           generator)
        has_facts = torch.bincount(edge_type, minlength=num_relations) > 0
        return self.scorer_from(h, z, has_facts)

    def scorer_from(self, h: Tensor, z: Tensor,
                    has_facts: Optional[Tensor] = None) -> EmbeddingScorer:
        r"""The :class:`~pyg_kgc.evaluation.KGScorer` of entity
        representations :obj:`h` :math:`[N, \hat{d}]` and relation
        representations :obj:`z` :math:`[R, d]` (from :meth:`encode`);
        with :obj:`has_facts` :math:`[R]`, the relations without it are
        refused."""
        return _InGramScorer(self.decoder, h, self.relation_query(z),
                             has_facts)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.entity_channels}, '
                f'{self.relation_channels}, relation_layers='
                f'{len(self.relation_convs)}, entity_layers='
                f'{len(self.entity_convs)}, num_bins={self.num_bins}'
                + (f', bin_ties={self.bin_ties!r})'
                   if self.bin_ties != 'best' else ')'))
