"""Modern Hopfield retrieval (Ramsauer et al., 2021), written here.

One retrieval step maps a state (query) ``q`` to ``z = X softmax(beta X^T q)`` where the columns
of ``X`` are the stored patterns and ``beta`` is the inverse temperature: a small ``beta``
averages all patterns, a large one recalls the single pattern closest to the query. With
learned projections the step is ``z = V softmax(beta K^T q)`` with ``K = W_k X``, ``V = W_v X``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .functional import softmax_lastdim

__all__ = ["HopfieldRetrieval", "as_beta_tensor", "hopfield_retrieve"]


def hopfield_retrieve(
    query: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    betas: torch.Tensor,
    bias: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Retrieve from a Hopfield memory at several inverse temperatures at once.

    Parameters
    ----------
    query : Tensor of shape (batch, n_query, d)
    keys : Tensor of shape (batch, n_stored, d) or (n_stored, d)
    values : Tensor of shape (batch, n_stored, d_v) or (n_stored, d_v)
    betas : Tensor of shape (n_betas,)
        Inverse temperatures.
    bias : Tensor of shape (n_query, n_stored), optional
        Added to the (temperature-scaled) scores before the softmax: a prior over which
        patterns each query retrieves.

    Returns
    -------
    retrieved : Tensor of shape (batch, n_betas, n_query, d_v)
    weights : Tensor of shape (batch, n_betas, n_query, n_stored)
        The retrieval distributions (each row sums to 1).
    """
    scores = torch.matmul(query, keys.transpose(-1, -2))  # (B, nq, m)
    logits = scores.unsqueeze(1) * betas.view(1, -1, 1, 1)
    if bias is not None:
        logits = logits + bias
    weights = softmax_lastdim(logits)
    if values.dim() == 2:
        retrieved = torch.matmul(weights, values)
    else:
        retrieved = torch.matmul(weights, values.unsqueeze(1))
    return retrieved, weights


class HopfieldRetrieval(nn.Module):
    """A modern Hopfield retrieval layer with optional projections and stored patterns.

    Parameters
    ----------
    d : int
        Width of queries and patterns.
    beta : float, default=1.0
        Inverse temperature (scaled by ``1/sqrt(d)`` when ``projections`` is True).
    n_steps : int, default=1
        Number of update steps (the retrieved state becomes the next query).
    layer_norm : bool, default=True
        LayerNorm on the query and the patterns before retrieval.
    n_stored : int, default=0
        Number of trainable stored patterns added to the memory (usable without any input
        patterns).
    projections : bool, default=True
        Learned query/key/value maps; False gives the plain update ``X softmax(beta X^T q)``.
    """

    def __init__(
        self,
        d: int,
        beta: float = 1.0,
        n_steps: int = 1,
        layer_norm: bool = True,
        n_stored: int = 0,
        projections: bool = True,
    ):
        super().__init__()
        if n_steps < 1:
            raise ValueError(f"n_steps must be >= 1, got {n_steps}")
        self.d = d
        self.n_steps = n_steps
        scale = d**-0.5 if projections else 1.0
        self.register_buffer("betas", torch.tensor([float(beta) * scale]))
        self.norm_q = nn.LayerNorm(d) if layer_norm else nn.Identity()
        self.norm_x = nn.LayerNorm(d) if layer_norm else nn.Identity()
        if projections:
            self.w_q = nn.Linear(d, d, bias=False)
            self.w_k = nn.Linear(d, d, bias=False)
            self.w_v = nn.Linear(d, d, bias=False)
        else:
            self.w_q = self.w_k = self.w_v = nn.Identity()
        self.stored = nn.Parameter(torch.randn(n_stored, d) * d**-0.5) if n_stored else None

    def forward(self, query: torch.Tensor, patterns: torch.Tensor | None = None) -> torch.Tensor:
        """Retrieve.

        Parameters
        ----------
        query : Tensor of shape (batch, n_query, d)
        patterns : Tensor of shape (batch, n_patterns, d) or None
            Stored patterns given with the input (concatenated with the trainable ones).

        Returns
        -------
        Tensor of shape (batch, n_query, d)
        """
        mem = self._memory(query, patterns)
        mem = self.norm_x(mem)
        keys, values = self.w_k(mem), self.w_v(mem)
        state = query
        for _ in range(self.n_steps):
            z, _ = hopfield_retrieve(self.w_q(self.norm_q(state)), keys, values, self.betas)
            state = z[:, 0]
        return state

    def _memory(self, query, patterns):
        parts = []
        if patterns is not None:
            parts.append(patterns)
        if self.stored is not None:
            parts.append(self.stored.unsqueeze(0).expand(query.shape[0], -1, -1))
        if not parts:
            raise ValueError("HopfieldRetrieval needs input patterns or n_stored > 0")
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


def as_beta_tensor(betas: float | Sequence[float]) -> torch.Tensor:
    """Inverse temperatures as a 1-D float tensor (validated positive)."""
    # checked in numpy, so that the module can also be built on torch's meta device
    values = np.asarray([betas] if isinstance(betas, (int, float)) else list(betas), dtype=float)
    if values.ndim != 1 or values.size == 0 or not bool((values > 0).all()):
        raise ValueError(f"betas must be positive numbers, got {betas!r}")
    return torch.as_tensor(values, dtype=torch.float32)
