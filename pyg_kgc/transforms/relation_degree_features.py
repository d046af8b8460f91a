import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from pyg_kgc.evaluation.known_triples import check_triples


def relation_degree_features(edge_index: Tensor, edge_type: Tensor,
                             num_nodes: int, num_relations: int,
                             log: bool = True) -> Tensor:
    r"""Entity features that do not depend on entity ids: for every entity
    :math:`v` and relation :math:`r`, the number of triples :math:`(v, r,
    \cdot)` (columns :math:`0, \ldots, R-1`) and :math:`(\cdot, r, v)`
    (columns :math:`R, \ldots, 2R-1`), as :math:`\log(1 + x)` if
    :obj:`log`.

    Entities of a new graph with the same relations get features of the
    same meaning, which makes models built on them inductive.

    :rtype: :class:`torch.Tensor` :math:`[N, 2R]`
    """
    check_triples(edge_index, edge_type, num_nodes, num_relations,
                  'relation degree features')
    head, tail = edge_index
    out = torch.zeros(num_nodes * 2 * num_relations,
                      device=edge_index.device)
    ones = torch.ones(edge_type.numel(), device=edge_index.device)
    out.index_add_(0, head * 2 * num_relations + edge_type, ones)
    out.index_add_(0, tail * 2 * num_relations + num_relations + edge_type,
                   ones)
    out = out.view(num_nodes, 2 * num_relations)
    return out.log1p() if log else out


class RelationDegreeFeatures(BaseTransform):
    r"""Sets :obj:`data.x` to the :func:`relation_degree_features` of the
    message triples of :obj:`data`.

    Args:
        log (bool, optional): Take :math:`\log(1 + x)` of the counts.
            (default: :obj:`True`)
    """
    def __init__(self, log: bool = True) -> None:
        self.log = log

    def forward(self, data: Data) -> Data:
        data.x = relation_degree_features(data.edge_index, data.edge_type,
                                          data.num_nodes,
                                          int(data.num_relations), self.log)
        return data

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(log={self.log})'
