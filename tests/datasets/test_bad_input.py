r"""Bad input gets a clear error and leaves no cache that a later load could
pick up."""
import hashlib
import os
import pathlib
import shutil

import pytest

from pyg_kgc.datasets import (
    ChecksumError,
    GraILInductive,
    TripleFileError,
    kg_dataset,
)
from pyg_kgc.datasets.checksums import CHECKSUMS
from pyg_kgc.datasets.download import BASE_URL_ENV
from tests.conftest import serve_directory

NAME = 'nell_v1'
FILES = [
    f'{NAME}{ind}/{s}.txt' for ind in ('', '_ind')
    for s in ('train', 'valid', 'test')
]
UPSTREAM = GraILInductive.upstream


@pytest.fixture
def mirror(shared_datasets, tmp_path, monkeypatch):
    r"""A private copy of the nell_v1 files served over loopback HTTP, to be
    edited by the test."""
    root = tmp_path / 'mirror'
    for file in FILES:
        dst = root / UPSTREAM / file
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f'{shared_datasets}/{UPSTREAM}/{file}', dst)
    server, url = serve_directory(str(root))
    monkeypatch.setenv(BASE_URL_ENV, url)
    yield root / UPSTREAM
    server.shutdown()
    server.server_close()


def edit_line(path: pathlib.Path, number: int, new: str) -> None:
    lines = path.read_text().split('\n')
    lines[number - 1] = new
    path.write_text('\n'.join(lines))


def pin(monkeypatch, path: pathlib.Path, file: str) -> None:
    r"""Makes the checksum table accept the edited :obj:`file`, so that the
    test reaches the parser."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setitem(CHECKSUMS, f'{UPSTREAM}/{file}', f'sha256:{digest}')


def cached_files(root) -> list:
    processed = pathlib.Path(root) / 'grail' / NAME / 'processed'
    return sorted(p.name
                  for p in processed.glob('*')) if processed.exists() else []


def test_unknown_relation_in_inference_graph(mirror, tmp_path, monkeypatch):
    file = f'{NAME}_ind/train.txt'
    head, _, tail = (mirror / file).read_text().split('\n')[6].split('\t')
    edit_line(mirror / file, 7, f'{head}\tconcept:unheardof\t{tail}')
    pin(monkeypatch, mirror / file, file)
    with pytest.raises(TripleFileError) as e:
        GraILInductive(str(tmp_path / 'root'), NAME)
    assert f'{file}:7: unknown relation \'concept:unheardof\'' in str(e.value)
    assert cached_files(tmp_path / 'root') == []


@pytest.mark.parametrize('line', ['a\tconcept:r', 'a\tconcept:r\tb\tc'])
def test_malformed_line(mirror, tmp_path, monkeypatch, line):
    file = f'{NAME}/valid.txt'
    edit_line(mirror / file, 12, line)
    pin(monkeypatch, mirror / file, file)
    with pytest.raises(TripleFileError, match=f'{file}:12: expected 3'):
        GraILInductive(str(tmp_path / 'root'), NAME)
    assert cached_files(tmp_path / 'root') == []


def test_checksum_mismatch_on_download(mirror, tmp_path):
    file = f'{NAME}/test.txt'
    edit_line(mirror / file, 1, 'x\tconcept:r\ty')
    with pytest.raises(ChecksumError, match=f'{file}.*download was discarded'):
        GraILInductive(str(tmp_path / 'root'), NAME)
    raw = tmp_path / 'root' / 'grail' / NAME / 'raw'
    assert not (raw / file).exists()
    assert not [p for p in raw.rglob('*.part')]
    assert cached_files(tmp_path / 'root') == []


def test_corrupted_raw_file(mirror, tmp_path):
    root = str(tmp_path / 'root')
    GraILInductive(root, NAME)
    raw = pathlib.Path(root) / 'grail' / NAME / 'raw' / f'{NAME}/train.txt'
    raw.write_bytes(raw.read_bytes()[:-10])  # truncated after download
    shutil.rmtree(pathlib.Path(root) / 'grail' / NAME / 'processed')
    with pytest.raises(ChecksumError, match='delete it to download it again'):
        GraILInductive(root, NAME)
    assert cached_files(root) == []
    raw.unlink()  # as the message says: downloaded again, then loads
    assert GraILInductive(root, NAME)['train'].num_nodes == 3103


def test_failing_process_leaves_no_cache(mirror, tmp_path):
    root = str(tmp_path / 'root')

    def fail_on_test(data):
        if data.split == 'test':
            raise RuntimeError('boom')
        return data

    with pytest.raises(RuntimeError, match='boom'):
        GraILInductive(root, NAME, pre_transform=fail_on_test)
    assert cached_files(root) == []
    assert len(GraILInductive(root, NAME)) == 4


class Interrupted(BaseException):
    r"""Stands in for a signal (not an :class:`Exception`, like
    :class:`KeyboardInterrupt`, which pytest would act on itself)."""


def test_interrupted_save_leaves_no_cache(mirror, tmp_path, monkeypatch):
    root = str(tmp_path / 'root')

    def interrupted_save(obj, path):
        with open(path, 'wb') as f:
            f.write(b'half a file')
        raise Interrupted

    original = kg_dataset.torch.save
    monkeypatch.setattr(kg_dataset.torch, 'save', interrupted_save)
    with pytest.raises(Interrupted):
        GraILInductive(root, NAME)
    assert cached_files(root) == []
    monkeypatch.setattr(kg_dataset.torch, 'save', original)
    assert len(GraILInductive(root, NAME)) == 4
    assert os.listdir(pathlib.Path(root) / 'grail' / NAME / 'processed')
