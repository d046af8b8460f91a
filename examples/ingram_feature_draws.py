r"""How much the random input features of InGram's inference graph move its
test metrics: one trained model (the best state of a checkpoint written by
``examples/ingram.py --checkpoint``), run on the inference graph with K
draws of the features; per draw the validation and test MRR, and over the
draws their spread, their correlation, and the test MRR of the draw that is
best on validation (what a selection of the draw on validation, as the
official code's protocol makes, would report). See docs/ingram.md.
Prints one JSON line.

    python examples/ingram_feature_draws.py --dataset WK-75 \
        --checkpoint ckpt/WK-75.pt --draws 10
"""
import argparse
import json

import torch
from ingram import (  # examples/ingram.py
    add_model_arguments,
    build_model,
    resolve_hyperparameters,
)

from pyg_kgc.datasets import get_dataset
from pyg_kgc.evaluation import RankingEvaluator


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--dataset', default='NL-100')
    parser.add_argument('--root', default='data')
    parser.add_argument('--checkpoint', required=True,
                        help='written by examples/ingram.py --checkpoint')
    parser.add_argument('--draws', type=int, default=10)
    parser.add_argument('--seed', type=int, default=10_000,
                        help='draw k uses the seed SEED + k')
    add_model_arguments(parser)  # those of the checkpoint's run
    args = parser.parse_args()
    resolve_hyperparameters(parser, args)
    if args.draws < 2:
        raise ValueError(f"--draws must be at least 2, got {args.draws}")

    saved = torch.load(args.checkpoint, map_location='cpu',
                       weights_only=False)['extra']
    if saved['best_state'] is None:
        raise ValueError(f"'{args.checkpoint}' holds no validated state yet")
    model = build_model(args)
    model.load_state_dict(saved['best_state'])
    model.eval()
    dataset = get_dataset(args.root, args.dataset)
    valid, test = dataset['valid'], dataset['test']
    evaluators = (RankingEvaluator.from_data(valid),
                  RankingEvaluator.from_data(test))
    # One draw serves both: on the InGram splits validation and test
    # queries share the inference graph.
    if (test.num_nodes != valid.num_nodes
            or not torch.equal(test.edge_index, valid.edge_index)
            or not torch.equal(test.edge_type, valid.edge_type)):
        raise ValueError(f"{args.dataset}: its validation and test queries "
                         f"are asked on different graphs")
    mrr = torch.empty(args.draws, 2, dtype=torch.float64)
    with torch.no_grad():
        for k in range(args.draws):
            generator = torch.Generator().manual_seed(args.seed + k)
            scorer = model.scorer(valid.edge_index, valid.edge_type,
                                  valid.num_nodes, valid.num_relations,
                                  generator)
            for j, (data,
                    evaluator) in enumerate(zip((valid, test), evaluators)):
                mrr[k, j] = evaluator.evaluate(
                    scorer, data.target_edge_index,
                    data.target_edge_type).metrics()['both']['mrr']
    valid_mrr, test_mrr = mrr.t()
    best = int(valid_mrr.argmax())
    print(
        json.dumps({
            'example':
            'ingram_feature_draws',
            'dataset':
            args.dataset,
            'best_epoch':
            saved['history'].best_epoch,
            'draws':
            args.draws,
            'valid_mrr': [round(float(v), 4) for v in valid_mrr],
            'test_mrr': [round(float(t), 4) for t in test_mrr],
            'test_mrr_mean':
            round(float(test_mrr.mean()), 4),
            'test_mrr_std':
            round(float(test_mrr.std()), 4),
            'correlation_valid_test':
            round(float(torch.corrcoef(mrr.t())[0, 1]), 3),
            'test_mrr_of_best_valid_draw':
            round(float(test_mrr[best]), 4),
        }))


if __name__ == '__main__':
    main()
