r"""Small shared helpers."""
from pyg_kgc.utils.io import atomic_save

__all__ = ['atomic_save']
