r"""Transforms of knowledge graph :class:`~torch_geometric.data.Data`."""
from pyg_kgc.transforms.add_inverse_relations import (
    AddInverseRelations,
    add_inverse_triples,
)
from pyg_kgc.transforms.relation_degree_features import (
    RelationDegreeFeatures,
    relation_degree_features,
)
from pyg_kgc.transforms.relation_graph import RelationGraph, relation_graph
from pyg_kgc.transforms.to_hetero_data import ToHeteroData

__all__ = [
    'AddInverseRelations',
    'add_inverse_triples',
    'RelationDegreeFeatures',
    'relation_degree_features',
    'RelationGraph',
    'relation_graph',
    'ToHeteroData',
]
