r"""The relation graph of InGram (Lee et al., ICML 2023): relations linked
by the entities they share, weighted by how exclusively they share them."""
import warnings
from typing import Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from pyg_kgc.evaluation.known_triples import check_triples


def _csr(row: Tensor, col: Tensor, value: Tensor, shape: Tuple[int,
                                                               int]) -> Tensor:
    # Entries sorted by row: CSR without a coalescing pass.
    count = torch.bincount(row, minlength=shape[0])
    crow = torch.zeros(shape[0] + 1, dtype=torch.long, device=row.device)
    torch.cumsum(count, 0, out=crow[1:])
    return torch.sparse_csr_tensor(crow, col, value, shape,
                                   check_invariants=False)


def check_ties(ties: str, name: str = 'ties') -> None:
    r"""Raises a :class:`ValueError` unless :obj:`ties` names a treatment of
    equal weights in :func:`relation_graph`'s bins."""
    if ties not in ('best', 'order'):
        raise ValueError(f"{name} must be 'best' or 'order', got {ties!r}")


def _rank_bins(weight: Tensor, num_bins: int, rtol: float,
               ties: str = 'best') -> Tensor:
    r"""Bin :math:`\lceil B \rho / M \rceil - 1` of every weight, with
    :math:`\rho` its rank among the :math:`M` weights in decreasing order
    (:math:`1` for the largest). With :obj:`ties="best"`, weights equal up
    to :obj:`rtol` share the best rank of their group, so the bins depend
    on the weights alone, not on the order or the ids of the relations;
    with :obj:`ties="order"`, equal weights are ranked in input order."""
    num = weight.numel()
    order = torch.sort(weight, descending=True, stable=True).indices
    position = torch.arange(num, device=weight.device)
    rank = torch.empty_like(position)
    if ties == 'order':
        rank[order] = position + 1
    else:
        sorted_weight = weight[order]
        new_group = torch.ones(num, dtype=torch.bool, device=weight.device)
        new_group[1:] = (sorted_weight[:-1] - sorted_weight[1:]
                         > rtol * sorted_weight[:-1])
        # Best (first) position of each tie group, carried forward.
        first = torch.where(new_group, position, torch.zeros_like(position))
        rank[order] = torch.cummax(first, dim=0).values + 1
    bins = torch.div(rank * num_bins + num - 1, num, rounding_mode='floor')
    return bins - 1


def relation_graph(edge_index: Tensor, edge_type: Tensor, num_nodes: int,
                   num_relations: int, num_bins: int = 10,
                   add_inverse: bool = True, binary: bool = False,
                   rtol: float = 1e-9,
                   ties: str = 'best') -> Tuple[Tensor, Tensor, Tensor]:
    r"""The relation graph of the `"InGram: Inductive Knowledge Graph
    Embedding via Relation Graphs" <https://arxiv.org/abs/2305.19987>`_
    paper: a weighted graph on the relations of a knowledge graph with
    affinity matrix

    .. math::
        \mathbf{A} = \mathbf{E}_h^{\top} \mathbf{D}_h^{-2} \mathbf{E}_h +
        \mathbf{E}_t^{\top} \mathbf{D}_t^{-2} \mathbf{E}_t,

    where :math:`(\mathbf{E}_h)_{er}` (:math:`(\mathbf{E}_t)_{er}`) is the
    frequency of entity :math:`e` as the head (tail) of relation
    :math:`r`, as in the paper and its official code (with
    :obj:`binary=True`: :math:`1` if it occurs at all, as the lecture
    notes draw it), and :math:`\mathbf{D}_h` (:math:`\mathbf{D}_t`) the
    diagonal matrix of the row sums, the entity's degree: two relations
    are the more related the more entities they share on the same side,
    and an entity counts the less the more triples it takes part in.
    :math:`\mathbf{A}_{ij} = \sum_e \mathbf{E}_{ei} \mathbf{E}_{ej} /
    \deg(e)^2`, summed over both sides; the diagonal links every relation
    with facts to itself.

    The weights are then binned by rank, as in the paper: with the
    :math:`M` non-zero weights sorted in decreasing order, the weight of
    rank :math:`\rho` goes to bin :math:`\lceil B \rho / M \rceil - 1`, so
    bin :math:`0` holds the largest weights. Unlike the official code,
    whose tie order is arbitrary, equal weights (up to :obj:`rtol`) share
    the bin of their best rank, so that the bins do not depend on the
    relation ids; with :obj:`ties="order"` they are ranked in the order of
    the entries (by source, then target) instead, so that a group of equal
    weights may straddle two bins, as in the official code (whose sort
    leaves the tied entries in an order of its own).

    Computed as one sparse (CSR) matrix product :math:`\mathbf{B}^{\top}
    \mathbf{B}` with :math:`\mathbf{B} = [\mathbf{D}_h^{-1}\mathbf{E}_h;
    \mathbf{D}_t^{-1}\mathbf{E}_t]`, in float64, on the device of the
    input; no loop over entities or edges.

    Args:
        edge_index (torch.Tensor): Heads and tails :math:`[2, E]`.
        edge_type (torch.Tensor): Relations :math:`[E]`, in
            :math:`\{0, \ldots, R-1\}`.
        num_nodes (int): Number of entities :math:`N`.
        num_relations (int): Number of relations :math:`R`.
        num_bins (int, optional): Number of bins :math:`B`.
            (default: :obj:`10`)
        add_inverse (bool, optional): If set to :obj:`True`, the graph is
            built over :math:`2R` relations: relation :math:`r + R` is the
            inverse of :math:`r`, with the triple :math:`(t, r + R, h)` for
            every :math:`(h, r, t)`, as InGram does. Pass :obj:`False` if
            the triples hold their inverses already. (default: :obj:`True`)
        binary (bool, optional): Use the 0/1 incidence matrices instead of
            the frequencies. (default: :obj:`False`)
        rtol (float, optional): Relative tolerance under which two weights
            count as tied for binning. (default: :obj:`1e-9`)
        ties (str, optional): The rank of equal weights: :obj:`"best"`
            (the best of their group) or :obj:`"order"` (the order of the
            entries). (default: :obj:`"best"`)

    :rtype: (:class:`torch.Tensor` :obj:`relation_edge_index`
        :math:`[2, M]`, :class:`torch.Tensor` :obj:`relation_edge_weight`
        :math:`[M]` (float64), :class:`torch.Tensor`
        :obj:`relation_edge_bin` :math:`[M]`): the non-zero entries of
        :math:`\mathbf{A}` as source and target relations (the matrix is
        symmetric, so every edge comes with its reverse), their weights,
        and their bins in :math:`\{0, \ldots, B-1\}`; the entries are
        sorted by source, then target, on every device.
    """
    if num_bins < 1:
        raise ValueError(f"num_bins must be positive, got {num_bins}")
    check_ties(ties)
    check_triples(edge_index, edge_type, num_nodes, num_relations,
                  'relation_graph')
    if edge_type.numel() == 0:
        raise ValueError("relation_graph: the knowledge graph has no "
                         "triples, so its relation graph is empty")
    head, tail = edge_index.long()
    relation = edge_type.long()
    if add_inverse:
        head, tail = torch.cat([head, tail]), torch.cat([tail, head])
        relation = torch.cat([relation, relation + num_relations])
        num_relations = 2 * num_relations
    # B = [D_h^-1 E_h; D_t^-1 E_t], [2N, R]: then A = B^T B, one product.
    # Rows 0..N-1 are the head side, N..2N-1 the tail side.
    key = torch.cat([head, tail + num_nodes]) * num_relations + torch.cat(
        [relation, relation])
    key, count = torch.unique(key, return_counts=True)  # sorted by row
    row = torch.div(key, num_relations, rounding_mode='floor')
    col = key - row * num_relations
    value = torch.ones_like(count, dtype=torch.float64) if binary else \
        count.double()
    degree = torch.zeros(2 * num_nodes, dtype=torch.float64,
                         device=key.device).index_add_(0, row, value)
    value = value / degree[row]
    order = torch.argsort(col * (2 * num_nodes) + row)
    with warnings.catch_warnings():
        # Sparse CSR support is "beta" in torch and says so.
        warnings.filterwarnings('ignore', '.*Sparse CSR tensor support')
        b = _csr(row, col, value, (2 * num_nodes, num_relations))
        b_t = _csr(col[order], row[order], value[order],
                   (num_relations, 2 * num_nodes))
        affinity = (b_t @ b).to_sparse_coo()
    index, weight = affinity.indices(), affinity.values()
    # cuSPARSE leaves the columns of a product's row unsorted: sort the
    # entries by (source, target), so that every device gives one order.
    order = torch.argsort(index[0] * num_relations + index[1])
    keep = order[weight[order] > 0]
    index, weight = index[:, keep], weight[keep]
    return index, weight, _rank_bins(weight, num_bins, rtol, ties)


class RelationGraph(BaseTransform):
    r"""Adds the :func:`relation_graph` of the message triples of a
    knowledge graph (:obj:`edge_index` / :obj:`edge_type`), over
    :math:`2R` relations (relation :math:`r + R` the inverse of :math:`r`),
    as :obj:`relation_edge_index`, :obj:`relation_edge_weight` and
    :obj:`relation_edge_bin`: the input of the relation-level layers of
    :class:`~pyg_kgc.nn.models.InGram`.

    Args:
        num_bins (int, optional): Number of weight bins.
            (default: :obj:`10`)
        binary (bool, optional): 0/1 incidence matrices instead of
            frequencies. (default: :obj:`False`)
        ties (str, optional): The rank of equal weights for binning,
            :obj:`"best"` or :obj:`"order"` (see :func:`relation_graph`).
            (default: :obj:`"best"`)
    """
    def __init__(self, num_bins: int = 10, binary: bool = False,
                 ties: str = 'best') -> None:
        check_ties(ties)
        self.num_bins = num_bins
        self.binary = binary
        self.ties = ties

    def forward(self, data: Data) -> Data:
        if data.get('inverse_relations', False):
            raise ValueError("RelationGraph adds the inverse relations "
                             "itself: apply it before AddInverseRelations")
        index, weight, bins = relation_graph(data.edge_index, data.edge_type,
                                             data.num_nodes,
                                             int(data.num_relations),
                                             self.num_bins, binary=self.binary,
                                             ties=self.ties)
        data.relation_edge_index = index
        data.relation_edge_weight = weight
        data.relation_edge_bin = bins
        return data

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_bins={self.num_bins}, '
                f'binary={self.binary}, ties={self.ties!r})')
