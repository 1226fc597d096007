"""Overflow-safe standardisation helpers shared by the baselines and the torch base."""

from __future__ import annotations

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler, StandardScaler

__all__ = [
    "MAX_Z",
    "bound_rows",
    "column_mean_std",
    "fit_scaler",
    "row_directions",
    "scaled",
    "scaler_divisors",
]


def row_directions(X: np.ndarray, divisors) -> np.ndarray:
    """Rows of ``X / d1 / d2 / ...`` rescaled to max-abs 1, computed without overflow."""
    D = np.array(X, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for div in (None, *divisors):
            if div is not None:
                D = D / div
            peak = np.max(np.abs(np.nan_to_num(D, nan=0.0)), axis=1, keepdims=True)
            if not np.isfinite(peak).all():  # inf entries: keep their signs only
                D = np.where(np.isinf(D), np.sign(D), np.where(np.isinf(peak), 0.0, D))
                peak = np.max(np.abs(D), axis=1, keepdims=True)
            D = D / np.where(peak > 0, peak, 1.0)
    return np.nan_to_num(D, nan=0.0)


#: Standardised rows larger than this (max-abs) are shrunk onto it by the kNN and torch models.
MAX_Z = 1e6


def bound_rows(Z: np.ndarray, X: np.ndarray, divisors, bound: float = MAX_Z) -> np.ndarray:
    """Shrink the rows of standardised features ``Z`` whose largest magnitude exceeds ``bound``
    (or overflowed to inf) onto that magnitude, keeping their direction.

    A test sample a million standard deviations out is saturated there: distances and float32
    activations stay finite. ``X`` and ``divisors`` (``Z ~ X / d1 / d2 ...`` far out) give the
    direction of rows that overflowed. Modifies ``Z`` in place and returns it.
    """
    with np.errstate(invalid="ignore"):
        peak = np.max(np.abs(Z), axis=1) if Z.shape[1] else np.zeros(len(Z))
    far = ~(peak <= bound)
    if far.any():
        ok = far & np.isfinite(peak)
        Z[ok] *= bound / peak[ok, None]
        bad = far & ~np.isfinite(peak)
        if bad.any():
            Z[bad] = bound * row_directions(X[bad], divisors)
    return Z


def fit_scaler(X: np.ndarray, sample_weight=None) -> Pipeline:
    """Fitted standardisation of ``X`` that cannot overflow.

    A plain :class:`~sklearn.preprocessing.StandardScaler` squares the features: from
    ``|x| >~ 1e154`` the variance overflows to inf (its ``transform`` then gives NaN or 0), and
    below ``~1e-154`` it underflows to 0 (the column looks constant). Each column is first
    divided by its largest magnitude (:class:`~sklearn.preprocessing.MaxAbsScaler`), then
    standardised; the composition is the same map ``(x - mean) / std``.
    """
    max_abs = MaxAbsScaler().fit(X)
    # MaxAbsScaler leaves columns whose peak is below ~1e-15 unscaled; scale every non-zero one
    # so that tiny features (|x| ~ 1e-300, whose variance underflows to 0) keep their signal too
    max_abs.scale_ = np.where(max_abs.max_abs_ > 0, max_abs.max_abs_, 1.0)
    standard = StandardScaler().fit(max_abs.transform(X), sample_weight=sample_weight)
    return Pipeline([("max_abs", max_abs), ("standard", standard)])


def scaled(scaler, X: np.ndarray) -> np.ndarray:
    """``scaler.transform(X)`` for a :func:`fit_scaler` pipeline, letting overflow give inf.

    (The pipeline's own ``transform`` rejects the inf that a huge test value divided by a small
    training peak becomes; the callers deal with it.)
    """
    if scaler is None:
        return X
    max_abs, standard = scaler[0], scaler[1]
    with np.errstate(over="ignore", invalid="ignore"):
        return (X / max_abs.scale_ - standard.mean_) / standard.scale_


def scaler_divisors(scaler) -> list[np.ndarray]:
    """The per-column divisors of a :func:`fit_scaler` pipeline, in order (none for None), as
    :func:`row_directions` and :func:`bound_rows` take them."""
    if scaler is None:
        return []
    return [scaler[0].scale_, scaler[1].scale_]


def column_mean_std(X: np.ndarray, whose: str) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations of ``X``; a ValueError naming ``whose`` data when
    the variance overflows float64 (|x| beyond ~1e154), instead of a silent inf or 0."""
    with np.errstate(over="ignore", invalid="ignore"):
        mean, std = X.mean(axis=0), X.std(axis=0)
    if not (np.isfinite(mean).all() and np.isfinite(std).all()):
        raise ValueError(
            f"{whose}: feature values too large to standardise (|x| up to "
            f"{np.max(np.abs(X)):.3g}; their variance overflows float64). Rescale the features "
            "(e.g. divide by a constant or take a log)."
        )
    return mean, std
