r"""Two CPU paths side by side with the paths they replace, in one run:

- ``rescal``: a training step of RESCAL on CoDEx-S with the configuration
  of ``examples/kge_transductive.py`` (512 dimensions, per-query dropout
  0.0804 on the relation matrices, 1vsAll both sides, batches of 128,
  fused Adagrad), with ``ShallowKGE(dropout_sampler="geometric")`` (the
  queries from :func:`~pyg_kgc.nn.kge.bilinear.dropout_bilinear_queries`),
  eager and with ``compiled=True``, against ``"bernoulli"``
  (:func:`torch.nn.functional.dropout` on the gathered matrices); and the
  dropout alone on a ``[128, 512^2]`` tensor,
  :func:`~pyg_kgc.utils.geometric_dropout` against
  :func:`torch.nn.functional.dropout`, forward and backward.
- ``rotate``: :func:`~pyg_kgc.nn.kge.rotate.pairwise_complex_l1` of 128
  random queries against 40,943 random candidates (WN18RR's entity
  count), :math:`k = 32`, forward and backward, with ``compiled=True``
  against the chunked eager path (the compiled kernels are built before
  timing).

The ways take turns; the median over ``--repeats`` rounds is reported in
milliseconds, with the speed-up of the new path. Prints one JSON line.

    PYG_KGC_DATA_URL=file://$PWD/../shared/datasets \
        python benchmarks/cpu_kernels.py --root /tmp/pkdata
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from pyg_kgc.datasets import get_dataset
from pyg_kgc.nn.kge import Bilinear
from pyg_kgc.nn.kge.rotate import pairwise_complex_l1
from pyg_kgc.nn.models import ShallowKGE
from pyg_kgc.training import cross_entropy_loss
from pyg_kgc.utils import geometric_dropout


def timed(fn, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return 1e3 * (time.perf_counter() - start) / steps


def compare(ways: dict, steps: int, repeats: int) -> dict:
    times = {key: [] for key in ways}
    for key, fn in ways.items():  # warm-up (and kernel builds)
        timed(fn, 1)
    for _ in range(repeats):
        for key, fn in ways.items():
            times[key].append(timed(fn, steps))
    return {key: round(statistics.median(v), 1) for key, v in times.items()}


def rescal_steps(root: str, steps: int, repeats: int) -> dict:
    train = get_dataset(root, 'CoDEx-S')['train']
    head, tail = train.target_edge_index
    relation = train.target_edge_type
    gen = torch.Generator().manual_seed(0)
    batch = torch.randperm(relation.numel(), generator=gen)[:128]
    h, r, t = head[batch], relation[batch], tail[batch]
    ways = {}
    for sampler, compiled in (('bernoulli', False), ('geometric', False),
                              ('geometric', True)):
        torch.manual_seed(0)
        model = ShallowKGE(train.num_nodes, Bilinear(512, train.num_relations),
                           relation_dropout=0.0804, dropout_sampler=sampler,
                           compiled=compiled)
        optimizer = torch.optim.Adagrad(model.parameters(), lr=0.04523,
                                        fused=True)  # as the example

        def step(model=model, optimizer=optimizer):
            loss = (cross_entropy_loss(model.score_tails(h, r), t) +
                    cross_entropy_loss(model.score_heads(r, t), h))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        ways[sampler + ('-compiled' if compiled else '')] = step
    step_ms = compare(ways, steps, repeats)

    x = torch.randn(128, 512 * 512, requires_grad=True)
    grad = torch.randn(128, 512 * 512)

    def dropout(fn):
        def run():
            fn(x, 0.0804, True).backward(grad)
            x.grad = None

        return run

    dropout_ms = compare(
        {
            'F.dropout': dropout(F.dropout),
            'geometric_dropout': dropout(geometric_dropout)
        }, steps, repeats)
    return {
        'step_ms':
        step_ms,
        'step_speedup':
        round(step_ms['bernoulli'] / step_ms['geometric'], 2),
        'step_speedup_compiled':
        round(step_ms['bernoulli'] / step_ms['geometric-compiled'], 2),
        'dropout_ms':
        dropout_ms,
        'dropout_speedup':
        round(dropout_ms['F.dropout'] / dropout_ms['geometric_dropout'], 2),
    }


def rotate_distances(steps: int, repeats: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    queries = torch.randn(128, 64, generator=gen).requires_grad_()
    candidates = torch.randn(40943, 64, generator=gen).requires_grad_()
    grad = torch.randn(128, 40943, generator=gen)

    def way(compiled):
        def run():
            pairwise_complex_l1(queries, candidates,
                                compiled=compiled).backward(grad)
            queries.grad = candidates.grad = None

        return run

    ms = compare({'eager': way(False), 'compiled': way(True)}, steps, repeats)
    return {'ms': ms, 'speedup': round(ms['eager'] / ms['compiled'], 2)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--root', default='data')
    parser.add_argument('--steps', type=int, default=3)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--parts', nargs='+', default=['rescal', 'rotate'],
                        choices=['rescal', 'rotate'])
    args = parser.parse_args()
    out = {'benchmark': 'cpu_kernels', 'threads': torch.get_num_threads()}
    if 'rescal' in args.parts:
        out['rescal'] = rescal_steps(args.root, args.steps, args.repeats)
    if 'rotate' in args.parts:
        out['rotate'] = rotate_distances(args.steps, args.repeats)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
