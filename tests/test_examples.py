r"""The example scripts run end to end (tiny settings) and print their JSON
line; the same seed gives the same metrics."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from pyg_kgc.datasets.download import BASE_URL_ENV

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def run_script(script, args, data_root, mirror_url, timeout=300):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env[BASE_URL_ENV] = mirror_url
    return subprocess.run([
        sys.executable,
        osp.join(ROOT, 'examples', script), '--root', data_root
    ] + args, env=env, capture_output=True, text=True, timeout=timeout)


def run_example(script, args, data_root, mirror_url):
    out = run_script(script, args, data_root, mirror_url)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1, out.stdout  # one JSON line, nothing else
    return json.loads(lines[0])


@pytest.mark.parametrize('training,negatives', [('layerwise', 'all'),
                                                ('end-to-end', 'all'),
                                                ('layerwise', 'in-batch')])
def test_refactor_inductive(training, negatives, data_root, mirror_url):
    args = [
        '--dataset', 'nell_v1', '--layers', '3', '--channels', '16',
        '--epochs', '2', '--eval-every', '1', '--training', training,
        '--negatives', negatives
    ]
    result = run_example('refactor.py', args, data_root, mirror_url)
    assert result['mode'] == 'inductive'
    assert result['training'] == training
    assert result['negatives'] == negatives
    assert result['layers'] == 3 and result['channels'] == 16
    assert 0.0 < result['test_mrr'] <= 1.0
    assert result['test_hits@1'] <= result['test_hits@10'] <= 1.0
    assert result['best_epoch'] in (1, 2)
    again = run_example('refactor.py', args, data_root, mirror_url)
    for key in ('valid_mrr', 'test_mrr', 'test_hits@1', 'test_hits@10'):
        assert again[key] == result[key], key


def test_refactor_rejects_unknown_dataset(data_root, mirror_url):
    out = run_script('refactor.py', ['--dataset', 'no_such_split'], data_root,
                     mirror_url, timeout=120)
    assert out.returncode != 0
    assert 'no_such_split' in out.stderr
