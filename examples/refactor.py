r"""ReFactor GNN (Chen et al., NeurIPS 2022): message passing that is one
gradient step of DistMult's softmax likelihood per layer, with relation
embeddings shared by the layers and the DistMult decoder.

* Transductive datasets (UMLS, CoDEx-S, FB15k-237, ...): L = infinity, the
  paper's transductive mode. The node states live in a cache that is never
  cleared (:class:`~pyg_kgc.nn.models.NodeStateCache`); every training
  step runs one layer over all training triples on the cached states
  (full batch, or the paper's mini-batch evaluation with
  ``--layer-batch-size`` for large graphs), then one Adam step on the
  relation embeddings for a batch of training triples scored on the new
  states, with dropout on them (``--dropout``, 0.3 here: a regulariser of
  the relations, as dropout on the entity embeddings is for the
  factorisation models; the cached states are not dropped). Validation
  and test rank with the cached states. With
  ``--reciprocal`` (the default here, as in the factorisation models the
  paper compares with) every triple also comes as (t, r + R, h): the layers
  are steps of the likelihood of both, and head queries are answered as
  tail queries of the inverse relation.
* GraIL inductive splits (fb237_v1, ...): L layers from random node
  vectors over a fresh message / supervision split of the training
  triples. ``--training layerwise`` is the paper's recipe (Eq. (13)): every
  step runs one layer on the cached states of the previous step and trains
  the relations on a batch of supervision triples scored on its output;
  every L steps the cache is cleared, and the next cycle starts from new
  random vectors on a new split. ``--training end-to-end`` back-propagates
  through all L layers, with a new split every epoch. Validation and test
  run the L layers over the graph of the queries (the inference graph for
  test: all entities new).

Losses: cross-entropy of every query, both sides, against all entities
(``--negatives all``, the transductive default) or, as the paper trains
(the inductive default), against the answers of the batch's queries and
one random entity per query (``--negatives in-batch``).
Reports filtered full-ranking metrics (both sides, realistic ties) of the
best validation epoch and, for the GraIL splits, that epoch's MRR on the
validation triples of the inference graph (``inference_valid_mrr``: model
selection by the training graph's validation triples does not see the new
graph; this split does, without the test). Prints one JSON line.
``--checkpoint PATH`` saves the run at every validation (with the node
state cache, the current cycle and the best states) and resumes it
exactly when started again; ``--device cuda`` runs it on a GPU, and
``--tf32`` lets its training steps multiply float32 matrices in
TensorFloat-32 (validation and test stay in full float32).

    python examples/refactor.py --dataset UMLS
    python examples/refactor.py --dataset fb237_v1 --layers 6
"""
import argparse
import contextlib
import json
import time

import torch

from pyg_kgc.datasets import GraILInductive, get_dataset
from pyg_kgc.evaluation import (
    RankingEvaluator,
    ReciprocalScorer,
    self_ranked_first,
)
from pyg_kgc.nn.models import NodeStateCache, ReFactorGNN
from pyg_kgc.training import (
    cross_entropy_loss,
    fit,
    in_batch_candidates,
    seed_everything,
    split_messages,
)
from pyg_kgc.transforms import add_inverse_triples


class Stash(dict):
    r"""A dict that :func:`~pyg_kgc.training.fit` checkpoints (the
    example's state outside the model and the optimizer)."""
    def state_dict(self) -> dict:
        return dict(self)

    def load_state_dict(self, state: dict) -> None:
        self.clear()
        self.update(state)


@contextlib.contextmanager
def tf32_matmuls(enabled: bool):
    r"""Inside the block, CUDA multiplies float32 matrices in TensorFloat-32
    (inputs rounded to 10 mantissa bits, float32 accumulation; faster on
    Ampere and later GPUs) if :obj:`enabled`, in full float32 otherwise;
    the previous setting is restored after it. No effect on the CPU."""
    matmul = torch.backends.cuda.matmul
    if hasattr(matmul, 'fp32_precision'):  # PyTorch >= 2.9
        key, value = 'fp32_precision', 'tf32' if enabled else 'ieee'
    else:
        key, value = 'allow_tf32', enabled
    before = getattr(matmul, key)
    setattr(matmul, key, value)
    try:
        yield
    finally:
        setattr(matmul, key, before)


def make_loss(both_sides: bool, in_batch: bool):
    r"""Cross-entropy of the tail queries (and with :obj:`both_sides` the
    head queries) of a batch, against all entities or, with
    :obj:`in_batch`, against the batch's answers and one random entity per
    query (the paper's in-batch and global negatives)."""
    def side(score, answer, num_nodes):
        if not in_batch:
            return cross_entropy_loss(score(None), answer)
        candidates, target = in_batch_candidates(answer, num_nodes)
        return cross_entropy_loss(score(candidates), target)

    def loss(scorer, head, relation, tail):
        n = scorer.num_entities
        value = side(lambda c: scorer.score_tails(head, relation, c), tail, n)
        if both_sides:
            value = value + side(
                lambda c: scorer.score_heads(relation, tail, c), head, n)
        return value

    return loss


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--dataset', default='UMLS')
    parser.add_argument('--root', default='data')
    parser.add_argument(
        '--channels', type=int, default=None,
        help='default: 128 transductive, 768 inductive (the '
        "paper's hidden size)")
    parser.add_argument('--layers', type=int, default=6,
                        help='L of the inductive mode')
    parser.add_argument('--optimizer', choices=['sgd', 'adagrad'],
                        default='adagrad')
    parser.add_argument('--step', type=float, default=0.1,
                        help='learning rate of the induced steps')
    parser.add_argument(
        '--training', choices=['layerwise', 'end-to-end'], default='layerwise',
        help='inductive mode: layer-wise with a node state '
        'cache cleared every L steps (the paper), or '
        'back-propagation through the L layers')
    parser.add_argument(
        '--negatives', choices=['all', 'in-batch'], default=None,
        help='train against all entities, or against the '
        "batch's answers and one random entity per query (the paper's "
        'inductive training); default: all transductive, in-batch '
        'inductive')
    parser.add_argument(
        '--feature-std', type=float, default=None,
        help='standard deviation of the random input vectors (default: '
        '1/sqrt(channels), about unit norm)')
    parser.add_argument('--no-global', action='store_true',
                        help='leave out the global term n[v]')
    parser.add_argument('--n3', type=float, default=None,
                        help='default: 1.0 transductive, 0 inductive')
    parser.add_argument(
        '--dropout', type=float, default=None,
        help='dropout of the node states that the training loss scores; '
        'default: 0.3 transductive, 0 inductive')
    parser.add_argument('--reciprocal', type=int, choices=[0, 1], default=None,
                        help='default: 1 transductive, 0 inductive')
    parser.add_argument('--layer-batch-size', type=int, default=None,
                        help='mini-batch evaluation of a layer')
    parser.add_argument('--lr', type=float, default=0.01,
                        help='Adam learning rate of the relations')
    parser.add_argument(
        '--epochs', type=int, default=None,
        help='default: 400 transductive (validation stops it earlier), 200 '
        'inductive')
    parser.add_argument(
        '--batch-size', type=int, default=None,
        help='supervision triples per step; default: 1024 '
        "transductive, 512 inductive (the paper's largest)")
    parser.add_argument('--eval-every', type=int, default=5)
    parser.add_argument('--patience', type=int, default=5)
    parser.add_argument('--message-ratio', type=float, default=0.75)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--checkpoint', default=None,
        help='save here at every validation (with the node '
        'state cache); resume from it if it exists')
    parser.add_argument(
        '--tf32', action='store_true',
        help='on CUDA, TensorFloat-32 matrix products in the training steps '
        '(validation and test in full float32)')
    parser.add_argument('--progress', action='store_true')
    args = parser.parse_args()

    seed_everything(args.seed)
    start = time.perf_counter()
    device = torch.device(args.device)
    dataset = get_dataset(args.root, args.dataset)
    inductive = isinstance(dataset, GraILInductive)
    train, valid, test = (dataset[split].to(device)
                          for split in ('train', 'valid', 'test'))
    inference_valid = (dataset['inference_valid'].to(device)
                       if inductive else None)
    channels = args.channels or (768 if inductive else 128)
    negatives = args.negatives or ('in-batch' if inductive else 'all')
    batch_size = args.batch_size or (512 if inductive else 1024)
    n3 = args.n3 if args.n3 is not None else (0.0 if inductive else 1.0)
    epochs = (args.epochs if args.epochs is not None else
              (200 if inductive else 400))
    if epochs < 1:
        parser.error(f'--epochs must be at least 1, got {epochs}')
    dropout = (args.dropout if args.dropout is not None else
               (0.0 if inductive else 0.3))
    reciprocal = bool(
        args.reciprocal if args.reciprocal is not None else not inductive)
    num_relations = train.num_relations
    if reciprocal:  # messages and targets with their inverses
        for data in (train, valid, test, inference_valid):
            if data is None:
                continue
            data.edge_index, data.edge_type = add_inverse_triples(
                data.edge_index, data.edge_type, num_relations)
    model = ReFactorGNN((1 + reciprocal) * num_relations, channels,
                        args.layers if inductive else 1, args.step,
                        use_global=not args.no_global,
                        optimizer=args.optimizer, seed=args.seed, n3=n3,
                        batch_size=args.layer_batch_size,
                        feature_std=args.feature_std,
                        dropout=dropout).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    layerwise = inductive and args.training == 'layerwise'
    # Transductive: L = infinity; inductive layer-wise: cleared every L.
    cache = NodeStateCache(period=args.layers if layerwise else None)
    cycle = Stash()  # the message and supervision triples of a cycle
    loss_fn = make_loss(not reciprocal, negatives == 'in-batch')

    def descend(loss: torch.Tensor) -> float:  # one Adam step
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    def layerwise_step() -> float:
        if cache.restarts:  # a new cycle: new graph, new inputs
            cycle['messages'], cycle['supervision'] = split_messages(
                train.edge_index, train.edge_type, args.message_ratio)
        # (.to: a cycle restored from a checkpoint is on the CPU)
        msg_index, msg_type, sup_index, sup_type = (
            t.to(device) for t in (*cycle['messages'], *cycle['supervision']))
        states = cache.step(model, None, msg_index, msg_type, train.num_nodes)
        batch = torch.randperm(sup_type.numel(), device=device)[:batch_size]
        head, tail = sup_index[:, batch]
        return descend(
            loss_fn(model.decode(states), head, sup_type[batch], tail))

    def train_epoch(epoch: int) -> float:
        with tf32_matmuls(args.tf32):
            return run_epoch()

    def run_epoch() -> float:
        if layerwise:  # an epoch: as many batches as the training triples
            steps = -(-train.edge_type.numel() // batch_size)
            return sum(layerwise_step() for _ in range(steps)) / steps
        if inductive:
            (msg_index, msg_type), (sup_index, sup_type) = split_messages(
                train.edge_index, train.edge_type, args.message_ratio)
        else:
            sup_index, sup_type = train.edge_index, train.edge_type
        total = 0.0
        order = torch.randperm(sup_type.numel(), device=device)
        for batch in order.split(batch_size):
            head, tail = sup_index[:, batch]
            relation = sup_type[batch]
            if inductive:
                scorer = model.scorer(None, msg_index, msg_type,
                                      train.num_nodes)
            else:
                states = cache.step(model, None, train.edge_index,
                                    train.edge_type, train.num_nodes)
                scorer = model.decode(states)
            total += descend(loss_fn(scorer, head, relation,
                                     tail)) * batch.numel()
        return total / sup_type.numel()

    def scorer_for(data):
        if inductive:
            scorer = model.scorer(None, data.edge_index, data.edge_type,
                                  data.num_nodes)
        else:
            scorer = cache.scorer(model)
        if reciprocal:
            scorer = ReciprocalScorer(scorer, num_relations)
        return scorer

    def evaluate(data, scorer=None) -> dict:
        return RankingEvaluator.from_data(data).evaluate(
            scorer or scorer_for(data), data.target_edge_index,
            data.target_edge_type).metrics()['both']

    # The cache is state that fit's best-epoch restore does not cover: in
    # the transductive mode, keep the states of the best validation epoch.
    best = Stash(mrr=-1.0, states=None)

    @torch.no_grad()
    @tf32_matmuls(False)
    def validate() -> float:
        mrr = evaluate(valid)['mrr']
        if not inductive and mrr > best['mrr']:
            best.update(mrr=mrr, states=cache.states.clone())
        return mrr

    history = fit(model, optimizer, train_epoch, epochs, validate,
                  eval_every=args.eval_every, patience=args.patience,
                  checkpoint=args.checkpoint, progress=args.progress,
                  state=dict(cache=cache, cycle=cycle, best=best))
    train_seconds = time.perf_counter() - start
    model.eval()
    if not inductive:
        cache.states = best['states']
    with torch.no_grad(), tf32_matmuls(False):
        scorer = scorer_for(test)  # one pass of the layers for both
        full = evaluate(test, scorer)
        # How often a query's own entity outscores every candidate (a
        # self-loop, rarely a true answer; DistMult's <h, r, h> is large
        # unless r learns to keep it small).
        self_first = self_ranked_first(scorer, test.target_edge_index,
                                       test.target_edge_type)['both']
        extra = {}
        if inductive:
            extra['inference_valid_mrr'] = round(
                evaluate(inference_valid)['mrr'], 4)
    print(
        json.dumps({
            'example': 'refactor',
            'dataset': args.dataset,
            'device': str(device),
            'mode': 'inductive' if inductive else 'transductive (L=inf)',
            'layers': args.layers if inductive else None,
            'training': args.training if inductive else 'layerwise',
            'global_term': not args.no_global,
            'reciprocal': reciprocal,
            'optimizer': args.optimizer,
            'negatives': negatives,
            'batch_size': batch_size,
            'channels': channels,
            'step': args.step,
            'n3': n3,
            'dropout': dropout,
            'tf32': args.tf32,
            'feature_std': model.feature_std,
            'best_epoch': history.best_epoch,
            'valid_mrr': round(history.best_metric, 4),
            'test_mrr': round(full['mrr'], 4),
            'test_hits@1': round(full['hits@1'], 4),
            'test_hits@10': round(full['hits@10'], 4),
            'test_self_ranked_first': round(self_first, 4),
            **extra,
            'train_seconds': round(train_seconds, 1),
            'seconds': round(time.perf_counter() - start, 1),
        }))


if __name__ == '__main__':
    main()
