r"""Training steps on the CPU under different memory allocators, side by
side in one run: the same step, the same seed, the same data, one fresh
process per (allocator, model).

A 1-N training step on a WN18RR-sized graph (40,943 entities, 11 relations
and their inverses, batches of 1,024 random queries, 64 dimensions, the
cross-entropy over all entities, Adam) allocates several ``[1024, 40943]``
float tensors (168 MB each) per step. glibc's ``malloc`` serves blocks that
large with fresh ``mmap`` calls and returns them at ``free``, so every such
tensor pays its page faults again, at every step: on this machine that
costs several times the arithmetic of an element-wise pass. The ways
compared:

- ``glibc``: the default (``LD_PRELOAD`` cleared);
- ``thp``: ``THP_MEM_ALLOC_ENABLE=1``, PyTorch's switch that aligns large
  CPU allocations to 2 MB and asks for transparent huge pages (where
  ``/sys/kernel/mm/transparent_hugepage/enabled`` allows ``madvise``):
  fewer, larger page faults, no extra library;
- ``tcmalloc`` / ``jemalloc``: the library preloaded (``LD_PRELOAD``),
  found in the usual Debian / Ubuntu locations (``apt install
  libtcmalloc-minimal4 libjemalloc2``) or given by ``--tcmalloc`` /
  ``--jemalloc``; skipped when absent.

Each process builds the model, runs one warm-up step, then ``--steps``
timed steps, ``--repeats`` times; the median milliseconds per step are
reported with the speed-up over ``glibc`` and the loss after the last step
(the allocator must not change it). Prints one JSON line.

    python benchmarks/allocator.py --models INN RotatE ComplEx
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time

MODELS = ('INN', 'INN-NICE', 'RotatE', 'ComplEx')
LIBRARIES = {
    'tcmalloc': 'libtcmalloc_minimal.so.4',
    'jemalloc': 'libjemalloc.so.2',
}


def find_library(name: str) -> str:
    for pattern in (f'/usr/lib/*-linux-gnu/{name}', f'/usr/lib/{name}',
                    f'/usr/lib64/{name}', f'/usr/local/lib/{name}'):
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return ''


def worker(args: argparse.Namespace) -> None:
    import torch

    from pyg_kgc.nn.kge import ComplEx, INNDecoder, RotatE
    from pyg_kgc.nn.models import ShallowKGE
    from pyg_kgc.training import cross_entropy_loss

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    num_nodes, num_relations, dim = args.num_nodes, 11, args.dim
    if args.model.startswith('INN'):
        coupling = 'additive' if args.model == 'INN-NICE' else 'affine'
        decoder = INNDecoder(dim, num_relations, inverse_relations=True,
                             coupling=coupling, inverse_map=True)
    elif args.model == 'RotatE':
        decoder = RotatE(dim // 2, 2 * num_relations)
    else:
        decoder = ComplEx(dim, 2 * num_relations)
    model = ShallowKGE(num_nodes, decoder, init=torch.nn.init.xavier_normal_)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    head = torch.randint(num_nodes, (args.batch_size, ))
    tail = torch.randint(num_nodes, (args.batch_size, ))
    relation = torch.randint(2 * num_relations, (args.batch_size, ))

    def step() -> float:
        loss = cross_entropy_loss(model.score_tails(head, relation), tail)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    step()  # warm-up
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for _ in range(args.steps):
            loss = step()
        times.append(1e3 * (time.perf_counter() - start) / args.steps)
    print(json.dumps({'ms': statistics.median(times), 'loss': loss}))


def environment(way: str, library: str) -> dict:
    env = dict(os.environ)
    env.pop('LD_PRELOAD', None)
    env.pop('THP_MEM_ALLOC_ENABLE', None)
    if way == 'thp':
        env['THP_MEM_ALLOC_ENABLE'] = '1'
    elif way in LIBRARIES:
        env['LD_PRELOAD'] = library
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', nargs='+', default=list(MODELS),
                        choices=MODELS)
    parser.add_argument('--num-nodes', type=int, default=40943)
    parser.add_argument('--dim', type=int, default=64)
    parser.add_argument('--batch-size', type=int, default=1024)
    parser.add_argument('--steps', type=int, default=3)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--tcmalloc', default=None)
    parser.add_argument('--jemalloc', default=None)
    parser.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        args.model = args.worker
        return worker(args)

    ways = {'glibc': '', 'thp': ''}
    for way, name in LIBRARIES.items():
        path = getattr(args, way) or find_library(name)
        if path:
            ways[way] = path
    common = [
        '--num-nodes', str(args.num_nodes), '--dim', str(args.dim),
        '--batch-size', str(args.batch_size), '--steps', str(args.steps),
        '--repeats', str(args.repeats), '--threads', str(args.threads)
    ]
    results = {}
    for model in args.models:
        results[model] = {}
        for way, library in ways.items():
            out = subprocess.run(
                [sys.executable, __file__, '--worker', model] + common,
                env=environment(way, library), capture_output=True,
                text=True)
            if out.returncode != 0:
                raise RuntimeError(f"{model} under {way} failed:\n"
                                   f"{out.stderr[-2000:]}")
            row = json.loads(out.stdout.strip().splitlines()[-1])
            results[model][way] = {
                'ms_per_step': round(row['ms'], 1),
                'loss': row['loss']
            }
        base = results[model]['glibc']['ms_per_step']
        for way, row in results[model].items():
            row['speedup'] = round(base / row['ms_per_step'], 2)
    print(
        json.dumps({
            'benchmark': 'allocator',
            'num_nodes': args.num_nodes,
            'batch_size': args.batch_size,
            'dim': args.dim,
            'threads': args.threads,
            'libraries': {k: v for k, v in ways.items() if v},
            'thp': open('/sys/kernel/mm/transparent_hugepage/enabled').read(
            ).strip() if os.path.exists(
                '/sys/kernel/mm/transparent_hugepage/enabled') else None,
            'results': results,
        }))


if __name__ == '__main__':
    main()
