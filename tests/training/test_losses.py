import math

import pytest
import torch

from pyg_kgc.training import (
    binary_cross_entropy_loss,
    cross_entropy_loss,
    margin_ranking_loss,
    one_to_n_bce_loss,
    self_adversarial_loss,
)


def log_sigmoid(x):
    return -math.log1p(math.exp(-x))


@pytest.fixture
def scores():
    gen = torch.Generator().manual_seed(0)
    pos = torch.randn(4, generator=gen, dtype=torch.float64)
    neg = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    return pos, neg


def test_margin_ranking(scores):
    pos, neg = scores
    expected = sum(
        max(0.0, 2.0 - pos[i].item() + neg[i, j].item()) for i in range(4)
        for j in range(3)) / 12
    assert margin_ranking_loss(pos, neg, margin=2.0).item() == \
        pytest.approx(expected)


def test_binary_cross_entropy(scores):
    pos, neg = scores
    expected = -sum(log_sigmoid(p) for p in pos.tolist()) / 4 - sum(
        log_sigmoid(-x) for x in neg.flatten().tolist()) / 12
    assert binary_cross_entropy_loss(pos, neg).item() == \
        pytest.approx(expected)
    smooth = binary_cross_entropy_loss(pos, neg, label_smoothing=0.2).item()
    y_pos, y_neg = 0.9, 0.1
    expected = -sum(y_pos * log_sigmoid(p) + (1 - y_pos) * log_sigmoid(-p)
                    for p in pos.tolist()) / 4 - sum(
                        y_neg * log_sigmoid(x) + (1 - y_neg) * log_sigmoid(-x)
                        for x in neg.flatten().tolist()) / 12
    assert smooth == pytest.approx(expected)


def test_self_adversarial(scores):
    pos, neg = scores
    gamma, alpha = 1.5, 0.7
    expected = 0.0
    for i in range(4):
        w = [math.exp(alpha * x) for x in neg[i].tolist()]
        total = sum(w)
        expected += -log_sigmoid(gamma + pos[i].item()) - sum(
            wj / total * log_sigmoid(-x - gamma)
            for wj, x in zip(w, neg[i].tolist()))
    expected /= 4
    assert self_adversarial_loss(pos, neg, gamma, alpha).item() == \
        pytest.approx(expected)
    # The weights carry no gradient.
    neg = neg.clone().requires_grad_()
    self_adversarial_loss(pos, neg, gamma, alpha).backward()
    weights = torch.softmax(alpha * neg.detach(), dim=1)
    expected_grad = weights * torch.sigmoid(neg.detach() + gamma) / 4
    assert torch.allclose(neg.grad, expected_grad)


def test_cross_entropy():
    gen = torch.Generator().manual_seed(1)
    scores = torch.randn(5, 7, generator=gen, dtype=torch.float64)
    target = torch.tensor([0, 6, 3, 3, 1])
    expected = -sum(scores[i, target[i]].item() -
                    math.log(sum(math.exp(x) for x in scores[i].tolist()))
                    for i in range(5)) / 5
    assert cross_entropy_loss(scores, target).item() == pytest.approx(expected)
    dense = torch.nn.functional.one_hot(target, 7).double()
    assert cross_entropy_loss(scores, dense).item() == pytest.approx(expected)
    two = dense.clone()
    two[0, 2] = 1.0  # two answers share the probability mass
    lse = math.log(sum(math.exp(x) for x in scores[0].tolist()))
    row0 = -(0.5 * (scores[0, 0].item() - lse) + 0.5 *
             (scores[0, 2].item() - lse))
    expected_two = (expected * 5 - (lse - scores[0, 0].item()) + row0) / 5
    assert cross_entropy_loss(scores, two).item() == \
        pytest.approx(expected_two)
    with pytest.raises(ValueError, match='do not match scores'):
        cross_entropy_loss(scores, dense[:, :6])


def test_one_to_n_bce():
    scores = torch.tensor([[0.5, -1.0], [2.0, 0.0]], dtype=torch.float64)
    targets = torch.tensor([[1.0, 0.0], [0.2, 0.9]], dtype=torch.float64)
    expected = -sum(
        y * log_sigmoid(s) + (1 - y) * log_sigmoid(-s)
        for s, y in zip(scores.flatten().tolist(),
                        targets.flatten().tolist())) / 4
    assert one_to_n_bce_loss(scores, targets).item() == pytest.approx(expected)
    with pytest.raises(ValueError, match='do not match scores'):
        one_to_n_bce_loss(scores, targets[:1])


def test_shape_mismatch(scores):
    pos, neg = scores
    for loss in (margin_ranking_loss, binary_cross_entropy_loss,
                 self_adversarial_loss):
        with pytest.raises(ValueError, match=r'negative scores of shape'):
            loss(pos, neg[:3])
