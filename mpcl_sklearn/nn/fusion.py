"""Multi-scale associative-memory fusion of modality/scale tokens."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .compression import AttentionPooling
from .functional import softmax_lastdim
from .hopfield import as_beta_tensor

__all__ = ["MultiScaleMemoryFusion"]


class MultiScaleMemoryFusion(nn.Module):
    """Fuse tokens by Hopfield retrieval at several inverse temperatures, gated.

    Every token queries a memory made of all tokens of the branch plus ``n_memory`` learned
    patterns, once per inverse temperature ``beta_s`` (coarse averaging to sharp recall); a gate
    computed from the mean token weighs the retrievals::

        z_s = V softmax(beta_s / sqrt(d) K^T q),   g = softmax(W_g mean(tokens))
        tokens' = LayerNorm(tokens + sum_s g_s z_s),  h = AttentionPool(tokens')

    Parameters
    ----------
    d : int
    betas : sequence of float
    n_memory : int, default=8
        Learned stored patterns.
    """

    def __init__(self, d: int, betas: Sequence[float] = (0.5, 2.0, 8.0), n_memory: int = 8):
        super().__init__()
        self.register_buffer("betas", as_beta_tensor(betas) * d**-0.5)
        self.d = d
        self.w_qkv = nn.Linear(d, 3 * d, bias=False)
        self.memory = nn.Parameter(torch.randn(n_memory, d) * d**-0.5) if n_memory else None
        self.gate = nn.Linear(d, len(self.betas))
        self.norm = nn.LayerNorm(d)
        self.pool = AttentionPooling(d)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fuse.

        Parameters
        ----------
        tokens : Tensor of shape (batch, n_tokens, d)

        Returns
        -------
        h : Tensor of shape (batch, d)
            The branch representation.
        tokens : Tensor of shape (batch, n_tokens, d)
            The tokens after retrieval.
        """
        q, k, v = self.w_qkv(tokens).split(self.d, dim=-1)
        if self.memory is not None:
            # learned patterns are projected once per batch, not once per sample
            _, mk, mv = (self.memory @ self.w_qkv.weight.t()).split(self.d, dim=-1)
            B = len(tokens)
            k = torch.cat([k, mk.unsqueeze(0).expand(B, -1, -1)], 1)
            v = torch.cat([v, mv.unsqueeze(0).expand(B, -1, -1)], 1)
        # retrieval weights at every beta; the gate mixes the weights before they touch the
        # values: sum_s g_s (W_s V) = (sum_s g_s W_s) V, without a per-beta copy of V
        scores = torch.matmul(q, k.transpose(-1, -2))  # (B, T, m)
        w = softmax_lastdim(scores.unsqueeze(1) * self.betas.view(1, -1, 1, 1))  # (B, S, T, m)
        g = softmax_lastdim(self.gate(tokens.mean(1)))  # (B, S)
        fused = torch.matmul(torch.einsum("bs,bstm->btm", g, w), v)
        out = self.norm(tokens + fused)
        return self.pool(out), out
