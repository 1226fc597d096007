"""Token encoder: one d-dimensional token per (modality, scale) column group."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["TokenEncoder"]


class TokenEncoder(nn.Module):
    """Encode each column group of a feature table into one token.

    Each group ``t`` has its own linear map ``W_t`` (``n_cols_t x d``), a bias and a learned
    token-type embedding, followed by GELU and LayerNorm. Implemented as one padded gather and
    one batched matrix product, so the cost does not grow with the number of groups' Python
    loops.

    Parameters
    ----------
    groups : sequence of sequences of int
        Column indices of each token (disjoint, non-empty).
    n_features : int
        Number of input columns.
    d : int
        Token width.
    """

    def __init__(self, groups: Sequence[Sequence[int]], n_features: int, d: int):
        super().__init__()
        if not groups or any(len(g) == 0 for g in groups):
            raise ValueError("TokenEncoder needs at least one non-empty column group")
        width = max(len(g) for g in groups)
        index = torch.full((len(groups), width), n_features, dtype=torch.long)
        for t, g in enumerate(groups):
            index[t, : len(g)] = torch.as_tensor(list(g), dtype=torch.long)
        self.register_buffer("index", index)
        self.n_tokens = len(groups)
        self.weight = nn.Parameter(
            torch.randn(len(groups), width, d)
            / torch.as_tensor([max(len(g), 1) ** 0.5 for g in groups]).view(-1, 1, 1)
        )
        self.bias = nn.Parameter(torch.zeros(len(groups), d))
        self.norm = nn.LayerNorm(d)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Tokens of shape (batch, n_tokens, d) from X of shape (batch, n_features)."""
        Xp = torch.cat([X, X.new_zeros(X.shape[0], 1)], dim=1)
        G = Xp[:, self.index]  # (B, T, W)
        H = torch.einsum("btw,twd->btd", G, self.weight) + self.bias
        return self.norm(nn.functional.gelu(H))
