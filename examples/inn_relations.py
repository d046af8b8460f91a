r"""Invertible neural networks as relation functions (INNDecoder) against
RotatE and ComplEx on a transductive benchmark, with the same budget.

All models are shallow embeddings trained with reciprocal relations: every
training triple is also given as (t, r + R, h) and only tail queries are
scored. For RotatE and ComplEx the R inverse relations are new parameters;
for the INN decoder they are the inverse direction of the same flow (no new
parameters). Each model gets the same epochs, entity width, batch size,
learning rate, gradient clipping (``--clip``) and loss: the cross-entropy
of every query against all entities (``--negatives 0``, the default) or
against ``--negatives`` sampled entities. Evaluation: filtered ranking
against all entities, both sides, realistic ties, on the test split with
the weights of the best validation epoch (validation MRR every
``--eval-every`` epochs; ``--eval-every 0``: the last epoch's), overall and
per relation category (1-1, 1-N, N-1, N-N: average tails per head and heads
per tail in the training triples below or above 1.5, Bordes et al., 2013),
separately for the relations flagged symmetric (see ``INN-mixed``) and the
others, and how often a query's own entity is ranked first. Prints a JSON
line per model and one with everything at the end; ``--time-batches k``
only times the first k training batches of each model. Results and
commands: ``docs/inn.md``.

Models: ``RotatE``, ``ComplEx``, ``INN`` (the decoder the ``--mode``,
``--coupling``, ... options describe) and INN variants that change one
option of it: ``INN-NICE`` (additive coupling), ``INN-hyper`` (hypernetwork
conditioner), ``INN-LU`` (relation-specific LU layers), ``INN-inverse`` (an
inverse relation maps with the inverse flow, so a head query costs one
inverse pass instead of the flow at every entity), ``INN-NICE-inverse``
(both), ``INN-symmetric``,
``INN-density`` (stochastic, exact log-density), ``INN-best-of-k``, and
``INN-mixed``: the symmetric mode for the relations whose training triples
are at least ``--symmetric-threshold`` symmetric (the fraction of (h, t)
whose (t, h) is a training triple too), the directional mode for the others,
with one shared flow.

    PYG_KGC_DATA_URL=file://$PWD/../shared/datasets \
        python examples/inn_relations.py --dataset UMLS --models INN \
        INN-NICE INN-density RotatE ComplEx INN-mixed INN-symmetric
"""
import argparse
import json
import os
import os.path as osp
import time

import torch

from pyg_kgc.datasets import get_dataset
from pyg_kgc.evaluation import (
    RankingEvaluator,
    ReciprocalScorer,
    self_ranked_first,
)
from pyg_kgc.nn.kge import ComplEx, INNDecoder, RotatE
from pyg_kgc.nn.models import ShallowKGE
from pyg_kgc.training import cross_entropy_loss, fit, seed_everything

# Shared budget: the one of docs/inn.md (batch size, learning rate and
# clipping chosen there on UMLS, then kept for every model and dataset).
DEFAULTS = dict(epochs=100, dim=64, batch_size=1024, lr=1e-2, negatives=0,
                weight_decay=0.0, clip=1.0)
# INN decoder architecture (set here, not tuned).
INN_DEFAULTS = dict(mode='directional', stochastic_score='density', p=2,
                    num_layers=4, coupling='affine', conditioner='mlp',
                    hidden=64, split='alternate', linear='none', num_samples=8,
                    symmetric_threshold=0.5)
# Named INN variants: what they change in the INN options.
INN_VARIANTS = {
    'INN': {},
    'INN-NICE': dict(coupling='additive'),
    'INN-hyper': dict(conditioner='hyper'),
    'INN-LU': dict(linear='relation'),
    'INN-inverse': dict(inverse_map=True),
    'INN-NICE-inverse': dict(coupling='additive', inverse_map=True),
    'INN-symmetric': dict(mode='symmetric'),
    'INN-mixed': dict(mode='mixed'),
    'INN-density': dict(mode='stochastic', stochastic_score='density'),
    'INN-best-of-k': dict(mode='stochastic', stochastic_score='best_of_k'),
}
CATEGORIES = ('1-1', '1-N', 'N-1', 'N-N')


class MixedINNDecoder(INNDecoder):
    r"""An :class:`INNDecoder` whose relations flagged in :obj:`symmetric`
    are scored in the symmetric mode and all others in the directional
    mode, with one flow and one context per relation. The flag travels in
    the direction of the relation representation (:math:`\pm 2` instead of
    :math:`\pm 1`)."""
    def __init__(self, dim, symmetric, **kwargs):
        super().__init__(dim, symmetric.numel(), mode='directional',
                         inverse_relations=True, **kwargs)
        self.register_buffer('symmetric', symmetric.clone())

    def relation(self, relation):
        x = super().relation(relation)
        if relation.is_floating_point():
            return x
        flag = self.symmetric[torch.remainder(relation,
                                              self.num_base_relations)]
        return torch.cat([x[..., :-1], x[..., -1:] * (1 + flag[..., None])],
                         dim=-1)

    def _modes(self, fn, relation, per_row):
        # fn(relation) in the directional mode, and where any relation is
        # flagged, again in the symmetric mode for those (per_row: one
        # relation per row of the output instead of broadcasting).
        flag = relation[..., -1].abs() > 1.5
        relation = torch.cat([relation[..., :-1], relation[..., -1:].sign()],
                             dim=-1)
        if not bool(flag.any()):
            return fn(relation)
        self.mode = 'symmetric'
        try:
            if not per_row:
                symmetric = fn(relation)
            elif bool(flag.all()):
                return fn(relation)
            else:
                rows = flag.nonzero().view(-1)
                symmetric = fn(relation[rows], rows)
        finally:
            self.mode = 'directional'
        if not per_row:
            return torch.where(flag, symmetric, fn(relation))
        rows = (~flag).nonzero().view(-1)
        out = symmetric.new_empty(flag.numel(), *symmetric.shape[1:])
        out[flag] = symmetric
        out[~flag] = fn(relation[rows], rows)
        return out

    def interaction(self, head, relation, tail):
        parent = super().interaction
        return self._modes(lambda r: parent(head, r, tail), relation, False)

    def all_tails(self, head, relation, candidates, out=None):
        parent = super().all_tails
        return self._modes(
            lambda r, i=slice(None): parent(head[i], r, candidates), relation,
            True)

    def all_heads(self, candidates, relation, tail, out=None):
        parent = super().all_heads
        return self._modes(
            lambda r, i=slice(None): parent(candidates, r, tail[i]), relation,
            True)

    def corruptions(self, head, relation, tail, candidates, corrupt_head):
        parent = super().corruptions
        return self._modes(
            lambda r, i=slice(None): parent(head[i], r, tail[i], candidates[i],
                                            corrupt_head[i]), relation, True)


def relation_statistics(head, relation, tail, num_relations):
    r"""Per relation: the Bordes et al. (2013) category and the fraction of
    its (h, t) pairs whose reverse (t, h) is a pair of it too."""
    categories, symmetry = [], []
    for r in range(num_relations):
        mask = relation == r
        h, t = head[mask], tail[mask]
        pairs = set(zip(h.tolist(), t.tolist()))
        if not pairs:
            categories.append('1-1')
            symmetry.append(0.0)
            continue
        tails_per_head = len(pairs) / len(set(h.tolist()))
        heads_per_tail = len(pairs) / len(set(t.tolist()))
        categories.append(('1' if heads_per_tail < 1.5 else 'N') + '-' +
                          ('1' if tails_per_head < 1.5 else 'N'))
        symmetry.append(sum((b, a) in pairs for a, b in pairs) / len(pairs))
    return categories, torch.tensor(symmetry)


def build(name, args, num_nodes, num_relations, symmetric=None):
    dim = args.dim
    if name in INN_VARIANTS:
        options = {key: getattr(args, key) for key in INN_DEFAULTS}
        options.update(INN_VARIANTS[name])
        mode = options.pop('mode')
        options.pop('symmetric_threshold')
        if mode == 'mixed':
            decoder = MixedINNDecoder(dim, symmetric, **options)
        else:
            decoder = INNDecoder(dim, num_relations, inverse_relations=True,
                                 mode=mode, **options)
    elif name == 'RotatE':  # dim real numbers = dim / 2 complex ones
        decoder = RotatE(dim // 2, 2 * num_relations, compiled=args.compile)
    elif name == 'ComplEx':
        decoder = ComplEx(dim, 2 * num_relations)
    else:
        raise ValueError(f"Unknown model {name!r}")
    model = ShallowKGE(num_nodes, decoder, init=torch.nn.init.xavier_normal_)
    if name == 'ComplEx':
        torch.nn.init.xavier_normal_(decoder.relation_emb.data)
    return model


def run(name, args, train, valid, test, num_relations, categories, symmetric):
    seed_everything(args.seed)
    start = time.perf_counter()
    device = train.target_edge_index.device
    model = build(name, args, train.num_nodes, num_relations,
                  symmetric).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr,
                                 weight_decay=args.weight_decay)
    head, tail = train.target_edge_index
    relation = train.target_edge_type
    triples = torch.stack([
        torch.cat([head, tail]),
        torch.cat([relation, relation + num_relations]),
        torch.cat([tail, head])
    ])

    def step(h, r, t):
        if args.negatives > 0:  # the positive is column 0
            negatives = torch.randint(train.num_nodes,
                                      (h.numel(), args.negatives),
                                      device=device)
            scores = torch.cat([
                model(h, r, t).view(-1, 1),
                model(h.view(-1, 1), r.view(-1, 1), negatives)
            ], dim=1)
            loss = cross_entropy_loss(scores, torch.zeros_like(h))
        else:
            loss = cross_entropy_loss(model.score_tails(h, r), t)
        optimizer.zero_grad()
        loss.backward()
        if args.clip > 0:  # the gradient norm of all parameters
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()
        return loss.item() * h.numel()

    if args.time_batches > 0:  # time the first batches of an epoch only
        model.train()
        batches = triples[:, torch.randperm(triples.size(1), device=device
                                            )].split(args.batch_size, dim=1)
        timed = min(args.time_batches, len(batches))
        tick = time.perf_counter()
        for h, r, t in batches[:timed]:
            step(h, r, t)
        seconds = (time.perf_counter() - tick) / timed
        return {
            'timed_batches': timed,
            'batches_per_epoch': len(batches),
            'batch_seconds': round(seconds, 3),
            'estimated_epoch_seconds': round(seconds * len(batches), 1),
            'parameters': sum(p.numel() for p in model.parameters()),
        }

    ran = []  # the epochs this process trained (a resumed run: fewer)

    def train_epoch(epoch):
        ran.append(epoch)
        perm = torch.randperm(triples.size(1), device=device)
        total = sum(
            step(h, r, t)
            for h, r, t in triples[:, perm].split(args.batch_size, dim=1))
        return total / triples.size(1)

    def evaluate(data):
        return RankingEvaluator.from_data(data).evaluate(
            ReciprocalScorer(model, num_relations), data.target_edge_index,
            data.target_edge_type)

    @torch.no_grad()
    def validate():
        return evaluate(valid).metrics()['both']['mrr']

    # With --eval-every, the weights of the best validation epoch are
    # restored before the test; without, the last epoch's are tested.
    # With --checkpoint, fit saves everything at every validation and a
    # run started again resumes where it stopped, to the same result.
    checkpoint = None
    if args.checkpoint is not None:
        os.makedirs(args.checkpoint, exist_ok=True)
        checkpoint = osp.join(args.checkpoint,
                              f'{args.dataset}-{name}-seed{args.seed}.pt')
    history = fit(model, optimizer, train_epoch, args.epochs,
                  validate if args.eval_every > 0 else None,
                  eval_every=max(1, args.eval_every), checkpoint=checkpoint,
                  progress=args.progress)
    losses = [loss for _, loss in history.losses]
    train_seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        result = evaluate(test)
        # How often the anchor of a query outscores every other candidate
        # (a self-loop ranked first; the symmetric score favours it).
        self_first = self_ranked_first(ReciprocalScorer(model, num_relations),
                                       test.target_edge_index,
                                       test.target_edge_type)['both']
    metrics = result.metrics()['both']
    # MRR per relation category: head queries, tail queries, both.
    category = [categories[r] for r in test.target_edge_type.tolist()]
    per_category = {}
    for cat in CATEGORIES:
        mask = torch.tensor([c == cat for c in category], dtype=torch.bool)
        if not bool(mask.any()):
            continue
        head, tail = (1 / result.ranks(side).cpu()[mask]
                      for side in ('head', 'tail'))
        per_category[cat] = {
            'triples': int(mask.sum()),
            'mrr': round(float(torch.cat([head, tail]).mean()), 4),
            'mrr_head': round(float(head.mean()), 4),
            'mrr_tail': round(float(tail.mean()), 4),
        }
    # MRR on the test triples of the relations that are symmetric in the
    # training data (the INN-mixed flag) and on the others.
    flagged = symmetric[test.target_edge_type.cpu()]
    ranks = torch.stack(
        [result.ranks(side).cpu() for side in ('head', 'tail')])
    by_symmetry = {
        key: round(float((1 / ranks[:, mask]).mean()), 4)
        for key, mask in (('symmetric', flagged), ('other', ~flagged))
        if bool(mask.any())
    }
    # The mean training loss of every tenth of the epochs.
    curve = torch.tensor(losses, dtype=torch.float64).tensor_split(
        min(10, len(losses)))
    best = history.best_metric
    return {
        'best_epoch': history.best_epoch,
        'valid_mrr': None if best is None else round(best, 4),
        'test_mrr': round(metrics['mrr'], 4),
        'test_hits@1': round(metrics['hits@1'], 4),
        'test_hits@10': round(metrics['hits@10'], 4),
        'self_ranked_first': round(self_first, 4),
        'categories': per_category,
        'mrr_by_symmetry': by_symmetry,
        'final_loss': round(losses[-1], 4),
        'loss_curve': [round(float(part.mean()), 3) for part in curve],
        'parameters': sum(p.numel() for p in model.parameters()),
        # Training with the validations, per epoch this process trained.
        'epoch_seconds': round(train_seconds / max(1, len(ran)), 2),
        'epochs_this_run': len(ran),
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
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--eval-every', type=int, default=10,
        help='validate every this many epochs and test the best '
        "validation epoch's weights (0: test the last epoch)")
    parser.add_argument(
        '--time-batches', type=int, default=0,
        help='only time this many training batches of each model and '
        'extrapolate the epoch time (no evaluation)')
    parser.add_argument(
        '--checkpoint', default=None, metavar='DIR',
        help="save each model's training state in this directory at every "
        'validation; started again with it, a run resumes from there and '
        'ends as an uninterrupted run would')
    parser.add_argument('--progress', action='store_true',
                        help='a progress bar over the epochs')
    parser.add_argument(
        '--compile', action='store_true',
        help="RotatE's scoring against all entities through torch.compile "
        'kernels (CPU; the same scores, about 5 times faster)')
    for key, value in {**DEFAULTS, **INN_DEFAULTS}.items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=type(value),
                            default=value)
    args = parser.parse_args()

    start = time.perf_counter()
    dataset = get_dataset(args.root, args.dataset)
    train, valid, test = (dataset[split].to(args.device)
                          for split in ('train', 'valid', 'test'))
    num_relations = train.num_relations
    head, tail = train.target_edge_index
    categories, symmetry = relation_statistics(head, train.target_edge_type,
                                               tail, num_relations)
    symmetric = symmetry >= args.symmetric_threshold
    results = {}
    for name in args.models:
        results[name] = run(name, args, train, valid, test, num_relations,
                            categories, symmetric)
        print(json.dumps({name: results[name]}), flush=True)
    relations = {
        cat: categories.count(cat)
        for cat in CATEGORIES if cat in categories
    }
    print(
        json.dumps({
            'example': 'inn_relations',
            'dataset': args.dataset,
            'device': args.device,
            'budget': {
                key: getattr(args, key)
                for key in DEFAULTS
            },
            'inn': {
                key: getattr(args, key)
                for key in INN_DEFAULTS
            },
            'seed': args.seed,
            'eval_every': args.eval_every,
            'relations': relations,
            'symmetric_relations': int(symmetric.sum()),
            'results': results,
            'seconds': round(time.perf_counter() - start, 1),
        }))


if __name__ == '__main__':
    main()
