r"""Training steps of shallow KGE models on FB15k-237 with the corruptions
scored two ways, side by side in one run: as ids into the entity table
(``ShallowKGE.score_corruptions``: :func:`~pyg_kgc.utils.sampled_dot` for
DistMult and ComplEx, :func:`~pyg_kgc.nn.kge.base.corruption_distances`
for TransE and RotatE) and from gathered ``[B, k, d]`` candidate rows
(``KGEDecoder.score_corruptions``, the path before them).

The workload is that of ``benchmarks/kge_training.py`` (1024 positives x 32
corruptions, 200 real parameters per entity, Adam, the same losses); the
two ways take turns, and the median step time of each over ``--repeats``
rounds of ``--batches`` steps is reported. Prints one JSON line.

    PYG_KGC_DATA_URL=file://$PWD/../shared/datasets \
        python benchmarks/corruption_scoring.py
"""
import json
import statistics
import time

import torch
from kge_training import (
    loss_fn,
    ours,
    shuffled_training_triples,
    workload_parser,
)

from pyg_kgc.training import NegativeSampler


def main():
    args = workload_parser(__doc__.split('\n\n')[0], batches=15,
                           repeats=4).parse_args()

    train, triples = shuffled_training_triples(args.root)
    batches = triples[:, :args.batch_size * args.batches].split(
        args.batch_size, dim=1)
    out = {
        'benchmark': 'corruption_scoring',
        'dataset': 'FB15k-237',
        'dim': args.dim,
        'batch_size': args.batch_size,
        'negatives': args.negatives,
        'threads': torch.get_num_threads(),
        'step_ms': {},
        'speedup': {},
    }
    for name in args.models:
        model = ours(name, train.num_nodes, train.num_relations, args.dim)
        loss = loss_fn(name)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        sampler = NegativeSampler(train.num_nodes, args.negatives)

        def corruptions(table, h, r, t, entity, corrupt_head):
            if table:
                return model.score_corruptions(h, r, t, entity, corrupt_head)
            return model.decoder.score_corruptions(model.entity(h),
                                                   model.relation(r),
                                                   model.entity(t),
                                                   model.entity(entity),
                                                   corrupt_head)

        def milliseconds(table, steps):
            start = time.perf_counter()
            for h, r, t in steps:
                value = loss(
                    model(h, r, t),
                    corruptions(table, h, r, t, *sampler.sample(h, r, t)))
                optimizer.zero_grad()
                value.backward()
                optimizer.step()
            return 1e3 * (time.perf_counter() - start) / len(steps)

        times = {'table': [], 'gathered': []}
        for key in times:  # warm-up
            milliseconds(key == 'table', batches[:2])
        for _ in range(args.repeats):
            for key in times:
                times[key].append(milliseconds(key == 'table', batches))
        median = {k: statistics.median(v) for k, v in times.items()}
        out['step_ms'][name] = {k: round(v, 1) for k, v in median.items()}
        out['speedup'][name] = round(median['gathered'] / median['table'], 2)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
