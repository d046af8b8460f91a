r"""Shallow knowledge graph embeddings on the transductive benchmarks,
reproducing published filtered MRRs (both sides, realistic ties).

Every (dataset, model) pair has its hyper-parameters in CONFIGS below: the
CoDEx-S ones are the LibKGE configurations the CoDEx authors published with
their results; the others were set here and say so. Two training regimes:

* ``1vsAll``: with reciprocal relations (every triple also as (t, r + R, h)),
  each training triple is a tail query scored against all entities with the
  cross-entropy loss (Lacroix et al., 2018; Ruffinelli et al., 2020);
* ``negative_sampling``: each triple gets sampled corrupted tails (and, with
  reciprocal relations, corrupted heads scored as tails of r + R), and the
  cross-entropy of the softmax over the positive and its negatives is
  minimised (LibKGE's "kl" loss);
* ``KvsAll``: every distinct query (h, r, ?) and (t, r + R, ?) of the
  training triples is scored against all entities, its target all of its
  answers, smoothed as ConvE and LibKGE smooth them, (1 - eps) y + 1 / N
  where eps > 0, and normalised (LibKGE's "kl" loss).

``reciprocal=0`` (1vsAll only) trains without reciprocal relations: each
triple asks (h, r, ?) and (?, r, t), as LibKGE's 1vsAll does for a model
without them.

Validation MRR every ``valid_every`` epochs drives the learning-rate
schedule and early stopping; the test metrics are those of the best
validation epoch. Prints one JSON line.

    python examples/kge_transductive.py --dataset UMLS --model ComplEx
    python examples/kge_transductive.py --dataset FB15k-237 \
        --model ComplEx-N3 --device cuda --checkpoint ckpt/fb237-complex.pt

``--checkpoint PATH`` saves the run at every validation (model, optimizer,
learning-rate schedule, random number generators) and resumes it exactly
when the same command is started again.
"""
import argparse
import json
import time

import torch

from pyg_kgc.datasets import get_dataset
from pyg_kgc.evaluation import KnownTriples, RankingEvaluator, ReciprocalScorer
from pyg_kgc.nn.kge import (
    Bilinear,
    ComplEx,
    DistMult,
    RotatE,
    TransE,
    n3_regularizer,
)
from pyg_kgc.nn.models import ShallowKGE
from pyg_kgc.training import cross_entropy_loss, fit, seed_everything

# The published numbers each configuration is compared with (filtered MRR).
PAPERS = {
    ('UMLS', 'ComplEx'): (0.94, 'ConvE paper, best model (ConvE)'),
    ('Kinships', 'ComplEx'): (0.83, 'ConvE paper, best model (ConvE)'),
    ('Nations', 'ComplEx'): (0.82, 'ConvE paper, best model (ConvE)'),
    ('CoDEx-S', 'ComplEx'): (0.465, 'CoDEx paper'),
    ('CoDEx-S', 'TransE'): (0.354, 'CoDEx paper'),
    ('CoDEx-S', 'RESCAL'): (0.404, 'CoDEx paper'),
    ('FB15k-237', 'ComplEx-N3'): (0.37, 'Lacroix et al. 2018, ComplEx-N3 '
                                  'rank 1000 (kbc README)'),
    ('WN18RR', 'ComplEx-N3'): (0.49, 'Lacroix et al. 2018, ComplEx-N3 '
                               'rank 2000 (kbc README)'),
    ('FB15k-237', 'DistMult'): (0.343, 'Ruffinelli et al. 2020 (LibKGE)'),
    ('FB15k-237', 'ComplEx'): (0.348, 'Ruffinelli et al. 2020 (LibKGE)'),
    ('FB15k-237', 'TransE'): (0.313, 'Ruffinelli et al. 2020 (LibKGE)'),
    ('WN18RR', 'TransE'): (0.228, 'Ruffinelli et al. 2020 (LibKGE)'),
    ('FB15k-237', 'RESCAL'): (0.356, 'Ruffinelli et al. 2020 (LibKGE)'),
    ('WN18RR', 'DistMult'): (0.452, 'Ruffinelli et al. 2020 (LibKGE)'),
    ('WN18RR', 'ComplEx'): (0.475, 'Ruffinelli et al. 2020 (LibKGE)'),
    ('WN18RR', 'RESCAL'): (0.467, 'Ruffinelli et al. 2020 (LibKGE)'),
}

# Entries a configuration may leave out (and --set may still change).
DEFAULTS = dict(reciprocal=1, label_smoothing=0.0, lp_p=0, lp_weighted=0,
                entity_lp=0.0, relation_lp=0.0, dropout_sampler='bernoulli')

CONFIGS = {
    # CoDEx-S: models/link-prediction/codex-s/*/config.yaml of the CoDEx
    # repository (LibKGE), rounded.
    ('CoDEx-S', 'ComplEx'):
    dict(regime='1vsAll', dim=512, init='xavier_normal', optimizer='Adam',
         lr=3.386e-4, batch_size=1024, entity_dropout=0.0793,
         relation_dropout=0.0564, n3=0.0, max_epochs=400, valid_every=5,
         patience=10, lr_patience=7),
    # Their "lp" penalties (LibKGE's default, unweighted; TransE p = 2,
    # entity weight 1.3e-7; RESCAL p = 3, weights 2.2e-10 and 3.4e-14) are
    # left out: at initialisation they are below 1e-4 and 1e-8 of the loss.
    ('CoDEx-S', 'TransE'):
    dict(regime='negative_sampling', tail_negatives=56, head_negatives=2,
         dim=512, p=2, init='xavier_normal', optimizer='Adagrad', lr=0.04122,
         batch_size=128, entity_dropout=0.0, relation_dropout=0.0, n3=0.0,
         max_epochs=400, valid_every=5, patience=10, lr_patience=6),
    ('CoDEx-S', 'RESCAL'):  # without reciprocal relations ("model: rescal")
    dict(regime='1vsAll', reciprocal=0, dim=512, init='normal',
         init_std=0.0623, optimizer='Adagrad', lr=0.04523, batch_size=128,
         entity_dropout=0.0, relation_dropout=0.0804, n3=0.0, max_epochs=400,
         valid_every=5, patience=10, lr_patience=7,
         # the same dropout, its masks drawn as geometric gaps: 8 % of the
         # 128 x 512^2 relation entries of a batch, not one draw per entry
         dropout_sampler='geometric'),
    # FB15k-237 and WN18RR: the best configurations of Ruffinelli et al.
    # (ICLR 2020, LibKGE), config_files/iclr2020/<dataset>/<model>-*-bo-best/
    # checkpoint_best.yaml of the uma-pi1/kge-iclr20 repository, rounded,
    # each with its training regime and LibKGE's "kl" loss; reciprocal
    # relations unless said otherwise. Their initialisation "uniform_" with
    # only the lower bound a set draws from U(a, 1) (torch's default upper
    # bound, which LibKGE leaves in place); their "lp" penalties are those
    # of lp_penalty below. A negative dropout in their files means none.
    ('FB15k-237', 'DistMult'):
    dict(regime='negative_sampling', tail_negatives=402, head_negatives=255,
         dim=256, init='uniform', init_a=-0.9352, optimizer='Adagrad',
         lr=0.1595, batch_size=1024, entity_dropout=0.4197,
         relation_dropout=0.4097, n3=0.0, lp_p=3, lp_weighted=1,
         entity_lp=1.408e-9, relation_lp=4.100e-15, max_epochs=400,
         valid_every=5, patience=10, lr_patience=6),
    ('FB15k-237', 'ComplEx'):
    dict(regime='negative_sampling', tail_negatives=1000, head_negatives=529,
         dim=256, init='uniform', init_a=-0.8328, optimizer='Adagrad',
         lr=0.1826, batch_size=1024, entity_dropout=0.5,
         relation_dropout=0.2268, n3=0.0, lp_p=3, lp_weighted=1,
         entity_lp=6.704e-9, relation_lp=4.133e-14, max_epochs=400,
         valid_every=5, patience=10, lr_patience=7),
    ('FB15k-237', 'TransE'):
    dict(regime='negative_sampling', tail_negatives=192, head_negatives=61,
         dim=128, p=2, init='uniform', init_a=-1e-5, optimizer='Adam', lr=3e-4,
         batch_size=128, entity_dropout=0.0, relation_dropout=0.0, n3=0.0,
         max_epochs=400, valid_every=5, patience=10, lr_patience=5),
    ('WN18RR', 'TransE'):
    dict(regime='negative_sampling', tail_negatives=158, head_negatives=70,
         dim=512, p=2, init='xavier_normal', optimizer='Adagrad', lr=0.2533,
         batch_size=128, entity_dropout=0.2519, relation_dropout=0.0, n3=0.0,
         lp_p=2, lp_weighted=0, entity_lp=1.065e-7, relation_lp=4.496e-13,
         max_epochs=400, valid_every=5, patience=10, lr_patience=5),
    ('FB15k-237', 'RESCAL'):  # without reciprocal relations
    dict(regime='1vsAll', reciprocal=0, dim=128, init='normal',
         init_std=0.1225, optimizer='Adam', lr=7.392e-4, batch_size=512,
         entity_dropout=0.4267, relation_dropout=0.1594, n3=0.0,
         max_epochs=400, valid_every=5, patience=10, lr_patience=1),
    ('WN18RR', 'DistMult'):
    dict(regime='KvsAll', label_smoothing=0.07398, dim=512, init='uniform',
         init_a=-0.7226, optimizer='Adagrad', lr=0.3313, batch_size=1024,
         entity_dropout=0.3668, relation_dropout=0.5, n3=0.0, lp_p=3,
         lp_weighted=1, entity_lp=1.252e-12, relation_lp=1.530e-14,
         max_epochs=400, valid_every=5, patience=10, lr_patience=7),
    ('WN18RR', 'ComplEx'):  # without reciprocal relations
    dict(regime='1vsAll', reciprocal=0, dim=128, init='uniform',
         init_a=-0.2815, optimizer='Adagrad', lr=0.5256, batch_size=512,
         entity_dropout=0.3593, relation_dropout=0.3112, n3=0.0, lp_p=2,
         lp_weighted=0, entity_lp=4.523e-6, relation_lp=4.193e-10,
         max_epochs=400, valid_every=5, patience=10, lr_patience=5),
    ('WN18RR', 'RESCAL'):
    dict(regime='KvsAll', label_smoothing=0.3, dim=128, init='uniform',
         init_a=-0.4064, optimizer='Adam', lr=8.535e-4, batch_size=128,
         entity_dropout=0.0, relation_dropout=0.2378, n3=0.0, lp_p=3,
         lp_weighted=0, entity_lp=1.366e-14, relation_lp=2.570e-15,
         max_epochs=400, valid_every=5, patience=10, lr_patience=8),
    # Set here: ComplEx with reciprocal relations, 1vsAll and N3
    # regularisation (Lacroix et al., 2018).
    ('UMLS', 'ComplEx'):
    dict(regime='1vsAll', dim=400, init='xavier_normal', optimizer='Adam',
         lr=3e-3, batch_size=256, entity_dropout=0.1, relation_dropout=0.1,
         n3=1e-3, max_epochs=400, valid_every=5, patience=10, lr_patience=5),
    ('Kinships', 'ComplEx'):
    dict(regime='1vsAll', dim=400, init='xavier_normal', optimizer='Adam',
         lr=3e-3, batch_size=256, entity_dropout=0.1, relation_dropout=0.1,
         n3=1e-3, max_epochs=400, valid_every=5, patience=10, lr_patience=5),
    # DistMult with UMLS's ComplEx settings, untuned: the factorisation
    # model that a transductive ReFactor GNN (examples/refactor.py) steps.
    ('UMLS', 'DistMult'):
    dict(regime='1vsAll', dim=400, init='xavier_normal', optimizer='Adam',
         lr=3e-3, batch_size=256, entity_dropout=0.1, relation_dropout=0.1,
         n3=1e-3, max_epochs=400, valid_every=5, patience=10, lr_patience=5),
    # ComplEx-N3 of Lacroix et al. (2018) as the README of their code
    # (facebookresearch/kbc) gives it: rank (complex coordinates) 1000 and
    # 2000, entries initialised N(0, 1e-3^2), Adagrad 0.1, batches of 1000
    # and 100, N3 weights 5e-2 and 1e-1, 100 epochs; no schedule and no
    # early stopping (the best validation epoch is kept).
    ('FB15k-237', 'ComplEx-N3'):
    dict(regime='1vsAll', dim=2000, init='normal', init_std=1e-3,
         optimizer='Adagrad', lr=0.1, batch_size=1000, entity_dropout=0.0,
         relation_dropout=0.0, n3=5e-2, max_epochs=100, valid_every=5,
         patience=100, lr_patience=1000),
    ('WN18RR', 'ComplEx-N3'):
    dict(regime='1vsAll', dim=4000, init='normal', init_std=1e-3,
         optimizer='Adagrad', lr=0.1, batch_size=100, entity_dropout=0.0,
         relation_dropout=0.0, n3=1e-1, max_epochs=100, valid_every=5,
         patience=100, lr_patience=1000),
    # Nations (14 entities, 199 validation triples) is noisy: chosen by
    # mean validation MRR over 4 seeds among 14 settings (and over RESCAL
    # and RotatE, both far worse).
    ('Nations', 'ComplEx'):
    dict(regime='1vsAll', dim=1000, init='xavier_normal', optimizer='Adam',
         lr=3e-3, batch_size=256, entity_dropout=0.4, relation_dropout=0.2,
         n3=3e-3, max_epochs=400, valid_every=5, patience=10, lr_patience=5),
}


def build_model(name, config, num_nodes, num_relations, compiled=False):
    dim = config['dim']
    if name in ('ComplEx', 'ComplEx-N3'):
        decoder = ComplEx(dim, num_relations)
    elif name == 'DistMult':
        decoder = DistMult(dim, num_relations)
    elif name == 'TransE':
        decoder = TransE(dim, num_relations, p=config.get('p', 2))
    elif name == 'RotatE':
        decoder = RotatE(dim // 2, num_relations, compiled=compiled)
    elif name == 'RESCAL':
        decoder = Bilinear(dim, num_relations, mode='full')
    else:
        raise ValueError(f"Unknown model {name!r}")
    if config['init'] == 'xavier_normal':
        init = torch.nn.init.xavier_normal_
    elif config['init'] == 'uniform':

        def init(weight):
            torch.nn.init.uniform_(weight, a=config['init_a'], b=1.0)
    else:

        def init(weight):
            torch.nn.init.normal_(weight, std=config['init_std'])

    model = ShallowKGE(
        num_nodes, decoder, init=init, entity_dropout=config['entity_dropout'],
        relation_dropout=config['relation_dropout'],
        dropout_sampler=config.get('dropout_sampler',
                                   'bernoulli'), compiled=compiled)
    if name != 'RotatE':  # phases keep their uniform initialisation
        init(decoder.relation_emb.data)
    return model


def lp_penalty(model, config, head, relation, tail, num_relations,
               reciprocal=True):
    r"""LibKGE's "lp" penalty of a batch of training triples (not their
    reciprocals), as its models add it to the loss. Weighted:
    :math:`|x|^p / p` summed over the rows the batch uses, each as often as
    it is used, divided by their number (entities: the heads and tails;
    relations: :math:`r` and, for the reciprocal-relations model, as a
    second term, :math:`r + R`).
    Unweighted: :math:`|x|^p / p` summed over the whole table, twice for the
    entities (LibKGE counts a table used for heads and tails twice)."""
    p = config['lp_p']
    entity, relations = model.entity_emb, model.decoder.relation_emb
    if config['lp_weighted']:

        def used(table, index):
            rows = table.index_select(0, index)
            return rows.abs().pow(p).sum() / (p * index.numel())

        entity_term = used(entity, torch.cat([head, tail]))
        relation_term = used(relations, relation)
        if reciprocal:
            relation_term = relation_term + used(relations,
                                                 relation + num_relations)
    else:
        entity_term = 2 * entity.abs().pow(p).sum() / p
        relation_term = relations.abs().pow(p).sum() / p
    return (config['entity_lp'] * entity_term +
            config['relation_lp'] * relation_term)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--dataset', default='UMLS')
    parser.add_argument('--model', default='ComplEx')
    parser.add_argument('--root', default='data')
    parser.add_argument('--max-epochs', type=int, default=None,
                        help='overrides the configuration (short runs)')
    parser.add_argument('--set', nargs='*', default=[], metavar='KEY=VALUE',
                        help='overrides configuration entries')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--checkpoint', default=None,
        help='save here at every validation; resume from '
        'it if it exists')
    parser.add_argument('--progress', action='store_true')
    parser.add_argument(
        '--compile', action='store_true',
        help='torch.compile kernels on the CPU where a model has them '
        "(RotatE's distances to all entities, RESCAL's per-query relation "
        'dropout): the same model, faster')
    args = parser.parse_args()
    config = dict(DEFAULTS, **CONFIGS[args.dataset, args.model])
    if args.max_epochs is not None:
        config['max_epochs'] = args.max_epochs
    for item in args.set:
        key, value = item.split('=', 1)
        if key not in config:
            raise KeyError(f"Unknown configuration entry {key!r}")
        config[key] = type(config[key])(value)

    reciprocal = bool(config['reciprocal'])
    if not reciprocal and config['regime'] != '1vsAll':
        raise ValueError("reciprocal=0 is implemented for 1vsAll only")
    if config['lp_p'] and config['n3']:
        raise ValueError("Set either lp_p (LibKGE's penalty) or n3")

    seed_everything(args.seed)
    start = time.perf_counter()
    device = torch.device(args.device)
    dataset = get_dataset(args.root, args.dataset)
    train, valid, test = (dataset[split].to(device)
                          for split in ('train', 'valid', 'test'))
    num_relations = train.num_relations
    model = build_model(args.model, config, train.num_nodes,
                        (2 if reciprocal else 1) * num_relations,
                        compiled=args.compile).to(device)
    # On the CPU, Adagrad's fused implementation is several times faster
    # than the default one (RESCAL's 11M relation entries on CoDEx-S: 6 ms
    # against 39 ms a step); the same update up to floating-point rounding.
    fused = config['optimizer'] == 'Adagrad' and device.type == 'cpu'
    optimizer = getattr(torch.optim,
                        config['optimizer'])(model.parameters(),
                                             lr=config['lr'], **({
                                                 'fused': True
                                             } if fused else {}))
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode='max', factor=0.95, patience=config['lr_patience'],
        threshold=1e-4)

    # Training triples with their reciprocals: (t, r + R, h).
    head, tail = train.target_edge_index
    relation = train.target_edge_type
    both = torch.stack([
        torch.cat([head, tail]),
        torch.cat([relation, relation + num_relations]),
        torch.cat([tail, head])
    ])

    def originals(h, r, t):
        # The training triples behind triples that may be reciprocal.
        inverse = r >= num_relations
        return (torch.where(inverse, t,
                            h), torch.where(inverse, r - num_relations,
                                            r), torch.where(inverse, h, t))

    def penalty(h, r, t):  # LibKGE's, of the batch's training triples
        if not config['lp_p']:
            return 0.0
        return lp_penalty(model, config, *originals(h, r, t), num_relations,
                          reciprocal)

    def loss_1vsall(h, r, t):
        loss = cross_entropy_loss(model.score_tails(h, r), t)
        if not reciprocal:  # and (?, r, t): LibKGE's 1vsAll without them
            loss = loss + cross_entropy_loss(model.score_heads(r, t), h)
        if config['n3'] > 0:
            loss = loss + config['n3'] * n3_regularizer(model.factors(h, r, t))
        return loss + penalty(h, r, t)

    if config['regime'] == 'KvsAll':  # the distinct queries and answers
        known = KnownTriples(both[[0, 2]], both[1], train.num_nodes,
                             2 * num_relations)
        key = torch.unique(both[0] * (2 * num_relations) + both[1])
        queries = torch.stack(
            [key // (2 * num_relations), key % (2 * num_relations)])

    def loss_kvsall(h, r):
        row, answer = known.tails(h, r)
        targets = torch.zeros(h.numel(), train.num_nodes, device=device)
        targets[row, answer] = 1.0
        if config['label_smoothing'] > 0:  # as ConvE and LibKGE smooth:
            # 1 / N is added whatever the smoothing; the loss normalises.
            targets = ((1.0 - config['label_smoothing']) * targets +
                       1.0 / train.num_nodes)
        loss = cross_entropy_loss(model.score_tails(h, r), targets)
        return loss + penalty(h[row], r[row], answer)

    def loss_negative_sampling(h, r, t):
        # One slot each for corrupted tails and corrupted heads (the latter
        # scored as tails of the reciprocal relation), as LibKGE does.
        loss = 0.0
        slots = ((h, r, t, config['tail_negatives']),
                 (t, r + num_relations, h, config['head_negatives']))
        for a, rel, answer, k in slots:
            if k == 0:
                continue
            negatives = torch.randint(train.num_nodes, (a.numel(), k),
                                      device=device)
            tails = torch.zeros(negatives.shape, dtype=torch.bool,
                                device=device)
            scores = torch.cat([
                model(a, rel, answer).view(-1, 1),
                model.score_corruptions(a, rel, answer, negatives, tails)
            ], dim=1)
            loss = loss + cross_entropy_loss(
                scores, torch.zeros_like(a))  # the positive is column 0
        return loss + penalty(h, r, t)

    def train_epoch(epoch: int) -> float:
        if config['regime'] == '1vsAll' and reciprocal:
            triples = both[:, torch.randperm(both.size(1), device=device)]
            step = loss_1vsall
        elif config['regime'] == 'KvsAll':
            triples = queries[:,
                              torch.randperm(queries.size(1), device=device)]
            step = loss_kvsall
        else:
            triples = torch.stack([head, relation, tail])
            triples = triples[:,
                              torch.randperm(triples.size(1), device=device)]
            step = (loss_negative_sampling if config['regime']
                    == 'negative_sampling' else loss_1vsall)
        total = 0.0  # a tensor on the device: no synchronisation per step
        for batch in triples.split(config['batch_size'], dim=1):
            loss = step(*batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total = total + loss.detach() * batch.size(1)
        return float(total) / triples.size(1)

    scorer = ReciprocalScorer(model, num_relations) if reciprocal else model
    valid_evaluator = RankingEvaluator.from_data(valid)

    @torch.no_grad()
    def validate() -> float:
        mrr = valid_evaluator.evaluate(
            scorer, valid.target_edge_index,
            valid.target_edge_type).metrics()['both']['mrr']
        scheduler.step(mrr)
        return mrr

    history = fit(model, optimizer, train_epoch, config['max_epochs'],
                  validate, eval_every=config['valid_every'],
                  patience=config['patience'], checkpoint=args.checkpoint,
                  progress=args.progress, state={'scheduler': scheduler})
    model.eval()
    with torch.no_grad():
        metrics = RankingEvaluator.from_data(test).evaluate(
            scorer, test.target_edge_index,
            test.target_edge_type).metrics()['both']
    paper, source = PAPERS.get((args.dataset, args.model), (None, None))
    print(
        json.dumps({
            'example': 'kge_transductive',
            'dataset': args.dataset,
            'model': args.model,
            'best_epoch': history.best_epoch,
            'epochs_run': history.losses[-1][0],
            'valid_mrr': round(history.best_metric, 4),
            'test_mrr': round(metrics['mrr'], 4),
            'test_hits@1': round(metrics['hits@1'], 4),
            'test_hits@10': round(metrics['hits@10'], 4),
            'paper_mrr': paper,
            'paper': source,
            'config': config,
            'compiled': args.compile,
            'device': str(device),
            'seconds': round(time.perf_counter() - start, 1),
        }))


if __name__ == '__main__':
    main()
