r"""Dropout for low rates on large tensors: the dropped entries drawn as
geometric gaps instead of one Bernoulli draw per entry."""
import math
from typing import Optional

import torch
from torch import Tensor


def dropout_positions(numel: int, p: float,
                      generator: Optional[torch.Generator] = None,
                      device: Optional[torch.device] = None,
                      chunk: Optional[int] = None) -> Tensor:
    r"""The flat positions, increasing, of the entries that a dropout of rate
    :obj:`p` drops among :obj:`numel`: each entry independently with
    probability :obj:`p`, as :func:`torch.nn.functional.dropout` drops them.

    The gap from one dropped entry to the next (and from the start to the
    first) is geometric with success probability :math:`p`, so the
    positions are the cumulative sums of geometric draws, minus one: about
    :math:`p \cdot` :obj:`numel` random numbers instead of :obj:`numel`.

    Args:
        numel (int): The number of entries.
        p (float): The dropout rate, in :math:`[0, 1]`.
        generator (torch.Generator, optional): The random number generator.
            (default: :obj:`None`)
        device (torch.device, optional): Where the positions are drawn.
            (default: :obj:`None`, the CPU)
        chunk (int, optional): Draw at most this many gaps at a time (by
            default enough to cover all entries with overwhelming
            probability; more are drawn when they fall short).
            (default: :obj:`None`)

    :rtype: :class:`torch.Tensor` (:obj:`torch.long`)
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"The dropout rate must lie in [0, 1], got {p}")
    if numel < 0:
        raise ValueError(f"numel must be non-negative, got {numel}")
    if chunk is not None and chunk < 1:
        raise ValueError(f"chunk must be positive, got {chunk}")
    if p == 1.0:  # every entry (the gaps below need p < 1)
        return torch.arange(numel, device=device)
    log_keep = math.log1p(-p)
    parts = []
    start = 0  # every position before start has been decided
    while p > 0 and start < numel:
        expected = (numel - start) * p
        count = int(expected + 6 * math.sqrt(expected) + 16)
        if chunk is not None:
            count = min(count, chunk)
        # Geometric gaps by inversion, 1 + floor(log(1 - U) / log(1 - p)):
        # P(gap > k) = P(1 - U <= (1 - p)^k) = (1 - p)^k. On the CPU this
        # is about 1.5 times faster than Tensor.geometric_.
        gaps = torch.rand(count, dtype=torch.float64, device=device,
                          generator=generator)
        gaps.neg_().log1p_().div_(log_keep).floor_().add_(1.0)
        # float64 sums of integers are exact below 2^53.
        positions = gaps.cumsum_(0).add_(start - 1).long()
        last = int(positions[-1])
        if last >= numel:  # increasing: keep a prefix (a view)
            positions = positions[:int(torch.searchsorted(positions, numel))]
        parts.append(positions)
        start = last + 1  # geometric gaps are memoryless: go on from here
    if not parts:
        return torch.empty(0, dtype=torch.long, device=device)
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def geometric_dropout(x: Tensor, p: float = 0.5, training: bool = True,
                      generator: Optional[torch.Generator] = None) -> Tensor:
    r"""Dropout with the distribution of
    :func:`torch.nn.functional.dropout` (every entry zeroed independently
    with probability :obj:`p`, the others scaled by :math:`1 / (1 - p)`),
    whose mask is drawn by :func:`dropout_positions`: one random number per
    dropped entry, and no mask tensor. For low rates on large tensors it
    is faster on CPU (the relation matrices of RESCAL on CoDEx-S,
    :math:`128 \times 512^2` entries at :math:`p = 0.08`, forward and
    backward: 0.19 s against 0.40 s on one thread,
    ``benchmarks/cpu_kernels.py``); the random
    stream differs from :func:`torch.nn.functional.dropout`'s.

    Args:
        x (torch.Tensor): The input.
        p (float, optional): The dropout rate. (default: :obj:`0.5`)
        training (bool, optional): Without it, :obj:`x` is returned as it
            is. (default: :obj:`True`)
        generator (torch.Generator, optional): The random number generator.
            (default: :obj:`None`)

    :rtype: :class:`torch.Tensor`, the shape of :obj:`x`
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"The dropout rate must lie in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    positions = dropout_positions(x.numel(), p, generator, x.device)
    return _ScaleAndZero.apply(x, 1.0 / (1.0 - p), positions)


class _ScaleAndZero(torch.autograd.Function):
    # x * scale with the entries at the flat positions set to 0; backward
    # the same of the gradient. One pass over the tensor and a sparse fill
    # each way (autograd through an in-place fill of a view of x * scale
    # would copy the gradient more often).
    @staticmethod
    def forward(ctx, x: Tensor, scale: float, positions: Tensor) -> Tensor:
        ctx.scale = scale
        ctx.save_for_backward(positions)
        out = x.contiguous().mul(scale)
        out.view(-1).index_fill_(0, positions, 0.0)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        positions, = ctx.saved_tensors
        grad_x = grad.contiguous().mul(ctx.scale)
        grad_x.view(-1).index_fill_(0, positions, 0.0)
        return grad_x, None, None
