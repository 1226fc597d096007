"""Validation of emotion-distribution arrays, shared by metrics and estimators."""

from __future__ import annotations

import numbers

import numpy as np

#: Rows must sum to 1 within this absolute tolerance.
SUM_TOLERANCE = 1e-6


def _row_list(rows: np.ndarray, limit: int = 10) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:limit])
    return shown + (f", ... ({len(rows)} rows in all)" if len(rows) > limit else "")


def real_target_or_none(y):
    """``y`` checked by :func:`as_real_array` before scikit-learn's ``validate_data`` (which
    would parse strings and drop imaginary parts); ``None`` is left to ``validate_data``'s own
    message."""
    return None if y is None else as_real_array(y, "y")


def as_real_array(y, name: str) -> np.ndarray:
    """``y`` as a float64 array; a ValueError naming ``name`` unless every entry is a real number.

    Refused rather than silently converted: complex numbers (numpy would drop the imaginary part
    with only a ComplexWarning), strings (numpy parses ``"0.5"``), bytes, dates, ``None`` and other
    objects. Booleans are numbers (0/1), so one-hot boolean rows are accepted.
    """
    try:
        raw = np.asarray(y)
    except (TypeError, ValueError) as exc:  # ragged nested sequences
        raise ValueError(f"{name} must be a numeric array of distributions: {exc}") from exc
    kind = raw.dtype.kind
    if kind == "O":
        for idx, v in np.ndenumerate(raw):
            if isinstance(v, numbers.Complex) and not isinstance(v, numbers.Real):
                kind = "c"
                break
            if not isinstance(v, numbers.Real):
                where = f" at index {idx}" if raw.ndim else ""
                raise ValueError(
                    f"{name} must be a numeric array of distributions, but holds {v!r} "
                    f"({type(v).__name__}){where}"
                )
    if kind == "c":
        raise ValueError(
            f"Complex data not supported: {name} is complex; emotion distributions must be "
            "real numbers (the imaginary part would be dropped)"
        )
    if kind not in "biufO":
        raise ValueError(
            f"{name} must be a numeric array of distributions, got dtype {raw.dtype} "
            f"({'strings' if kind in 'US' else 'not numbers'})"
        )
    try:
        return raw.astype(np.float64, copy=False)
    except (TypeError, ValueError, OverflowError) as exc:  # e.g. a Python int beyond float
        raise ValueError(f"{name} must be a numeric array of distributions: {exc}") from exc


def check_distributions(
    y,
    *,
    name: str = "y",
    normalize: bool = False,
    tol: float = SUM_TOLERANCE,
) -> np.ndarray:
    """Validate an array of emotion distributions and return it as 2-D float64.

    Parameters
    ----------
    y : array-like of shape (n_samples, n_emotions)
        One distribution per row.
    name : str
        Name used in error messages.
    normalize : bool
        If True, rows that are non-negative with a positive sum are rescaled to sum to 1 instead
        of being rejected.
    tol : float
        Allowed absolute deviation of a row sum from 1.

    Returns
    -------
    ndarray of shape (n_samples, n_emotions), float64

    Raises
    ------
    ValueError
        If ``y`` is not a real numeric array (complex numbers, strings, ``None`` or other
        objects are refused; booleans count as 0/1), is not 2-D, is empty, has NaN/inf or
        negative entries, or has rows that do not sum to 1 (the message lists the offending
        rows).
    """
    arr = as_real_array(y, name)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_emotions), got {arr.ndim}-D shape {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = _row_list(np.flatnonzero(bad.any(1)))
        raise ValueError(f"{name} contains NaN or inf in rows {rows}")
    neg = arr < 0
    if neg.any():
        rows = _row_list(np.flatnonzero(neg.any(1)))
        raise ValueError(f"{name} has negative values in rows {rows}")
    sums = arr.sum(axis=1)
    if normalize:
        zero = sums <= 0
        if zero.any():
            raise ValueError(
                f"{name} rows {_row_list(np.flatnonzero(zero))} sum to 0 and cannot be normalised"
            )
        return arr / sums[:, None]
    off = np.abs(sums - 1.0) > tol
    if off.any():
        rows = np.flatnonzero(off)
        raise ValueError(
            f"{name} rows must sum to 1 (tolerance {tol:g}); rows {_row_list(rows)} do not "
            f"(first sum: {sums[rows[0]]:.6g}). Normalise them, or pass normalize_y=True to the "
            "estimator."
        )
    return arr
