"""Attention pooling and hierarchical semantic compression."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .functional import softmax_lastdim

__all__ = ["AttentionPooling", "HierarchicalCompression"]


class AttentionPooling(nn.Module):
    """Pool a set of tokens with a learned query: ``sum_i softmax_i(q^T x_i / sqrt(d)) x_i``."""

    def __init__(self, d: int):
        super().__init__()
        self.query = nn.Parameter(torch.zeros(d))
        self.scale = d**-0.5

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Pool (batch, n, d) -> (batch, d)."""
        a = softmax_lastdim((tokens @ self.query) * self.scale)
        return (a.unsqueeze(-1) * tokens).sum(-2)


class HierarchicalCompression(nn.Module):
    """Prototype -> emotion -> affect group -> global summaries feeding the emotion logits.

    The emotion tokens (already the affinity-weighted pooling of each emotion's prototypes) are
    pooled into ``G`` affect-group tokens by attention restricted to each group's emotions
    (``membership``: given ``(C, G)`` 0/1 matrix, or learned soft assignment when None), the
    group tokens are pooled into one global token, and each emotion token is refined with its
    groups' tokens and the global token::

        a_gc = softmax_c(log m_cg + q_g^T e_c / sqrt(d)),   u_g = sum_c a_gc e_c
        v = AttentionPool(u),  e'_c = LayerNorm(e_c + W_u sum_g m_cg u_g + W_v v)

    Parameters
    ----------
    d : int
    n_emotions : int
    n_groups : int
    membership : Tensor of shape (n_emotions, n_groups) or None
        Fixed 0/1 group membership; None learns a soft assignment.
    """

    def __init__(
        self,
        d: int,
        n_emotions: int,
        n_groups: int = 2,
        membership: torch.Tensor | None = None,
    ):
        super().__init__()
        if membership is not None:
            # checked in numpy, so that the module can also be built on torch's meta device
            values = np.asarray(membership, dtype=np.float32)
            if values.ndim != 2 or values.shape[0] != n_emotions or (values.sum(0) == 0).any():
                raise ValueError("each affect group must contain at least one emotion")
            membership = torch.as_tensor(values)
            n_groups = membership.shape[1]
            self.register_buffer("membership_fixed", membership)
            self.membership_logits = None
        else:
            self.membership_fixed = None
            self.membership_logits = nn.Parameter(torch.randn(n_emotions, n_groups) * 0.5)
        self.group_queries = nn.Parameter(torch.zeros(n_groups, d))
        self.global_pool = AttentionPooling(d)
        self.w_group = nn.Linear(d, d)
        self.w_global = nn.Linear(d, d)
        self.norm = nn.LayerNorm(d)
        self.scale = d**-0.5

    def membership(self) -> torch.Tensor:
        """The (n_emotions, n_groups) membership matrix (rows sum to 1 when learned)."""
        if self.membership_fixed is not None:
            return self.membership_fixed
        return softmax_lastdim(self.membership_logits)

    def forward(self, emotion_tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Refine emotion tokens (batch, C, d); also return the global token (batch, d)."""
        m = self.membership()  # (C, G)
        logits = torch.einsum("bcd,gd->bgc", emotion_tokens, self.group_queries) * self.scale
        logits = logits + torch.log(m.t().clamp_min(1e-6)).unsqueeze(0)
        a = softmax_lastdim(logits)  # (B, G, C)
        groups = a @ emotion_tokens  # (B, G, d)
        glob = self.global_pool(groups)  # (B, d)
        ctx = torch.einsum("cg,bgd->bcd", m, groups)
        out = self.norm(emotion_tokens + self.w_group(ctx) + self.w_global(glob).unsqueeze(1))
        return out, glob
