import pytest
import torch

from pyg_kgc.training import split_messages


def test_split_is_a_partition():
    edge_index = torch.arange(20).view(2, 10)
    edge_type = torch.arange(10) % 3
    gen = torch.Generator().manual_seed(0)
    (msg_index, msg_type), (sup_index,
                            sup_type) = split_messages(edge_index, edge_type,
                                                       0.7, generator=gen)
    assert msg_type.numel() == 7 and sup_type.numel() == 3
    triples = {(h, r, t)
               for h, r, t in zip(edge_index[0].tolist(), edge_type.tolist(),
                                  edge_index[1].tolist())}
    msg = {(h, r, t)
           for h, r, t in zip(msg_index[0].tolist(), msg_type.tolist(),
                              msg_index[1].tolist())}
    sup = {(h, r, t)
           for h, r, t in zip(sup_index[0].tolist(), sup_type.tolist(),
                              sup_index[1].tolist())}
    assert msg | sup == triples and not msg & sup
    # A fresh split each call; the same one from the same seed.
    again = split_messages(edge_index, edge_type, 0.7,
                           generator=torch.Generator().manual_seed(0))
    assert torch.equal(again[0][0], msg_index)
    other = split_messages(edge_index, edge_type, 0.7,
                           generator=torch.Generator().manual_seed(1))
    assert not torch.equal(other[0][0], msg_index)


def test_both_sides_non_empty():
    edge_index, edge_type = torch.zeros(2, 3, dtype=torch.long), torch.zeros(
        3, dtype=torch.long)
    (_, msg), (_, sup) = split_messages(edge_index, edge_type, 0.99)
    assert msg.numel() == 2 and sup.numel() == 1
    (_, msg), (_, sup) = split_messages(edge_index, edge_type, 0.01)
    assert msg.numel() == 1 and sup.numel() == 2


def test_bad_input():
    edge_index, edge_type = torch.zeros(2, 3, dtype=torch.long), torch.zeros(
        3, dtype=torch.long)
    with pytest.raises(ValueError, match=r'message_ratio must lie in'):
        split_messages(edge_index, edge_type, 1.0)
    with pytest.raises(ValueError, match=r'Cannot split 1 triple'):
        split_messages(edge_index[:, :1], edge_type[:1], 0.5)
    with pytest.raises(ValueError, match=r'edge_index must have shape'):
        split_messages(edge_index[:, :2], edge_type, 0.5)
