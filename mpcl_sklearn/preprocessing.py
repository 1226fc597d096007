"""Per-subject feature standardisation (subject-wise z-scoring)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from ._scaling import column_mean_std
from ._validation import as_real_array

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
        Same type, shape, index and columns as ``X`` (a DataFrame keeps a copy of its
        ``attrs``: emotion and modality names); a new array, ``X`` is not changed.

    Raises
    ------
    ValueError
        X not 2-D real numbers, NaN/inf in X, ``groups`` not one id per row, or two subject
        ids that differ but read the same as text (``1`` and ``"1"``).
    """
    groups = np.asarray(groups, dtype=object) if groups is not None else np.asarray(None)
    is_frame = isinstance(X, pd.DataFrame)
    A = as_real_array(X, "X", "a 2-D array of features")
    if A.ndim != 2:
        raise ValueError(f"X must be 2-D (samples x features), got shape {A.shape}")
    if groups.ndim != 1 or len(groups) != len(A):
        raise ValueError(
            f"groups has {groups.size if groups.ndim else 'no'} entries in shape {groups.shape} "
            f"but X has {len(A)} rows: give one subject id per row"
        )
    codes, uniques = pd.factorize(groups, use_na_sentinel=False)
    as_text = pd.Index([str(u) for u in uniques])
    if as_text.has_duplicates:
        dup = as_text[as_text.duplicated()][0]
        raise ValueError(
            f"groups holds subject ids that differ but read {dup!r} as text (e.g. 1 and '1'); "
            "use one id per subject"
        )
    if not np.isfinite(A).all():
        raise ValueError("X contains NaN or inf; impute the features before standardising")
    out = np.empty_like(A)
    for k, g in enumerate(uniques):
        rows = codes == k
        block = A[rows]
        mean, scale = column_mean_std(block, f"subject {g}")
        out[rows] = (block - mean) / np.where(scale > min_scale, scale, 1.0)
    if is_frame:
        frame = pd.DataFrame(out, index=X.index.copy(), columns=X.columns.copy())
        frame.attrs = copy.deepcopy(dict(X.attrs))
        return frame
    return out
