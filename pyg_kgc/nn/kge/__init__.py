r"""Knowledge graph embedding decoders (scoring functions)."""
from pyg_kgc.nn.kge.base import EmbeddingScorer, KGEDecoder
from pyg_kgc.nn.kge.distmult import DistMult

__all__ = ['KGEDecoder', 'EmbeddingScorer', 'DistMult']
