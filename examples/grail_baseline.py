r"""A simple inductive baseline on a GraIL split: train on the training
graph, then rank the test queries of the inference graph, whose entities
were never seen.

Entities are represented by what does not depend on their ids: the counts
of their incident relations in the current message graph
(:func:`~pyg_kgc.transforms.relation_degree_features`), encoded by an MLP;
triples are scored by DistMult. Every epoch splits the training triples
afresh into message triples (which make the features) and supervision
triples (which are ranked against all entities, both sides, with the
cross-entropy loss), so that the model learns to predict triples missing
from the graph it sees, as it must at test time.

Reports filtered full-ranking metrics (both sides, realistic ties) on the
inference graph's test queries, and Hits@10 under GraIL's protocol (the
true answer among itself and 49 sampled negatives). Prints one JSON line.

    python examples/grail_baseline.py --dataset fb237_v1
"""
import argparse
import json
import time

import torch

from pyg_kgc.datasets import GraILInductive
from pyg_kgc.evaluation import KnownTriples, RankingEvaluator
from pyg_kgc.nn.kge import DistMult, EmbeddingScorer
from pyg_kgc.training import (
    cross_entropy_loss,
    fit,
    seed_everything,
    split_messages,
)
from pyg_kgc.transforms import relation_degree_features


class RelationProfileModel(torch.nn.Module):
    def __init__(self, num_relations: int, dim: int, hidden: int,
                 dropout: float) -> None:
        super().__init__()
        self.num_relations = num_relations
        self.encoder = torch.nn.Sequential(
            torch.nn.Linear(2 * num_relations, hidden), torch.nn.ReLU(),
            torch.nn.Dropout(dropout), torch.nn.Linear(hidden, dim))
        self.decoder = DistMult(dim, num_relations)

    def scorer(self, edge_index, edge_type, num_nodes) -> EmbeddingScorer:
        x = relation_degree_features(edge_index, edge_type, num_nodes,
                                     self.num_relations)
        return EmbeddingScorer(self.decoder, self.encoder(x))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--dataset', default='fb237_v1',
                        choices=GraILInductive.names)
    parser.add_argument('--root', default='data')
    parser.add_argument('--dim', type=int, default=64)
    parser.add_argument('--hidden', type=int, default=256)
    parser.add_argument('--dropout', type=float, default=0.2)
    parser.add_argument('--lr', type=float, default=0.005)
    parser.add_argument('--epochs', type=int, default=200)
    parser.add_argument('--eval-every', type=int, default=20)
    parser.add_argument('--patience', type=int, default=3)
    parser.add_argument('--message-ratio', type=float, default=0.75)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--progress', action='store_true')
    args = parser.parse_args()

    seed_everything(args.seed)
    start = time.perf_counter()
    dataset = GraILInductive(args.root, args.dataset)
    device = torch.device(args.device)
    train, valid, test = (dataset[split].to(device)
                          for split in ('train', 'valid', 'test'))
    model = RelationProfileModel(train.num_relations, args.dim, args.hidden,
                                 args.dropout).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    def train_epoch(epoch: int) -> float:
        (msg_index, msg_type), (sup_index, r) = split_messages(
            train.edge_index, train.edge_type, args.message_ratio)
        scorer = model.scorer(msg_index, msg_type, train.num_nodes)
        h, t = sup_index
        loss = (cross_entropy_loss(scorer.score_tails(h, r), t) +
                cross_entropy_loss(scorer.score_heads(r, t), h))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    valid_evaluator = RankingEvaluator.from_data(valid)

    @torch.no_grad()
    def validate() -> float:
        scorer = model.scorer(valid.edge_index, valid.edge_type,
                              valid.num_nodes)
        result = valid_evaluator.evaluate(scorer, valid.target_edge_index,
                                          valid.target_edge_type)
        return result.metrics()['both']['mrr']

    history = fit(model, optimizer, train_epoch, args.epochs, validate,
                  eval_every=args.eval_every, patience=args.patience,
                  progress=args.progress)
    train_seconds = time.perf_counter() - start

    # Test on the inference graph: new entities, the same relations.
    model.eval()
    with torch.no_grad():
        scorer = model.scorer(test.edge_index, test.edge_type, test.num_nodes)
        evaluator = RankingEvaluator.from_data(test)
        full = evaluator.evaluate(scorer, test.target_edge_index,
                                  test.target_edge_type).metrics()['both']
        facts = KnownTriples(test.edge_index, test.edge_type, test.num_nodes,
                             test.num_relations)
        sampled = evaluator.evaluate_sampled(
            scorer, test.target_edge_index, test.target_edge_type,
            exclude=facts, seed=args.seed).metrics()['both']
    print(
        json.dumps({
            'example': 'grail_baseline',
            'dataset': args.dataset,
            'device': str(device),
            'best_epoch': history.best_epoch,
            'valid_mrr': round(history.best_metric, 4),
            'test_mrr': round(full['mrr'], 4),
            'test_hits@1': round(full['hits@1'], 4),
            'test_hits@10': round(full['hits@10'], 4),
            'test_hits@10_50neg': round(sampled['hits@10'], 4),
            'seconds': round(time.perf_counter() - start, 1),
            'train_seconds': round(train_seconds, 1),
        }))


if __name__ == '__main__':
    main()
