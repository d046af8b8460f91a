from typing import Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform


def add_inverse_triples(edge_index: Tensor, edge_type: Tensor,
                        num_relations: int) -> Tuple[Tensor, Tensor]:
    r"""Appends :math:`(t, r + R, h)` for every :math:`(h, r, t)`, with
    :math:`R` = :obj:`num_relations`.

    Args:
        edge_index (torch.Tensor): Heads and tails, :math:`[2, E]`.
        edge_type (torch.Tensor): Relations in :math:`\{0, \ldots, R-1\}`,
            :math:`[E]`.
        num_relations (int): :math:`R`.

    :rtype: (:class:`torch.Tensor` :math:`[2, 2E]`, :class:`torch.Tensor`
        :math:`[2E]`)
    """
    if edge_type.numel() > 0 and int(edge_type.max()) >= num_relations:
        raise ValueError(f"edge_type holds relation {int(edge_type.max())}, "
                         f"but num_relations is {num_relations}")
    return (torch.cat([edge_index, edge_index.flip(0)],
                      dim=1), torch.cat([edge_type,
                                         edge_type + num_relations]))


class AddInverseRelations(BaseTransform):
    r"""Adds an inverse relation :math:`r + R` for every relation :math:`r`
    of a knowledge graph with :math:`R` relations, and the inverse triple
    :math:`(t, r + R, h)` of every message triple :math:`(h, r, t)`
    (:obj:`edge_index` / :obj:`edge_type`), so that messages flow both ways
    and relation-aware layers can tell the directions apart.
    :obj:`num_relations` becomes :math:`2R` and :obj:`inverse_relations`
    is set to :obj:`True`.

    Args:
        targets (bool, optional): If set to :obj:`True`, also adds the
            inverse of every target triple (and of every filter and negative
            triple), as reciprocal training of tail-only decoders needs.
            (default: :obj:`False`)
    """
    def __init__(self, targets: bool = False) -> None:
        self.targets = targets

    def forward(self, data: Data) -> Data:
        if data.get('inverse_relations', False):
            raise ValueError("The data already has inverse relations "
                             "(AddInverseRelations was applied twice)")
        num_relations = int(data.num_relations)
        prefixes = ['']
        if self.targets:
            prefixes += ['target_', 'filter_', 'negative_']
        for prefix in prefixes:
            index, kind = f'{prefix}edge_index', f'{prefix}edge_type'
            if index in data and kind in data:
                data[index], data[kind] = add_inverse_triples(
                    data[index], data[kind], num_relations)
        data.num_relations = 2 * num_relations
        data.inverse_relations = True
        return data

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(targets={self.targets})'
