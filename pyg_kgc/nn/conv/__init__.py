r"""Message-passing layers for knowledge graphs."""
from pyg_kgc.nn.conv.ingram_conv import InGramEntityConv, InGramRelationConv
from pyg_kgc.nn.conv.refactor_conv import ReFactorConv
from pyg_kgc.nn.conv.rgcn_conv import RGCNConv

__all__ = [
    'RGCNConv', 'ReFactorConv', 'InGramRelationConv', 'InGramEntityConv'
]
