"""The one feature standardiser of every model, overflow-safe, and its helpers."""

from __future__ import annotations

import numpy as np

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

    Squaring the features overflows from ``|x| >~ 1e154`` (the variance becomes inf, and a plain
    :class:`~sklearn.preprocessing.StandardScaler` then gives NaN or 0) and underflows below
    ``~1e-154`` (the column looks constant). :meth:`fit` therefore first divides each column
    whose largest magnitude lies outside ``[1e-100, 1e100]`` by that magnitude (``peak_``; 1
    for every other column, which is then used as it is), then takes the (optionally
    sample-weighted) mean and standard deviation. The composition is the same map
    ``(x - mean) / std`` for features of any finite magnitude. A column whose standard
    deviation is at most ``1e-12`` (times its largest magnitude when that is below 1) counts
    as constant: scale 1, so it becomes 0. On ordinary data this is scikit-learn's
    ``StandardScaler`` to rounding.

    :meth:`transform` lets a huge test value overflow to inf; :meth:`transform_bounded` shrinks
    rows beyond :data:`MAX_Z` standard deviations onto that magnitude, direction kept, so that
    distances and float32 activations stay finite.

    Attributes
    ----------
    peak_ : ndarray of shape (n_features,)
        The divisor of each column (its largest magnitude outside ``[1e-100, 1e100]``, else 1).
    mean_, scale_ : ndarray of shape (n_features,)
        Mean and standard deviation of ``X / peak_`` (scale 1 for constant columns).
    """

    #: columns whose largest magnitude lies outside this range are divided by it first
    SAFE_RANGE = (1e-100, 1e100)

    def fit(self, X: np.ndarray, sample_weight=None) -> Standardizer:
        """Fit on a finite float array ``X`` of shape (n_samples, n_features)."""
        X = np.asarray(X, dtype=np.float64)
        peak = np.max(np.abs(X), axis=0)
        lo, hi = self.SAFE_RANGE
        self.peak_ = np.where(((peak < lo) & (peak > 0)) | (peak > hi), peak, 1.0)
        Xd = X / self.peak_
        if sample_weight is None:
            mean, std = Xd.mean(axis=0), Xd.std(axis=0)
        else:
            w = np.asarray(sample_weight, dtype=np.float64)
            mean = np.average(Xd, axis=0, weights=w)
            std = np.sqrt(np.average((Xd - mean) ** 2, axis=0, weights=w))
        self.mean_ = mean
        self.scale_ = np.where(std > 1e-12 * np.minimum(peak / self.peak_, 1.0), std, 1.0)
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
            Z = X / self.peak_  # a new array: the rest in place (no temporaries)
            Z -= self.mean_
            Z /= self.scale_
            return Z

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
