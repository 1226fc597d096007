"""Emotion-specific prototype memory banks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PrototypeBank"]


class PrototypeBank(nn.Module):
    """``K`` learnable prototypes per emotion, shape ``(C, K, d)``.

    A sample representation ``h`` gets a cosine similarity to every prototype; a softmax within
    each emotion (temperature ``tau``) gives its affinities ``a_ck`` (summing to 1 over ``k``
    for every emotion ``c``), and the emotion tokens are::

        e_c = LayerNorm(h + sum_k a_ck P_ck)

    The emotion's evidence ``s_c = tau * logsumexp_k(sim_ck / tau)`` (a soft maximum of the
    similarities) is also returned.

    Parameters
    ----------
    n_emotions : int
    n_prototypes : int
        Prototypes per emotion (K).
    d : int
    tau : float, default=0.1
        Softmax temperature of the affinities.
    """

    def __init__(self, n_emotions: int, n_prototypes: int, d: int, tau: float = 0.1):
        super().__init__()
        self.prototypes = nn.Parameter(torch.randn(n_emotions, n_prototypes, d) * d**-0.5)
        self.tau = float(tau)
        self.norm = nn.LayerNorm(d)

    def similarities(self, h: torch.Tensor) -> torch.Tensor:
        """Cosine similarities (batch, C, K) of representations (batch, d) to the prototypes."""
        hn = F.normalize(h, dim=-1)
        pn = F.normalize(self.prototypes, dim=-1)
        return torch.einsum("bd,ckd->bck", hn, pn)

    def forward(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        """Affinities and emotion tokens.

        Parameters
        ----------
        h : Tensor of shape (batch, d)

        Returns
        -------
        dict with ``similarity`` (B, C, K), ``affinity`` (B, C, K; sums to 1 over K),
        ``tokens`` (B, C, d) and ``evidence`` (B, C).
        """
        sim = self.similarities(h)
        aff = torch.softmax(sim / self.tau, dim=-1)
        mix = torch.einsum("bck,ckd->bcd", aff, self.prototypes)
        tokens = self.norm(h.unsqueeze(1) + mix)
        evidence = self.tau * torch.logsumexp(sim / self.tau, dim=-1)
        return {"similarity": sim, "affinity": aff, "tokens": tokens, "evidence": evidence}

    def relations(self) -> torch.Tensor:
        """Prototype-to-prototype cosine similarities, shape (C*K, C*K)."""
        p = F.normalize(self.prototypes.reshape(-1, self.prototypes.shape[-1]), dim=-1)
        return p @ p.t()
