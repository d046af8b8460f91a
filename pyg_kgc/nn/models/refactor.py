r"""The ReFactor GNN: L ReFactor layers with shared relation embeddings over
the message graph, and DistMult over the resulting node states."""
from typing import Optional

import torch
from torch import Tensor

from pyg_kgc.nn.conv.refactor_conv import ReFactorConv
from pyg_kgc.nn.kge.base import EmbeddingScorer
from pyg_kgc.nn.kge.distmult import DistMult


class ReFactorGNN(torch.nn.Module):
    r"""The ReFactor GNN from the `"ReFactor GNNs: Revisiting
    Factorisation-based Models from a Message-Passing Perspective"
    <https://arxiv.org/abs/2207.09980>`_ paper: node states start from input
    features :math:`\mathbf{h}^0 = \mathbf{X}` and go through :math:`L`
    :class:`~pyg_kgc.nn.conv.ReFactorConv` layers over the message triples,
    each one gradient step of DistMult's likelihood of those triples, with
    the relation embeddings :math:`\mathbf{g}` shared by all layers and by
    the DistMult decoder that scores queries on :math:`\mathbf{h}^L`
    (Eq. (12) and (13)). :math:`\mathbf{g}` (and a projection of given
    features) is what training learns; the entities have no parameters, so
    the model applies to graphs of new entities.

    The relation embeddings start near one (:math:`\mathcal{N}(1, 0.01)`),
    so that the untrained layers already are steps of a DistMult model
    whose relations all look alike. Without features, every node starts
    from a random vector with entries
    :math:`\mathcal{N}(0, 1/K)`, drawn afresh in training and from
    :obj:`seed` in evaluation (so that evaluation is reproducible).

    Args:
        num_relations (int): The number of relations.
        channels (int): Node state and relation embedding size :math:`K`.
        num_layers (int): The number of layers :math:`L`.
        lr (float): The learning rate :math:`\eta` of the induced steps.
        in_channels (int, optional): Size of given input features, projected
            to :math:`K` by a learned linear map. (default: :obj:`None`,
            random features)
        use_global (bool, optional): Include the global term
            :math:`\mathbf{n}`. (default: :obj:`True`)
        optimizer (str, optional): :obj:`"sgd"` or :obj:`"adagrad"`.
            (default: :obj:`"sgd"`)
        chunk_size (int, optional): See
            :class:`~pyg_kgc.nn.conv.ReFactorConv`. (default: :obj:`4096`)
        seed (int, optional): Seed of the random features in evaluation.
            (default: :obj:`0`)
    """
    def __init__(self, num_relations: int, channels: int, num_layers: int,
                 lr: float, in_channels: Optional[int] = None,
                 use_global: bool = True, optimizer: str = 'sgd',
                 chunk_size: int = 4096, seed: int = 0) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got "
                             f"{num_layers}")
        self.num_relations = num_relations
        self.channels = channels
        self.num_layers = num_layers
        self.seed = seed
        self.conv = ReFactorConv(lr, use_global=use_global,
                                 optimizer=optimizer, chunk_size=chunk_size)
        self.decoder = DistMult(channels, num_relations)
        self.lin = (torch.nn.Linear(in_channels, channels, bias=False)
                    if in_channels is not None else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        self.decoder.reset_parameters()
        torch.nn.init.normal_(self.decoder.relation_emb, 1.0, 0.1)
        if self.lin is not None:
            self.lin.reset_parameters()

    def features(self, num_nodes: int) -> Tensor:
        r"""Random input vectors :math:`[N, K]`."""
        device = self.decoder.relation_emb.device
        dtype = self.decoder.relation_emb.dtype
        generator = None
        if not self.training:
            generator = torch.Generator(device=device).manual_seed(self.seed)
        return torch.randn(num_nodes, self.channels, generator=generator,
                           device=device, dtype=dtype) / self.channels**0.5

    def forward(self, x: Optional[Tensor], edge_index: Tensor,
                edge_type: Tensor, num_nodes: int) -> Tensor:
        r"""The node states :math:`\mathbf{h}^L` :math:`[N, K]`.

        Args:
            x (torch.Tensor, optional): Input features :math:`[N, F]`, or
                :obj:`None` for random ones.
            edge_index (torch.Tensor): Message triples' subjects and
                objects :math:`[2, E]`.
            edge_type (torch.Tensor): Their relations :math:`[E]`.
            num_nodes (int): :math:`N`.
        """
        if (x is None) != (self.lin is None):
            raise ValueError("Pass input features if and only if the model "
                             "was built with in_channels")
        if x is None:
            h = self.features(num_nodes)
        else:
            if x.shape != (num_nodes, self.lin.in_features):
                raise ValueError(f"Expected features [{num_nodes}, "
                                 f"{self.lin.in_features}], got "
                                 f"{list(x.shape)}")
            h = self.lin(x)
        relation = self.decoder.relation_emb
        accumulator = None
        for _ in range(self.num_layers):
            if self.conv.optimizer == 'adagrad':
                h, accumulator = self.conv(h, edge_index, edge_type,
                                           relation, accumulator)
            else:
                h = self.conv(h, edge_index, edge_type, relation)
        return h

    def scorer(self, x: Optional[Tensor], edge_index: Tensor,
               edge_type: Tensor, num_nodes: int) -> EmbeddingScorer:
        r"""A :class:`~pyg_kgc.evaluation.KGScorer` of DistMult over the
        node states of this message graph."""
        return EmbeddingScorer(self.decoder,
                               self(x, edge_index, edge_type, num_nodes))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_relations='
                f'{self.num_relations}, channels={self.channels}, '
                f'num_layers={self.num_layers}, conv={self.conv})')
