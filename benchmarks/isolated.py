r"""What the benchmarks that run every method in a fresh process under an
address-space limit share (``benchmarks/rgcn.py``,
``benchmarks/refactor.py``): the limit, the timing of a method in the
worker, and the launch of a worker by the parent."""
import json
import resource
import subprocess
import time
from typing import Any, Callable, Dict, List, Tuple


def limit_memory(gib: float) -> None:
    r"""Limits this process's address space to :obj:`gib` GiB, so that a
    method that needs more fails with an allocation error."""
    limit = int(gib * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def best_time(fn: Callable[[], Any], repeats: int) -> Tuple[Dict, Any]:
    r"""Calls :obj:`fn` once as a warm-up, then :obj:`repeats` times: the
    result :obj:`{'seconds': best, 'peak_gib': ...}` (seconds
    :obj:`None` and an :obj:`'error'` if memory ran out) and the warm-up's
    output (:obj:`None` if memory ran out). The peak is the process's peak
    resident size so far."""
    out = None
    try:
        out = fn()
        best = float('inf')
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
        result = {'seconds': round(best, 3)}
    except (MemoryError, RuntimeError) as e:
        if 'memory' not in str(e).lower() and not isinstance(e, MemoryError):
            raise
        out, result = None, {'seconds': None, 'error': 'out of memory'}
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result['peak_gib'] = round(peak_kib / 2**20, 2)
    return result, out


def run_isolated(command: List[str]) -> Dict:
    r"""Runs a worker command and returns the JSON of its last line, or the
    reason it gave none (killed for memory, or another failure)."""
    run = subprocess.run(command, capture_output=True, text=True)
    lines = run.stdout.strip().splitlines()
    if run.returncode == 0 and lines:
        return json.loads(lines[-1])
    return {
        'seconds':
        None,
        'error':
        'out of memory' if 'memory' in run.stderr.lower() else
        f'exit {run.returncode}: {run.stderr[-300:]}'
    }
