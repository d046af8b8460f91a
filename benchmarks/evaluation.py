r"""Filtered full-ranking evaluation of a DistMult scorer on the whole
FB15k-237 test set (both sides), side by side with PyKEEN's
RankBasedEvaluator on the same embeddings.

Prints one JSON line: our wall time (best and median of --repeats runs,
building the filter index included), PyKEEN's, their ratio, the metrics of
both and their largest difference, and the fraction of this machine's
float32 matmul throughput that our evaluation reaches (the matrix products
alone need 2 * 2 * Q * N * d flops).

    PYG_KGC_DATA_URL=file://$PWD/../shared/datasets \
        python benchmarks/evaluation.py
"""
import argparse
import importlib.metadata
import json
import platform
import statistics
import time

import torch

from pyg_kgc.datasets import TransductiveKG
from pyg_kgc.evaluation import RankingEvaluator
from pyg_kgc.nn.kge import DistMult, EmbeddingScorer

TIES = ('optimistic', 'pessimistic', 'realistic')
PYKEEN_NAMES = {
    'mrr': 'inverse_harmonic_mean_rank',
    'mr': 'arithmetic_mean_rank',
    'hits@1': 'hits_at_1',
    'hits@3': 'hits_at_3',
    'hits@10': 'hits_at_10',
}


def matmul_peak_gflops(size: int = 4096, repeats: int = 3) -> float:
    r"""The best float32 GEMM throughput of :obj:`repeats` square products
    of :obj:`size` (a practical peak for this machine and BLAS)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float('inf')
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def ours(test, scorer, batch_size):
    start = time.perf_counter()
    evaluator = RankingEvaluator.from_data(test, batch_size=batch_size)
    result = evaluator.evaluate(scorer, test.target_edge_index,
                                test.target_edge_type)
    return time.perf_counter() - start, {
        ties: result.metrics(ties)
        for ties in TIES
    }


def pykeen(train, valid, test, entity, relation):
    from pykeen.evaluation import RankBasedEvaluator
    from pykeen.models import DistMult as PyKEENDistMult
    from pykeen.triples import CoreTriplesFactory

    def mapped(data):
        h, t = data.target_edge_index
        return torch.stack([h, data.target_edge_type, t], dim=1)

    factory = CoreTriplesFactory(mapped_triples=mapped(train),
                                 num_entities=train.num_nodes,
                                 num_relations=train.num_relations)
    model = PyKEENDistMult(triples_factory=factory,
                           embedding_dim=entity.size(1), random_seed=0)
    with torch.no_grad():
        model.entity_representations[0]._embeddings.weight.copy_(entity)
        model.relation_representations[0]._embeddings.weight.copy_(relation)
    start = time.perf_counter()
    results = RankBasedEvaluator(filtered=True).evaluate(
        model, mapped(test),
        additional_filter_triples=[mapped(train),
                                   mapped(valid)], use_tqdm=False)
    seconds = time.perf_counter() - start
    metrics = {
        ties: {
            side: {
                name: float(results.get_metric(f'{side}.{ties}.{key}'))
                for name, key in PYKEEN_NAMES.items()
            }
            for side in ('head', 'tail', 'both')
        }
        for ties in TIES
    }
    return seconds, metrics, importlib.metadata.version('pykeen')


def max_difference(a, b) -> float:
    return max(
        abs(a[ties][side][name] - b[ties][side][name]) /
        (max(1.0, abs(b[ties][side][name])) if name == 'mr' else 1.0)
        for ties in TIES for side in ('head', 'tail', 'both')
        for name in PYKEEN_NAMES)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--root', default='data')
    parser.add_argument('--dim', type=int, default=200)
    parser.add_argument('--batch-size', type=int, default=None)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--no-pykeen', action='store_true')
    args = parser.parse_args()

    dataset = TransductiveKG(args.root, 'FB15k-237')
    train, valid, test = dataset['train'], dataset['valid'], dataset['test']
    generator = torch.Generator().manual_seed(args.seed)
    # DistMult embeddings as initialised by PyKEEN/PyG (uniform-ish scale).
    entity = torch.randn(test.num_nodes, args.dim, generator=generator)
    relation = torch.randn(test.num_relations, args.dim, generator=generator)
    entity /= args.dim**0.5
    relation /= args.dim**0.5
    scorer = EmbeddingScorer(DistMult(args.dim), entity, relation)

    peak = matmul_peak_gflops()
    times = []
    for _ in range(args.repeats):
        seconds, metrics = ours(test, scorer, args.batch_size)
        times.append(seconds)
    num_queries = test.target_edge_type.numel()
    flops = 2 * 2 * num_queries * test.num_nodes * args.dim
    bound = flops / (peak * 1e9)
    out = {
        'benchmark': 'evaluation',
        'dataset': 'FB15k-237',
        'queries': num_queries,
        'candidates': test.num_nodes,
        'dim': args.dim,
        'batch_size': args.batch_size,
        'ours_s': round(min(times), 3),
        'ours_median_s': round(statistics.median(times), 3),
        'matmul_peak_gflops': round(peak, 1),
        'matmul_bound_s': round(bound, 3),
        'ratio_to_bound': round(min(times) / bound, 2),
        'fraction_of_peak': round(bound / min(times), 3),
        'metrics': metrics['realistic']['both'],
        'threads': torch.get_num_threads(),
        'torch': torch.__version__,
        'machine': platform.processor() or platform.machine(),
    }
    if not args.no_pykeen:
        seconds, theirs, version = pykeen(train, valid, test, entity,
                                          relation)
        out.update({
            'pykeen': version,
            'pykeen_s': round(seconds, 3),
            'speedup_vs_pykeen': round(seconds / min(times), 1),
            'max_metric_difference': max_difference(metrics, theirs),
            'pykeen_metrics': theirs['realistic']['both'],
        })
    print(json.dumps(out))


if __name__ == '__main__':
    main()
