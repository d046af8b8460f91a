r"""One ReFactor layer on FB15k-237 (14,541 entities, 272,115 training
triples) against the gradient step it equals, computed by autograd, side by
side: time and peak memory, full batch and mini-batch.

* ``layer_full``: :class:`~pyg_kgc.nn.conv.ReFactorConv` over all
  triples, the softmax over all entities in chunks of ``--chunk-size``.
* ``autograd_full``: one gradient-descent step of DistMult's mean negative
  log-likelihood by autograd, the loss computed (and back-propagated) in
  the same chunks so that it fits in memory; its states are compared with
  the layer's.
* ``autograd_full_unchunked``: the same with the whole [E, N] logit matrix
  at once (the plain way to write it), which needs about 16 GB in float32.
* ``layer_minibatch``: the paper's stochastic evaluation, the cascade of
  one step per mini-batch of ``--batch-size`` triples on the subgraph it
  induces.
* ``autograd_minibatch``: the same cascade of in-batch gradient steps by
  autograd, compared with the layer's.

Each runs in a fresh process limited to ``--memory-gib`` of address space
(a step that needs more is reported as out of memory); time is the best of
``--repeats`` after a warm-up, memory the process's peak resident size.
Prints one JSON line.

    PYG_KGC_DATA_URL=file://$PWD/../shared/datasets \
        python benchmarks/refactor.py
"""
import argparse
import json
import sys

from isolated import best_time, limit_memory, run_isolated

METHODS = ('layer_full', 'autograd_full', 'autograd_full_unchunked',
           'layer_minibatch', 'autograd_minibatch')


def autograd_step(x, edge_index, edge_type, relation, lr, chunk_size):
    r"""One gradient step of the mean NLL of the objects, by autograd, the
    loss back-propagated chunk by chunk (gradients accumulate)."""
    import torch
    x = x.detach().clone().requires_grad_()
    num = edge_type.numel()
    for start in range(0, num, chunk_size):
        s, o = edge_index[:, start:start + chunk_size]
        logits = (x[s] * relation[edge_type[start:start + chunk_size]]) @ x.t()
        loss = -torch.log_softmax(logits, -1).gather(1, o.view(-1, 1)).sum()
        (loss / num).backward()
    return (x - lr * x.grad).detach()


def autograd_minibatch(x, edge_index, edge_type, relation, lr, batch_size,
                       chunk_size):
    import torch
    x = x.clone()
    for start in range(0, edge_type.numel(), batch_size):
        ei = edge_index[:, start:start + batch_size]
        nodes, local = torch.unique(ei, return_inverse=True)
        x[nodes] = autograd_step(x[nodes], local,
                                 edge_type[start:start + batch_size], relation,
                                 lr, chunk_size)
    return x


def worker(args) -> dict:
    import torch

    from pyg_kgc.datasets import TransductiveKG
    from pyg_kgc.nn.conv import ReFactorConv

    limit_memory(args.memory_gib)
    data = TransductiveKG(args.root, 'FB15k-237')['train']
    gen = torch.Generator().manual_seed(0)
    n, d = data.num_nodes, args.channels
    x = torch.randn(n, d, generator=gen) / d**0.5
    relation = 1 + 0.1 * torch.randn(data.num_relations, d, generator=gen)
    perm = torch.randperm(data.edge_type.numel(), generator=gen)
    edge_index, edge_type = data.edge_index[:, perm], data.edge_type[perm]
    lr = args.lr
    runs = {
        'layer_full':
        lambda: ReFactorConv(lr, chunk_size=args.chunk_size)
        (x, edge_index, edge_type, relation),
        'autograd_full':
        lambda: autograd_step(x, edge_index, edge_type, relation, lr, args.
                              chunk_size),
        'autograd_full_unchunked':
        lambda: autograd_step(x, edge_index, edge_type, relation, lr,
                              edge_type.numel()),
        'layer_minibatch':
        lambda: ReFactorConv(lr, chunk_size=args.chunk_size, batch_size=args.
                             batch_size)(x, edge_index, edge_type, relation),
        'autograd_minibatch':
        lambda: autograd_minibatch(x, edge_index, edge_type, relation, lr, args
                                   .batch_size, args.chunk_size),
    }
    # The layers run without gradient tracking, autograd needs it.
    with torch.no_grad() if args.method.startswith('layer') else \
            torch.enable_grad():
        result, out = best_time(runs[args.method], args.repeats)
    if args.save and out is not None:  # the warm-up's states, to compare
        torch.save(out, args.save)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--root', default='data')
    parser.add_argument('--channels', type=int, default=200)
    parser.add_argument('--lr', type=float, default=100.0)
    parser.add_argument('--chunk-size', type=int, default=4096)
    parser.add_argument('--batch-size', type=int, default=16384)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--memory-gib', type=float, default=20.0)
    parser.add_argument('--methods', nargs='*', default=list(METHODS))
    parser.add_argument('--worker', action='store_true')
    parser.add_argument('--method')
    parser.add_argument('--save', default=None)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return

    import os
    import tempfile

    import torch
    out = {
        'benchmark': 'refactor',
        'graph': 'FB15k-237 train (14,541 entities, 272,115 triples)',
        'channels': args.channels,
        'chunk_size': args.chunk_size,
        'batch_size': args.batch_size,
        'memory_limit_gib': args.memory_gib,
        'threads': torch.get_num_threads(),
        'torch': torch.__version__,
        'results': {},
    }
    tmp = tempfile.mkdtemp()
    for method in args.methods:
        save = os.path.join(tmp, f'{method}.pt')
        command = [
            sys.executable, __file__, '--worker', '--method', method, '--save',
            save
        ] + [
            f'--{k.replace("_", "-")}={getattr(args, k)}'
            for k in ('root', 'channels', 'lr', 'chunk_size', 'batch_size',
                      'repeats', 'memory_gib')
        ]
        out['results'][method] = run_isolated(command)

    def states(method):
        path = os.path.join(tmp, f'{method}.pt')
        return torch.load(path) if os.path.exists(path) else None

    res = out['results']
    for kind in ('full', 'minibatch'):
        layer, auto = f'layer_{kind}', f'autograd_{kind}'
        a, b = states(layer), states(auto)
        if a is not None and b is not None:
            res[f'{kind}_max_state_difference'] = float((a - b).abs().max())
            res[f'{kind}_state_scale'] = float(b.abs().max())
        t_layer = res.get(layer, {}).get('seconds')
        t_auto = res.get(auto, {}).get('seconds')
        if t_layer and t_auto:
            res[f'{kind}_speedup_vs_autograd'] = round(t_auto / t_layer, 2)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
