"""Per-subject feature standardisation (subject-wise z-scoring)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._scaling import column_mean_std

__all__ = ["subject_standardize"]


def subject_standardize(X, groups, *, min_scale: float = 1e-12):
    """Z-score every feature within each subject (subject-wise normalisation).

    Physiological baselines differ between people (resting heart rate, skin conductance level),
    so the same feature value means different things for different subjects. Standardising each
    subject's windows by that subject's own mean and standard deviation removes these offsets.
    It uses the *unlabelled* features of every subject, the test subjects included
    (transductive): no label is involved, but the test subject's data must be available as a
    batch. Report it as such.

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_samples, n_features)
    groups : array-like of shape (n_samples,)
        Subject of every row.
    min_scale : float, default=1e-12
        Standard deviations below this (a feature constant within a subject) count as 1, so the
        feature becomes 0 for that subject.

    Returns
    -------
    DataFrame or ndarray
        Same type, shape, index and columns as ``X``.
    """
    groups = np.asarray(groups)
    is_frame = isinstance(X, pd.DataFrame)
    A = np.asarray(X, dtype=np.float64)
    if A.ndim != 2:
        raise ValueError(f"X must be 2-D (samples x features), got shape {A.shape}")
    if len(groups) != len(A):
        raise ValueError(f"groups has {len(groups)} entries but X has {len(A)} rows")
    if not np.isfinite(A).all():
        raise ValueError("X contains NaN or inf; impute the features before standardising")
    out = np.empty_like(A)
    for g in np.unique(groups):
        rows = groups == g
        block = A[rows]
        mean, scale = column_mean_std(block, f"subject {g}")
        out[rows] = (block - mean) / np.where(scale > min_scale, scale, 1.0)
    if is_frame:
        return pd.DataFrame(out, index=X.index, columns=X.columns)
    return out
