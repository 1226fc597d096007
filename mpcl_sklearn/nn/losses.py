"""Loss terms of MPCL besides the main KL(y || y_hat) (which the training net computes)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["cooccurrence_loss", "prototype_diversity_loss"]


def cooccurrence_loss(cooccurrence: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``mean_i KL(T_i || M_i)`` between rows of a target and the batch-mean co-occurrence.

    Parameters
    ----------
    cooccurrence : Tensor of shape (batch, C, C) or (C, C), rows summing to 1
    target : Tensor of shape (C, C), rows summing to 1
    """
    M = cooccurrence.mean(0) if cooccurrence.dim() == 3 else cooccurrence
    # written out (same value as F.kl_div(..., reduction="batchmean")): kl_div has no vmap
    # batching rule, and stacked ensembles evaluate this loss under torch.func.vmap
    log_m = torch.log(M.clamp_min(1e-8))
    return (torch.special.xlogy(target, target) - target * log_m).sum() / target.shape[0]


def prototype_diversity_loss(prototypes: torch.Tensor) -> torch.Tensor:
    """Mean squared cosine similarity between distinct prototypes of a (C, K, d) bank.

    For stacked banks ``(n_banks, C, K, d)`` the mean over banks.
    """
    P = prototypes if prototypes.dim() == 4 else prototypes.unsqueeze(0)
    P = F.normalize(P.reshape(P.shape[0], -1, P.shape[-1]), dim=-1)
    S = P @ P.transpose(-1, -2)
    n = S.shape[-1]
    if n < 2:
        return S.new_zeros(())
    off = S - torch.eye(n, device=S.device, dtype=S.dtype)
    return (off**2).sum((-1, -2)).mean() / (n * (n - 1))
