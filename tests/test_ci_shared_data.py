r"""Without the shared benchmark mirror, tests that need it skip, except
under CI=true, where they fail."""
import os
import subprocess
import sys

from tests.conftest import ROOT

TEST = ('tests/datasets/test_download.py::'
        'test_unmirrored_benchmark_fails_cleanly')


def run(ci: str, tmp_path) -> subprocess.CompletedProcess:
    env = dict(os.environ, CI=ci,
               PYG_KGC_SHARED_DATASETS=str(tmp_path / 'missing'))
    return subprocess.run([
        sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', TEST
    ], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_missing_shared_data_fails_under_ci(tmp_path):
    out = run('true', tmp_path)
    assert out.returncode == 1, out.stdout
    assert 'required when CI=true' in out.stdout


def test_missing_shared_data_skips_elsewhere(tmp_path):
    out = run('', tmp_path)
    assert out.returncode == 0, out.stdout
    assert '1 skipped' in out.stdout
