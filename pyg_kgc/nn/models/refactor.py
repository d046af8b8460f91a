r"""The ReFactor GNN: L ReFactor layers with shared relation embeddings over
the message graph, and DistMult over the resulting node states."""
from typing import Any, Dict, Optional, Tuple

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
    :math:`\mathcal{N}(0, \sigma^2)` (:math:`\sigma` = :obj:`feature_std`,
    by default :math:`1/\sqrt{K}`), drawn afresh in training and from
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
        n3 (float, optional): Weight of the N3 term of the induced steps
            (see :class:`~pyg_kgc.nn.conv.ReFactorConv`). (default:
            :obj:`0.0`)
        batch_size (int, optional): Mini-batch evaluation of every layer,
            for large graphs (see :class:`~pyg_kgc.nn.conv.ReFactorConv`).
            (default: :obj:`None`, full batch)
        feature_std (float, optional): Standard deviation of the entries
            of the random input vectors. (default: :obj:`None`,
            :math:`1 / \sqrt{K}`: vectors of about unit norm)
        dropout (float, optional): In training, the dropout probability of
            the node states that the decoder scores (:meth:`decode`; the
            layers' steps and the states they pass on are not dropped):
            a regulariser of the relation embeddings, as dropout on the
            entity embeddings is for the factorisation models.
            (default: :obj:`0.0`)

    Besides end-to-end training through all :math:`L` layers, the model is
    trained layer-wise with a node state cache as in the paper
    (:class:`NodeStateCache`), which with :math:`L = \infty` is the
    transductive mode.
    """
    def __init__(self, num_relations: int, channels: int, num_layers: int,
                 lr: float, in_channels: Optional[int] = None,
                 use_global: bool = True, optimizer: str = 'sgd',
                 chunk_size: int = 4096, seed: int = 0, n3: float = 0.0,
                 batch_size: Optional[int] = None,
                 feature_std: Optional[float] = None,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got "
                             f"{num_layers}")
        self.num_relations = num_relations
        self.channels = channels
        self.num_layers = num_layers
        self.seed = seed
        if feature_std is not None and not feature_std > 0:
            raise ValueError(f"feature_std must be positive, got "
                             f"{feature_std}")
        self.feature_std = (channels**-0.5
                            if feature_std is None else feature_std)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        self.dropout = dropout
        self.conv = ReFactorConv(lr, use_global=use_global,
                                 optimizer=optimizer, chunk_size=chunk_size,
                                 n3=n3, batch_size=batch_size)
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
                           device=device, dtype=dtype) * self.feature_std

    def inputs(self, x: Optional[Tensor], num_nodes: int) -> Tensor:
        r"""The input states :math:`\mathbf{h}^0` :math:`[N, K]`: random
        vectors (:meth:`features`) or the projection of the features
        :obj:`x` :math:`[N, F]`."""
        if (x is None) != (self.lin is None):
            raise ValueError("Pass input features if and only if the model "
                             "was built with in_channels")
        if x is None:
            return self.features(num_nodes)
        if x.shape != (num_nodes, self.lin.in_features):
            raise ValueError(f"Expected features [{num_nodes}, "
                             f"{self.lin.in_features}], got {list(x.shape)}")
        return self.lin(x)

    def layer(
        self, h: Tensor, edge_index: Tensor, edge_type: Tensor,
        accumulator: Optional[Tensor] = None
    ) -> Tuple[Tensor, Optional[Tensor]]:
        r"""One layer on the states :obj:`h`: the new states and (with
        AdaGrad) the new accumulator."""
        relation = self.decoder.relation_emb
        if self.conv.optimizer == 'adagrad':
            return self.conv(h, edge_index, edge_type, relation, accumulator)
        return self.conv(h, edge_index, edge_type, relation), None

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
        h = self.inputs(x, num_nodes)
        accumulator = None
        for _ in range(self.num_layers):
            h, accumulator = self.layer(h, edge_index, edge_type, accumulator)
        return h

    def scorer(self, x: Optional[Tensor], edge_index: Tensor,
               edge_type: Tensor, num_nodes: int) -> EmbeddingScorer:
        r"""A :class:`~pyg_kgc.evaluation.KGScorer` of DistMult over the
        node states of this message graph."""
        return self.decode(self(x, edge_index, edge_type, num_nodes))

    def decode(self, h: Tensor) -> EmbeddingScorer:
        r"""A :class:`~pyg_kgc.evaluation.KGScorer` of DistMult over the
        node states :obj:`h` :math:`[N, K]` (e.g. those of a
        :class:`NodeStateCache` step), with :obj:`dropout` applied to them
        in training."""
        h = torch.nn.functional.dropout(h, self.dropout, self.training)
        return EmbeddingScorer(self.decoder, h)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_relations='
                f'{self.num_relations}, channels={self.channels}, '
                f'num_layers={self.num_layers}, dropout={self.dropout}, '
                f'conv={self.conv})')


class NodeStateCache:
    r"""Layer-wise training of a :class:`ReFactorGNN` with a node state
    cache, as in the `"ReFactor GNNs" <https://arxiv.org/abs/2207.09980>`_
    paper (Eq. (13)): every training step runs *one* layer on the cached
    states of the previous step (detached, so gradients reach the relation
    embeddings through this layer only), and caches its output. Every
    :obj:`period` steps (the model's depth :math:`L`) the cache is cleared
    and the next step starts again from the input states
    :math:`\mathbf{h}^0`, so that training sees the states of every depth
    :math:`1, \ldots, L` that inference with :math:`L` layers computes.
    With :obj:`period=None` (:math:`L = \infty`) the cache is never
    cleared: the states keep descending DistMult's loss while the relation
    embeddings are trained, which makes the model a factorisation model
    trained by alternating steps (the transductive mode), and inference
    uses the cached states (:meth:`scorer`).

    Args:
        period (int, optional): :math:`L`, or :obj:`None` for
            :math:`L = \infty`. (default: :obj:`None`)

    Example:
        >>> cache = NodeStateCache(period=model.num_layers)
        >>> for step in range(steps):
        ...     h = cache.step(model, None, edge_index, edge_type, num_nodes)
        ...     loss = cross_entropy_loss(...)  # on h, trains the relations
    """
    def __init__(self, period: Optional[int] = None) -> None:
        if period is not None and period < 1:
            raise ValueError(f"period must be positive, got {period}")
        self.period = period
        self.steps = 0
        self.states: Optional[Tensor] = None
        self.accumulator: Optional[Tensor] = None

    def clear(self) -> None:
        r"""Empties the cache: the next step starts from the inputs."""
        self.states, self.accumulator = None, None

    @property
    def restarts(self) -> bool:
        r"""Whether the next :meth:`step` starts from the input states: the
        cache is empty, or :obj:`period` steps have passed since the last
        restart (the start of a cycle, e.g. to draw a new message graph
        for it)."""
        return self.states is None or (self.period is not None
                                       and self.steps % self.period == 0)

    def step(self, model: ReFactorGNN, x: Optional[Tensor], edge_index: Tensor,
             edge_type: Tensor, num_nodes: int) -> Tensor:
        r"""One layer on the cached states (or on the inputs, after a
        clear); returns the new states :math:`[N, K]`, differentiable in
        the model's parameters, and caches them."""
        if self.restarts:
            h, accumulator = model.inputs(x, num_nodes), None
        else:
            if self.states.size(0) != num_nodes:
                raise ValueError(f"The cache holds states of "
                                 f"{self.states.size(0)} nodes, not "
                                 f"{num_nodes}: clear it for a new graph")
            # On the model's device (a restored checkpoint is on the CPU).
            device = model.decoder.relation_emb.device
            h = self.states.to(device)
            accumulator = (None if self.accumulator is None else
                           self.accumulator.to(device))
        h, accumulator = model.layer(h, edge_index, edge_type, accumulator)
        self.states = h.detach()
        self.accumulator = (None
                            if accumulator is None else accumulator.detach())
        self.steps += 1
        return h

    def state_dict(self) -> Dict[str, Any]:
        r"""The cache's contents (states, accumulator, steps taken), e.g.
        for a checkpoint of :func:`~pyg_kgc.training.fit`."""
        return {
            'period': self.period,
            'steps': self.steps,
            'states': self.states,
            'accumulator': self.accumulator,
        }

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        r"""Restores the contents saved by :meth:`state_dict`; the states
        move to the model's device at the next :meth:`step` or
        :meth:`scorer`."""
        if state['period'] != self.period:
            raise ValueError(f"The saved cache has period {state['period']},"
                             f" this one {self.period}")
        self.steps = int(state['steps'])
        self.states, self.accumulator = state['states'], state['accumulator']

    def scorer(self, model: ReFactorGNN) -> EmbeddingScorer:
        r"""DistMult over the cached states (the transductive inference of
        :math:`L = \infty`)."""
        if self.states is None:
            raise ValueError("The node state cache is empty")
        return EmbeddingScorer(
            model.decoder, self.states.to(model.decoder.relation_emb.device))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(period={self.period}, '
                f'steps={self.steps})')
