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
    n_banks : int, default=1
        Several independent banks in one parameter (MPCL's fused and unimodal branches): with
        ``n_banks > 1``, :attr:`prototypes` has shape ``(n_banks, C, K, d)`` and
        ``forward(h, index)`` evaluates bank ``index``.
    """

    def __init__(
        self, n_emotions: int, n_prototypes: int, d: int, tau: float = 0.1, n_banks: int = 1
    ):
        super().__init__()
        shape = (
            (n_emotions, n_prototypes, d)
            if n_banks == 1
            else (n_banks, n_emotions, n_prototypes, d)
        )
        self.prototypes = nn.Parameter(torch.randn(*shape) * d**-0.5)
        self.tau = float(tau)
        self.norm = nn.LayerNorm(d)

    def forward(self, h: torch.Tensor, index: int = 0) -> dict[str, torch.Tensor]:
        """Affinities and emotion tokens of bank ``index`` (of a stacked bank; 0 otherwise).

        Parameters
        ----------
        h : Tensor of shape (batch, d)
        index : int, default=0

        Returns
        -------
        dict with ``similarity`` (B, C, K), ``affinity`` (B, C, K; sums to 1 over K),
        ``tokens`` (B, C, d) and ``evidence`` (B, C).
        """
        P = self.prototypes[index] if self.prototypes.dim() == 4 else self.prototypes
        sim = torch.einsum("bd,ckd->bck", F.normalize(h, dim=-1), F.normalize(P, dim=-1))
        # cosines are <= 1, so exp((sim - 1) / tau) cannot overflow: softmax and logsumexp
        # share one exp and one sum (much cheaper than row-wise kernels over K ~ 4 entries)
        e = torch.exp((sim - 1.0) / self.tau)
        z = e.sum(-1, keepdim=True)
        aff = e / z
        tokens = self.norm(h.unsqueeze(1) + torch.einsum("bck,ckd->bcd", aff, P))
        evidence = self.tau * torch.log(z.squeeze(-1)) + 1.0
        return {"similarity": sim, "affinity": aff, "tokens": tokens, "evidence": evidence}

    def relations(self) -> torch.Tensor:
        """Prototype-to-prototype cosine similarities, shape (C*K, C*K) (per bank)."""
        P = self.prototypes
        p = F.normalize(P.reshape(*P.shape[:-3], -1, P.shape[-1]), dim=-1)
        return p @ p.transpose(-1, -2)
