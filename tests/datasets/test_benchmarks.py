r"""Every mirrored benchmark loads through the loopback server with the
statistics its class documents, and with a consistent split structure."""
import re
from typing import Dict, List

import pytest
import torch

from pyg_kgc.datasets import (
    ILPC2022,
    INFERENCE,
    TRAINING,
    CoDEx,
    GraILInductive,
    InGramInductive,
    KGDataset,
    TransductiveKG,
    get_dataset,
)
from pyg_kgc.transforms import AddInverseRelations, ToHeteroData

GRAIL = list(GraILInductive.names)
INGRAM = [n for n in InGramInductive.names if not n.startswith('FB')]
TRANSDUCTIVE = [(TransductiveKG, n) for n in TransductiveKG.names]
TRANSDUCTIVE += [(CoDEx, n) for n in CoDEx.names]
ALL = ([(GraILInductive, n) for n in GRAIL] + [(InGramInductive, n)
                                               for n in INGRAM] +
       TRANSDUCTIVE + [(ILPC2022, n) for n in ILPC2022.names])


def documented_stats(cls) -> Dict[str, Dict[str, int]]:
    r"""Parses the :obj:`list-table` that follows **STATS:** in the class
    docstring into :obj:`{name: {column: value}}`."""
    doc = cls.__doc__.split('**STATS:**', 1)[1]
    rows: List[List[str]] = []
    for line in doc.splitlines():
        match = re.match(r'\s*(\*)? +- (.*)$', line)
        if match:
            if match.group(1):
                rows.append([])
            rows[-1].append(match.group(2).strip())
    header, body = rows[0], rows[1:]
    return {
        row[0]: {
            col: int(val.replace(',', ''))
            for col, val in zip(header[1:], row[1:]) if val != '—'
        }
        for row in body
    }


def triples(data, prefix=''):
    index, kind = data[f'{prefix}edge_index'], data[f'{prefix}edge_type']
    return set(zip(index[0].tolist(), kind.tolist(), index[1].tolist()))


def num_distinct_relations(data) -> int:
    return data.filter_edge_type.unique().numel()


@pytest.fixture(scope='module')
def load(data_root):
    cache = {}

    def _load(cls, name) -> KGDataset:
        if (cls, name) not in cache:
            cache[cls, name] = cls(data_root, name)
        return cache[cls, name]

    return _load


def test_every_mirrored_benchmark_is_tested():
    assert len(GRAIL) == 12 and len(INGRAM) == 9
    assert len(TRANSDUCTIVE) == 7 and len(ILPC2022.names) == 2


@pytest.mark.parametrize('name', GRAIL)
def test_grail_statistics(load, name):
    ds = load(GraILInductive, name)
    expected = documented_stats(GraILInductive)[name]
    train, valid, ind_valid, test = (ds['train'], ds['valid'],
                                     ds['inference_valid'], ds['test'])
    assert train.num_nodes == expected['#entities']
    assert train.num_relations == expected['#relations']
    assert train.target_edge_type.numel() == expected['#train']
    assert valid.target_edge_type.numel() == expected['#valid']
    assert train.filter_edge_type.numel() == (expected['#train'] +
                                              expected['#valid'] +
                                              expected['#test'])
    assert test.num_nodes == expected['#entities (inference)']
    assert num_distinct_relations(test) == expected['#relations (inference)']
    assert test.edge_type.numel() == expected['#facts (inference)']
    assert ind_valid.target_edge_type.numel() == \
        expected['#valid (inference)']
    assert test.target_edge_type.numel() == expected['#test (inference)']
    # The inference graph refers to the training graph's relation ids.
    assert test.num_relations == train.num_relations
    assert ds.relations[INFERENCE] is ds.relations[TRAINING]
    assert [d.graph for d in ds] == [TRAINING, TRAINING, INFERENCE, INFERENCE]
    assert torch.equal(train.edge_index, valid.edge_index)
    assert torch.equal(ind_valid.edge_index, test.edge_index)


@pytest.mark.parametrize('name', INGRAM)
def test_ingram_statistics(load, name):
    ds = load(InGramInductive, name)
    expected = documented_stats(InGramInductive)[name]
    train, valid, test = ds['train'], ds['valid'], ds['test']
    assert ds.split_names == ['train', 'valid', 'test']
    assert train.num_nodes == expected['#entities']
    assert train.num_relations == expected['#relations']
    assert train.edge_type.numel() == expected['#train']
    assert test.num_nodes == expected['#entities (inference)']
    # New relations: the inference graph has a vocabulary of its own.
    assert test.num_relations == expected['#relations (inference)']
    assert num_distinct_relations(test) == test.num_relations
    assert len(ds.relations[INFERENCE]) == test.num_relations
    assert test.edge_type.numel() == expected['#facts (inference)']
    assert valid.target_edge_type.numel() == expected['#valid (inference)']
    assert test.target_edge_type.numel() == expected['#test (inference)']
    assert valid.graph == test.graph == INFERENCE


@pytest.mark.parametrize('name', ILPC2022.names)
def test_ilpc_statistics(load, name):
    ds = load(ILPC2022, name)
    expected = documented_stats(ILPC2022)[name]
    train, valid, test = ds['train'], ds['valid'], ds['test']
    assert train.num_nodes == expected['#entities']
    assert train.num_relations == expected['#relations']
    assert train.edge_type.numel() == expected['#train']
    assert test.num_nodes == expected['#entities (inference)']
    assert num_distinct_relations(test) == expected['#relations (inference)']
    assert test.num_relations == train.num_relations
    assert test.edge_type.numel() == expected['#facts (inference)']
    assert valid.target_edge_type.numel() == expected['#valid (inference)']
    assert test.target_edge_type.numel() == expected['#test (inference)']


@pytest.mark.parametrize('cls, name', TRANSDUCTIVE)
def test_transductive_statistics(load, cls, name):
    ds = load(cls, name)
    expected = documented_stats(cls)[name]
    for split in ('train', 'valid', 'test'):
        data = ds[split]
        assert data.num_nodes == expected['#entities']
        assert data.num_relations == expected['#relations']
        assert data.target_edge_type.numel() == expected[f'#{split}']
        assert data.edge_type.numel() == expected['#train']
        assert data.graph == TRAINING
    if cls is CoDEx:
        for split in ('valid', 'test'):
            negatives = ds[split].negative_edge_type.numel()
            assert negatives == expected[f'#{split} negatives']
            # Hard negatives are false: never in the filter.
            assert not triples(ds[split], 'negative_') & triples(
                ds[split], 'filter_')


@pytest.mark.parametrize('cls, name', ALL)
def test_split_structure(load, cls, name):
    ds = load(cls, name)
    assert len(ds) == len(ds.split_names)
    for data in ds:
        n, r = data.num_nodes, data.num_relations
        assert n == len(ds.entities[data.graph])
        assert r == len(ds.relations[data.graph])
        for prefix in ('', 'target_', 'filter_'):
            index, kind = data[f'{prefix}edge_index'], data[
                f'{prefix}edge_type']
            assert index.dtype == kind.dtype == torch.long
            assert index.size(0) == 2 and index.size(1) == kind.numel() > 0
            assert 0 <= int(index.min()) and int(index.max()) < n
            assert 0 <= int(kind.min()) and int(kind.max()) < r
        # Messages and queries are known true triples of the split's graph.
        known = triples(data, 'filter_')
        assert triples(data) <= known
        assert triples(data, 'target_') <= known
        # Every known triple is filtered only once per file it occurs in:
        # the benchmarks hold no duplicate triples.
        assert len(known) == data.filter_edge_type.numel()


@pytest.mark.parametrize('cls, name', [(GraILInductive, 'fb237_v1'),
                                       (InGramInductive, 'NL-100'),
                                       (TransductiveKG, 'FB15k-237'),
                                       (ILPC2022, 'small')])
def test_ids_decode_to_the_raw_files(load, cls, name, shared_datasets):
    # The target ids of every split decode to the lines of the raw file.
    ds = load(cls, name)
    for data in ds:
        if cls is TransductiveKG:
            continue  # inside a tarball; covered by the statistics above
        ents, rels = ds.entities[data.graph], ds.relations[data.graph]
        i = data.target_edge_index
        decoded = list(
            zip(ents.decode(i[0]), rels.decode(data.target_edge_type),
                ents.decode(i[1])))
        ts = {s.key: s for s in ds.triple_sets()}
        target_key = {s.name: s.targets for s in ds.splits()}[data.split]
        path = f'{shared_datasets}/{ds.upstream}/{ts[target_key].file}'
        with open(path) as f:
            lines = [
                tuple(line.split('\t')) for line in f.read().split('\n')
                if line
            ]
        assert decoded == lines


@pytest.mark.parametrize('cls, name', [(GraILInductive, 'nell_v1'),
                                       (InGramInductive, 'WK-25'),
                                       (CoDEx, 'CoDEx-S')])
def test_hetero_view_round_trips(load, cls, name):
    ds = load(cls, name)
    for data in ds:
        hetero = ToHeteroData()(data)
        assert len(hetero.edge_types) == data.num_relations
        assert hetero['entity'].num_nodes == data.num_nodes
        homo = hetero.to_homogeneous()  # PyG's own conversion back
        assert triples(homo) == triples(data)
        assert homo.edge_type.numel() == data.edge_type.numel()
        targets = set()
        for rel, edge_type in enumerate(hetero.edge_types):
            h, t = hetero[edge_type].target_edge_index.tolist()
            targets |= {(a, rel, b) for a, b in zip(h, t)}
        assert targets == triples(data, 'target_')


def test_inverse_relations_transform(load):
    data = load(GraILInductive, 'fb237_v1')['train']
    out = AddInverseRelations()(data.clone())
    r = data.num_relations
    assert out.num_relations == 2 * r and out.inverse_relations
    assert triples(out) == triples(data) | {(t, rel + r, h)
                                            for h, rel, t in triples(data)}
    assert triples(out, 'target_') == triples(data, 'target_')
    both = AddInverseRelations(targets=True)(data.clone())
    assert len(triples(both, 'target_')) == 2 * len(triples(data, 'target_'))
    assert len(triples(both, 'filter_')) == 2 * len(triples(data, 'filter_'))
    with pytest.raises(ValueError, match='applied twice'):
        AddInverseRelations()(out)


def test_pre_transform_is_saved(data_root):
    ds = GraILInductive(data_root + '/pre', 'nell_v1',
                        pre_transform=AddInverseRelations())
    assert all(d.num_relations == 28 and d.inverse_relations for d in ds)


def test_get_dataset_by_name(data_root, load):
    ds = get_dataset(data_root, 'ILPC2022-small')
    assert isinstance(ds, ILPC2022) and ds.name == 'small'
    assert get_dataset(data_root, 'codex-s').name == 'CoDEx-S'
    with pytest.raises(ValueError, match="Unknown dataset 'fb999'"):
        get_dataset(data_root, 'fb999')
    with pytest.raises(ValueError, match="Unknown GraILInductive dataset"):
        GraILInductive(data_root, 'fb237_v9')
    with pytest.raises(KeyError, match="has no split 'inference_valid'"):
        load(TransductiveKG, 'UMLS')['inference_valid']
