"""Co-occurrence memory retrieval: emotion tokens query all C*K prototypes."""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import softmax
from torch import nn

from .._stats import pearson_correlation
from .hopfield import hopfield_retrieve

__all__ = ["CooccurrenceRetrieval", "label_cooccurrence_target"]


def label_cooccurrence_target(Y: np.ndarray, temperature: float = 0.5) -> np.ndarray:
    """Row-stochastic C x C target from the correlation of training label distributions.

    ``T_ij = softmax_j(R_ij / temperature)`` with ``R`` the Pearson correlation between the
    columns of ``Y`` (:func:`mpcl_sklearn._stats.pearson_correlation`: constant columns have
    correlation 0 with the others, 1 with themselves).

    Parameters
    ----------
    Y : ndarray of shape (n_samples, C)
    temperature : float

    Returns
    -------
    ndarray of shape (C, C), rows summing to 1
    """
    return softmax(pearson_correlation(Y) / temperature, axis=1)


class CooccurrenceRetrieval(nn.Module):
    """Emotion tokens retrieve from a Hopfield memory of all prototypes.

    ``A = softmax(beta / sqrt(d) (W_q E)(W_k P)^T)`` over the ``C*K`` prototypes ``P``; the
    retrieval ``E' = LayerNorm(E + A W_v P)``; summing ``A`` over the ``K`` prototypes of each
    emotion gives a per-sample ``C x C`` co-occurrence matrix (rows sum to 1).

    With a ``prior`` (a row-stochastic C x C matrix, e.g. the training labels' co-occurrence
    target), the retrieval scores get a learned bias ``B`` (C x C, shared by the K prototypes of
    an emotion) initialised to ``log prior``: before any learning the co-occurrence equals the
    prior, and training moves it where the data and the losses pull.

    Parameters
    ----------
    d : int
    beta : float, default=1.0
    prior : array of shape (C, C) or None
    """

    def __init__(self, d: int, beta: float = 1.0, prior=None):
        super().__init__()
        if prior is None:
            self.prior_logits = None
        else:
            P = torch.as_tensor(np.asarray(prior), dtype=torch.float32).clamp_min(1e-6)
            self.prior_logits = nn.Parameter(torch.log(P / P.sum(-1, keepdim=True)))
        self.w_q = nn.Linear(d, d, bias=False)
        self.w_k = nn.Linear(d, d, bias=False)
        self.w_v = nn.Linear(d, d, bias=False)
        self.register_buffer("betas", torch.tensor([beta * d**-0.5]))
        self.norm = nn.LayerNorm(d)

    def forward(
        self, emotion_tokens: torch.Tensor, prototypes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Retrieve.

        Parameters
        ----------
        emotion_tokens : Tensor of shape (batch, C, d)
        prototypes : Tensor of shape (C, K, d)

        Returns
        -------
        tokens : Tensor of shape (batch, C, d)
        cooccurrence : Tensor of shape (batch, C, C), rows summing to 1
        """
        C, K, d = prototypes.shape
        P = prototypes.reshape(C * K, d)
        bias = None
        if self.prior_logits is not None:
            bias = self.prior_logits.repeat_interleave(K, dim=1)  # (C, C*K)
        z, w = hopfield_retrieve(
            self.w_q(emotion_tokens), self.w_k(P), self.w_v(P), self.betas, bias=bias
        )
        cooc = w[:, 0].reshape(w.shape[0], C, C, K).sum(-1)
        return self.norm(emotion_tokens + z[:, 0]), cooc
