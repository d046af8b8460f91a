r"""Knowledge graph embedding decoders (scoring functions)."""
from pyg_kgc.nn.kge.base import (
    DotProductDecoder,
    EmbeddingScorer,
    KGEDecoder,
    dot_corruptions,
    l2_regularizer,
    matmul_scores,
    n3_regularizer,
    select_queries,
)
from pyg_kgc.nn.kge.bilinear import Bilinear
from pyg_kgc.nn.kge.complex import ComplEx
from pyg_kgc.nn.kge.distmult import DistMult
from pyg_kgc.nn.kge.inn import INNDecoder
from pyg_kgc.nn.kge.rotate import RotatE
from pyg_kgc.nn.kge.transe import TransE
from pyg_kgc.nn.kge.transr import TransR

__all__ = [
    'KGEDecoder',
    'DotProductDecoder',
    'EmbeddingScorer',
    'matmul_scores',
    'dot_corruptions',
    'select_queries',
    'n3_regularizer',
    'l2_regularizer',
    'TransE',
    'TransR',
    'DistMult',
    'ComplEx',
    'RotatE',
    'Bilinear',
    'INNDecoder',
]
