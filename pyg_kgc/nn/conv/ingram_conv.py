r"""The relation-level and entity-level attention layers of InGram (Lee et
al., ICML 2023)."""
import math
from typing import List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Linear, Parameter
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.utils import scatter, softmax

from pyg_kgc.evaluation.known_triples import check_triples
from pyg_kgc.utils.compile import CompiledKernels
from pyg_kgc.utils.sparse import head_products


def _glorot_normal_(tensor: Tensor, fan_in: int, fan_out: int) -> Tensor:
    # Xavier normal with the gain of ReLU, as the official InGram code.
    std = math.sqrt(2.0) * math.sqrt(2.0 / (fan_in + fan_out))
    with torch.no_grad():
        return tensor.normal_(0.0, std)


def _reset_linear(lin: Linear) -> None:
    _glorot_normal_(lin.weight, lin.in_features, lin.out_features)
    if lin.bias is not None:
        torch.nn.init.zeros_(lin.bias)


def _block_projections(lin: Linear, *inputs: Tensor) -> List[Tensor]:
    r"""The terms of :obj:`lin` applied to the concatenation of
    :obj:`inputs`, :math:`\mathbf{W} [\mathbf{x}_1 \Vert \cdots \Vert
    \mathbf{x}_k] + \mathbf{b} = \sum_i \mathbf{W}_i \mathbf{x}_i +
    \mathbf{b}`, one per input (the bias added to the first), so that each
    can be computed on its own rows (per entity or per relation) and summed
    per edge."""
    out, start = [], 0
    for x in inputs:
        out.append(x @ lin.weight[:, start:start + x.size(-1)].t())
        start += x.size(-1)
    if lin.bias is not None:
        out[0] = out[0] + lin.bias
    return out


def _head_logits(pre: Tensor, att: Tensor, negative_slope: float) -> Tensor:
    # y_k^T LeakyReLU(pre_k) per head of the pre-activations [E, K C].
    pre = pre.view(pre.size(0), att.size(-2), att.size(-1))
    return (F.leaky_relu(pre, negative_slope) * att).sum(dim=-1)


def _logits_kernel(table: Tensor, index: Tensor, att: Tensor,
                   negative_slope: float) -> Tensor:
    # Under torch.compile one loop nest from the table's rows to the logits
    # (and one back): neither the [E, K C] pre-activations nor their
    # LeakyReLU are written. (table[index].sum(1) compiles to a far slower
    # kernel than these column-by-column gathers.)
    pre = table[index[:, 0]]
    for j in range(1, index.size(1)):
        pre = pre + table[index[:, j]]
    return _head_logits(pre, att, negative_slope)


_Kernels = CompiledKernels('InGram attention logits', _logits_kernel)


def attention_logits(table: Tensor, index: Tensor, att: Tensor,
                     negative_slope: float = 0.2,
                     compiled: bool = False) -> Tensor:
    r"""The attention logits :math:`[E, K]` of InGram's layers,

    .. math::
        e^{k}_{i} = {\mathbf{a}^{k}}^{\top} \sigma\Big(\sum_{j}
        \mathbf{T}^{k}_{\mathrm{index}[i, j]}\Big),

    for an :obj:`index` :math:`[E, p]` of rows of :obj:`table`
    :math:`[T, K C]` (each edge's pre-activation is a sum of projections
    of its endpoints and relation, computed once per row), heads
    :obj:`att` :math:`[1, K, C]` and :math:`\sigma` the LeakyReLU of slope
    :obj:`negative_slope`.

    With :obj:`compiled=True`, on CPU, the gather, the activation and the
    reduction are one :func:`torch.compile` kernel forward and one
    backward, which never write the :math:`[E, K C]` intermediates (the
    eager path writes several of them for a forward and backward pass): an
    InGram training epoch with the official defaults on one thread takes
    0.80 s instead of 0.99 s on WK-75 (1.23x; NL-100 1.34x, WK-100 1.26x;
    ``benchmarks/ingram.py --compiled``). The kernels are built on first use
    (seconds, cached across processes) and need a C++ compiler; if
    building fails, a warning says so and the eager path is used from then
    on. Elsewhere than on CPU, or inside a region that
    :func:`torch.compile` is already tracing, :obj:`compiled` is ignored.
    """
    if (table.dim() != 2 or index.dim() != 2 or att.dim() != 3
            or table.size(1) != att.size(-2) * att.size(-1)):
        raise ValueError(f"attention_logits: expected a table [T, K C], an "
                         f"index [E, p] and heads [1, K, C], got "
                         f"{list(table.shape)}, {list(index.shape)} and "
                         f"{list(att.shape)}")
    if compiled and _Kernels.usable(table.device):
        try:
            kernel, = _Kernels.get()
            # Only the row counts vary from call to call: the kernels built
            # for symbolic widths and heads are several times slower.
            torch._dynamo.mark_static(table, 1)
            torch._dynamo.mark_static(index, 1)
            torch._dynamo.mark_static(att)
            return kernel(table, index, att, negative_slope)
        except Exception as error:  # no C++ compiler, an inductor failure
            _Kernels.disable(error)
    return _head_logits(F.embedding_bag(index, table, mode='sum'), att,
                        negative_slope)


def _check_features(x: Tensor, channels: int, name: str, layer: str) -> None:
    if x.dim() != 2 or x.size(1) != channels:
        raise ValueError(f"{layer}: {name} must have shape [*, {channels}], "
                         f"got {list(x.shape)}")


class _AttentionConv(MessagePassing):
    r"""Shared machinery of the InGram layers: :math:`K` heads of width
    :math:`C`, logits :math:`\mathbf{a}_k^{\top}\,\mathrm{LeakyReLU}_{0.2}
    (\cdot)` normalised by a softmax over the incoming edges of each
    target, and an optional residual projection.

    Every message is a sum of rows of small tables (projections per node
    and per relation), so the attention-weighted sum over a target's edges
    is computed as one sparse product per head
    (:func:`~pyg_kgc.utils.sparse.head_products`, the fused
    message-and-aggregate step): no :math:`[E, K C]` tensor of messages or
    of weighted messages is written, forward or backward."""
    def __init__(self, out_channels: int, heads: int, residual_in: int,
                 residual: bool, bias: bool, compiled: bool) -> None:
        super().__init__(aggr='add', node_dim=0)
        if heads < 1 or out_channels % heads != 0:
            raise ValueError(f"out_channels ({out_channels}) must be a "
                             f"positive multiple of heads ({heads})")
        self.out_channels = out_channels
        self.heads = heads
        self.head_channels = out_channels // heads
        self.att = Parameter(torch.empty(1, heads, self.head_channels))
        self.residual = residual
        self.res = Linear(residual_in, out_channels,
                          bias=bias) if residual else None
        self.compiled = compiled
        self._alpha: Optional[Tensor] = None

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        super().reset_parameters()
        _reset_linear(self.lin_att)
        _reset_linear(self.lin_msg)
        # fan_in / fan_out of a [1, K, C] tensor under torch's convention.
        _glorot_normal_(self.att, self.heads * self.head_channels,
                        self.head_channels)
        if self.res is not None:
            _reset_linear(self.res)

    def _heads(self, x: Tensor) -> Tensor:
        return x.view(-1, self.heads, self.head_channels)

    def _logits(self, table: Tensor, index: Tensor) -> Tensor:
        return attention_logits(table, index, self.att, 0.2, self.compiled)

    def _aggregate(self, logit: Tensor, target: Tensor, num_targets: int,
                   columns: Tensor, table: Tensor) -> Tensor:
        r"""Softmax of :obj:`logit` :math:`[E, K]` over each target's edges
        (kept for the attention weights), and the weighted sum of the
        messages, the message of edge :math:`e` being the sum of the rows
        :obj:`columns[e + j E]` of :obj:`table` :math:`[T, K C]`."""
        alpha = softmax(logit, target, num_nodes=num_targets)
        self._alpha = alpha
        parts = columns.numel() // max(1, target.numel())
        return head_products(alpha.repeat(parts, 1), self._heads(table),
                             target.repeat(parts), columns, num_targets)

    def _finish(
        self, out: Tensor, x_res: Tensor, edge_index: Tensor,
        return_attention_weights: bool
    ) -> Union[Tensor, Tuple[Tensor, Tuple[Tensor, Tensor]]]:
        out = out.reshape(-1, self.out_channels)
        if self.res is not None:
            out = out + self.res(x_res)
        alpha, self._alpha = self._alpha, None
        if return_attention_weights:
            return out, (edge_index, alpha)
        return out


class InGramRelationConv(_AttentionConv):
    r"""The relation-level attention layer of the `"InGram: Inductive
    Knowledge Graph Embedding via Relation Graphs"
    <https://arxiv.org/abs/2305.19987>`_ paper, over the relation graph
    (:func:`~pyg_kgc.transforms.relation_graph`), with a learnable bias per
    weight bin added to the attention logits:

    .. math::
        \mathbf{z}^{\prime}_i = \Big\Vert_{k=1}^{K} \sum_{j \in
        \mathcal{N}(i)} \alpha^{k}_{ij} \mathbf{W}^{k} \mathbf{z}_j
        \;+\; \mathbf{W}_{\mathrm{res}} \mathbf{z}_i,

    .. math::
        \alpha^{k}_{ij} = \mathrm{softmax}_{j \in \mathcal{N}(i)} \Big(
        {\mathbf{y}^{k}}^{\top} \sigma\big(\mathbf{P}^{k} [\mathbf{z}_i
        \Vert \mathbf{z}_j]\big) + c^{k}_{s(i, j)} \Big),

    with :math:`\sigma` the LeakyReLU of slope :math:`0.2`,
    :math:`s(i, j)` the bin of the edge's affinity weight and
    :math:`c^{k}_{s}` its learnable bias. The neighbourhood of a relation
    contains the relation itself (the diagonal of the affinity matrix).
    The projections of the concatenation are computed per relation and then
    gathered per edge, so the cost per edge is :math:`O(K C)`.

    Args:
        in_channels (int): Size of each input relation representation.
        out_channels (int): Size :math:`K C` of each output (heads
            concatenated).
        num_bins (int): Number :math:`B` of weight bins.
        heads (int, optional): Number :math:`K` of attention heads.
            (default: :obj:`8`)
        residual (bool, optional): Add the residual projection
            :math:`\mathbf{W}_{\mathrm{res}} \mathbf{z}_i`.
            (default: :obj:`True`)
        bias (bool, optional): Learn additive biases of the projections.
            (default: :obj:`True`)
        compiled (bool, optional): On CPU, compute the attention logits
            with the :func:`torch.compile` kernels of
            :func:`attention_logits` (faster; the same values up to
            floating-point rounding). (default: :obj:`False`)

    Shapes:
        - **input:** relation features :math:`(R, F_{in})`, relation graph
          :obj:`edge_index` :math:`(2, M)` (sources, targets),
          :obj:`edge_bin` :math:`(M)`
        - **output:** relation features :math:`(R, F_{out})`, and with
          :obj:`return_attention_weights=True` also the edges and their
          attention weights :math:`(M, K)`
    """
    def __init__(self, in_channels: int, out_channels: int, num_bins: int,
                 heads: int = 8, residual: bool = True, bias: bool = True,
                 compiled: bool = False) -> None:
        super().__init__(out_channels, heads, in_channels, residual, bias,
                         compiled)
        if num_bins < 1:
            raise ValueError(f"num_bins must be positive, got {num_bins}")
        self.in_channels = in_channels
        self.num_bins = num_bins
        self.lin_att = Linear(2 * in_channels, out_channels, bias=bias)
        self.lin_msg = Linear(in_channels, out_channels, bias=bias)
        self.bin_bias = Parameter(torch.empty(num_bins, heads))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        super().reset_parameters()
        torch.nn.init.zeros_(self.bin_bias)

    def forward(
        self, x: Tensor, edge_index: Tensor, edge_bin: Tensor,
        return_attention_weights: bool = False
    ) -> Union[Tensor, Tuple[Tensor, Tuple[Tensor, Tensor]]]:
        r"""Runs the forward pass of the module.

        Args:
            x (torch.Tensor): Relation features :math:`[R, F_{in}]`.
            edge_index (torch.Tensor): Relation graph edges :math:`[2, M]`,
                messages flowing from :obj:`edge_index[0]` to
                :obj:`edge_index[1]`.
            edge_bin (torch.Tensor): The bin of every edge :math:`[M]`.
            return_attention_weights (bool, optional): Also return the
                attention weights :math:`[M, K]`. (default: :obj:`False`)
        """
        name = self.__class__.__name__
        _check_features(x, self.in_channels, 'x', name)
        check_triples(edge_index, edge_bin, x.size(0), self.num_bins,
                      f'{name} (relation graph; "relation" is the bin)')
        num = x.size(0)
        # P [z_i || z_j] = (P_1 z)_i + (P_2 z)_j: projections per relation,
        # summed per edge (attention_logits).
        target, source = _block_projections(self.lin_att, x, x)
        logit = self._logits(
            torch.cat([target, source]),
            torch.stack([edge_index[1], edge_index[0] + num], dim=1))
        logit = logit + self.bin_bias[edge_bin]
        out = self._aggregate(logit, edge_index[1], num, edge_index[0],
                              self.lin_msg(x))
        return self._finish(out, x, edge_index, return_attention_weights)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, '
                f'{self.out_channels}, num_bins={self.num_bins}, '
                f'heads={self.heads}, residual={self.residual})')


class InGramEntityConv(_AttentionConv):
    r"""The entity-level attention layer of the `"InGram: Inductive
    Knowledge Graph Embedding via Relation Graphs"
    <https://arxiv.org/abs/2305.19987>`_ paper, over the triples of a
    knowledge graph, whose attention logits and messages involve the
    neighbour, the relation's representation (from the relation-level
    layers) and, for the logits, the target:

    .. math::
        \mathbf{h}^{\prime}_v = \Big\Vert_{k=1}^{K} \Big(
        \sum_{(u, r) \in \mathcal{N}(v)} \beta^{k}_{vur} \mathbf{W}^{k}
        [\mathbf{h}_u \Vert \mathbf{z}_r] + \beta^{k}_{vv} \mathbf{W}^{k}
        [\mathbf{h}_v \Vert \bar{\mathbf{z}}_v] \Big) \;+\;
        \mathbf{W}_{\mathrm{res}} \mathbf{h}_v,

    .. math::
        \beta^{k}_{vur} = \mathrm{softmax}\Big({\mathbf{y}^{k}}^{\top}
        \sigma\big(\mathbf{P}^{k} [\mathbf{h}_v \Vert \mathbf{h}_u \Vert
        \mathbf{z}_r]\big)\Big),

    where :math:`\mathcal{N}(v)` holds the heads :math:`u` and relations
    :math:`r` of the triples :math:`(u, r, v)` (pass the inverse triples
    too for messages in both directions), the softmax runs over them and
    the self-loop, whose relation :math:`\bar{\mathbf{z}}_v` is the mean of
    the representations of the relations of :math:`v`'s incoming triples
    (zero if it has none), and :math:`\sigma` is the LeakyReLU of slope
    :math:`0.2`. The projections of the concatenations are computed per
    entity and per relation and gathered per edge: :math:`O(K C)` per edge
    instead of :math:`O(K C (2F + F_r))`.

    Args:
        in_channels (int): Size :math:`F` of each input entity
            representation.
        out_channels (int): Size :math:`K C` of each output (heads
            concatenated).
        relation_channels (int): Size :math:`F_r` of each relation
            representation.
        heads (int, optional): Number :math:`K` of attention heads.
            (default: :obj:`8`)
        residual (bool, optional): Add the residual projection
            :math:`\mathbf{W}_{\mathrm{res}} \mathbf{h}_v`.
            (default: :obj:`True`)
        bias (bool, optional): Learn additive biases of the projections.
            (default: :obj:`True`)
        compiled (bool, optional): On CPU, compute the attention logits
            with the :func:`torch.compile` kernels of
            :func:`attention_logits` (faster; the same values up to
            floating-point rounding). (default: :obj:`False`)

    Shapes:
        - **input:** entity features :math:`(N, F)`, :obj:`edge_index`
          :math:`(2, E)` (heads, tails), :obj:`edge_type` :math:`(E)`,
          relation features :math:`(R, F_r)`
        - **output:** entity features :math:`(N, K C)`, and with
          :obj:`return_attention_weights=True` also the edges with the
          self-loops appended :math:`(2, E + N)` and their attention weights
          :math:`(E + N, K)`
    """
    def __init__(self, in_channels: int, out_channels: int,
                 relation_channels: int, heads: int = 8, residual: bool = True,
                 bias: bool = True, compiled: bool = False) -> None:
        super().__init__(out_channels, heads, in_channels, residual, bias,
                         compiled)
        self.in_channels = in_channels
        self.relation_channels = relation_channels
        self.lin_att = Linear(2 * in_channels + relation_channels,
                              out_channels, bias=bias)
        self.lin_msg = Linear(in_channels + relation_channels, out_channels,
                              bias=bias)
        self.reset_parameters()

    def forward(
        self, x: Tensor, edge_index: Tensor, edge_type: Tensor,
        relation_x: Tensor, return_attention_weights: bool = False
    ) -> Union[Tensor, Tuple[Tensor, Tuple[Tensor, Tensor]]]:
        r"""Runs the forward pass of the module.

        Args:
            x (torch.Tensor): Entity features :math:`[N, F]`.
            edge_index (torch.Tensor): Heads and tails :math:`[2, E]`;
                messages flow from heads to tails.
            edge_type (torch.Tensor): Relations :math:`[E]`.
            relation_x (torch.Tensor): Relation features :math:`[R, F_r]`.
            return_attention_weights (bool, optional): Also return the
                edges with self-loops and their attention weights.
                (default: :obj:`False`)
        """
        name = self.__class__.__name__
        _check_features(x, self.in_channels, 'x', name)
        _check_features(relation_x, self.relation_channels, 'relation_x', name)
        check_triples(edge_index, edge_type, x.size(0), relation_x.size(0),
                      name)
        num_nodes = x.size(0)
        num_relations = relation_x.size(0)
        # Mean relation of every entity's incoming triples (self-loops).
        loop_rel = scatter(relation_x.index_select(0, edge_type),
                           edge_index[1], 0, num_nodes, reduce='mean')
        # P [h_v || h_u || z_r] = (P_1 h)_v + (P_2 h)_u + (P_3 z)_r, and
        # W [h_u || z_r] = (W_1 h)_u + (W_2 z)_r: projections per entity
        # and per relation (the self-loop relations after the real ones);
        # the logits' terms are summed per edge (attention_logits), the
        # messages' terms only inside the weighted sum (_aggregate).
        relations = torch.cat([relation_x, loop_rel])
        att_table = torch.cat(_block_projections(self.lin_att, x, x,
                                                 relations))
        msg_table = torch.cat(_block_projections(self.lin_msg, x, relations))
        loop = torch.arange(num_nodes, device=x.device)
        full_index = torch.cat([edge_index, loop.expand(2, -1)], dim=1)
        rel_index = torch.cat([edge_type, loop + num_relations])
        source, dst = full_index
        logit = self._logits(
            att_table,
            torch.stack([dst, source + num_nodes, rel_index + 2 * num_nodes],
                        dim=1))
        out = self._aggregate(logit, dst, num_nodes,
                              torch.cat([source, rel_index + num_nodes]),
                              msg_table)
        return self._finish(out, x, full_index, return_attention_weights)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, '
                f'{self.out_channels}, relation_channels='
                f'{self.relation_channels}, heads={self.heads}, '
                f'residual={self.residual})')
