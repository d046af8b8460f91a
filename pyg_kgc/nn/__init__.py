r"""Neural network modules: message-passing layers, decoders, models."""
from pyg_kgc.nn import conv, kge, models  # noqa: F401
