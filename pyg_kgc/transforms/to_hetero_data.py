from typing import List, Optional, Sequence

import torch
from torch_geometric.data import Data, HeteroData
from torch_geometric.transforms import BaseTransform


class ToHeteroData(BaseTransform):
    r"""Converts a knowledge graph :class:`~torch_geometric.data.Data` (with
    :obj:`edge_index`, :obj:`edge_type` and :obj:`num_relations`) into a
    :class:`~torch_geometric.data.HeteroData` with one node type and one
    edge type per relation, for PyG's heterogeneous models
    (:class:`~torch_geometric.nn.to_hetero`,
    :class:`~torch_geometric.nn.HeteroConv`).

    Every relation gets an edge type, also when it carries no message, so
    that all splits of a benchmark share one metadata. The message triples
    of relation :math:`r` become :obj:`data[(node_type, name_r,
    node_type)].edge_index`; target, filter and negative triples, where
    present, become the edge type's :obj:`target_edge_index`,
    :obj:`filter_edge_index` and :obj:`negative_edge_index`. Triples keep
    their order within a relation, so :meth:`HeteroData.to_homogeneous`
    gives back the message triples grouped by relation.

    Args:
        node_type (str, optional): The node type. (default: :obj:`"entity"`)
        relation_names (Sequence[str], optional): The edge type names, one
            per relation. Names must not contain :obj:`"."` to be usable as
            keys of :class:`~torch_geometric.nn.to_hetero` (Freebase's
            relation names do). (default: :obj:`"r0"`, :obj:`"r1"`, ...)
    """
    def __init__(self, node_type: str = 'entity',
                 relation_names: Optional[Sequence[str]] = None) -> None:
        self.node_type = node_type
        self.relation_names = (None if relation_names is None else
                               list(relation_names))

    def names(self, num_relations: int) -> List[str]:
        if self.relation_names is None:
            return [f'r{i}' for i in range(num_relations)]
        if len(self.relation_names) != num_relations:
            raise ValueError(f"Got {len(self.relation_names)} relation names "
                             f"for {num_relations} relations")
        return self.relation_names

    def forward(self, data: Data) -> HeteroData:
        num_relations = int(data.num_relations)
        names = self.names(num_relations)
        out = HeteroData()
        out[self.node_type].num_nodes = data.num_nodes
        edge_types = [(self.node_type, name, self.node_type) for name in names]
        for prefix in ('', 'target_', 'filter_', 'negative_'):
            index, kind = f'{prefix}edge_index', f'{prefix}edge_type'
            if index not in data or kind not in data:
                continue
            edge_type = data[kind]
            if edge_type.numel() > 0 and (int(edge_type.min()) < 0 or int(
                    edge_type.max()) >= num_relations):
                raise ValueError(f"'{kind}' holds relations outside "
                                 f"[0, {num_relations})")
            perm = torch.argsort(edge_type, stable=True)
            counts = torch.bincount(edge_type, minlength=num_relations)
            parts = data[index][:, perm].split(counts.tolist(), dim=1)
            for et, part in zip(edge_types, parts):
                out[et][index] = part
        for key in ('num_relations', 'split', 'graph', 'inverse_relations'):
            if key in data:
                out[key] = data[key]
        return out

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(node_type={self.node_type!r})'
