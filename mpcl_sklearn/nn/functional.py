"""The softmax helpers of the networks (fast forms of ``torch.softmax`` / ``log_softmax``)."""

from __future__ import annotations

import torch

__all__ = ["log_softmax_bounded", "softmax_lastdim"]


def softmax_lastdim(x: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis, written with elementwise ops.

    Same values as ``torch.softmax(x, -1)`` (the max is subtracted first), but about 3x faster
    on CPU for the short rows (5-40 entries) that dominate these networks, where torch's
    row-wise kernel is overhead-bound.
    """
    e = torch.exp(x - x.detach().amax(-1, keepdim=True))
    return e / e.sum(-1, keepdim=True)


def log_softmax_bounded(x: torch.Tensor, bound: float) -> torch.Tensor:
    """``log_softmax`` over the last axis of logits known to be ``<= bound`` (e.g. cosines over
    a temperature): the bound replaces the max pass, so ``exp`` cannot overflow."""
    x = x - bound
    return x - torch.log(torch.exp(x).sum(-1, keepdim=True))
