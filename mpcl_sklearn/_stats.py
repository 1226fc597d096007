"""Small statistics shared by the networks, the models and the plots."""

from __future__ import annotations

import numpy as np

__all__ = ["clustered_standard_error", "pearson_correlation"]


def pearson_correlation(Y, constant: float = 0.0, tol: float = 1e-12) -> np.ndarray:
    """Pearson correlation between the columns of ``Y``, shape (C, C).

    A column that is constant over the samples (centred norm ``<= tol``; rounding can leave
    ~1e-17 residues) has no defined correlation: its row and column are ``constant`` (0, or NaN
    to show it), except 1 on the diagonal. Values are clipped to [-1, 1].

    Parameters
    ----------
    Y : array-like of shape (n_samples, C)
    constant : float, default=0.0
    tol : float, default=1e-12

    Returns
    -------
    ndarray of shape (C, C)
    """
    Y = np.asarray(Y, dtype=np.float64)
    centred = Y - Y.mean(axis=0)
    norm = np.sqrt((centred**2).sum(axis=0))
    flat = norm <= tol
    safe = np.where(flat, 1.0, norm)
    corr = (centred.T @ centred) / np.outer(safe, safe)
    corr[:, flat] = constant
    corr[flat, :] = constant
    np.fill_diagonal(corr, 1.0)
    return np.clip(corr, -1.0, 1.0)


def clustered_standard_error(d, groups=None) -> float:
    """Standard error of the mean of ``d`` when the rows of each group are not independent:
    the standard error of the groups' means (``groups=None``: every row its own group). NaN
    with fewer than two groups."""
    d = np.asarray(d, dtype=np.float64)
    if groups is None:
        means = d
    else:
        _, inverse = np.unique(np.asarray(groups), return_inverse=True)
        means = np.bincount(inverse, weights=d) / np.bincount(inverse)
    if len(means) < 2:
        return float("nan")
    return float(means.std(ddof=1) / np.sqrt(len(means)))
