from typing import Optional, Tuple, Union

import torch
from torch import Tensor
from torch.nn import Parameter
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.nn.inits import glorot, zeros
from torch_geometric.typing import SparseTensor
from torch_geometric.utils import dropout_edge

from pyg_kgc.utils.segment import SegmentLayout, group_pairs, segment_matmul
from pyg_kgc.utils.sparse import SparseMatrix

NORMALIZATIONS = ('relation', 'in_degree', 'none')


class _Structure:
    r"""What a graph determines for a layer, independent of the weights: the
    distinct (target, relation) pairs sorted by relation, the pair of every
    edge, the edge normalisation, and the sparse matrices that sum
    normalised messages into pairs and pairs into targets."""
    def __init__(self, edge_index: Tensor, edge_type: Tensor, num_src: int,
                 num_dst: int, num_relations: int, normalization: str) -> None:
        src, dst = edge_index
        self.pair_dst, self.pair_type, self.pair_of_edge = group_pairs(
            dst, edge_type)
        self.num_src, self.num_dst = num_src, num_dst
        # 1 / c in float64, cast to the features' dtype where used.
        if normalization == 'relation':  # c_{v,r} = |N_r(v)|
            count = torch.bincount(self.pair_of_edge,
                                   minlength=self.pair_dst.numel())
            self.norm = 1.0 / count[self.pair_of_edge].double()
        elif normalization == 'in_degree':  # c_v = |N(v)|
            count = torch.bincount(dst, minlength=num_dst)
            self.norm = 1.0 / count[dst].double()
        else:
            self.norm = None
        self.src, self.num_relations = src, num_relations
        self._matrices: Optional[Tuple[SparseMatrix, SparseMatrix,
                                       SegmentLayout]] = None

    def matrices(self) -> Tuple[SparseMatrix, SparseMatrix, SegmentLayout]:
        r"""Sources to pairs :math:`[P, N_s]` (normalised), pairs to targets
        :math:`[N_t, P]`, and the relation layout of the pairs; built on
        first use (featureless input needs none of them)."""
        if self._matrices is None:
            num_pairs = self.pair_dst.numel()
            self._matrices = (SparseMatrix(self.pair_of_edge, self.src,
                                           self.norm,
                                           (num_pairs, self.num_src)),
                              SparseMatrix(
                                  self.pair_dst,
                                  torch.arange(num_pairs,
                                               device=self.src.device), None,
                                  (self.num_dst, num_pairs)),
                              SegmentLayout(self.pair_type,
                                            self.num_relations))
        return self._matrices


class RGCNConv(MessagePassing):
    r"""The relational graph convolution from the `"Modeling Relational Data
    with Graph Convolutional Networks" <https://arxiv.org/abs/1703.06103>`_
    paper (R-GCN)

    .. math::
        \mathbf{x}^{\prime}_v = \mathbf{W}_0 \mathbf{x}_v + \sum_{r \in
        \mathcal{R}} \sum_{u \in \mathcal{N}_r(v)} \frac{1}{c_{v,r}}
        \mathbf{W}_r \mathbf{x}_u + \mathbf{b},

    with :math:`c_{v,r} = |\mathcal{N}_r(v)|` (per relation, as the paper and
    PyG's :class:`~torch_geometric.nn.conv.RGCNConv` with :obj:`aggr="mean"`),
    :math:`c_{v,r} = |\mathcal{N}(v)|` (in-degree) or :math:`1`. The
    relation matrices are full, combinations of :math:`B` shared bases
    :math:`\mathbf{W}_r = \sum_b a_{rb} \mathbf{V}_b`, or block-diagonal
    with :math:`B` blocks. The non-linearity is left to the caller.

    Unlike PyG's :class:`~torch_geometric.nn.conv.RGCNConv` (a Python loop
    over relations) and :class:`~torch_geometric.nn.conv.FastRGCNConv` (a
    weight matrix per edge), messages are first summed into the distinct
    (target, relation) pairs :math:`\mathcal{P}` of the graph with one sparse
    product (:class:`~pyg_kgc.utils.SparseMatrix`, whose backward pass is a
    second sparse product, so no :math:`[|\mathcal{E}|, d]` messages are
    stored), every pair is multiplied by its relation's matrix with one
    grouped matrix product (:func:`~pyg_kgc.utils.segment_matmul`), and the
    pairs are summed into their targets: time :math:`O(|\mathcal{E}| d +
    |\mathcal{P}| d^2)`, memory :math:`O(|\mathcal{P}| d + |\mathcal{R}|
    d^2)`, no loop over relations.

    Args:
        in_channels (int or tuple): Size of input features, or the number
            of nodes for featureless input (:obj:`x=None`), where every node
            has its own learned row of each :math:`\mathbf{W}_r`. A tuple sets
            source and target sizes of a bipartite graph.
        out_channels (int): Size of output features.
        num_relations (int): Number of relations :math:`|\mathcal{R}|`.
        num_bases (int, optional): Use the basis decomposition with this
            many bases. (default: :obj:`None`)
        num_blocks (int, optional): Use the block-diagonal decomposition with
            this many blocks (not for featureless input).
            (default: :obj:`None`)
        normalization (str, optional): :obj:`"relation"`,
            :obj:`"in_degree"` or :obj:`"none"`. (default: :obj:`"relation"`)
        root_weight (bool, optional): Add the self-loop term
            :math:`\mathbf{W}_0 \mathbf{x}_v`. (default: :obj:`True`)
        bias (bool, optional): Add a learned bias. (default: :obj:`True`)
        edge_dropout (float, optional): In training, the probability of
            dropping each edge (before normalising, as R-GCN link
            prediction does). (default: :obj:`0.0`)
        self_loop_dropout (float, optional): In training, the probability of
            dropping a node's self-loop term. (default: :obj:`0.0`)
        cached (bool, optional): Reuse the graph structure (pairs,
            normalisation, layout) of the first call in later calls, for a
            fixed graph without edge dropout. (default: :obj:`False`)
        **kwargs (optional): Additional arguments of
            :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:**
          node features :math:`(|\mathcal{V}|, F_{in})`, a node index
          :math:`(|\mathcal{V}|)` or :obj:`None` for featureless input (or a
          tuple of source and target features),
          edge indices :math:`(2, |\mathcal{E}|)` with edge types
          :math:`(|\mathcal{E}|)`, or a transposed sparse adjacency
          (:class:`torch_sparse.SparseTensor` or :class:`torch.sparse`
          tensor, rows = targets) whose values are the edge types
        - **output:** node features :math:`(|\mathcal{V}_t|, F_{out})`
    """
    def __init__(
        self,
        in_channels: Union[int, Tuple[int, int]],
        out_channels: int,
        num_relations: int,
        num_bases: Optional[int] = None,
        num_blocks: Optional[int] = None,
        normalization: str = 'relation',
        root_weight: bool = True,
        bias: bool = True,
        edge_dropout: float = 0.0,
        self_loop_dropout: float = 0.0,
        cached: bool = False,
        **kwargs,
    ) -> None:
        kwargs.setdefault('aggr', 'add')
        super().__init__(node_dim=0, **kwargs)
        if num_bases is not None and num_blocks is not None:
            raise ValueError("Use either the basis or the block-diagonal "
                             "decomposition, not both")
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"Unknown normalization {normalization!r}; "
                             f"expected one of {NORMALIZATIONS}")
        if isinstance(in_channels, int):
            in_channels = (in_channels, in_channels)
        if num_blocks is not None and (in_channels[0] % num_blocks
                                       or out_channels % num_blocks):
            raise ValueError(f"in_channels ({in_channels[0]}) and "
                             f"out_channels ({out_channels}) must be "
                             f"divisible by num_blocks ({num_blocks})")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_relations = num_relations
        self.num_bases = num_bases
        self.num_blocks = num_blocks
        self.normalization = normalization
        self.edge_dropout = edge_dropout
        self.self_loop_dropout = self_loop_dropout
        self.cached = cached
        self._cache: Optional[_Structure] = None

        c_in = in_channels[0]
        if num_bases is not None:
            self.weight = Parameter(torch.empty(num_bases, c_in, out_channels))
            self.comp = Parameter(torch.empty(num_relations, num_bases))
        elif num_blocks is not None:
            self.weight = Parameter(
                torch.empty(num_relations, num_blocks, c_in // num_blocks,
                            out_channels // num_blocks))
            self.register_parameter('comp', None)
        else:
            self.weight = Parameter(
                torch.empty(num_relations, c_in, out_channels))
            self.register_parameter('comp', None)
        if root_weight:
            self.root = Parameter(torch.empty(in_channels[1], out_channels))
        else:
            self.register_parameter('root', None)
        if bias:
            self.bias = Parameter(torch.empty(out_channels))
        else:
            self.register_parameter('bias', None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        glorot(self.weight)
        glorot(self.comp)
        glorot(self.root)
        zeros(self.bias)
        self._cache = None

    def relation_weights(self) -> Tensor:
        r"""The relation matrices :math:`[R, c_{in}, c_{out}]` (blocks
        :math:`[R, B, c_{in}/B, c_{out}/B]` for the block-diagonal
        decomposition)."""
        if self.num_bases is not None:
            return (self.comp @ self.weight.flatten(1)).view(
                self.num_relations, self.in_channels[0], self.out_channels)
        return self.weight

    def _edges(self, edge_index,
               edge_type: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        if isinstance(edge_index, SparseTensor):
            row, col, value = edge_index.coo()  # adj_t: rows are targets
            if value is None:
                raise ValueError("A sparse adjacency must hold edge types "
                                 "as its values")
            return torch.stack([col, row]), value.long()
        if isinstance(edge_index, Tensor) and edge_index.is_sparse:
            adj_t = edge_index.coalesce()
            row, col = adj_t.indices()
            return torch.stack([col, row]), adj_t.values().long()
        if edge_type is None:
            raise ValueError("edge_type is required with an edge_index")
        return edge_index, edge_type

    def _check(self, edge_index: Tensor, edge_type: Tensor, num_src: int,
               num_dst: int) -> None:
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise ValueError(f"edge_index must have shape [2, E], got "
                             f"{list(edge_index.shape)}")
        if edge_type.shape != (edge_index.size(1), ):
            raise ValueError(f"edge_type must have shape "
                             f"[{edge_index.size(1)}], got "
                             f"{list(edge_type.shape)}")
        if edge_type.numel() == 0:
            return
        low, high = int(edge_type.min()), int(edge_type.max())
        if low < 0 or high >= self.num_relations:
            raise ValueError(f"edge_type holds relation "
                             f"{low if low < 0 else high}, outside [0, "
                             f"{self.num_relations}) (num_relations="
                             f"{self.num_relations})")
        for ids, size, side in ((edge_index[0], num_src, 'source'),
                                (edge_index[1], num_dst, 'target')):
            if int(ids.min()) < 0 or int(ids.max()) >= size:
                raise ValueError(f"edge_index refers to {side} node "
                                 f"{int(ids.max())}, but there are {size} "
                                 f"{side} nodes")

    def forward(self, x: Union[Optional[Tensor], Tuple[Optional[Tensor],
                                                       Tensor]],
                edge_index: Union[Tensor, SparseTensor],
                edge_type: Optional[Tensor] = None) -> Tensor:
        r"""Runs the forward pass of the module.

        Args:
            x (torch.Tensor or tuple, optional): Node features
                :math:`[N, c_{in}]`, node indices or :obj:`None` (featureless
                input: every node of :obj:`in_channels` has learned rows),
                or a (source, target) tuple of these.
            edge_index (torch.Tensor or SparseTensor): Edge indices, or a
                transposed sparse adjacency holding edge types.
            edge_type (torch.Tensor, optional): The relation of every edge.
        """
        x_src, x_dst = x if isinstance(x, tuple) else (x, x)
        featureless = x_src is None or not x_src.is_floating_point()
        if featureless and self.num_blocks is not None:
            raise ValueError("The block-diagonal decomposition needs node "
                             "features, not featureless input")
        for name, t, size in (('x', x_src, self.in_channels[0]),
                              ('x (target)', x_dst, self.in_channels[1])):
            if t is not None and t.is_floating_point() and t.size(-1) != size:
                raise ValueError(f"{name} has {t.size(-1)} features, but "
                                 f"in_channels is {size}")
        num_src = (self.in_channels[0] if x_src is None else x_src.size(0))
        num_dst = (self.in_channels[1] if x_dst is None else x_dst.size(0))
        edge_index, edge_type = self._edges(edge_index, edge_type)
        self._check(edge_index, edge_type, num_src, num_dst)

        dropping = self.training and self.edge_dropout > 0
        if dropping:
            edge_index, mask = dropout_edge(edge_index, p=self.edge_dropout)
            edge_type = edge_type[mask]
        if self.cached and self._cache is not None and not dropping:
            structure = self._cache
        else:
            structure = _Structure(edge_index, edge_type, num_src, num_dst,
                                   self.num_relations, self.normalization)
            if self.cached and not dropping:
                self._cache = structure

        if featureless:
            out = self._featureless(x_src, edge_index, edge_type, structure,
                                    num_dst)
        else:
            # Sum the (normalised) messages into (target, relation) pairs
            # (a fused message-and-aggregate: one sparse product forward and
            # backward, no [E, F] messages), multiply every pair by the
            # matrix of its relation, and sum the pairs into their targets.
            to_pairs, to_targets, layout = structure.matrices()
            pairs = to_pairs @ x_src
            out = to_targets @ segment_matmul(pairs, layout,
                                              self.relation_weights())

        if self.root is not None:
            if not featureless:
                root = x_dst @ self.root
            elif x_dst is None:  # every node has its own row
                root = self.root
            else:
                root = self.root.index_select(0, x_dst.view(-1))
            if self.training and self.self_loop_dropout > 0:
                keep = torch.rand(num_dst, 1, device=root.device)
                root = root * (keep >= self.self_loop_dropout)
            out = out + root
        if self.bias is not None:
            out = out + self.bias
        return out

    def _featureless(self, x: Optional[Tensor], edge_index: Tensor,
                     edge_type: Tensor, structure: _Structure,
                     num_dst: int) -> Tensor:
        # Every source node u contributes W_r[u]: gather the rows per edge.
        src, dst = edge_index
        if x is not None:
            src = x.view(-1)[src]
        norm = (structure.norm.to(self.weight.dtype).view(-1, 1)
                if structure.norm is not None else None)
        out = self.weight.new_zeros(num_dst, self.out_channels)
        # index_select, not advanced indexing: reproducible gradients.
        if self.num_bases is None:
            num_rows = self.weight.size(1)
            rows = self.weight.flatten(0, 1).index_select(
                0, edge_type * num_rows + src)
            rows = rows * norm if norm is not None else rows
            return out.index_add(0, dst, rows)
        comp = self.comp.index_select(0, edge_type)
        if norm is not None:
            comp = comp * norm
        for b in range(self.num_bases):  # bases, not relations
            rows = self.weight[b].index_select(0, src)
            out = out.index_add(0, dst, comp[:, b:b + 1] * rows)
        return out

    def __repr__(self) -> str:
        extra = ''
        if self.num_bases is not None:
            extra = f', num_bases={self.num_bases}'
        elif self.num_blocks is not None:
            extra = f', num_blocks={self.num_blocks}'
        return (f'{self.__class__.__name__}({self.in_channels}, '
                f'{self.out_channels}, num_relations={self.num_relations}'
                f'{extra}, normalization={self.normalization!r})')
