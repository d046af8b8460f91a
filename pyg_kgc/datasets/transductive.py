r"""Transductive benchmarks: every entity is known at training time."""
from typing import List

from pyg_kgc.datasets.kg_dataset import TRAINING, KGDataset, Split, TripleSet


class _TransductiveDataset(KGDataset):
    r"""One graph; splits :obj:`"train"`, :obj:`"valid"` and :obj:`"test"`
    all carry the training triples as messages and take their targets from
    the file of their name; the filter is all three files."""
    family = 'transductive'

    def splits(self) -> List[Split]:
        return [
            Split(s, TRAINING, 'train', s, self._negatives(s))
            for s in ('train', 'valid', 'test')
        ]

    def _negatives(self, split: str):
        return None


class TransductiveKG(_TransductiveDataset):
    r"""The transductive link prediction benchmarks as distributed with the
    `"Convolutional 2D Knowledge Graph Embeddings"
    <https://arxiv.org/abs/1707.01476>`_ paper (ConvE): FB15k-237 (Toutanova
    and Chen, 2015), WN18RR (Dettmers et al., 2018), and the small UMLS,
    Kinships and Nations graphs (Kok and Domingos, 2007).

    Each benchmark is one tarball holding :obj:`train.txt`, :obj:`valid.txt`
    and :obj:`test.txt` (FB15k-237's with CRLF line endings), read without
    unpacking. Entities and relations are counted over all three files, so
    that the 36 FB15k-237 entities (and 384 of WN18RR) that only occur in
    validation or test queries have ids too.

    Args:
        root (str): Root directory; files go to
            :obj:`root/transductive/<name>/{raw,processed}`.
        name (str): The benchmark, :obj:`"FB15k-237"`, :obj:`"WN18RR"`,
            :obj:`"UMLS"`, :obj:`"Kinships"` or :obj:`"Nations"`.
        transform (callable, optional): A function/transform applied to a
            split's :class:`~torch_geometric.data.Data` at every access.
            (default: :obj:`None`)
        pre_transform (callable, optional): A function/transform applied to
            every split before it is saved to disk. (default: :obj:`None`)
        force_reload (bool, optional): Whether to re-process the dataset.
            (default: :obj:`False`)
        log (bool, optional): Whether to print progress to the console.
            (default: :obj:`True`)

    **STATS:**

    .. list-table::
        :widths: 10 10 10 10 10 10
        :header-rows: 1

        * - Name
          - #entities
          - #relations
          - #train
          - #valid
          - #test
        * - FB15k-237
          - 14,541
          - 237
          - 272,115
          - 17,535
          - 20,466
        * - WN18RR
          - 40,943
          - 11
          - 86,835
          - 3,034
          - 3,134
        * - UMLS
          - 135
          - 46
          - 5,216
          - 652
          - 661
        * - Kinships
          - 104
          - 25
          - 8,544
          - 1,068
          - 1,074
        * - Nations
          - 14
          - 55
          - 1,592
          - 199
          - 201
    """
    upstream = 'TimDettmers/ConvE/master'
    names = ('FB15k-237', 'WN18RR', 'UMLS', 'Kinships', 'Nations')
    _archives = {
        'FB15k-237': 'FB15k-237.tar.gz',
        'WN18RR': 'WN18RR.tar.gz',
        'UMLS': 'umls.tar.gz',
        'Kinships': 'kinship.tar.gz',
        'Nations': 'nations.tar.gz',
    }

    def triple_sets(self) -> List[TripleSet]:
        archive = self._archives[self.name]
        return [
            TripleSet(s, TRAINING, archive, member=f'{s}.txt')
            for s in ('train', 'valid', 'test')
        ]


class CoDEx(_TransductiveDataset):
    r"""The CoDEx benchmarks of the `"CoDEx: A Comprehensive Knowledge Graph
    Completion Benchmark" <https://arxiv.org/abs/2009.07810>`_ paper, built
    from Wikidata: :obj:`"CoDEx-S"` and :obj:`"CoDEx-M"`.

    Besides the link prediction splits, the :obj:`"valid"` and
    :obj:`"test"` splits carry the paper's hard negatives for triple
    classification as :obj:`negative_edge_index` and
    :obj:`negative_edge_type` (plausible but false triples, one per query;
    they are not part of the filter).

    Args:
        root (str): Root directory; files go to
            :obj:`root/transductive/<name>/{raw,processed}`.
        name (str): The benchmark, :obj:`"CoDEx-S"` or :obj:`"CoDEx-M"`.
        transform (callable, optional): A function/transform applied to a
            split's :class:`~torch_geometric.data.Data` at every access.
            (default: :obj:`None`)
        pre_transform (callable, optional): A function/transform applied to
            every split before it is saved to disk. (default: :obj:`None`)
        force_reload (bool, optional): Whether to re-process the dataset.
            (default: :obj:`False`)
        log (bool, optional): Whether to print progress to the console.
            (default: :obj:`True`)

    **STATS:**

    .. list-table::
        :widths: 10 10 10 10 10 10 10 10
        :header-rows: 1

        * - Name
          - #entities
          - #relations
          - #train
          - #valid
          - #test
          - #valid negatives
          - #test negatives
        * - CoDEx-S
          - 2,034
          - 42
          - 32,888
          - 1,827
          - 1,828
          - 1,827
          - 1,828
        * - CoDEx-M
          - 17,050
          - 51
          - 185,584
          - 10,310
          - 10,311
          - 10,310
          - 10,311
    """
    upstream = 'tsafavi/codex/master/data/triples'
    names = ('CoDEx-S', 'CoDEx-M')

    def triple_sets(self) -> List[TripleSet]:
        folder = self.name.lower()
        sets = [
            TripleSet(s, TRAINING, f'{folder}/{s}.txt')
            for s in ('train', 'valid', 'test')
        ]
        sets += [
            TripleSet(f'{s}_negatives', TRAINING,
                      f'{folder}/{s}_negatives.txt', known=False)
            for s in ('valid', 'test')
        ]
        return sets

    def _negatives(self, split: str):
        return None if split == 'train' else f'{split}_negatives'
