r"""Fetching raw benchmark files and checking their checksums.

Every raw file lives upstream at
:obj:`https://raw.githubusercontent.com/OWNER/REPO/BRANCH/PATH`. Setting the
environment variable :obj:`PYG_KGC_DATA_URL` replaces the host part, so that a
mirror laid out the same way serves instead, e.g.
:obj:`PYG_KGC_DATA_URL=file:///data/mirror` or
:obj:`PYG_KGC_DATA_URL=http://127.0.0.1:8000`.
"""
import hashlib
import os
import os.path as osp
import sys
import urllib.error
import urllib.request

BASE_URL_ENV = 'PYG_KGC_DATA_URL'
UPSTREAM_BASE_URL = 'https://raw.githubusercontent.com'


class ChecksumError(RuntimeError):
    r"""A raw file's content differs from the one the loader was written
    for."""


class DownloadError(RuntimeError):
    r"""A raw file could not be fetched."""


def base_url() -> str:
    r"""The base URL raw files are fetched from: :obj:`$PYG_KGC_DATA_URL`
    if set, else :obj:`https://raw.githubusercontent.com`."""
    url = os.environ.get(BASE_URL_ENV, '').strip() or UPSTREAM_BASE_URL
    return url.rstrip('/')


def resolve_url(upstream_path: str) -> str:
    r"""The URL of the file at :obj:`upstream_path`
    (:obj:`OWNER/REPO/BRANCH/PATH`) under :func:`base_url`."""
    return f'{base_url()}/{upstream_path.lstrip("/")}'


def file_checksum(path: str, algorithm: str) -> str:
    r"""The hex digest of the file at :obj:`path`. :obj:`algorithm` is
    :obj:`"sha256"`, or :obj:`"git-blob-sha1"` (the id git gives the file's
    content, used where only an upstream tree listing pins a file)."""
    h = hashlib.sha256() if algorithm == 'sha256' else hashlib.sha1()
    if algorithm == 'git-blob-sha1':
        h.update(b'blob %d\0' % osp.getsize(path))
    elif algorithm != 'sha256':
        raise ValueError(f"Unknown checksum algorithm {algorithm!r}")
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def verify_checksum(path: str, expected: str) -> None:
    r"""Raises :class:`ChecksumError` unless the file at :obj:`path` has
    the checksum :obj:`expected` (:obj:`"ALGORITHM:HEX"`)."""
    algorithm, digest = expected.split(':', 1)
    actual = file_checksum(path, algorithm)
    if actual != digest:
        raise ChecksumError(
            f"Checksum mismatch for '{path}': expected {algorithm} {digest}, "
            f"got {actual}. The file is not the published one; delete it to "
            f"download it again.")


def download_file(url: str, path: str, checksum: str, log: bool = True) -> str:
    r"""Downloads :obj:`url` (:obj:`http://`, :obj:`https://` or
    :obj:`file://`) to :obj:`path` and verifies :obj:`checksum`.

    The content goes to a temporary file beside :obj:`path`, which is only
    renamed to :obj:`path` once complete and verified: a failed or
    interrupted download leaves nothing behind.

    Raises:
        DownloadError: If the URL cannot be read.
        ChecksumError: If the content has another checksum.
    """
    if log and 'PYTEST_CURRENT_TEST' not in os.environ:
        print(f'Downloading {url}', file=sys.stderr)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.{os.getpid()}.part'
    try:
        try:
            with urllib.request.urlopen(url, timeout=60) as response, \
                    open(tmp, 'wb') as f:
                for chunk in iter(lambda: response.read(1 << 20), b''):
                    f.write(chunk)
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, 'reason', None) or e
            raise DownloadError(
                f"Could not download '{url}': {reason}. Set "
                f"{BASE_URL_ENV} to a mirror of {UPSTREAM_BASE_URL} if the "
                f"upstream host cannot be reached.") from e
        algorithm, digest = checksum.split(':', 1)
        actual = file_checksum(tmp, algorithm)
        if actual != digest:
            raise ChecksumError(
                f"Checksum mismatch for '{url}': expected {algorithm} "
                f"{digest}, got {actual}. The download was discarded.")
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    return path
