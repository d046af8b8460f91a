r"""Knowledge graph completion benchmarks as PyG datasets."""
from typing import Any, Dict, Tuple, Type

from pyg_kgc.datasets.download import ChecksumError, DownloadError
from pyg_kgc.datasets.grail import GraILInductive
from pyg_kgc.datasets.ilpc import ILPC2022
from pyg_kgc.datasets.ingram import InGramInductive
from pyg_kgc.datasets.kg_dataset import INFERENCE, TRAINING, KGDataset
from pyg_kgc.datasets.transductive import CoDEx, TransductiveKG
from pyg_kgc.datasets.triples import (
    RawTriples,
    TripleFileError,
    Vocab,
    encode_triples,
    parse_triples,
    read_triples,
)


def _registry() -> Dict[str, Tuple[Type[KGDataset], str]]:
    out = {}
    for cls in (GraILInductive, InGramInductive, TransductiveKG, CoDEx):
        out.update({name.lower(): (cls, name) for name in cls.names})
    out.update({f'ilpc2022-{n}': (ILPC2022, n) for n in ILPC2022.names})
    return out


def get_dataset(root: str, name: str, **kwargs: Any) -> KGDataset:
    r"""Loads any benchmark by name (case-insensitive), e.g.
    :obj:`"fb237_v1"`, :obj:`"NL-100"`, :obj:`"FB15k-237"`,
    :obj:`"CoDEx-S"` or :obj:`"ILPC2022-small"`. Keyword arguments go to
    the dataset class."""
    registry = _registry()
    if name.lower() not in registry:
        raise ValueError(f"Unknown dataset {name!r}; known datasets are "
                         f"{sorted(n for _, n in registry.values())} and "
                         f"ILPC2022-small / ILPC2022-large")
    cls, canonical = registry[name.lower()]
    return cls(root, canonical, **kwargs)


__all__ = [
    'KGDataset',
    'GraILInductive',
    'InGramInductive',
    'ILPC2022',
    'TransductiveKG',
    'CoDEx',
    'get_dataset',
    'TRAINING',
    'INFERENCE',
    'Vocab',
    'RawTriples',
    'TripleFileError',
    'ChecksumError',
    'DownloadError',
    'parse_triples',
    'read_triples',
    'encode_triples',
]
