import functools
import http.server
import os
import os.path as osp
import threading

import pytest

from pyg_kgc.datasets.download import BASE_URL_ENV

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHARED_DATASETS = os.environ.get(
    'PYG_KGC_SHARED_DATASETS', osp.join(osp.dirname(ROOT), 'shared',
                                        'datasets'))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def serve_directory(directory: str):
    r"""Starts a loopback HTTP server over :obj:`directory` in a thread;
    returns :obj:`(server, base_url)`."""
    handler = functools.partial(_QuietHandler, directory=directory)
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f'http://127.0.0.1:{server.server_address[1]}'


@pytest.fixture(scope='session')
def shared_datasets() -> str:
    r"""The byte-exact mirror of the benchmark files beside the checkout.
    Missing, it skips the test, except under :obj:`CI=true`, where it
    fails."""
    if not osp.isdir(SHARED_DATASETS):
        message = f"Shared datasets not found at '{SHARED_DATASETS}'"
        if os.environ.get('CI', '').lower() == 'true':
            pytest.fail(message + ' (required when CI=true)')
        pytest.skip(message)
    return SHARED_DATASETS


@pytest.fixture(scope='session')
def mirror_url(shared_datasets):
    r"""A loopback HTTP server standing in for raw.githubusercontent.com."""
    server, url = serve_directory(shared_datasets)
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture(scope='session')
def data_root(tmp_path_factory, mirror_url) -> str:
    r"""A dataset root shared by the whole session, filled through the
    loopback server (each benchmark is downloaded and processed once)."""
    previous = os.environ.get(BASE_URL_ENV)
    os.environ[BASE_URL_ENV] = mirror_url
    yield str(tmp_path_factory.mktemp('datasets'))
    if previous is None:
        os.environ.pop(BASE_URL_ENV, None)
    else:
        os.environ[BASE_URL_ENV] = previous
