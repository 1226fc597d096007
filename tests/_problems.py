"""Small learnable multimodal problems shared by the neural-model tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def make_multimodal_problem(
    modalities: dict[str, int],
    *,
    n_subjects: int,
    per_subject: int,
    n_emotions: int,
    offset_scale: float,
    noise_scale: float,
    seed: int = 0,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Latent affect -> features per modality with subject offsets -> label distribution.

    Returns a DataFrame with ``<modality>__4s__f<i>`` columns, the target distributions (a
    softmax of the latent mixed with 10% Dirichlet noise) and the subject of each row.
    """
    rng = np.random.default_rng(seed)
    n_latent = 3
    loadings = {m: rng.normal(size=(n_latent, k)) for m, k in modalities.items()}
    to_emotions = rng.normal(size=(n_latent, n_emotions)) * 1.5
    X, Y, G = [], [], []
    for s in range(n_subjects):
        latent = rng.normal(size=(per_subject, n_latent))
        parts = []
        for m, k in modalities.items():
            offset = rng.normal(size=k) * offset_scale  # subject-specific baseline
            noise = noise_scale * rng.normal(size=(per_subject, k))
            parts.append(latent @ loadings[m] + offset + noise)
        logits = latent @ to_emotions
        P = np.exp(logits - logits.max(1, keepdims=True))
        P /= P.sum(1, keepdims=True)
        P = 0.9 * P + 0.1 * rng.dirichlet(np.ones(n_emotions), size=per_subject)
        X.append(np.hstack(parts))
        Y.append(P)
        G += [s] * per_subject
    cols = [f"{m}__4s__f{i}" for m, k in modalities.items() for i in range(k)]
    return pd.DataFrame(np.vstack(X), columns=cols), np.vstack(Y), np.asarray(G)
