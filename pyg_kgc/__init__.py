r"""pyg_kgc: knowledge graph completion for PyTorch Geometric."""
import pyg_kgc.datasets  # noqa: F401

__version__ = '0.1.0'

__all__ = ['__version__']
