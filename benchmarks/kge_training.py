r"""Training throughput of shallow KGE models on FB15k-237, side by side with
torch_geometric.nn.kge and PyKEEN.

For TransE, DistMult, ComplEx and RotatE, each library trains on the same
FB15k-237 training triples with the same batch size, 200 real parameters per
entity (100 complex coordinates for ComplEx and RotatE), the same number of
uniformly corrupted negatives per positive (head or tail), the same loss
(margin ranking for TransE, binary cross-entropy for DistMult and ComplEx,
self-adversarial for RotatE) and Adam, one optimizer step per batch.
PyG's KGEModel.loss draws a single negative, so its models are driven
through their own forward on the same number of negatives, drawn like
ours; PyKEEN runs its own SLCWA training loop (regularisers off).

Prints one JSON line: positive triples per second for each model and
library (best of --repeats timed runs of --batches batches, the libraries
taking turns within each repeat), and the ratios.

    PYG_KGC_DATA_URL=file://$PWD/../shared/datasets \
        python benchmarks/kge_training.py
"""
import argparse
import importlib.metadata
import json
import time

import torch
import torch_geometric
import torch_geometric.nn.kge as pyg_kge

from pyg_kgc.datasets import TransductiveKG
from pyg_kgc.nn.kge import ComplEx, DistMult, RotatE, TransE
from pyg_kgc.nn.models import ShallowKGE
from pyg_kgc.training import (
    NegativeSampler,
    binary_cross_entropy_loss,
    margin_ranking_loss,
    self_adversarial_loss,
)

MODELS = ('TransE', 'DistMult', 'ComplEx', 'RotatE')
MARGIN = 1.0  # TransE's margin ranking loss
GAMMA, ALPHA = 9.0, 1.0  # RotatE's self-adversarial loss


def loss_fn(name):
    if name == 'TransE':
        return lambda pos, neg: margin_ranking_loss(pos, neg, MARGIN)
    if name == 'RotatE':
        return lambda pos, neg: self_adversarial_loss(pos, neg, GAMMA, ALPHA)
    return binary_cross_entropy_loss


def ours(name, num_nodes, num_relations, dim):
    decoder = {
        'TransE': lambda: TransE(dim, num_relations, p=1),
        'DistMult': lambda: DistMult(dim, num_relations),
        'ComplEx': lambda: ComplEx(dim, num_relations),
        'RotatE': lambda: RotatE(dim // 2, num_relations),
    }[name]()
    return ShallowKGE(num_nodes, decoder)


def pyg(name, num_nodes, num_relations, dim):
    cls = getattr(pyg_kge, name)
    channels = dim // 2 if name in ('ComplEx', 'RotatE') else dim
    kwargs = {'p_norm': 1.0} if name == 'TransE' else {}
    return cls(num_nodes, num_relations, channels, **kwargs)


def time_steps(model, triples, batch_size, num_batches, negatives, loss):
    r"""Seconds for :obj:`num_batches` training steps of our loop (our
    sampler, :obj:`model`'s scores, :obj:`loss`, Adam). Our models score
    the corruptions of a triple with :meth:`score_corruptions`; PyG's have
    only their forward, on every corrupted triple."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    sampler = NegativeSampler(int(triples.max()) + 1, negatives)
    batches = triples[:, :batch_size * num_batches].split(batch_size, dim=1)
    start = time.perf_counter()
    for h, r, t in batches:
        pos = model(h, r, t)
        if isinstance(model, ShallowKGE):
            neg = model.score_corruptions(h, r, t, *sampler.sample(h, r, t))
        else:
            nh, nr, nt = sampler(h, r, t)
            neg = model(nh.reshape(-1), nr.reshape(-1),
                        nt.reshape(-1)).view(-1, negatives)
        value = loss(pos, neg)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
    return time.perf_counter() - start


def time_pykeen(name, train, triples, dim, batch_size, num_batches,
                negatives):
    from pykeen import losses, models
    from pykeen.training import SLCWATrainingLoop
    from pykeen.triples import CoreTriplesFactory

    def factory(t):
        return CoreTriplesFactory(mapped_triples=t.t().contiguous(),
                                  num_entities=train.num_nodes,
                                  num_relations=train.num_relations)

    loss = {
        'TransE': losses.MarginRankingLoss(margin=MARGIN),
        'RotatE': losses.NSSALoss(margin=GAMMA, adversarial_temperature=ALPHA),
    }.get(name, losses.BCEWithLogitsLoss())
    full = factory(triples)
    kwargs = dict(triples_factory=full, loss=loss, random_seed=0)
    if name in ('ComplEx', 'RotatE'):
        kwargs['embedding_dim'] = dim // 2
    else:
        kwargs['embedding_dim'] = dim
    if name in ('DistMult', 'ComplEx'):
        kwargs['regularizer'] = None
    if name == 'TransE':
        kwargs['scoring_fct_norm'] = 1
    model = getattr(models, name)(**kwargs)
    loop = SLCWATrainingLoop(
        model=model, triples_factory=full,
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
        negative_sampler='basic',
        negative_sampler_kwargs=dict(num_negs_per_pos=negatives))
    subset = factory(triples[:, :batch_size * num_batches])
    warm = factory(triples[:, :batch_size * 2])
    loop.train(triples_factory=warm, num_epochs=1, batch_size=batch_size,
               use_tqdm=False)
    start = time.perf_counter()
    # The warm-up was epoch 1: train epoch 2 on the timed triples (the
    # returned history holds both).
    losses = loop.train(triples_factory=subset, num_epochs=2,
                        batch_size=batch_size, use_tqdm=False,
                        continue_training=True)
    assert len(losses) == 2, "PyKEEN did not train exactly one more epoch"
    return time.perf_counter() - start


def workload_parser(description: str, batches: int,
                    repeats: int) -> argparse.ArgumentParser:
    r"""The arguments of the training workload shared with
    ``benchmarks/corruption_scoring.py``, with their own defaults for the
    number of timed batches and repeats."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('--root', default='data')
    parser.add_argument('--dim', type=int, default=200)
    parser.add_argument('--batch-size', type=int, default=1024)
    parser.add_argument('--negatives', type=int, default=32)
    parser.add_argument('--batches', type=int, default=batches)
    parser.add_argument('--repeats', type=int, default=repeats)
    parser.add_argument('--models', nargs='*', default=list(MODELS))
    return parser


def shuffled_training_triples(root: str):
    r"""FB15k-237's training split and its triples :math:`[3, E]` (head,
    relation, tail) in a fixed random order (seed 0)."""
    torch.manual_seed(0)
    train = TransductiveKG(root, 'FB15k-237')['train']
    h, t = train.target_edge_index
    triples = torch.stack([h, train.target_edge_type, t])
    return train, triples[:, torch.randperm(triples.size(1))]


def main():
    parser = workload_parser(__doc__.split('\n\n')[0], batches=40,
                             repeats=5)
    parser.add_argument('--no-pykeen', action='store_true')
    args = parser.parse_args()

    train, triples = shuffled_training_triples(args.root)
    positives = args.batch_size * args.batches
    out = {
        'benchmark': 'kge_training',
        'dataset': 'FB15k-237',
        'dim': args.dim,
        'batch_size': args.batch_size,
        'negatives': args.negatives,
        'batches': args.batches,
        'torch': torch.__version__,
        'torch_geometric': torch_geometric.__version__,
        'threads': torch.get_num_threads(),
        'triples_per_second': {},
        'ratio_vs_pyg': {},
        'ratio_vs_pykeen': {},
    }
    for name in args.models:
        # The libraries take turns within every repeat, so that the drift of
        # a shared machine's speed does not favour one of them.
        best = {'pyg_kgc': float('inf'), 'pyg': float('inf')}
        if not args.no_pykeen:
            best['pykeen'] = float('inf')
        for _ in range(args.repeats):
            for library in ('pyg_kgc', 'pyg'):
                build = ours if library == 'pyg_kgc' else pyg
                torch.manual_seed(0)
                model = build(name, train.num_nodes, train.num_relations,
                              args.dim)
                time_steps(model, triples, args.batch_size, 2,
                           args.negatives, loss_fn(name))  # warm-up
                best[library] = min(
                    best[library],
                    time_steps(model, triples, args.batch_size, args.batches,
                               args.negatives, loss_fn(name)))
            if 'pykeen' in best:
                best['pykeen'] = min(
                    best['pykeen'],
                    time_pykeen(name, train, triples, args.dim,
                                args.batch_size, args.batches,
                                args.negatives))
        rates = {k: positives / v for k, v in best.items()}
        out['triples_per_second'][name] = {
            k: round(v)
            for k, v in rates.items()
        }
        out['ratio_vs_pyg'][name] = round(rates['pyg_kgc'] / rates['pyg'], 2)
        if 'pykeen' in rates:
            out['ratio_vs_pykeen'][name] = round(
                rates['pyg_kgc'] / rates['pykeen'], 2)
    if not args.no_pykeen:
        out['pykeen'] = importlib.metadata.version('pykeen')
    print(json.dumps(out))


if __name__ == '__main__':
    main()
