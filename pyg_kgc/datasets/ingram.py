r"""The inductive splits of InGram (Lee et al., ICML 2023), with new
relations at inference."""
from pyg_kgc.datasets.kg_dataset import InductiveKGDataset


class InGramInductive(InductiveKGDataset):
    r"""The inductive link prediction benchmarks of the `"InGram: Inductive
    Knowledge Graph Embedding via Relation Graphs"
    <https://arxiv.org/abs/2305.19987>`_ paper, in which the inference graph
    has new entities *and* new relations: NL-0/25/50/75/100 (from NELL-995),
    WK-25/50/75/100 (Wikidata) and FB-25/50/75/100 (Freebase), where the
    number is the percentage of inference triples whose relation is new.

    The inference graph has its own entity *and relation* vocabularies
    (:obj:`dataset.relations["inference"]`): a relation that also occurs in
    training gets an unrelated id there, as no model may rely on relation
    ids carrying over.

    Splits: :obj:`"train"` (training graph; :obj:`train.txt` carries the
    messages and is the target set, which models split themselves),
    :obj:`"valid"` and :obj:`"test"` (inference graph: :obj:`msg.txt`
    carries the messages, :obj:`valid.txt` / :obj:`test.txt` are the
    queries). The inference graph's filter is :obj:`msg.txt`,
    :obj:`valid.txt` and :obj:`test.txt`, the training graph's
    :obj:`train.txt`.

    Args:
        root (str): Root directory; files go to
            :obj:`root/ingram/<name>/{raw,processed}`.
        name (str): The benchmark, e.g. :obj:`"NL-100"` or :obj:`"WK-50"`.
        transform (callable, optional): A function/transform applied to a
            split's :class:`~torch_geometric.data.Data` at every access.
            (default: :obj:`None`)
        pre_transform (callable, optional): A function/transform applied to
            every split before it is saved to disk. (default: :obj:`None`)
        force_reload (bool, optional): Whether to re-process the dataset.
            (default: :obj:`False`)
        log (bool, optional): Whether to print progress to the console.
            (default: :obj:`True`)

    **STATS:** (entities and relations over all files of a graph; for the
    FB benchmarks, whose :obj:`train.txt` files are pinned by their upstream
    git blob ids but could not be inspected here, only the inference graph
    is listed)

    .. list-table::
        :widths: 10 10 10 10 10 10 10 10 10
        :header-rows: 1

        * - Name
          - #entities
          - #relations
          - #train
          - #entities (inference)
          - #relations (inference)
          - #facts (inference)
          - #valid (inference)
          - #test (inference)
        * - NL-0
          - 1,814
          - 134
          - 7,796
          - 2,026
          - 112
          - 2,287
          - 763
          - 763
        * - NL-25
          - 4,396
          - 106
          - 17,578
          - 2,146
          - 120
          - 2,230
          - 743
          - 744
        * - NL-50
          - 4,396
          - 106
          - 17,578
          - 2,335
          - 119
          - 2,576
          - 859
          - 859
        * - NL-75
          - 2,607
          - 96
          - 11,058
          - 1,578
          - 116
          - 1,818
          - 606
          - 607
        * - NL-100
          - 1,258
          - 55
          - 7,832
          - 1,709
          - 53
          - 2,378
          - 793
          - 793
        * - WK-25
          - 12,659
          - 47
          - 41,873
          - 3,228
          - 74
          - 3,391
          - 1,130
          - 1,131
        * - WK-50
          - 12,022
          - 72
          - 82,481
          - 9,328
          - 93
          - 9,672
          - 3,224
          - 3,225
        * - WK-75
          - 6,853
          - 52
          - 28,741
          - 2,722
          - 65
          - 3,430
          - 1,143
          - 1,144
        * - WK-100
          - 9,784
          - 67
          - 49,875
          - 12,136
          - 37
          - 13,487
          - 4,496
          - 4,496
        * - FB-25
          - —
          - —
          - —
          - 4,097
          - 216
          - 17,147
          - 5,716
          - 5,716
        * - FB-50
          - —
          - —
          - —
          - 4,445
          - 205
          - 11,636
          - 3,879
          - 3,879
        * - FB-75
          - —
          - —
          - —
          - 2,792
          - 186
          - 9,316
          - 3,106
          - 3,106
        * - FB-100
          - —
          - —
          - —
          - 2,624
          - 77
          - 6,987
          - 2,329
          - 2,329
    """
    upstream = 'bdi-lab/InGram/main/data'
    family = 'ingram'
    names = tuple(f'{kg}-{p}'
                  for kg, ps in (('NL', (0, 25, 50, 75,
                                         100)), ('WK', (25, 50, 75, 100)),
                                 ('FB', (25, 50, 75, 100))) for p in ps)
    shared_relations = False
    file_names = {
        'train': 'train.txt',
        'facts': 'msg.txt',
        'valid': 'valid.txt',
        'test': 'test.txt',
    }
