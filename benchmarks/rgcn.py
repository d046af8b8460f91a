r"""Forward + backward time and peak memory of a 2-layer R-GCN encoder on the
FB15k-237 training graph with inverse edges (14,541 nodes, 544,230 edges, 474
relations), side by side with PyG's RGCNConv and FastRGCNConv.

For hidden sizes 100 and 200 and the basis (30 bases) and block-diagonal (4
blocks) decompositions, each library runs one training step (learnable
14,541 x d input features, conv -> ReLU -> conv, a squared loss, backward)
in a fresh process limited to --memory-gib of address space: a step that
needs more ends in a MemoryError, reported as "out of memory". Time is the
best of --repeats steps after a warm-up; memory the process's peak resident
size. Prints one JSON line.

    PYG_KGC_DATA_URL=file://$PWD/../shared/datasets python benchmarks/rgcn.py
"""
import argparse
import json
import sys

from isolated import best_time, limit_memory, run_isolated

LIBRARIES = ('pyg_kgc', 'pyg_RGCNConv', 'pyg_FastRGCNConv')
CONFIGS = [(100, 'bases', 30), (100, 'blocks', 4), (200, 'bases', 30),
           (200, 'blocks', 4)]


def worker(args) -> dict:
    import torch
    from torch_geometric.nn import FastRGCNConv
    from torch_geometric.nn import RGCNConv as PyGRGCNConv

    from pyg_kgc.datasets import TransductiveKG
    from pyg_kgc.nn.conv import RGCNConv
    from pyg_kgc.transforms import AddInverseRelations

    limit_memory(args.memory_gib)
    data = AddInverseRelations()(TransductiveKG(args.root,
                                                'FB15k-237')['train'])
    num_nodes, num_relations = data.num_nodes, data.num_relations
    edge_index, edge_type = data.edge_index, data.edge_type
    d = args.hidden
    kwargs = ({
        'num_bases': args.size
    } if args.decomposition == 'bases' else {
        'num_blocks': args.size
    })
    cls = {
        'pyg_kgc': RGCNConv,
        'pyg_RGCNConv': PyGRGCNConv,
        'pyg_FastRGCNConv': FastRGCNConv
    }[args.library]
    torch.manual_seed(0)
    convs = torch.nn.ModuleList(
        [cls(d, d, num_relations, **kwargs) for _ in range(2)])
    x = torch.nn.Parameter(torch.randn(num_nodes, d) / d**0.5)

    def step():
        h = convs[0](x, edge_index, edge_type).relu()
        loss = convs[1](h, edge_index, edge_type).pow(2).mean()
        loss.backward()
        return loss.item()

    result, _ = best_time(step, args.repeats)
    result.update(edges=int(edge_type.numel()), relations=num_relations,
                  nodes=num_nodes)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--root', default='data')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--memory-gib', type=float, default=20.0)
    parser.add_argument('--libraries', nargs='*', default=list(LIBRARIES))
    parser.add_argument('--worker', action='store_true')
    parser.add_argument('--library')
    parser.add_argument('--hidden', type=int)
    parser.add_argument('--decomposition')
    parser.add_argument('--size', type=int)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return

    import torch
    import torch_geometric
    out = {
        'benchmark': 'rgcn',
        'graph': 'FB15k-237 train + inverse edges',
        'memory_limit_gib': args.memory_gib,
        'torch': torch.__version__,
        'torch_geometric': torch_geometric.__version__,
        'results': {},
    }
    for hidden, decomposition, size in CONFIGS:
        key = f'd={hidden},{decomposition}={size}'
        out['results'][key] = {}
        for library in args.libraries:
            command = [
                sys.executable, __file__, '--worker', '--root', args.root,
                '--repeats',
                str(args.repeats), '--memory-gib',
                str(args.memory_gib), '--library', library, '--hidden',
                str(hidden), '--decomposition', decomposition, '--size',
                str(size)
            ]
            out['results'][key][library] = run_isolated(command)
        ours = out['results'][key]['pyg_kgc'].get('seconds')
        for library in args.libraries[1:]:
            theirs = out['results'][key][library].get('seconds')
            if ours and theirs:
                out['results'][key][f'speedup_vs_{library}'] = round(
                    theirs / ours, 1)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
