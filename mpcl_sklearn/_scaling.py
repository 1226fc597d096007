"""The one feature standardiser of every model, overflow-safe, and its helpers."""

from __future__ import annotations

import numpy as np
from sklearn.preprocessing import MaxAbsScaler, StandardScaler

__all__ = [
    "MAX_Z",
    "Standardizer",
    "bound_rows",
    "column_mean_std",
    "row_directions",
]

#: Standardised rows larger than this (max-abs) are shrunk onto it (see :func:`bound_rows`).
MAX_Z = 1e6


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


class Standardizer:
    """Column standardisation ``(x - mean) / std`` that cannot overflow; used by every model.

    A plain :class:`~sklearn.preprocessing.StandardScaler` squares the features: from
    ``|x| >~ 1e154`` the variance overflows to inf (its ``transform`` then gives NaN or 0), and
    below ``~1e-154`` it underflows to 0 (the column looks constant). :meth:`fit` therefore
    divides each column by its largest magnitude first (the peak, as
    :class:`~sklearn.preprocessing.MaxAbsScaler` finds it, but for every non-zero column, however
    tiny) and then takes scikit-learn's mean and standard deviation (optionally
    sample-weighted; near-constant columns get scale 1). The composition is the same map
    ``(x - mean) / std``: on ordinary data it equals ``StandardScaler`` to rounding.

    :meth:`transform` lets a huge test value overflow to inf; :meth:`transform_bounded` shrinks
    rows beyond :data:`MAX_Z` standard deviations onto that magnitude, direction kept, so that
    distances and float32 activations stay finite.

    Attributes
    ----------
    peak_ : ndarray of shape (n_features,)
        Largest magnitude of each training column (1 for all-zero columns).
    mean_, scale_ : ndarray of shape (n_features,)
        Mean and standard deviation of ``X / peak_`` (scale 1 for near-constant columns).
    """

    def fit(self, X: np.ndarray, sample_weight=None) -> Standardizer:
        """Fit on a finite float array ``X`` of shape (n_samples, n_features)."""
        max_abs = MaxAbsScaler().fit(X)
        self.peak_ = np.where(max_abs.max_abs_ > 0, max_abs.max_abs_, 1.0)
        standard = StandardScaler().fit(X / self.peak_, sample_weight=sample_weight)
        self.mean_ = standard.mean_
        self.scale_ = standard.scale_
        return self

    @classmethod
    def from_arrays(cls, peak, mean, scale) -> Standardizer:
        """A fitted standardiser from its three arrays (e.g. read from an older model file)."""
        new = cls()
        new.peak_ = np.asarray(peak, dtype=np.float64)
        new.mean_ = np.asarray(mean, dtype=np.float64)
        new.scale_ = np.asarray(scale, dtype=np.float64)
        return new

    @property
    def divisors(self) -> list[np.ndarray]:
        """The per-column divisors in order, as :func:`row_directions` takes them."""
        return [self.peak_, self.scale_]

    def transform(self, X: np.ndarray) -> np.ndarray:
        """``(X / peak_ - mean_) / scale_``; a value too large for float64 becomes inf."""
        with np.errstate(over="ignore", invalid="ignore"):
            return (X / self.peak_ - self.mean_) / self.scale_

    def transform_bounded(self, X: np.ndarray, bound: float = MAX_Z) -> np.ndarray:
        """:meth:`transform`, with rows beyond ``bound`` shrunk onto it (direction kept)."""
        return bound_rows(self.transform(X), X, self.divisors, bound)

    def directions(self, X: np.ndarray) -> np.ndarray:
        """Directions (max-abs 1) of the standardised rows, without the mean; finite for any
        finite ``X`` (the limit of rows that overflow)."""
        return row_directions(X, self.divisors)


def legacy_standardizer(scaler) -> Standardizer | None:
    """The :class:`Standardizer` of a model file written by mpcl_sklearn 0.1.0, whose
    ``scaler_`` was a ``Pipeline(MaxAbsScaler, StandardScaler)``; None stays None."""
    if scaler is None or isinstance(scaler, Standardizer):
        return scaler
    max_abs, standard = scaler[0], scaler[1]
    return Standardizer.from_arrays(max_abs.scale_, standard.mean_, standard.scale_)


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
