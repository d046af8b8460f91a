r"""InGram on this CPU: relation-graph construction and training epochs on
NL-100 and WK-100.

1. Construction: :func:`pyg_kgc.transforms.relation_graph` (torch sparse
   products) against a scipy implementation of the same formula written
   here (CSR matrices, :math:`E^\top D^{-2} E`, then the rank bins), on the
   full training graph of each dataset; both are checked to give the same
   weights and bins. Best of --repeats.
2. Epoch: one training epoch of the paper's recipe with the official
   defaults (75 % message split keeping every entity and relation, fresh
   random features, relation graph, 2 + 2 attention layers of widths 128 /
   256 with 8 heads, margin loss against 10 corruptions, Adam, clipping):
   median of --epochs epochs after --warmup. With ``--compiled``, the same
   epochs (same weights, same random streams) with ``InGram(compiled=True)``
   too, whose attention logits are :func:`torch.compile` kernels.
3. With ``--official DIR`` (a checkout of github.com/bdi-lab/InGram, not
   part of this package), the same epoch with the official ``model.py``
   moved to the CPU (its ``.cuda()`` calls made no-ops) and the scipy
   construction, in the same process, and a check that the two models
   compute the same scores, and one training step the same loss and
   gradients, from the same weights and inputs (the same relation graph,
   bins included); and our bins against the official ``relgraph.py``'s
   (which needs python-igraph) on the training graph, with either
   treatment of tied weights.

Prints one JSON line.

    PYG_KGC_DATA_URL=file://$PWD/../shared/datasets python benchmarks/ingram.py
    python benchmarks/ingram.py --official /path/to/InGram
"""
import argparse
import importlib.util
import json
import os.path as osp
import statistics
import time

import numpy as np
import scipy.sparse as sp
import torch

import pyg_kgc.nn.conv.ingram_conv as ingram_conv
from pyg_kgc.datasets import get_dataset
from pyg_kgc.nn.models import InGram, glorot_features
from pyg_kgc.training import (
    NegativeSampler,
    margin_ranking_loss,
    split_messages,
)
from pyg_kgc.transforms import relation_graph


def scipy_relation_graph(edge_index: np.ndarray, edge_type: np.ndarray,
                         num_nodes: int, num_relations: int, num_bins: int):
    r"""The paper's formula with scipy: inverse triples added, frequency
    incidence matrices, :math:`A = E_h^\top D_h^{-2} E_h + E_t^\top
    D_t^{-2} E_t`, weights binned by rank (ties sharing the best rank)."""
    head = np.concatenate([edge_index[0], edge_index[1]])
    tail = np.concatenate([edge_index[1], edge_index[0]])
    rel = np.concatenate([edge_type, edge_type + num_relations])
    shape = (num_nodes, 2 * num_relations)
    affinity = None
    for entity in (head, tail):
        e = sp.csr_matrix((np.ones(len(entity)), (entity, rel)), shape=shape)
        deg = np.asarray(e.sum(axis=1)).ravel()
        inv = np.zeros_like(deg)
        inv[deg > 0] = deg[deg > 0]**-2.0
        part = e.T @ sp.diags(inv) @ e
        affinity = part if affinity is None else affinity + part
    coo = affinity.tocoo()
    weight = coo.data
    order = np.argsort(-weight, kind='stable')
    sorted_weight = weight[order]
    new = np.ones(len(weight), dtype=bool)
    new[1:] = (sorted_weight[:-1] - sorted_weight[1:]
               > 1e-9 * sorted_weight[:-1])
    first = np.maximum.accumulate(np.where(new, np.arange(len(weight)), 0))
    rank = np.empty(len(weight), dtype=np.int64)
    rank[order] = first + 1
    bins = np.ceil(rank * num_bins / len(weight)).astype(np.int64) - 1
    return np.stack([coo.col, coo.row]), weight, bins


def best_of(fn, repeats: int) -> float:
    best = float('inf')
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def compare_construction(train, repeats: int, num_bins: int = 10) -> dict:
    ei, et = train.edge_index, train.edge_type
    n, r = train.num_nodes, train.num_relations
    ei_np, et_np = ei.numpy(), et.numpy()
    ours = relation_graph(ei, et, n, r, num_bins)
    theirs = scipy_relation_graph(ei_np, et_np, n, r, num_bins)

    def dense(index, values, dtype):
        out = torch.zeros(2 * r, 2 * r, dtype=dtype)
        out[torch.as_tensor(index[0]),
            torch.as_tensor(index[1])] = torch.as_tensor(values).to(dtype)
        return out

    weight_diff = float(
        (dense(ours[0], ours[1], torch.float64) -
         dense(theirs[0], theirs[1], torch.float64)).abs().max())
    same_bins = bool(
        torch.equal(dense(ours[0], ours[2] + 1, torch.long),
                    dense(theirs[0], theirs[2] + 1, torch.long)))
    t_ours = best_of(lambda: relation_graph(ei, et, n, r, num_bins), repeats)
    t_scipy = best_of(
        lambda: scipy_relation_graph(ei_np, et_np, n, r, num_bins), repeats)
    return {
        'relation_edges': int(ours[0].size(1)),
        'construction_seconds': round(t_ours, 5),
        'scipy_seconds': round(t_scipy, 5),
        'speedup_vs_scipy': round(t_scipy / t_ours, 2),
        'max_weight_difference': weight_diff,
        'same_bins': same_bins,
    }


def compare_official_bins(train, directory: str, num_bins: int = 10) -> dict:
    r"""Our bins against those of the official ``relgraph.py`` (scipy and
    igraph) on the training graph: the fraction of relation-graph edges in
    another bin, and the smallest and largest bin, with tied weights in
    the bin of their best rank (``ties="best"``) or ranked in entry order
    (``ties="order"``)."""
    import sys
    sys.path.insert(0, directory)  # relgraph.py imports its utils.py
    spec = importlib.util.spec_from_file_location(
        'ingram_official_relgraph', osp.join(directory, 'relgraph.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ei, et = train.edge_index, train.edge_type
    n, r = train.num_nodes, train.num_relations
    msg = np.stack([ei[0].numpy(), et.numpy(), ei[1].numpy()], axis=1)
    inverse = np.stack([ei[1].numpy(), et.numpy() + r, ei[0].numpy()], 1)
    theirs = module.generate_relation_triplets(
        np.concatenate([msg, inverse]), n, r, num_bins)
    official = {(int(h), int(t)): int(b) for h, t, b in theirs}
    out = {}
    for ties in ('best', 'order'):
        index, _, bins = relation_graph(ei, et, n, r, num_bins, ties=ties)
        pairs = list(zip(index.t().tolist(), bins.tolist()))
        assert len(pairs) == len(official)
        out[f'bins_{ties}_differ_from_official'] = round(
            sum(official[tuple(e)] != b for e, b in pairs) / len(pairs), 4)
        sizes = torch.bincount(bins, minlength=num_bins)
        out[f'bin_sizes_{ties}'] = [int(sizes.min()), int(sizes.max())]
    sizes = np.bincount(theirs[:, 2].astype(np.int64), minlength=num_bins)
    out['bin_sizes_official'] = [int(sizes.min()), int(sizes.max())]
    return out


def load_official(directory: str):
    r"""The official ``model.py``, its ``.cuda()`` calls made no-ops."""
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    spec = importlib.util.spec_from_file_location(
        'ingram_official_model', osp.join(directory, 'model.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def copy_weights(ours: InGram, official) -> None:
    r"""Loads our parameters into the official model (same layout of the
    concatenations: target, source, relation)."""
    pairs = [(official.ent_proj1, ours.entity_in),
             (official.ent_proj2, ours.entity_out),
             (official.rel_proj1, ours.relation_in),
             (official.rel_proj2, ours.relation_out),
             (official.rel_proj, ours.relation_proj)]
    for layer, res, conv in zip(official.layers_rel, official.res_proj_rel,
                                ours.relation_convs):
        pairs += [(layer.attn_proj, conv.lin_att),
                  (layer.aggr_proj, conv.lin_msg), (res, conv.res)]
        layer.attn_vec.data.copy_(conv.att.data)
        layer.attn_bin.data.copy_(conv.bin_bias.data.unsqueeze(-1))
    for layer, res, conv in zip(official.layers_ent, official.res_proj_ent,
                                ours.entity_convs):
        pairs += [(layer.attn_proj, conv.lin_att),
                  (layer.aggr_proj, conv.lin_msg), (res, conv.res)]
        layer.attn_vec.data.copy_(conv.att.data)
    for theirs, mine in pairs:
        theirs.weight.data.copy_(mine.weight.data)
        theirs.bias.data.copy_(mine.bias.data)


def epoch_times(train, args, official_module=None) -> dict:
    torch.manual_seed(args.seed)
    model = InGram()
    sampler = NegativeSampler(train.num_nodes, 10)
    n, r = train.num_nodes, train.num_relations

    def batch():
        (mi, mt), (si, st) = split_messages(train.edge_index, train.edge_type,
                                            0.75, cover=True)
        entity, corrupt = sampler.sample(si[0], st, si[1])
        return mi, mt, si, st, entity, corrupt

    def training_epoch(model: InGram):
        optimizer = torch.optim.Adam(model.parameters(), lr=5e-4)

        def epoch():
            mi, mt, si, st, entity, corrupt = batch()
            scorer = model.scorer(mi, mt, n, r)
            loss = margin_ranking_loss(
                scorer.score_triples(si[0], st, si[1]),
                scorer.score_corruptions(si[0], st, si[1], entity, corrupt),
                2.0)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
            optimizer.step()

        return epoch

    def median_epoch(fn) -> float:
        times = []
        for i in range(args.warmup + args.epochs):
            start = time.perf_counter()
            fn()
            if i >= args.warmup:
                times.append(time.perf_counter() - start)
        return statistics.median(times)

    initial = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(args.seed + 1)
    out = {'epoch_seconds': round(median_epoch(training_epoch(model)), 4)}
    if args.compiled:
        # The same epochs (same initial weights, same random streams) with
        # the attention logits' torch.compile kernels.
        fast = InGram(compiled=True)
        fast.load_state_dict(initial)
        torch.manual_seed(args.seed + 1)
        out['compiled_epoch_seconds'] = round(
            median_epoch(training_epoch(fast)), 4)
        out['compiled_speedup'] = round(
            out['epoch_seconds'] / out['compiled_epoch_seconds'], 2)
        out['compiled_kernels_failed'] = ingram_conv._Kernels.failed
    if official_module is None:
        return out

    official = official_module.InGram(32, 8, 32, 4, 10)
    copy_weights(model, official)
    off_optimizer = torch.optim.Adam(official.parameters(), lr=5e-4)

    def official_inputs(mi, mt):
        msg = torch.cat([mi[0:1], mt.view(1, -1), mi[1:2]]).t()
        msg_inv = torch.stack([mi[1], mt + r, mi[0]], dim=1)
        msg = torch.cat([msg, msg_inv])
        index, _, bins = scipy_relation_graph(mi.numpy(), mt.numpy(), n, r, 10)
        # Official relation triplets: (aggregating relation, neighbour, bin).
        rel_triplets = torch.from_numpy(
            np.stack([index[1], index[0], bins], axis=1))
        return msg, rel_triplets

    def corruption_triples(si, st, entity, corrupt):
        # The official (head, relation, tail) rows of every corruption:
        # [S, K, 3].
        neg_h = torch.where(corrupt, entity, si[0].view(-1, 1))
        neg_t = torch.where(corrupt, si[1].view(-1, 1), entity)
        return torch.stack([neg_h, st.view(-1, 1).expand_as(neg_h), neg_t],
                           dim=-1)

    def official_epoch():
        mi, mt, si, st, entity, corrupt = batch()
        msg, rel_triplets = official_inputs(mi, mt)
        x = glorot_features(n, 32)
        rel_x = glorot_features(2 * r, 32)
        emb_ent, emb_rel = official(x, rel_x, msg, rel_triplets)
        sup = torch.stack([si[0], st, si[1]], dim=1)
        neg = corruption_triples(si, st, entity, corrupt).view(-1, 3)
        pos = official.score(emb_ent, emb_rel, sup)
        neg_scores = official.score(emb_ent, emb_rel, neg).view(-1, 10)
        loss = margin_ranking_loss(pos, neg_scores, 2.0)
        off_optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(official.parameters(), 0.1)
        off_optimizer.step()

    # Same weights, same inputs: same scores, and one training step's same
    # loss (the official pairing: its k-th corruptions of all triples, then
    # the next k) and gradients?
    copy_weights(model, official)
    mi, mt, si, st, entity, corrupt = batch()
    gen = torch.Generator().manual_seed(0)
    x, rel_x = glorot_features(n, 32, gen), glorot_features(2 * r, 32, gen)
    h, z = model.encode(mi, mt, n, r, x=x, relation_x=rel_x)
    scorer = model.scorer_from(h, z)
    mine = scorer.score_triples(si[0], st, si[1])
    loss = margin_ranking_loss(
        mine, scorer.score_corruptions(si[0], st, si[1], entity, corrupt),
        2.0)
    model.zero_grad()
    loss.backward()
    msg, rel_triplets = official_inputs(mi, mt)
    emb_ent, emb_rel = official(x, rel_x, msg, rel_triplets)
    theirs = official.score(emb_ent, emb_rel,
                            torch.stack([si[0], st, si[1]], dim=1))
    neg = corruption_triples(si, st, entity, corrupt)
    neg_scores = official.score(emb_ent, emb_rel,
                                neg.transpose(0, 1).reshape(-1, 3))
    official_loss = torch.nn.MarginRankingLoss(margin=2.0)(
        theirs.repeat(10), neg_scores, torch.ones_like(neg_scores))
    official.zero_grad()
    official_loss.backward()
    grads = official_module.InGram(32, 8, 32, 4, 10)  # ours, their layout
    weights = [p.data for p in model.parameters()]
    for p in model.parameters():
        p.data = p.grad
    copy_weights(model, grads)
    for p, w in zip(model.parameters(), weights):
        p.data = w
    mine_grads = dict(grads.named_parameters())
    out['loss_difference_vs_official'] = abs(loss.item()
                                             - official_loss.item())
    out['max_relative_gradient_difference_vs_official'] = max(
        float((mine_grads[k].data - p.grad).abs().max() /
              p.grad.abs().max().clamp_min(1e-30))
        for k, p in official.named_parameters())
    mine, theirs = mine.detach(), theirs.detach()
    out['official_epoch_seconds'] = round(median_epoch(official_epoch), 4)
    out['speedup_vs_official'] = round(
        out['official_epoch_seconds'] / out['epoch_seconds'], 2)
    out['max_score_difference_vs_official'] = float(
        (mine - theirs).abs().max())
    out['score_scale'] = float(theirs.abs().max())
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--root', default='data')
    parser.add_argument('--datasets', nargs='+', default=['NL-100', 'WK-100'])
    parser.add_argument('--epochs', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--official', default=None,
                        help='directory of the official InGram code')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--compiled', action='store_true',
        help="also time the epoch with InGram(compiled=True) (the attention "
        "logits' torch.compile kernels)")
    args = parser.parse_args()
    official = load_official(args.official) if args.official else None
    results = {
        'benchmark': 'ingram',
        'threads': torch.get_num_threads(),
    }
    for name in args.datasets:
        train = get_dataset(args.root, name)['train']
        entry = {
            'entities': train.num_nodes,
            'relations': train.num_relations,
            'triples': int(train.edge_type.numel()),
        }
        entry.update(compare_construction(train, args.repeats))
        if args.official:
            entry.update(compare_official_bins(train, args.official))
        entry.update(epoch_times(train, args, official))
        results[name] = entry
    print(json.dumps(results))


if __name__ == '__main__':
    main()
