r"""Small shared helpers."""
from pyg_kgc.utils.dropout import dropout_positions, geometric_dropout
from pyg_kgc.utils.io import atomic_save
from pyg_kgc.utils.segment import SegmentLayout, group_pairs, segment_matmul
from pyg_kgc.utils.sparse import SparseMatrix, head_products, sampled_dot

__all__ = [
    'atomic_save', 'SegmentLayout', 'segment_matmul', 'group_pairs',
    'SparseMatrix', 'sampled_dot', 'head_products', 'dropout_positions',
    'geometric_dropout'
]
