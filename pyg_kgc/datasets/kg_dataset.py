r"""The base class of every benchmark: raw triple files in, one
:class:`~torch_geometric.data.Data` a split out.

A benchmark is one or two *graphs* (the :obj:`"training"` graph and, for
inductive benchmarks, the :obj:`"inference"` graph), each with its own entity
vocabulary, made of *triple sets* (files). A *split* picks from one graph the
triples that carry messages and the triples that are queries; the graph's
known true triples (all of its triple sets) filter the split's ranking.
"""
import os.path as osp
import tarfile
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.data import Data, InMemoryDataset

from pyg_kgc.datasets.checksums import CHECKSUMS
from pyg_kgc.datasets.download import (
    download_file,
    file_checksum,
    resolve_url,
    verify_checksum,
)
from pyg_kgc.datasets.triples import (
    RawTriples,
    Vocab,
    decode_triples,
    encode_triples,
    read_triples,
    vocab_of,
)
from pyg_kgc.utils.io import atomic_save

TRAINING, INFERENCE = 'training', 'inference'


@dataclass(frozen=True)
class TripleSet:
    r"""One file of triples (or one member of a tar archive).

    Args:
        key (str): Its name within the benchmark, e.g. :obj:`"valid"`.
        graph (str): The graph it belongs to.
        file (str): Its path below the benchmark's upstream folder, which is
            also its path below :obj:`raw_dir`.
        member (str, optional): The member to read if :obj:`file` is a tar
            archive.
        known (bool): Whether it holds true facts (which make up the graph's
            vocabulary and filter) or negatives. (default: :obj:`True`)
    """
    key: str
    graph: str
    file: str
    member: Optional[str] = None
    known: bool = True


@dataclass(frozen=True)
class Split:
    r"""A split: on :obj:`graph`, the triple set :obj:`messages` carries
    messages and :obj:`targets` holds the queries; :obj:`negatives`
    optionally holds hard negative queries (triple classification)."""
    name: str
    graph: str
    messages: str
    targets: str
    negatives: Optional[str] = None


class KGDataset(InMemoryDataset):
    r"""Base class of the knowledge graph benchmarks.

    Every split is a :class:`~torch_geometric.data.Data` with

    * :obj:`edge_index` :math:`[2, |\mathcal{E}|]` and :obj:`edge_type`
      :math:`[|\mathcal{E}|]`: the triples that carry messages;
    * :obj:`target_edge_index` :math:`[2, Q]` and :obj:`target_edge_type`
      :math:`[Q]`: the queries (training targets, or the triples to rank);
    * :obj:`filter_edge_index` :math:`[2, F]` and :obj:`filter_edge_type`
      :math:`[F]`: every known true triple of the split's graph, which
      filtered ranking removes from the candidates;
    * :obj:`num_nodes` (entities of the graph), :obj:`num_relations` (size
      of the relation vocabulary the ids refer to), :obj:`split` (its name)
      and :obj:`graph` (:obj:`"training"` or :obj:`"inference"`).

    Splits are indexed by position or by name (:obj:`dataset["test"]`);
    :obj:`dataset.split_names` lists them. :obj:`dataset.entities[graph]`
    and :obj:`dataset.relations[graph]` are the graphs'
    :class:`~pyg_kgc.datasets.Vocab` objects. Ids are assigned in sorted
    order of the names, so they do not depend on file or line order.

    Raw files are downloaded from their upstream URL (see
    :func:`~pyg_kgc.datasets.download.resolve_url`; the environment variable
    :obj:`PYG_KGC_DATA_URL` points to a mirror) and checked against a
    checksum table, before download completes and again before processing.
    The processed file is written atomically: a failed or interrupted
    :meth:`process` leaves no cache behind.
    """

    #: Path of the benchmark's folder below the upstream host.
    upstream: str = ''
    #: The folder below :obj:`root` that holds this family's benchmarks.
    family: str = ''
    #: The valid values of :obj:`name`.
    names: Tuple[str, ...] = ()
    #: Whether the inference graph's relation ids refer to the training
    #: graph's relation vocabulary (an unknown relation is an error).
    shared_relations: bool = True

    #: Bumped when the processed format changes, so old caches are ignored.
    processed_version = 1

    def __init__(
        self,
        root: str,
        name: str,
        transform: Optional[Callable] = None,
        pre_transform: Optional[Callable] = None,
        force_reload: bool = False,
        log: bool = True,
    ) -> None:
        if name not in self.names:
            raise ValueError(f"Unknown {self.__class__.__name__} dataset "
                             f"{name!r}; expected one of {list(self.names)}")
        self.name = name
        super().__init__(root, transform, pre_transform, log=log,
                         force_reload=force_reload)
        out = torch.load(self.processed_paths[0], weights_only=True)
        self.data = Data.from_dict(out['data'])
        self.slices = out['slices']
        self.split_names: List[str] = out['split_names']
        self.entities: Dict[str, Vocab] = {
            g: Vocab(v['entities'], 'entity')
            for g, v in out['vocab'].items()
        }
        self.relations: Dict[str, Vocab] = {}
        for g, v in out['vocab'].items():
            shared = g == INFERENCE and self.shared_relations
            self.relations[g] = (self.relations[TRAINING] if shared else Vocab(
                v['relations'], 'relation'))

    # Layout, given by subclasses #############################################

    def triple_sets(self) -> List[TripleSet]:
        r"""The triple sets of dataset :obj:`self.name`."""
        raise NotImplementedError

    def splits(self) -> List[Split]:
        r"""The splits of dataset :obj:`self.name`, in index order."""
        raise NotImplementedError

    # Files ###################################################################

    @property
    def raw_dir(self) -> str:
        return osp.join(self.root, self.family, self.name, 'raw')

    @property
    def processed_dir(self) -> str:
        return osp.join(self.root, self.family, self.name, 'processed')

    @property
    def raw_file_names(self) -> List[str]:
        return list(dict.fromkeys(ts.file for ts in self.triple_sets()))

    @property
    def processed_file_names(self) -> str:
        return f'data_v{self.processed_version}.pt'

    @property
    def url(self) -> str:
        r"""Where raw files are fetched from (honours
        :obj:`$PYG_KGC_DATA_URL`)."""
        return resolve_url(self.upstream)

    def checksum(self, file: str) -> str:
        r"""The expected checksum of raw file :obj:`file`."""
        return CHECKSUMS[f'{self.upstream}/{file}']

    def download(self) -> None:
        for file in self.raw_file_names:
            path = osp.join(self.raw_dir, file)
            if osp.exists(path):
                algorithm, digest = self.checksum(file).split(':', 1)
                if file_checksum(path, algorithm) == digest:
                    continue
            download_file(f'{self.url}/{file}', path, self.checksum(file),
                          log=self.log)

    # Processing ##############################################################

    def _read(self, ts: TripleSet) -> RawTriples:
        path = osp.join(self.raw_dir, ts.file)
        if ts.member is None:
            return read_triples(path)
        with tarfile.open(path) as archive:
            try:
                f = archive.extractfile(ts.member)
            except KeyError:
                f = None
            if f is None:
                raise FileNotFoundError(
                    f"'{path}' has no member '{ts.member}'")
            return decode_triples(f.read(), f'{path}:{ts.member}')

    def process(self) -> None:
        for file in self.raw_file_names:
            verify_checksum(osp.join(self.raw_dir, file), self.checksum(file))
        sets = self.triple_sets()
        raw = {ts.key: self._read(ts) for ts in sets}

        graphs = list(dict.fromkeys(ts.graph for ts in sets))
        vocab: Dict[str, Tuple[Vocab, Vocab]] = {}
        for g in graphs:
            known = [raw[ts.key] for ts in sets if ts.graph == g and ts.known]
            entities = vocab_of(known, 'entity')
            if g == INFERENCE and self.shared_relations:
                relations = vocab[TRAINING][1]
            else:
                relations = vocab_of(known, 'relation')
            vocab[g] = (entities, relations)

        ids = {
            ts.key: encode_triples(raw[ts.key], *vocab[ts.graph])
            for ts in sets
        }
        known_ids = {
            g:
            torch.cat(
                [ids[ts.key]
                 for ts in sets if ts.graph == g and ts.known], dim=1)
            for g in graphs
        }

        data_list = []
        for split in self.splits():
            entities, relations = vocab[split.graph]
            messages, targets = ids[split.messages], ids[split.targets]
            known = known_ids[split.graph]
            data = Data(
                edge_index=messages[[0, 2]].contiguous(),
                edge_type=messages[1].contiguous(),
                target_edge_index=targets[[0, 2]].contiguous(),
                target_edge_type=targets[1].contiguous(),
                filter_edge_index=known[[0, 2]].contiguous(),
                filter_edge_type=known[1].contiguous(),
                num_nodes=len(entities),
                num_relations=len(relations),
                split=split.name,
                graph=split.graph,
            )
            if any(s.negatives is not None for s in self.splits()):
                # Every split gets the keys (collation keeps only shared ones).
                negatives = (ids[split.negatives] if split.negatives else
                             torch.empty((3, 0), dtype=torch.long))
                data.negative_edge_index = negatives[[0, 2]].contiguous()
                data.negative_edge_type = negatives[1].contiguous()
            if self.pre_transform is not None:
                data = self.pre_transform(data)
            data_list.append(data)

        data, slices = self.collate(data_list)
        atomic_save(
            {
                'data': data.to_dict(),
                'slices': slices,
                'split_names': [s.name for s in self.splits()],
                'vocab': {
                    g: {
                        'entities': vocab[g][0].names,
                        'relations': vocab[g][1].names
                    }
                    for g in graphs
                },
            }, self.processed_paths[0])

    # Access ##################################################################

    def get(self, idx: int) -> Data:
        data = super().get(idx)
        data.num_relations = int(data.num_relations)  # collate made a tensor
        return data

    def __getitem__(self, idx: Union[int, str, Sequence, Tensor]):
        if isinstance(idx, str):
            indices = list(self.indices())
            position = (self.split_names.index(idx)
                        if idx in self.split_names else -1)
            if position not in indices:
                names = [self.split_names[i] for i in indices]
                raise KeyError(f"{self} has no split {idx!r}; its splits are "
                               f"{names}")
            idx = indices.index(position)
        return super().__getitem__(idx)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.name})'


class InductiveKGDataset(KGDataset):
    r"""Base class of benchmarks with a training graph and an inference
    graph whose queries are validated and tested on the inference graph
    only: the splits are :obj:`"train"` (training graph, targets = messages =
    the training triples), :obj:`"valid"` and :obj:`"test"` (inference graph,
    messages = its known facts).

    Subclasses name the four files, below :obj:`<upstream>/<name>/`, in
    :obj:`file_names` (keys :obj:`"train"`, :obj:`"facts"`, :obj:`"valid"`,
    :obj:`"test"`)."""
    file_names: Dict[str, str] = {}

    def triple_sets(self) -> List[TripleSet]:
        f = {k: f'{self.name}/{v}' for k, v in self.file_names.items()}
        return [
            TripleSet('train', TRAINING, f['train']),
            TripleSet('inference_facts', INFERENCE, f['facts']),
            TripleSet('inference_valid', INFERENCE, f['valid']),
            TripleSet('inference_test', INFERENCE, f['test']),
        ]

    def splits(self) -> List[Split]:
        return [
            Split('train', TRAINING, 'train', 'train'),
            Split('valid', INFERENCE, 'inference_facts', 'inference_valid'),
            Split('test', INFERENCE, 'inference_facts', 'inference_test'),
        ]
