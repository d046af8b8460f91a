r"""InGram (Lee, Chung and Whang, ICML 2023): link prediction on a graph
whose entities *and* relations are new, with the paper's training recipe.

Every epoch is one gradient step over the whole training graph:

1. a fresh random split of the training triples into message triples
   (75 %, with every entity and relation kept) and supervision triples;
2. fresh random input features for entities and relations (Glorot normal),
   so that nothing id-specific can be learned;
3. the relation graph of the message triples, 2 relation-level and 2
   entity-level attention layers, DistMult with a relation projection;
4. the margin loss (margin 2) against 10 corruptions of each supervision
   triple (head or tail at random), Adam (lr 5e-4), gradient norm clipped
   at 0.1.

Validation every ``--eval-every`` epochs on the inference graph's
validation queries (its message graph as input, fixed random features),
keeping the best state; the test queries are ranked against all entities
of the inference graph, both sides, filtered, realistic ties. The defaults
are those of the official code; ``--hparams paper`` takes the paper's
per-dataset hyper-parameters instead (those of the checkpoints its tables
come from: layers, hidden ratios, heads, margin and learning rate differ
per dataset), and a flag given on the command line overrides either. Works
on the InGram splits (NL-*, WK-*, FB-*: new entities and relations) and the
GraIL splits (new entities). Prints one JSON line.

    python examples/ingram.py --dataset NL-100
    python examples/ingram.py --dataset WK-75 --hparams paper
    python examples/ingram.py --dataset fb237_v1 --epochs 2000

Validation and test use the same random input features of the inference
graph (one draw, seeded by ``--seed``). With ``--redraw-features``, every
validation draws new features and the test reuses the draw of the best
validation epoch, as the official code does (``train.py`` draws features
at every validation and saves them with the checkpoint, ``test.py`` loads
them): the model selection then also selects a draw of the features.
``--feature-draws K`` selects a draw after training instead: the trained
model is validated with K draws and tested with the best one (reported
beside the test metrics of the run's own draw). Both choose a draw on the
validation queries for the test queries, which is meaningful where the two
share their graph, as on the InGram splits (on the GraIL splits validation
runs on the training graph and test on a new one).

``--recipe official`` is the official code's recipe in one flag: the
redrawn features above, corruptions that never draw the entity they replace
(``--exclude-own``), and igraph's spanning tree of the training graph kept
in every epoch's messages (``--message-split igraph-forest``). With the
paper's values it is the closest setting to the paper's tables, and the
best found here on NL-100:

    python examples/ingram.py --dataset NL-100 --hparams paper \
        --recipe official --compile --seed 0

Long runs (the WK splits take hours on a CPU) can be stopped and resumed:
with ``--checkpoint PATH`` the state is saved at every validation (model,
optimizer, random number generators, history, best weights), and the same
command started again continues from it and ends as an uninterrupted run
would.
"""
import argparse
import json
import time

import torch

from pyg_kgc.datasets import get_dataset
from pyg_kgc.evaluation import RankingEvaluator
from pyg_kgc.nn.models import InGram
from pyg_kgc.training import (
    NegativeSampler,
    appearance_order,
    fit,
    margin_ranking_loss,
    seed_everything,
    spanning_forest,
    split_messages,
)


#: The official code's defaults (``my_parser.py`` of bdi-lab/InGram).
OFFICIAL_DEFAULTS = dict(dim=32, entity_ratio=8, relation_ratio=4,
                         entity_layers=2, relation_layers=2, bins=10, heads=8,
                         margin=2.0, lr=5e-4)

#: Per dataset, the hyper-parameters of the checkpoints the paper's tables
#: were computed with (tuned over the ranges of its Appendix C; the official
#: repository ships them only inside its checkpoint archive, as
#: ``ckpt/best/<dataset>/config.json``). Every one keeps d = d-hat = 32,
#: 10 bins, 10 negatives, 10,000 epochs and validation every 200; the rest
#: differs per dataset.
PAPER_HYPERPARAMETERS = {
    'NL-0': dict(entity_ratio=4, relation_ratio=1, entity_layers=3,
                 relation_layers=2, heads=8, margin=2.5, lr=5e-4),
    'NL-25': dict(entity_ratio=8, relation_ratio=4, entity_layers=2,
                  relation_layers=2, heads=8, margin=1.0, lr=5e-4),
    'NL-50': dict(entity_ratio=4, relation_ratio=8, entity_layers=3,
                  relation_layers=1, heads=8, margin=2.5, lr=5e-4),
    'NL-75': dict(entity_ratio=4, relation_ratio=2, entity_layers=3,
                  relation_layers=2, heads=8, margin=2.5, lr=5e-4),
    'NL-100': dict(entity_ratio=4, relation_ratio=4, entity_layers=2,
                   relation_layers=2, heads=16, margin=2.0, lr=5e-4),
    'WK-25': dict(entity_ratio=8, relation_ratio=8, entity_layers=2,
                  relation_layers=1, heads=8, margin=2.5, lr=5e-4),
    'WK-50': dict(entity_ratio=8, relation_ratio=4, entity_layers=2,
                  relation_layers=1, heads=8, margin=1.0, lr=5e-4),
    'WK-75': dict(entity_ratio=8, relation_ratio=2, entity_layers=2,
                  relation_layers=1, heads=8, margin=2.5, lr=1e-3),
    'WK-100': dict(entity_ratio=4, relation_ratio=4, entity_layers=2,
                   relation_layers=3, heads=8, margin=1.5, lr=1e-3),
    'FB-25': dict(entity_ratio=8, relation_ratio=4, entity_layers=2,
                  relation_layers=1, heads=8, margin=1.5, lr=5e-4),
    'FB-50': dict(entity_ratio=8, relation_ratio=1, entity_layers=4,
                  relation_layers=1, heads=8, margin=2.5, lr=5e-4),
    'FB-75': dict(entity_ratio=4, relation_ratio=8, entity_layers=2,
                  relation_layers=1, heads=8, margin=1.0, lr=1e-3),
    'FB-100': dict(entity_ratio=8, relation_ratio=2, entity_layers=4,
                   relation_layers=2, heads=8, margin=2.0, lr=1e-3),
}


def add_preset_argument(parser: argparse.ArgumentParser, name: str, kind,
                        text: str = '') -> None:
    r"""A hyper-parameter whose default comes from ``--hparams``."""
    preset = (f"official default {OFFICIAL_DEFAULTS[name]}; per dataset "
              f"with --hparams paper")
    parser.add_argument('--' + name.replace('_', '-'), type=kind,
                        default=None,
                        help=f'{text} ({preset})' if text else preset)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    r"""The model's hyper-parameters (shared with
    ``examples/ingram_feature_draws.py``); those not given are taken from
    ``--hparams`` by :func:`resolve_hyperparameters`."""
    parser.add_argument(
        '--hparams', choices=['official', 'paper'], default='official',
        help="where the hyper-parameters not given come from: the official "
        "code's defaults, or the paper's per-dataset values (those of its "
        "checkpoints; InGram splits only)")
    add_preset_argument(parser, 'dim', int, 'entity and relation dimension')
    add_preset_argument(parser, 'entity_ratio', int,
                        'entity hidden size / dim')
    add_preset_argument(parser, 'relation_ratio', int,
                        'relation hidden size / dim')
    add_preset_argument(parser, 'entity_layers', int)
    add_preset_argument(parser, 'relation_layers', int)
    add_preset_argument(parser, 'bins', int, 'relation graph weight bins')
    add_preset_argument(parser, 'heads', int,
                        'attention heads of both levels')
    parser.add_argument(
        '--bin-ties', choices=['best', 'order'], default='best',
        help='equal weights of the relation graph: all in the bin of their '
        'best rank, or ranked in the order of the entries, which may split '
        'them over two bins (as the official code does)')
    parser.add_argument(
        '--compile', action='store_true',
        help='attention logits by torch.compile kernels on the CPU (faster; '
        'the same model up to floating-point rounding)')


def resolve_hyperparameters(parser: argparse.ArgumentParser,
                            args: argparse.Namespace) -> dict:
    r"""Fills in the hyper-parameters left at :obj:`None` from the preset
    of ``--hparams`` (a value given on the command line wins) and returns
    them all."""
    preset = dict(OFFICIAL_DEFAULTS)
    if args.hparams == 'paper':
        if args.dataset not in PAPER_HYPERPARAMETERS:
            parser.error(f"--hparams paper: the InGram paper gives no "
                         f"hyper-parameters for '{args.dataset}' (it has "
                         f"them for {', '.join(PAPER_HYPERPARAMETERS)})")
        preset.update(PAPER_HYPERPARAMETERS[args.dataset])
    resolved = {}
    for key, value in preset.items():
        if not hasattr(args, key):  # e.g. no training arguments
            continue
        if getattr(args, key) is None:
            setattr(args, key, value)
        resolved[key] = getattr(args, key)
    return resolved


def build_model(args: argparse.Namespace) -> InGram:
    return InGram(args.dim, args.dim, args.entity_ratio, args.relation_ratio,
                  args.entity_layers, args.relation_layers, args.bins,
                  args.heads, compiled=args.compile, bin_ties=args.bin_ties)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--dataset', default='NL-100')
    parser.add_argument('--root', default='data')
    add_model_arguments(parser)
    add_preset_argument(parser, 'margin', float)
    add_preset_argument(parser, 'lr', float, 'Adam learning rate')
    parser.add_argument('--clip', type=float, default=0.1)
    parser.add_argument('--negatives', type=int, default=10)
    parser.add_argument('--message-ratio', type=float, default=0.75)
    parser.add_argument(
        '--exclude-own', action='store_true',
        help='corruptions never draw the entity they replace (the official '
        'code)')
    parser.add_argument(
        '--message-split',
        choices=['cover', 'forest', 'fixed-forest',
                 'igraph-forest'], default=None,
        help='what the messages keep first: a triple of every entity and '
        'relation; or a spanning forest and a triple of every relation it '
        'misses, the forest drawn new each epoch, or fixed: drawn once, '
        "or igraph's spanning tree of the entities numbered in file "
        'order (the official code), each epoch one triple on each of its '
        "entity pairs (default: cover; igraph-forest with --recipe "
        'official)')
    parser.add_argument(
        '--recipe', choices=['ours', 'official'], default='ours',
        help='official: the official code\'s training and selection recipe '
        'in one flag, --redraw-features --exclude-own --message-split '
        'igraph-forest (a --message-split given still wins)')
    parser.add_argument('--epochs', type=int, default=10000)
    parser.add_argument('--eval-every', type=int, default=200)
    parser.add_argument('--patience', type=int, default=None)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--checkpoint', default=None,
        help='save here at every validation; resume from '
        'it if it exists')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--redraw-features', action='store_true',
        help='new input features at every validation, the '
        "best one's for the test (the official protocol)")
    parser.add_argument(
        '--feature-draws', type=int, default=1,
        help='after training, validate K draws of the input '
        'features and also test with the best one')
    parser.add_argument('--progress', action='store_true')
    args = parser.parse_args()
    hyperparameters = resolve_hyperparameters(parser, args)
    if args.recipe == 'official':
        args.redraw_features = args.exclude_own = True
    if args.message_split is None:
        args.message_split = ('igraph-forest'
                              if args.recipe == 'official' else 'cover')

    seed_everything(args.seed)
    start = time.perf_counter()
    device = torch.device(args.device)
    dataset = get_dataset(args.root, args.dataset)
    train, valid, test = (dataset[split].to(device)
                          for split in ('train', 'valid', 'test'))
    model = build_model(args).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    sampler = NegativeSampler(train.num_nodes, args.negatives,
                              exclude_own=args.exclude_own)
    epoch_seconds = []
    forest = None
    if args.message_split == 'fixed-forest':  # the same after a resume
        forest = spanning_forest(train.edge_index,
                                 torch.Generator().manual_seed(
                                     args.seed)).to(device)
    elif args.message_split == 'igraph-forest':  # no draw
        forest = spanning_forest(
            train.edge_index,
            order=appearance_order(train.edge_index, train.num_nodes))

    current = {'epoch': 0}  # the epoch a validation follows

    def feature_seed(epoch: int) -> int:
        # One draw per validation epoch with --redraw-features, else one
        # draw for the whole run.
        return args.seed * 1_000_003 + epoch if args.redraw_features else (
            args.seed)

    def train_epoch(epoch: int) -> float:
        current['epoch'] = epoch
        t0 = time.perf_counter()
        (msg_index, msg_type), (sup_index, sup_type) = split_messages(
            train.edge_index, train.edge_type, args.message_ratio,
            cover=True if args.message_split == 'cover' else 'forest',
            forest=forest)
        scorer = model.scorer(msg_index, msg_type, train.num_nodes,
                              train.num_relations)
        head, tail = sup_index
        entity, corrupt_head = sampler.sample(head, sup_type, tail)
        loss = margin_ranking_loss(
            scorer.score_triples(head, sup_type, tail),
            scorer.score_corruptions(head, sup_type, tail, entity,
                                     corrupt_head), args.margin)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()
        value = loss.item()  # waits for the device: the epoch is timed whole
        epoch_seconds.append(time.perf_counter() - t0)
        return value

    def evaluate(data, evaluator, seed):
        generator = torch.Generator().manual_seed(seed)
        scorer = model.scorer(data.edge_index, data.edge_type, data.num_nodes,
                              data.num_relations, generator)
        return evaluator.evaluate(scorer, data.target_edge_index,
                                  data.target_edge_type).metrics()['both']

    valid_evaluator = RankingEvaluator.from_data(valid)

    @torch.no_grad()
    def validate() -> float:
        return evaluate(valid, valid_evaluator,
                        feature_seed(current['epoch']))['mrr']

    history = fit(model, optimizer, train_epoch, args.epochs, validate,
                  eval_every=args.eval_every, patience=args.patience,
                  checkpoint=args.checkpoint, progress=args.progress)
    train_seconds = time.perf_counter() - start

    model.eval()
    with torch.no_grad():
        # The validation graph's features: on the InGram splits validation
        # and test queries share the inference graph.
        test_evaluator = RankingEvaluator.from_data(test)
        full = evaluate(test, test_evaluator,
                        feature_seed(history.best_epoch or 0))
        draws = None
        if args.feature_draws > 1:  # seeds apart from the training run's
            seeds = [
                10_000_000 + args.seed * 1_000 + k
                for k in range(args.feature_draws)
            ]
            valid_mrrs = [
                evaluate(valid, valid_evaluator, seed)['mrr'] for seed in seeds
            ]
            best = max(range(len(seeds)), key=valid_mrrs.__getitem__)
            chosen = evaluate(test, test_evaluator, seeds[best])
            draws = {
                'draws': args.feature_draws,
                'valid_mrr': round(valid_mrrs[best], 4),
                'valid_mrr_mean': round(sum(valid_mrrs) / len(seeds), 4),
                'test_mrr': round(chosen['mrr'], 4),
                'test_hits@1': round(chosen['hits@1'], 4),
                'test_hits@10': round(chosen['hits@10'], 4),
            }
    epoch_seconds.sort()
    print(
        json.dumps({
            'example':
            'ingram',
            'dataset':
            args.dataset,
            'device':
            str(device),
            'recipe':
            args.recipe,
            'redraw_features':
            args.redraw_features,
            'message_split':
            args.message_split,
            'exclude_own':
            args.exclude_own,
            'bin_ties':
            args.bin_ties,
            'hparams':
            args.hparams,
            'hyperparameters':
            hyperparameters,
            'parameters':
            sum(p.numel() for p in model.parameters()),
            'compiled':
            args.compile,
            'epochs':
            len(history.losses),
            'best_epoch':
            history.best_epoch,
            'valid_mrr':
            round(history.best_metric, 4),
            # Every validation of the run, resumed parts included.
            'valid_history':
            [[epoch, round(mrr, 4)] for epoch, mrr in history.metrics],
            'test_mrr':
            round(full['mrr'], 4),
            'test_hits@1':
            round(full['hits@1'], 4),
            'test_hits@10':
            round(full['hits@10'], 4),
            'best_of_draws':
            draws,
            'median_epoch_seconds':
            round(epoch_seconds[len(epoch_seconds) //
                                2], 4) if epoch_seconds else None,
            # This process only: a resumed run counts from its restart.
            'epochs_this_run':
            len(epoch_seconds),
            'train_seconds':
            round(train_seconds, 1),
            'seconds':
            round(time.perf_counter() - start, 1),
        }))


if __name__ == '__main__':
    main()
