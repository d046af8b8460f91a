r"""The inductive splits of GraIL (Teru et al., ICML 2020)."""
from typing import List

from pyg_kgc.datasets.kg_dataset import (
    INFERENCE,
    TRAINING,
    KGDataset,
    Split,
    TripleSet,
)


class GraILInductive(KGDataset):
    r"""The inductive link prediction benchmarks of the `"Inductive Relation
    Prediction by Subgraph Reasoning" <https://arxiv.org/abs/1911.06962>`_
    paper (GraIL), built from FB15k-237, WN18RR and NELL-995 in four versions
    each (:obj:`"fb237_v1"` ... :obj:`"nell_v4"`).

    Each benchmark has two graphs with disjoint entity sets (up to a few
    names that happen to recur: 8 in WN18RR_v3, 3 in nell_v3, 1 in nell_v4,
    which get independent ids in the two graphs). The inference graph's
    relations are a subset of the training graph's, and its relation ids
    refer to the training graph's relation vocabulary, so that
    :obj:`dataset.relations["inference"] is dataset.relations["training"]`;
    a relation of the inference graph unknown to the training graph is an
    error naming the file and line.

    .. list-table::
        :widths: 10 20 20 20 20
        :header-rows: 1

        * - Split
          - Graph
          - Messages
          - Targets
          - Filter
        * - :obj:`"train"`
          - training
          - :obj:`vN/train.txt`
          - :obj:`vN/train.txt`
          - training graph
        * - :obj:`"valid"`
          - training
          - :obj:`vN/train.txt`
          - :obj:`vN/valid.txt`
          - training graph
        * - :obj:`"inference_valid"`
          - inference
          - :obj:`vN_ind/train.txt`
          - :obj:`vN_ind/valid.txt`
          - inference graph
        * - :obj:`"test"`
          - inference
          - :obj:`vN_ind/train.txt`
          - :obj:`vN_ind/test.txt`
          - inference graph

    The training graph's filter is :obj:`vN/{train,valid,test}.txt`, the
    inference graph's :obj:`vN_ind/{train,valid,test}.txt` (:obj:`vN/test.txt`
    is used by no split: GraIL evaluates on the inference graph only).

    Args:
        root (str): Root directory; files go to
            :obj:`root/grail/<name>/{raw,processed}`.
        name (str): The benchmark, e.g. :obj:`"fb237_v1"`,
            :obj:`"WN18RR_v2"` or :obj:`"nell_v4"`.
        transform (callable, optional): A function/transform applied to a
            split's :class:`~torch_geometric.data.Data` at every access.
            (default: :obj:`None`)
        pre_transform (callable, optional): A function/transform applied to
            every split before it is saved to disk. (default: :obj:`None`)
        force_reload (bool, optional): Whether to re-process the dataset.
            (default: :obj:`False`)
        log (bool, optional): Whether to print progress to the console.
            (default: :obj:`True`)

    **STATS:** (entities and relations over all files of a graph; the
    inference columns count the relations that occur in the inference
    graph, while its :obj:`num_relations` is the training graph's)

    .. list-table::
        :widths: 10 10 10 10 10 10 10 10 10 10 10
        :header-rows: 1

        * - Name
          - #entities
          - #relations
          - #train
          - #valid
          - #test
          - #entities (inference)
          - #relations (inference)
          - #facts (inference)
          - #valid (inference)
          - #test (inference)
        * - fb237_v1
          - 1,594
          - 180
          - 4,245
          - 489
          - 492
          - 1,093
          - 142
          - 1,993
          - 206
          - 205
        * - fb237_v2
          - 2,608
          - 200
          - 9,739
          - 1,166
          - 1,180
          - 1,660
          - 172
          - 4,145
          - 469
          - 478
        * - fb237_v3
          - 3,668
          - 215
          - 17,986
          - 2,194
          - 2,214
          - 2,501
          - 183
          - 7,406
          - 866
          - 865
        * - fb237_v4
          - 4,707
          - 219
          - 27,203
          - 3,352
          - 3,361
          - 3,051
          - 200
          - 11,714
          - 1,416
          - 1,424
        * - WN18RR_v1
          - 2,746
          - 9
          - 5,410
          - 630
          - 638
          - 922
          - 8
          - 1,618
          - 185
          - 188
        * - WN18RR_v2
          - 6,954
          - 10
          - 15,262
          - 1,838
          - 1,868
          - 2,757
          - 10
          - 4,011
          - 411
          - 441
        * - WN18RR_v3
          - 12,078
          - 11
          - 25,901
          - 3,097
          - 3,152
          - 5,084
          - 11
          - 6,327
          - 538
          - 605
        * - WN18RR_v4
          - 3,861
          - 9
          - 7,940
          - 934
          - 968
          - 7,084
          - 9
          - 12,334
          - 1,394
          - 1,429
        * - nell_v1
          - 3,103
          - 14
          - 4,687
          - 414
          - 439
          - 225
          - 14
          - 833
          - 101
          - 100
        * - nell_v2
          - 2,564
          - 88
          - 8,219
          - 922
          - 968
          - 2,086
          - 79
          - 4,586
          - 459
          - 476
        * - nell_v3
          - 4,647
          - 142
          - 16,393
          - 1,851
          - 1,873
          - 3,566
          - 122
          - 8,048
          - 811
          - 809
        * - nell_v4
          - 2,092
          - 76
          - 7,546
          - 876
          - 867
          - 2,795
          - 61
          - 7,073
          - 716
          - 731
    """
    upstream = 'kkteru/grail/master/data'
    family = 'grail'
    names = tuple(f'{kg}_v{v}' for kg in ('fb237', 'WN18RR', 'nell')
                  for v in range(1, 5))
    shared_relations = True

    def triple_sets(self) -> List[TripleSet]:
        train, test = self.name, f'{self.name}_ind'
        return [
            TripleSet('train', TRAINING, f'{train}/train.txt'),
            TripleSet('valid', TRAINING, f'{train}/valid.txt'),
            TripleSet('test', TRAINING, f'{train}/test.txt'),
            TripleSet('inference_facts', INFERENCE, f'{test}/train.txt'),
            TripleSet('inference_valid', INFERENCE, f'{test}/valid.txt'),
            TripleSet('inference_test', INFERENCE, f'{test}/test.txt'),
        ]

    def splits(self) -> List[Split]:
        return [
            Split('train', TRAINING, 'train', 'train'),
            Split('valid', TRAINING, 'train', 'valid'),
            Split('inference_valid', INFERENCE, 'inference_facts',
                  'inference_valid'),
            Split('test', INFERENCE, 'inference_facts', 'inference_test'),
        ]
