r"""The R-GCN link predictor: an R-GCN encoder over the message graph and a
KGE decoder over its node representations."""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.utils import dropout_edge

from pyg_kgc.evaluation.known_triples import check_triples
from pyg_kgc.nn.conv.rgcn_conv import RGCNConv
from pyg_kgc.nn.kge.base import EmbeddingScorer, KGEDecoder


class RGCNLinkPredictor(torch.nn.Module):
    r"""The R-GCN link prediction model from the `"Modeling Relational Data
    with Graph Convolutional Networks" <https://arxiv.org/abs/1703.06103>`_
    paper: node representations

    .. math::
        \mathbf{h}^{(l+1)}_v = \sigma\Big(\mathbf{W}_0^{(l)}
        \mathbf{h}^{(l)}_v + \sum_{r \in \mathcal{R} \cup
        \mathcal{R}^{-1}} \sum_{u \in \mathcal{N}_r(v)} \frac{1}{c_{v,r}}
        \mathbf{W}_r^{(l)} \mathbf{h}^{(l)}_u\Big)

    computed by :class:`~pyg_kgc.nn.conv.RGCNConv` layers over the message
    triples (every triple :math:`(h, r, t)` also sends a message from
    :math:`t` to :math:`h` with the inverse relation :math:`r^{-1}`), and
    scored by a decoder :math:`f_r(\mathbf{h}_h, \mathbf{h}_t)`, e.g.
    :class:`~pyg_kgc.nn.kge.DistMult` or the bilinear
    :math:`\mathbf{h}_h^{\top} \mathbf{W}_r \mathbf{h}_t` of
    :class:`~pyg_kgc.nn.kge.Bilinear`. :math:`\sigma` is applied between
    layers, not after the last.

    The input :math:`\mathbf{h}^{(0)}` is a learned vector per node
    (:obj:`num_nodes`, transductive) or node features :math:`[N,
    F_{in}]` given to :meth:`forward` (:obj:`in_channels`; inductive when
    the features do not depend on entity ids, e.g.
    :func:`~pyg_kgc.transforms.relation_degree_features`).

    Train it with message triples separate from the supervision triples
    that are scored (see :func:`~pyg_kgc.training.split_messages`).

    Args:
        num_relations (int): The number of relations :math:`|\mathcal{R}|`
            (without inverses).
        hidden_channels (int): Size of every layer's output.
        decoder (KGEDecoder): Scores triples; its entity dimension must be
            :obj:`hidden_channels`, and it must own relation embeddings for
            :obj:`num_relations` relations.
        num_layers (int, optional): Number of R-GCN layers. (default:
            :obj:`2`)
        num_nodes (int, optional): Learn an input vector of size
            :obj:`hidden_channels` for each of this many nodes.
        in_channels (int, optional): Size of the input node features
            (instead of :obj:`num_nodes`).
        num_bases (int, optional): Basis decomposition with this many bases.
        num_blocks (int, optional): Block-diagonal decomposition with this
            many blocks.
        normalization (str, optional): :obj:`"relation"`,
            :obj:`"in_degree"` or :obj:`"none"` (see
            :class:`~pyg_kgc.nn.conv.RGCNConv`). (default:
            :obj:`"relation"`)
        dropout (float, optional): Dropout on the input and between layers.
            (default: :obj:`0.0`)
        edge_dropout (float, optional): In training, the probability of
            dropping each message triple (the same for all layers).
            (default: :obj:`0.0`)
        self_loop_dropout (float, optional): In training, the probability of
            dropping a node's self-loop term, per layer. (default:
            :obj:`0.0`)

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})` or
          :obj:`None`, message triples :math:`(2, |\mathcal{E}|)` with
          relations :math:`(|\mathcal{E}|)`
        - **output:** node representations :math:`(|\mathcal{V}|,
          \text{hidden})`

    Example:
        >>> model = RGCNLinkPredictor(data.num_relations, 200,
        ...                           DistMult(200, data.num_relations),
        ...                           num_nodes=data.num_nodes, num_bases=30)
        >>> scorer = model.scorer(None, edge_index, edge_type)
        >>> scores = scorer.score_tails(head, relation)  # [B, N]
    """
    def __init__(self, num_relations: int, hidden_channels: int,
                 decoder: KGEDecoder, num_layers: int = 2,
                 num_nodes: Optional[int] = None,
                 in_channels: Optional[int] = None,
                 num_bases: Optional[int] = None,
                 num_blocks: Optional[int] = None,
                 normalization: str = 'relation', dropout: float = 0.0,
                 edge_dropout: float = 0.0,
                 self_loop_dropout: float = 0.0) -> None:
        super().__init__()
        if (num_nodes is None) == (in_channels is None):
            raise ValueError("Give either num_nodes (learned input vectors) "
                             "or in_channels (input features)")
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got "
                             f"{num_layers}")
        if decoder.entity_dim != hidden_channels:
            raise ValueError(f"The decoder scores {decoder.entity_dim}-"
                             f"dimensional entities, but hidden_channels is "
                             f"{hidden_channels}")
        if decoder.num_relations != num_relations:
            raise ValueError(f"The decoder has embeddings for "
                             f"{decoder.num_relations} relations, expected "
                             f"{num_relations}")
        self.num_relations = num_relations
        self.hidden_channels = hidden_channels
        self.num_nodes = num_nodes
        self.in_channels = hidden_channels if in_channels is None else (
            in_channels)
        self.dropout = dropout
        self.edge_dropout = edge_dropout
        if num_nodes is not None:
            self.node_emb = torch.nn.Parameter(
                torch.empty(num_nodes, hidden_channels))
        else:
            self.register_parameter('node_emb', None)
        self.convs = torch.nn.ModuleList([
            RGCNConv(self.in_channels if i == 0 else hidden_channels,
                     hidden_channels, 2 * num_relations, num_bases=num_bases,
                     num_blocks=num_blocks, normalization=normalization,
                     self_loop_dropout=self_loop_dropout)
            for i in range(num_layers)
        ])
        self.decoder = decoder
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        if self.node_emb is not None:
            torch.nn.init.xavier_uniform_(self.node_emb)
        for conv in self.convs:
            conv.reset_parameters()
        self.decoder.reset_parameters()

    def message_graph(self, edge_index: Tensor, edge_type: Tensor,
                      num_nodes: int) -> Tuple[Tensor, Tensor]:
        r"""The message triples with their inverses (relation
        :math:`r + |\mathcal{R}|`), after edge dropout in training."""
        check_triples(edge_index, edge_type, num_nodes, self.num_relations,
                      'message triples')
        if self.training and self.edge_dropout > 0:
            edge_index, kept = dropout_edge(edge_index, p=self.edge_dropout)
            edge_type = edge_type[kept]
        return (torch.cat([edge_index, edge_index.flip(0)], dim=1),
                torch.cat([edge_type, edge_type + self.num_relations]))

    def forward(self, x: Optional[Tensor], edge_index: Tensor,
                edge_type: Tensor) -> Tensor:
        r"""The node representations :math:`[N, \text{hidden}]`.

        Args:
            x (torch.Tensor, optional): Node features :math:`[N, F_{in}]`,
                or :obj:`None` with learned input vectors.
            edge_index (torch.Tensor): Message triples' heads and tails
                :math:`[2, E]`.
            edge_type (torch.Tensor): Their relations :math:`[E]`.
        """
        if self.node_emb is not None:
            if x is not None:
                raise ValueError("This model learns its input vectors; "
                                 "pass x=None")
            x = self.node_emb
        elif x is None:
            raise ValueError(f"This model needs input features of size "
                             f"{self.in_channels}")
        elif x.dim() != 2 or x.size(1) != self.in_channels:
            raise ValueError(f"Expected input features [N, "
                             f"{self.in_channels}], got {list(x.shape)}")
        edge_index, edge_type = self.message_graph(edge_index, edge_type,
                                                   x.size(0))
        x = F.dropout(x, p=self.dropout, training=self.training)
        for i, conv in enumerate(self.convs):
            x = conv(x, edge_index, edge_type)
            if i < len(self.convs) - 1:
                x = F.dropout(x.relu(), p=self.dropout, training=self.training)
        return x

    def scorer(self, x: Optional[Tensor], edge_index: Tensor,
               edge_type: Tensor) -> EmbeddingScorer:
        r"""A :class:`~pyg_kgc.evaluation.KGScorer` of the decoder over the
        node representations of this message graph (for the losses of
        :mod:`pyg_kgc.training` and
        :class:`~pyg_kgc.evaluation.RankingEvaluator`)."""
        return EmbeddingScorer(self.decoder, self(x, edge_index, edge_type))

    def __repr__(self) -> str:
        source = (f'num_nodes={self.num_nodes}' if self.num_nodes is not None
                  else f'in_channels={self.in_channels}')
        return (f'{self.__class__.__name__}({source}, '
                f'hidden_channels={self.hidden_channels}, '
                f'num_relations={self.num_relations}, '
                f'num_layers={len(self.convs)}, decoder={self.decoder})')
