r"""The example scripts run end to end (tiny settings) and print their JSON
line; the same seed gives the same metrics."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from pyg_kgc.datasets.download import BASE_URL_ENV

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def run_script(script, args, data_root, mirror_url, timeout=300):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env[BASE_URL_ENV] = mirror_url
    return subprocess.run([
        sys.executable,
        osp.join(ROOT, 'examples', script), '--root', data_root
    ] + args, env=env, capture_output=True, text=True, timeout=timeout)


def run_example(script, args, data_root, mirror_url):
    out = run_script(script, args, data_root, mirror_url)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1, out.stdout  # one JSON line, nothing else
    return json.loads(lines[0])


@pytest.mark.parametrize('training,negatives', [('layerwise', 'all'),
                                                ('end-to-end', 'all'),
                                                ('layerwise', 'in-batch')])
def test_refactor_inductive(training, negatives, data_root, mirror_url):
    args = [
        '--dataset', 'nell_v1', '--layers', '3', '--channels', '16',
        '--epochs', '2', '--eval-every', '1', '--training', training,
        '--negatives', negatives
    ]
    result = run_example('refactor.py', args, data_root, mirror_url)
    assert result['mode'] == 'inductive'
    assert result['training'] == training
    assert result['negatives'] == negatives
    assert result['batch_size'] == 512  # the inductive default
    assert result['dropout'] == 0.0
    assert result['layers'] == 3 and result['channels'] == 16
    assert 0.0 < result['test_mrr'] <= 1.0
    assert result['test_hits@1'] <= result['test_hits@10'] <= 1.0
    assert result['best_epoch'] in (1, 2)
    assert 0.0 <= result['test_self_ranked_first'] <= 1.0
    # the best epoch's MRR on the inference graph's validation triples
    assert 0.0 < result['inference_valid_mrr'] <= 1.0
    again = run_example('refactor.py', args, data_root, mirror_url)
    for key in ('valid_mrr', 'test_mrr', 'test_hits@1', 'test_hits@10',
                'test_self_ranked_first', 'inference_valid_mrr'):
        assert again[key] == result[key], key


def test_refactor_transductive(data_root, mirror_url):
    args = [
        '--dataset', 'UMLS', '--channels', '16', '--epochs', '2',
        '--eval-every', '1', '--batch-size', '2048'
    ]
    result = run_example('refactor.py', args, data_root, mirror_url)
    assert result['mode'] == 'transductive (L=inf)'
    assert result['reciprocal'] and result['n3'] == 1.0
    assert result['dropout'] == 0.3
    assert result['negatives'] == 'all' and result['batch_size'] == 2048
    assert result['layers'] is None and result['channels'] == 16
    assert 0.0 < result['test_mrr'] <= 1.0
    assert 0.0 <= result['test_self_ranked_first'] <= 1.0
    assert result['best_epoch'] in (1, 2)
    assert 'inference_valid_mrr' not in result  # no inference graph
    assert result['tf32'] is False
    # TensorFloat-32 concerns CUDA's matrix products only: on the CPU the
    # run is the same, and the setting is switched back for evaluation.
    tf32 = run_example('refactor.py', args + ['--tf32'], data_root,
                       mirror_url)
    assert tf32['tf32'] is True
    for key in ('valid_mrr', 'test_mrr', 'test_hits@1', 'test_hits@10'):
        assert tf32[key] == result[key], key


def test_refactor_rejects_unknown_dataset(data_root, mirror_url):
    out = run_script('refactor.py', ['--dataset', 'no_such_split'], data_root,
                     mirror_url, timeout=120)
    assert out.returncode != 0
    assert 'no_such_split' in out.stderr


def test_inn_relations_selects_the_best_validation_epoch(
        data_root, mirror_url):
    args = [
        '--dataset', 'Nations', '--models', 'INN', 'ComplEx', '--epochs', '4',
        '--eval-every', '2', '--dim', '8', '--hidden', '8'
    ]
    out = run_script('inn_relations.py', args, data_root, mirror_url)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [json.loads(line) for line in out.stdout.strip().splitlines()]
    assert [list(line) for line in lines[:2]] == [['INN'], ['ComplEx']]
    summary = lines[-1]
    assert len(lines) == 3 and summary['eval_every'] == 2
    for name in ('INN', 'ComplEx'):
        result = summary['results'][name]
        assert result == lines[0 if name == 'INN' else 1][name]
        assert result['best_epoch'] in (2, 4)
        assert 0.0 < result['valid_mrr'] <= 1.0
        assert 0.0 < result['test_mrr'] <= 1.0
        assert len(result['loss_curve']) == 4  # one value per epoch here
    # Without validation the last epoch is tested and nothing is selected.
    no_validation = args[:-5] + ['0', '--dim', '8', '--hidden', '8']
    last = run_script('inn_relations.py', no_validation, data_root, mirror_url)
    assert last.returncode == 0, last.stderr[-2000:]
    final = json.loads(last.stdout.strip().splitlines()[-1])
    assert final['results']['INN']['best_epoch'] is None
    assert final['results']['INN']['valid_mrr'] is None


def test_inn_relations_resumes_from_its_checkpoints(data_root, mirror_url,
                                                    tmp_path):
    # Two models, 4 epochs straight; then 2 epochs that checkpoint each
    # model and a second command that resumes both for 2 more.
    args = [
        '--dataset', 'Nations', '--models', 'INN-NICE', 'RotatE', '--dim', '8',
        '--hidden', '8', '--eval-every', '2', '--epochs'
    ]
    straight = run_script('inn_relations.py', args + ['4'], data_root,
                          mirror_url)
    assert straight.returncode == 0, straight.stderr[-2000:]
    checkpoints = ['--checkpoint', str(tmp_path / 'states')]
    first = run_script('inn_relations.py', args + ['2'] + checkpoints,
                       data_root, mirror_url)
    assert first.returncode == 0, first.stderr[-2000:]
    assert sorted(os.listdir(tmp_path / 'states')) == [
        'Nations-INN-NICE-seed0.pt', 'Nations-RotatE-seed0.pt'
    ]
    resumed = run_script('inn_relations.py', args + ['4'] + checkpoints,
                         data_root, mirror_url)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    first, straight, resumed = (json.loads(
        out.stdout.splitlines()[-1])['results']
                                for out in (first, straight, resumed))
    for name in ('INN-NICE', 'RotatE'):
        assert first[name]['epochs_this_run'] == 2
        assert straight[name]['epochs_this_run'] == 4
        assert resumed[name]['epochs_this_run'] == 2  # not from scratch
        assert len(resumed[name]['loss_curve']) == 4
        for key in ('best_epoch', 'valid_mrr', 'test_mrr', 'test_hits@1',
                    'test_hits@10', 'categories', 'loss_curve'):
            assert resumed[name][key] == straight[name][key], (name, key)


def test_kge_transductive_negative_sampling(data_root, mirror_url):
    # CoDEx-S TransE: the CoDEx authors' negative-sampling configuration
    # (56 tail and 2 head corruptions per triple), one epoch.
    args = [
        '--dataset', 'CoDEx-S', '--model', 'TransE', '--max-epochs', '1',
        '--set', 'batch_size=2048', 'valid_every=1'
    ]
    result = run_example('kge_transductive.py', args, data_root, mirror_url)
    assert result['config']['regime'] == 'negative_sampling'
    assert result['config']['batch_size'] == 2048
    assert result['best_epoch'] == result['epochs_run'] == 1
    # Random scores rank the answer among 2,034 entities: MRR about 0.004.
    assert result['valid_mrr'] > 0.1 and result['test_mrr'] > 0.1
    assert result['paper_mrr'] == 0.354


def test_kge_transductive_1vsall_is_reproducible(data_root, mirror_url):
    args = [
        '--dataset', 'UMLS', '--model', 'ComplEx', '--max-epochs', '2',
        '--set', 'valid_every=1'
    ]
    result = run_example('kge_transductive.py', args, data_root, mirror_url)
    assert result['config']['regime'] == '1vsAll'
    assert result['epochs_run'] == 2 and result['best_epoch'] in (1, 2)
    assert result['test_mrr'] > 0.3  # 135 entities: random is about 0.04
    again = run_example('kge_transductive.py', args, data_root, mirror_url)
    for key in ('valid_mrr', 'test_mrr', 'test_hits@1', 'test_hits@10'):
        assert again[key] == result[key], key
    out = run_script('kge_transductive.py',
                     args + ['--set', 'no_such_entry=1'], data_root,
                     mirror_url, timeout=120)
    assert out.returncode != 0 and 'no_such_entry' in out.stderr


def test_ingram_resumes_from_its_checkpoint(data_root, mirror_url, tmp_path):
    # NL-100 with a small model: 4 epochs straight, then 2 epochs that
    # save a checkpoint and a second command that resumes for 2 more.
    args = [
        '--dataset', 'NL-100', '--dim', '8', '--heads', '2', '--epochs', '4',
        '--eval-every', '2'
    ]
    straight = run_example('ingram.py', args, data_root, mirror_url)
    assert straight['epochs'] == straight['epochs_this_run'] == 4
    assert straight['best_epoch'] in (2, 4)
    assert [epoch for epoch, _ in straight['valid_history']] == [2, 4]
    assert max(
        mrr for _, mrr in straight['valid_history']) == (straight['valid_mrr'])
    assert 0.0 < straight['test_mrr'] <= 1.0
    # The attention logits by torch.compile kernels: the same run up to
    # floating-point rounding (which may move a tie in the ranking).
    fast = run_example('ingram.py', args + ['--compile'], data_root,
                       mirror_url)
    assert fast['compiled'] and not straight['compiled']
    assert [e for e, _ in fast['valid_history']] == [2, 4]
    for (_, a), (_, b) in zip(fast['valid_history'],
                              straight['valid_history']):
        assert abs(a - b) < 2e-3
    assert abs(fast['test_mrr'] - straight['test_mrr']) < 2e-3
    # A spanning forest drawn once and kept in every epoch's messages
    # trains on other message graphs; the run is then stopped after 2
    # epochs and resumed, and the resumed run (which must draw the same
    # forest again) ends as the uninterrupted one.
    official = args + ['--message-split', 'fixed-forest', '--exclude-own']
    forest = run_example('ingram.py', official, data_root, mirror_url)
    assert straight['message_split'] == 'cover' and not straight['exclude_own']
    assert forest['message_split'] == 'fixed-forest' and forest['exclude_own']
    assert forest['valid_history'] != straight['valid_history']
    # The official code's own forest (igraph's spanning tree, no draw) is
    # another one; here with its binning of tied weights too.
    igraph_forest = run_example(
        'ingram.py',
        args + ['--message-split', 'igraph-forest', '--bin-ties', 'order'],
        data_root, mirror_url)
    assert igraph_forest['message_split'] == 'igraph-forest'
    assert igraph_forest['bin_ties'] == 'order'
    assert straight['bin_ties'] == 'best'
    assert igraph_forest['valid_history'] not in (forest['valid_history'],
                                                  straight['valid_history'])
    checkpoint = str(tmp_path / 'nl100.pt')
    half = args[:-3] + ['2', '--eval-every', '2', '--checkpoint', checkpoint]
    first = run_example('ingram.py', half + official[len(args):], data_root,
                        mirror_url)
    assert first['epochs'] == 2
    resumed = run_example('ingram.py', official + ['--checkpoint', checkpoint],
                          data_root, mirror_url)
    assert resumed['epochs'] == 4 and resumed['epochs_this_run'] == 2
    for key in ('best_epoch', 'valid_mrr', 'valid_history', 'test_mrr',
                'test_hits@1', 'test_hits@10'):
        assert resumed[key] == forest[key], key
    # The official protocol: a new draw of the inference graph's features
    # at every validation, the best one's for the test; with
    # --feature-draws, the trained model is also tested with the best of
    # several draws on validation.
    redrawn = run_example('ingram.py',
                          args + ['--redraw-features', '--feature-draws', '3'],
                          data_root, mirror_url)
    assert redrawn['redraw_features'] and not straight['redraw_features']
    assert redrawn['epochs'] == 4
    assert redrawn['valid_mrr'] != straight['valid_mrr']
    draws = redrawn['best_of_draws']
    assert straight['best_of_draws'] is None and draws['draws'] == 3
    assert draws['valid_mrr'] >= draws['valid_mrr_mean'] > 0.0
    assert 0.0 < draws['test_mrr'] <= 1.0
    # The spread of the test metrics over draws of the input features, for
    # the checkpoint's best state.
    spread = run_example('ingram_feature_draws.py', [
        '--dataset', 'NL-100', '--dim', '8', '--heads', '2', '--draws', '3',
        '--checkpoint', checkpoint
    ], data_root, mirror_url)
    assert spread['best_epoch'] == forest['best_epoch']
    assert len(spread['valid_mrr']) == len(spread['test_mrr']) == 3
    best = max(range(3), key=spread['valid_mrr'].__getitem__)
    assert spread['test_mrr_of_best_valid_draw'] == spread['test_mrr'][best]
    assert -1.0 <= spread['correlation_valid_test'] <= 1.0
    # A GraIL split validates on the training graph and tests on another:
    # a draw chosen on one says nothing about the other, so it is refused;
    # so is a single draw.
    for bad, message in ((['--dataset', 'fb237_v1'], 'different graphs'),
                         (['--dataset', 'NL-100', '--draws',
                           '1'], 'at least 2')):
        out = run_script(
            'ingram_feature_draws.py',
            bad + ['--dim', '8', '--heads', '2', '--checkpoint', checkpoint],
            data_root, mirror_url, timeout=120)
        assert out.returncode != 0 and message in out.stderr
    # Started again after the last epoch, it only tests the best state.
    again = run_example('ingram.py', official + ['--checkpoint', checkpoint],
                        data_root, mirror_url)
    assert again['epochs_this_run'] == 0
    assert again['median_epoch_seconds'] is None
    assert again['test_mrr'] == forest['test_mrr']


def test_ingram_paper_hyperparameters(data_root, mirror_url):
    # --hparams paper fills in the per-dataset values of the paper's
    # checkpoints (NL-100: entity hidden ratio 4 and 16 heads), a flag
    # given on the command line still wins, and the model is built with
    # them (a smaller entity hidden size: fewer parameters).
    args = ['--dataset', 'NL-100', '--dim', '8', '--epochs', '1',
            '--eval-every', '1']
    official = run_example('ingram.py', args + ['--heads', '2'], data_root,
                           mirror_url)
    assert official['hparams'] == 'official'
    assert official['hyperparameters'] == dict(
        dim=8, entity_ratio=8, relation_ratio=4, entity_layers=2,
        relation_layers=2, bins=10, heads=2, margin=2.0, lr=5e-4)
    paper = run_example('ingram.py',
                        args + ['--hparams', 'paper', '--margin', '1.5'],
                        data_root, mirror_url)
    assert paper['hparams'] == 'paper'
    assert paper['hyperparameters'] == dict(
        dim=8, entity_ratio=4, relation_ratio=4, entity_layers=2,
        relation_layers=2, bins=10, heads=16, margin=1.5, lr=5e-4)
    assert paper['parameters'] < official['parameters']
    smaller = run_example('ingram.py',
                          args + ['--hparams', 'paper', '--heads', '2'],
                          data_root, mirror_url)
    assert smaller['hyperparameters']['heads'] == 2
    assert smaller['hyperparameters']['entity_ratio'] == 4
    # --recipe official is the official code's recipe in one flag: the
    # same run as the three options it stands for; a --message-split
    # given with it still wins.
    recipe = run_example('ingram.py', args + ['--heads', '2', '--recipe',
                                              'official'], data_root,
                         mirror_url)
    spelled = run_example('ingram.py', args + [
        '--heads', '2', '--redraw-features', '--exclude-own',
        '--message-split', 'igraph-forest'
    ], data_root, mirror_url)
    assert recipe['recipe'] == 'official' and spelled['recipe'] == 'ours'
    assert official['recipe'] == 'ours'
    assert not (official['redraw_features'] or official['exclude_own'])
    assert official['message_split'] == 'cover'
    for key in ('redraw_features', 'exclude_own', 'message_split',
                'valid_history', 'test_mrr', 'test_hits@1', 'test_hits@10'):
        assert recipe[key] == spelled[key], key
    assert recipe['valid_history'] != official['valid_history']
    covered = run_example('ingram.py', args + [
        '--heads', '2', '--recipe', 'official', '--message-split', 'cover'
    ], data_root, mirror_url)
    assert covered['message_split'] == 'cover' and covered['exclude_own']
    # The paper has no values for the GraIL splits: refused, naming it.
    out = run_script('ingram.py', ['--dataset', 'fb237_v1', '--hparams',
                                   'paper'], data_root, mirror_url,
                     timeout=120)
    assert out.returncode != 0 and "'fb237_v1'" in out.stderr


def test_kge_transductive_resumes_with_its_schedule(data_root, mirror_url,
                                                    tmp_path):
    # Two epochs, then a restart that resumes for two more, equal four
    # straight; the learning-rate schedule is part of the checkpoint.
    base = [
        '--dataset', 'UMLS', '--model', 'DistMult', '--set', 'valid_every=1',
        'lr_patience=0', 'dim=32', '--max-epochs'
    ]
    straight = run_example('kge_transductive.py', base + ['4'], data_root,
                           mirror_url)
    checkpoint = str(tmp_path / 'umls.pt')
    first = run_example('kge_transductive.py',
                        base + ['2', '--checkpoint', checkpoint], data_root,
                        mirror_url)
    # The schedule is saved (fit's own test shows that it is restored): its
    # best value is the best validation MRR so far.
    saved = torch.load(checkpoint, weights_only=False)['extra']['state']
    assert abs(saved['scheduler']['best'] - first['valid_mrr']) < 1e-4
    resumed = run_example('kge_transductive.py',
                          base + ['4', '--checkpoint', checkpoint], data_root,
                          mirror_url)
    assert resumed['epochs_run'] == straight['epochs_run'] == 4
    assert resumed['device'] == 'cpu'
    for key in ('best_epoch', 'valid_mrr', 'test_mrr', 'test_hits@1',
                'test_hits@10'):
        assert resumed[key] == straight[key], key


@pytest.mark.parametrize('dataset,extra', [
    ('UMLS', ['--channels', '16', '--batch-size', '2048']),
    ('nell_v1', ['--layers', '3', '--channels', '16']),
])
def test_refactor_resumes_with_its_node_states(dataset, extra, data_root,
                                               mirror_url, tmp_path):
    # Transductive: the cached states and the best ones; inductive
    # layer-wise: the cycle in progress (3 layers; an epoch's steps are not
    # a multiple of 3, so a cycle spans the restart).
    base = ['--dataset', dataset, '--eval-every', '1'] + extra + ['--epochs']
    straight = run_example('refactor.py', base + ['4'], data_root, mirror_url)
    checkpoint = str(tmp_path / 'refactor.pt')
    run_example('refactor.py', base + ['2', '--checkpoint', checkpoint],
                data_root, mirror_url)
    resumed = run_example('refactor.py',
                          base + ['4', '--checkpoint', checkpoint], data_root,
                          mirror_url)
    assert resumed['device'] == 'cpu'
    for key in ('best_epoch', 'valid_mrr', 'test_mrr', 'test_hits@1',
                'test_hits@10', 'test_self_ranked_first'):
        assert resumed[key] == straight[key], key


def test_grail_baseline(data_root, mirror_url):
    args = ['--dataset', 'fb237_v1', '--epochs', '4', '--eval-every', '2']
    result = run_example('grail_baseline.py', args, data_root, mirror_url)
    assert result['device'] == 'cpu' and result['best_epoch'] in (2, 4)
    # 1,093 new entities: a random ranking gives an MRR near 0.007.
    assert 0.02 < result['test_mrr'] <= 1.0
    assert result['test_hits@1'] <= result['test_hits@10']
    assert result['test_hits@10'] <= result['test_hits@10_50neg']
    again = run_example('grail_baseline.py', args, data_root, mirror_url)
    assert again['test_mrr'] == result['test_mrr']


def _load_example(name):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        name, osp.join(ROOT, 'examples', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_kge_transductive_libkge_penalty_and_initialisation():
    # LibKGE's penalty written as its lookup embedder computes it (unique
    # rows weighted by their counts, divided by the number of indexes; the
    # reciprocal relations as a second term; unweighted: the whole table,
    # the entities twice) against the example's.
    example = _load_example('kge_transductive')
    torch.manual_seed(0)
    num_nodes, num_relations = 12, 3
    for (dataset, name) in [('FB15k-237', 'DistMult'),
                            ('FB15k-237', 'ComplEx'), ('WN18RR', 'TransE')]:
        config = dict(example.CONFIGS[dataset, name], dim=8)
        model = example.build_model(name, config, num_nodes, 2 * num_relations)
        head = torch.tensor([0, 1, 1, 5, 0])
        relation = torch.tensor([2, 0, 2, 1, 2])
        tail = torch.tensor([1, 1, 7, 0, 11])
        p = config['lp_p']

        def libkge(table, index, weight):
            if not config['lp_weighted']:
                return weight / p * table.norm(p=p)**p
            unique, counts = torch.unique(index, return_counts=True)
            rows = table[unique].abs()
            return (weight / p *
                    (rows**p * counts.float().view(-1, 1))).sum() / len(index)

        entity, relations = model.entity_emb, model.decoder.relation_emb
        if config['lp_weighted']:
            expected = (
                libkge(entity, torch.cat([head, tail]), config['entity_lp']) +
                libkge(relations, relation, config['relation_lp']) +
                libkge(relations, relation + num_relations,
                       config['relation_lp']))
        else:
            expected = (2 * libkge(entity, None, config['entity_lp']) +
                        libkge(relations, None, config['relation_lp']))
        actual = example.lp_penalty(model, config, head, relation, tail,
                                    num_relations)
        assert torch.allclose(actual, expected, rtol=1e-5, atol=0), name
        assert actual > 0
        if config['init'] == 'uniform':  # U(a, 1), as LibKGE draws it
            for table in (entity, relations):
                assert table.min() >= config['init_a'] and table.max() <= 1
                assert table.max() > 0.5
    # Without reciprocal relations the relations' term has no r + R part.
    config = dict(example.DEFAULTS, **example.CONFIGS['FB15k-237', 'DistMult'])
    model = example.build_model('DistMult', dict(config, dim=8), num_nodes,
                                num_relations)
    relations = model.decoder.relation_emb
    alone = example.lp_penalty(model, config, head, relation, tail,
                               num_relations, reciprocal=False)
    entities = model.entity_emb[torch.cat([head, tail])]
    expected = (
        config['relation_lp'] / 3 * relations[relation].abs().pow(3).sum() /
        len(relation) +
        config['entity_lp'] / 3 * entities.abs().pow(3).sum() / len(entities))
    assert torch.allclose(alone, expected, rtol=1e-5, atol=0)


@pytest.mark.parametrize('regime', ['KvsAll', 'no-reciprocal'])
def test_kge_transductive_libkge_regimes(regime, data_root, mirror_url):
    # KvsAll with label smoothing and the weighted penalty, and 1vsAll
    # without reciprocal relations with the unweighted one: two epochs of
    # UMLS learn (random scores: MRR about 0.04), and the same seed gives
    # the same metrics.
    if regime == 'KvsAll':
        extra = [
            'regime=KvsAll', 'label_smoothing=0.1', 'n3=0', 'lp_p=3',
            'lp_weighted=1', 'entity_lp=1e-4', 'relation_lp=1e-4',
            'batch_size=64'
        ]
        threshold = 0.12  # fewer, smoothed steps: slower to start
        bad, message = ['n3=0.1', 'lp_p=3'], 'either lp_p'
    else:
        extra = [
            'reciprocal=0', 'n3=0', 'lp_p=2', 'entity_lp=1e-6', 'batch_size=64'
        ]
        threshold = 0.3
        bad = ['regime=negative_sampling', 'reciprocal=0']
        message = 'reciprocal=0'
    base = [
        '--dataset', 'UMLS', '--model', 'DistMult', '--max-epochs', '2',
        '--set', 'valid_every=1'
    ]
    result = run_example('kge_transductive.py', base + extra, data_root,
                         mirror_url)
    assert result['config']['regime'] == ('KvsAll'
                                          if regime == 'KvsAll' else '1vsAll')
    assert result['config']['reciprocal'] == int(regime == 'KvsAll')
    assert result['valid_mrr'] > threshold and result['test_mrr'] > threshold
    again = run_example('kge_transductive.py', base + extra, data_root,
                        mirror_url)
    assert again['test_mrr'] == result['test_mrr']
    # Combinations the script does not implement are refused.
    out = run_script('kge_transductive.py', base + bad, data_root, mirror_url,
                     timeout=120)
    assert out.returncode != 0 and message in out.stderr


def test_kge_transductive_has_the_gpu_runbook_configurations():
    # docs/gpu_runs.md runs these pairs: each has its configuration and the
    # published number it is compared with.
    example = _load_example('kge_transductive')
    with open(osp.join(ROOT, 'docs', 'gpu_runs.md')) as f:
        runbook = f.read()
    assert 'for m in ComplEx-N3 DistMult ComplEx TransE RESCAL' in runbook
    for dataset in ('FB15k-237', 'WN18RR'):
        for model in ('ComplEx-N3', 'DistMult', 'ComplEx', 'TransE', 'RESCAL'):
            assert (dataset, model) in example.CONFIGS, (dataset, model)
            assert (dataset, model) in example.PAPERS, (dataset, model)


def test_kge_transductive_compile_reaches_the_kernels():
    # --compile: RotatE's distances and RESCAL's per-query dropout through
    # their torch.compile kernels; other models are unchanged by it.
    example = _load_example('kge_transductive')
    rescal = example.build_model(
        'RESCAL', dict(example.CONFIGS['CoDEx-S', 'RESCAL'], dim=4), 10, 3,
        compiled=True)
    assert rescal.compiled and rescal.dropout_sampler == 'geometric'
    rotate = example.build_model(
        'RotatE', dict(example.CONFIGS['FB15k-237', 'ComplEx'], dim=8), 10, 6,
        compiled=True)
    assert rotate.decoder.compiled
    assert not example.build_model(
        'RESCAL', dict(example.CONFIGS['CoDEx-S', 'RESCAL'], dim=4), 10,
        3).compiled


def test_refactor_tf32_switch_restores_the_setting():
    # The switch sets CUDA's float32 matrix-product precision inside the
    # block (as a context and as a decorator) and restores what was set
    # before, also when the block raises; the setting exists without a GPU.
    example = _load_example('refactor')
    matmul = torch.backends.cuda.matmul
    if not hasattr(matmul, 'fp32_precision'):
        pytest.skip('PyTorch < 2.9: the legacy allow_tf32 switch')
    before = matmul.fp32_precision
    try:
        matmul.fp32_precision = 'ieee'
        with example.tf32_matmuls(True):
            assert matmul.fp32_precision == 'tf32'
            with example.tf32_matmuls(False):
                assert matmul.fp32_precision == 'ieee'
            assert matmul.fp32_precision == 'tf32'
        assert matmul.fp32_precision == 'ieee'

        @example.tf32_matmuls(True)
        def inside():
            assert matmul.fp32_precision == 'tf32'
            raise KeyError('stop')

        with pytest.raises(KeyError):
            inside()
        assert matmul.fp32_precision == 'ieee'
    finally:
        matmul.fp32_precision = before
