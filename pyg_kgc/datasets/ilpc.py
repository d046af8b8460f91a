r"""The ILPC 2022 inductive link prediction challenge (Galkin et al.)."""
from pyg_kgc.datasets.kg_dataset import InductiveKGDataset


class ILPC2022(InductiveKGDataset):
    r"""The inductive link prediction benchmarks of the `"An Open Challenge
    for Inductive Link Prediction on Knowledge Graphs"
    <https://arxiv.org/abs/2203.01520>`_ paper (ILPC 2022), built from
    Wikidata in two sizes, :obj:`"small"` and :obj:`"large"`.

    The inference graph's entities are all new; its relations occur in the
    training graph, and its relation ids refer to the training graph's
    relation vocabulary (an unknown relation is an error naming the file and
    line).

    Splits: :obj:`"train"` (training graph; :obj:`train.txt` carries the
    messages and is the target set), :obj:`"valid"` and :obj:`"test"`
    (inference graph: :obj:`inference.txt` carries the messages,
    :obj:`inference_validation.txt` / :obj:`inference_test.txt` are the
    queries). The inference graph's filter is those three files.

    Args:
        root (str): Root directory; files go to
            :obj:`root/ilpc2022/<name>/{raw,processed}`.
        name (str): :obj:`"small"` or :obj:`"large"`.
        transform (callable, optional): A function/transform applied to a
            split's :class:`~torch_geometric.data.Data` at every access.
            (default: :obj:`None`)
        pre_transform (callable, optional): A function/transform applied to
            every split before it is saved to disk. (default: :obj:`None`)
        force_reload (bool, optional): Whether to re-process the dataset.
            (default: :obj:`False`)
        log (bool, optional): Whether to print progress to the console.
            (default: :obj:`True`)

    **STATS:** (entities and relations over all files of a graph)

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
        * - small
          - 10,230
          - 48
          - 78,616
          - 6,653
          - 43
          - 20,960
          - 2,908
          - 2,902
        * - large
          - 46,626
          - 65
          - 202,446
          - 29,246
          - 64
          - 77,044
          - 10,179
          - 10,184
    """
    upstream = 'pykeen/ilpc2022/main/data'
    family = 'ilpc2022'
    names = ('small', 'large')
    shared_relations = True
    file_names = {
        'train': 'train.txt',
        'facts': 'inference.txt',
        'valid': 'inference_validation.txt',
        'test': 'inference_test.txt',
    }
