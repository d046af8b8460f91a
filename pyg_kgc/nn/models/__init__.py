r"""Link prediction models: encoders with decoders."""
from pyg_kgc.nn.models.ingram import InGram, glorot_features
from pyg_kgc.nn.models.refactor import NodeStateCache, ReFactorGNN
from pyg_kgc.nn.models.rgcn import RGCNLinkPredictor
from pyg_kgc.nn.models.shallow import ShallowKGE

__all__ = [
    'ShallowKGE', 'RGCNLinkPredictor', 'ReFactorGNN', 'NodeStateCache',
    'InGram', 'glorot_features'
]
