import hashlib
import os
import pathlib

import pytest

from pyg_kgc.datasets import ChecksumError, DownloadError, InGramInductive
from pyg_kgc.datasets.download import (
    BASE_URL_ENV,
    download_file,
    file_checksum,
    resolve_url,
    verify_checksum,
)
from tests.conftest import serve_directory

CONTENT = b'a\tr\tb\n'
SHA256 = 'sha256:' + hashlib.sha256(CONTENT).hexdigest()


@pytest.fixture
def server(tmp_path):
    (tmp_path / 'srv' / 'o' / 'r').mkdir(parents=True)
    (tmp_path / 'srv' / 'o' / 'r' / 'f.txt').write_bytes(CONTENT)
    server, url = serve_directory(str(tmp_path / 'srv'))
    yield url
    server.shutdown()
    server.server_close()


def test_resolve_url(monkeypatch):
    monkeypatch.delenv(BASE_URL_ENV, raising=False)
    assert resolve_url('o/r/main/x.txt') == \
        'https://raw.githubusercontent.com/o/r/main/x.txt'
    monkeypatch.setenv(BASE_URL_ENV, 'http://127.0.0.1:9/mirror/')
    assert resolve_url('o/r/main/x.txt') == \
        'http://127.0.0.1:9/mirror/o/r/main/x.txt'


def test_http_download(server, tmp_path):
    path = tmp_path / 'out' / 'f.txt'
    download_file(f'{server}/o/r/f.txt', str(path), SHA256)
    assert path.read_bytes() == CONTENT
    assert os.listdir(path.parent) == ['f.txt']  # no temporary left


def test_file_url_download(tmp_path):
    source = tmp_path / 'src.txt'
    source.write_bytes(CONTENT)
    path = tmp_path / 'f.txt'
    download_file(source.as_uri(), str(path), SHA256)
    assert path.read_bytes() == CONTENT


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    out = tmp_path / 'out'
    wrong = 'sha256:' + '0' * 64
    with pytest.raises(ChecksumError, match='Checksum mismatch for .*f.txt'):
        download_file(f'{server}/o/r/f.txt', str(out / 'f.txt'), wrong)
    assert os.listdir(out) == []


def test_missing_file_leaves_nothing(server, tmp_path):
    out = tmp_path / 'out'
    with pytest.raises(DownloadError, match='Could not download .*nope.txt'):
        download_file(f'{server}/o/r/nope.txt', str(out / 'f.txt'), SHA256)
    assert os.listdir(out) == []


def test_git_blob_checksum(tmp_path):
    path = tmp_path / 'hello.txt'
    path.write_bytes(b'hello\n')
    # `printf 'hello\n' | git hash-object --stdin`
    assert file_checksum(str(path), 'git-blob-sha1') == \
        'ce013625030ba8dba906f756967f9e9ca394464a'
    verify_checksum(str(path),
                    'git-blob-sha1:ce013625030ba8dba906f756967f9e9ca394464a')
    with pytest.raises(ChecksumError, match='delete it to download it again'):
        verify_checksum(str(path), 'sha256:' + '0' * 64)


def test_unmirrored_benchmark_fails_cleanly(mirror_url, tmp_path, monkeypatch):
    # Upstream's FB-25 files are not in the mirror: the download fails with a
    # clear error, and nothing is left that a later load could pick up.
    monkeypatch.setenv(BASE_URL_ENV, mirror_url)
    with pytest.raises(DownloadError, match='FB-25/train.txt'):
        InGramInductive(str(tmp_path), 'FB-25')
    files = [p for p in pathlib.Path(tmp_path).rglob('*') if p.is_file()]
    assert files == []
