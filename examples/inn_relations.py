r"""Invertible neural networks as relation functions (INNDecoder) against
RotatE and ComplEx on a transductive benchmark, with the same budget.

All three models are shallow embeddings trained with reciprocal relations:
every training triple is also given as (t, r + R, h) and only tail queries
are scored. For RotatE and ComplEx the R inverse relations are new
parameters; for the INN decoder they are the inverse direction of the same
flow (no new parameters). Each model gets the same epochs, entity width,
batch size and loss: the cross-entropy of every query against all entities
(``--negatives 0``, the default) or against ``--negatives`` sampled
entities. Evaluation: filtered ranking against all entities, both sides,
realistic ties, on the test split after the last epoch. Prints one JSON
line at the end.

    PYG_KGC_DATA_URL=file://$PWD/../shared/datasets \
        python examples/inn_relations.py --dataset UMLS --mode directional
"""
import argparse
import json
import time

import torch

from pyg_kgc.datasets import get_dataset
from pyg_kgc.evaluation import RankingEvaluator, ReciprocalScorer
from pyg_kgc.nn.kge import ComplEx, INNDecoder, RotatE
from pyg_kgc.nn.models import ShallowKGE
from pyg_kgc.training import cross_entropy_loss, seed_everything

# Shared budget (set here, not tuned).
DEFAULTS = dict(epochs=100, dim=64, batch_size=256, lr=3e-3, negatives=0,
                weight_decay=0.0)
# INN decoder architecture (set here, not tuned).
INN_DEFAULTS = dict(mode='directional', stochastic_score='density', p=2,
                    num_layers=4, coupling='affine', conditioner='mlp',
                    hidden=64, split='alternate', linear='none', num_samples=8)


def build(name, args, num_nodes, num_relations):
    dim = args.dim
    if name == 'INN':
        decoder = INNDecoder(
            dim, num_relations, inverse_relations=True, mode=args.mode,
            stochastic_score=args.stochastic_score, p=args.p,
            num_layers=args.num_layers, coupling=args.coupling,
            conditioner=args.conditioner, hidden=args.hidden, split=args.split,
            linear=args.linear, num_samples=args.num_samples)
    elif name == 'RotatE':  # dim real numbers = dim / 2 complex ones
        decoder = RotatE(dim // 2, 2 * num_relations)
    elif name == 'ComplEx':
        decoder = ComplEx(dim, 2 * num_relations)
    else:
        raise ValueError(f"Unknown model {name!r}")
    model = ShallowKGE(num_nodes, decoder, init=torch.nn.init.xavier_normal_)
    if name == 'ComplEx':
        torch.nn.init.xavier_normal_(decoder.relation_emb.data)
    return model


def run(name, args, train, test, num_relations):
    seed_everything(args.seed)
    start = time.perf_counter()
    model = build(name, args, train.num_nodes, num_relations)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr,
                                 weight_decay=args.weight_decay)
    head, tail = train.target_edge_index
    relation = train.target_edge_type
    triples = torch.stack([
        torch.cat([head, tail]),
        torch.cat([relation, relation + num_relations]),
        torch.cat([tail, head])
    ])
    losses = []
    for _ in range(args.epochs):
        model.train()
        total = 0.0
        for h, r, t in triples[:, torch.randperm(triples.size(1))].split(
                args.batch_size, dim=1):
            if args.negatives > 0:  # the positive is column 0
                negatives = torch.randint(train.num_nodes,
                                          (h.numel(), args.negatives))
                scores = torch.cat([
                    model(h, r, t).view(-1, 1),
                    model(h.view(-1, 1), r.view(-1, 1), negatives)
                ], dim=1)
                loss = cross_entropy_loss(scores, torch.zeros_like(h))
            else:
                loss = cross_entropy_loss(model.score_tails(h, r), t)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * h.numel()
        losses.append(total / triples.size(1))
    model.eval()
    with torch.no_grad():
        metrics = RankingEvaluator.from_data(test).evaluate(
            ReciprocalScorer(model, num_relations), test.target_edge_index,
            test.target_edge_type).metrics()['both']
    return {
        'test_mrr': round(metrics['mrr'], 4),
        'test_hits@1': round(metrics['hits@1'], 4),
        'test_hits@10': round(metrics['hits@10'], 4),
        'final_loss': round(losses[-1], 4),
        'parameters': sum(p.numel() for p in model.parameters()),
        'seconds': round(time.perf_counter() - start, 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--dataset', default='UMLS',
                        help='UMLS, Kinships, Nations, CoDEx-S, WN18RR, ...')
    parser.add_argument('--root', default='data')
    parser.add_argument('--models', nargs='+',
                        default=['INN', 'RotatE', 'ComplEx'])
    parser.add_argument('--seed', type=int, default=0)
    for key, value in {**DEFAULTS, **INN_DEFAULTS}.items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=type(value),
                            default=value)
    args = parser.parse_args()

    start = time.perf_counter()
    dataset = get_dataset(args.root, args.dataset)
    train, test = dataset['train'], dataset['test']
    num_relations = train.num_relations
    results = {
        name: run(name, args, train, test, num_relations)
        for name in args.models
    }
    print(
        json.dumps({
            'example': 'inn_relations',
            'dataset': args.dataset,
            'budget': {
                key: getattr(args, key)
                for key in DEFAULTS
            },
            'inn': {
                key: getattr(args, key)
                for key in INN_DEFAULTS
            },
            'seed': args.seed,
            'results': results,
            'seconds': round(time.perf_counter() - start, 1),
        }))


if __name__ == '__main__':
    main()
