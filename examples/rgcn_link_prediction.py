r"""R-GCN link prediction (Schlichtkrull et al., 2018): an R-GCN encoder
over the message graph (with inverse relations) and a DistMult or bilinear
decoder, trained with message triples kept apart from supervision triples.

* Transductive datasets (CoDEx-S, UMLS, FB15k-237, ...): every node has a
  learned input vector.
* GraIL inductive splits (fb237_v1, WN18RR_v2, nell_v3, ...): the input of
  a node is the count of its incident relations in the message graph
  (:func:`~pyg_kgc.transforms.relation_degree_features`), so the trained
  model applies to the inference graph, whose entities are all new.

Every epoch splits the training triples afresh into message triples (the
graph the encoder sees, with edge dropout) and supervision triples, which
are ranked against all entities, both sides, with the cross-entropy loss,
in batches (one encoder pass per batch). Validation: the validation
queries over the full training graph. Reports filtered full-ranking metrics
(both sides, realistic ties) of the best validation epoch, and on the
inductive splits also Hits@10 under GraIL's protocol (the true answer
among itself and 49 sampled negatives). Prints one JSON line.

    python examples/rgcn_link_prediction.py --dataset fb237_v1
    python examples/rgcn_link_prediction.py --dataset CoDEx-S
"""
import argparse
import json
import time

import torch

from pyg_kgc.datasets import GraILInductive, get_dataset
from pyg_kgc.evaluation import KnownTriples, RankingEvaluator
from pyg_kgc.nn.kge import Bilinear, DistMult
from pyg_kgc.nn.models import RGCNLinkPredictor
from pyg_kgc.training import (
    cross_entropy_loss,
    fit,
    seed_everything,
    split_messages,
)
from pyg_kgc.transforms import relation_degree_features


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--dataset', default='fb237_v1')
    parser.add_argument('--root', default='data')
    parser.add_argument('--decoder', choices=['distmult', 'bilinear'],
                        default='distmult')
    parser.add_argument('--hidden', type=int, default=None,
                        help='default: 64 inductive, 200 transductive')
    parser.add_argument('--layers', type=int, default=2)
    parser.add_argument('--bases', type=int, default=4,
                        help='0 for full matrices or with --blocks')
    parser.add_argument('--blocks', type=int, default=None)
    parser.add_argument('--dropout', type=float, default=0.2)
    parser.add_argument('--edge-dropout', type=float, default=0.0)
    parser.add_argument('--self-loop-dropout', type=float, default=0.0)
    parser.add_argument('--lr', type=float, default=0.005)
    parser.add_argument('--weight-decay', type=float, default=0.0)
    parser.add_argument('--epochs', type=int, default=300)
    parser.add_argument('--batch-size', type=int, default=4096)
    parser.add_argument('--eval-every', type=int, default=10)
    parser.add_argument('--patience', type=int, default=5)
    parser.add_argument('--message-ratio', type=float, default=0.75)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--progress', action='store_true')
    args = parser.parse_args()

    seed_everything(args.seed)
    start = time.perf_counter()
    device = torch.device(args.device)
    dataset = get_dataset(args.root, args.dataset)
    inductive = isinstance(dataset, GraILInductive)
    train, valid, test = (dataset[split].to(device)
                          for split in ('train', 'valid', 'test'))
    num_relations = train.num_relations
    hidden = args.hidden or (64 if inductive else 200)
    decoder = (DistMult(hidden, num_relations) if args.decoder == 'distmult'
               else Bilinear(hidden, num_relations))
    kwargs = dict(in_channels=2 * num_relations) if inductive else dict(
        num_nodes=train.num_nodes)
    model = RGCNLinkPredictor(
        num_relations, hidden, decoder, num_layers=args.layers,
        num_bases=None if args.blocks or not args.bases else args.bases,
        num_blocks=args.blocks, dropout=args.dropout,
        edge_dropout=args.edge_dropout,
        self_loop_dropout=args.self_loop_dropout, **kwargs).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr,
                                 weight_decay=args.weight_decay)

    def features(edge_index, edge_type, num_nodes):
        return (relation_degree_features(edge_index, edge_type, num_nodes,
                                         num_relations) if inductive else None)

    def scorer(edge_index, edge_type, num_nodes):
        x = features(edge_index, edge_type, num_nodes)
        return model.scorer(x, edge_index, edge_type)

    def train_epoch(epoch: int) -> float:
        (msg_index, msg_type), (sup_index, sup_type) = split_messages(
            train.edge_index, train.edge_type, args.message_ratio)
        x = features(msg_index, msg_type, train.num_nodes)  # once an epoch
        total = 0.0
        order = torch.randperm(sup_type.numel(), device=device)
        for batch in order.split(args.batch_size):
            h, t = sup_index[:, batch]
            r = sup_type[batch]
            s = model.scorer(x, msg_index, msg_type)
            loss = (cross_entropy_loss(s.score_tails(h, r), t) +
                    cross_entropy_loss(s.score_heads(r, t), h))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * batch.numel()
        return total / sup_type.numel()

    valid_evaluator = RankingEvaluator.from_data(valid)

    @torch.no_grad()
    def validate() -> float:
        s = scorer(valid.edge_index, valid.edge_type, valid.num_nodes)
        result = valid_evaluator.evaluate(s, valid.target_edge_index,
                                          valid.target_edge_type)
        return result.metrics()['both']['mrr']

    history = fit(model, optimizer, train_epoch, args.epochs, validate,
                  eval_every=args.eval_every, patience=args.patience,
                  progress=args.progress)
    train_seconds = time.perf_counter() - start

    model.eval()
    with torch.no_grad():
        s = scorer(test.edge_index, test.edge_type, test.num_nodes)
        evaluator = RankingEvaluator.from_data(test)
        full = evaluator.evaluate(s, test.target_edge_index,
                                  test.target_edge_type).metrics()['both']
        out = {
            'example': 'rgcn_link_prediction',
            'dataset': args.dataset,
            'device': str(device),
            'decoder': args.decoder,
            'best_epoch': history.best_epoch,
            'valid_mrr': round(history.best_metric, 4),
            'test_mrr': round(full['mrr'], 4),
            'test_hits@1': round(full['hits@1'], 4),
            'test_hits@10': round(full['hits@10'], 4),
        }
        if inductive:
            facts = KnownTriples(test.edge_index, test.edge_type,
                                 test.num_nodes, test.num_relations)
            sampled = evaluator.evaluate_sampled(
                s, test.target_edge_index, test.target_edge_type,
                exclude=facts, seed=args.seed).metrics()['both']
            out['test_hits@10_50neg'] = round(sampled['hits@10'], 4)
    out['seconds'] = round(time.perf_counter() - start, 1)
    out['train_seconds'] = round(train_seconds, 1)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
