"""Loader for label-distribution-learning (LDL) benchmarks in the standard ``.mat`` format.

The LDL literature (Geng's LDL package, PyLDL) stores a benchmark as a MATLAB v5 file with two
matrices: ``features`` (n_samples, n_features) and ``labels`` (n_samples, n_labels), each label
row a distribution over the labels (sparse matrices are read as dense ones). :func:`load_ldl`
reads such a file and checks it: shapes, non-finite values, negative label entries and row sums
are validated, and anything that is repaired (float noise in the row sums, rows dropped on
request) is written into ``report``.
Nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.utils import Bunch

__all__ = ["LDLFormatError", "load_ldl"]


class LDLFormatError(ValueError):
    """An LDL ``.mat`` file is unreadable or malformed; the message names the file."""


def _matrix(data: dict, key: str, path: Path) -> np.ndarray:
    if key not in data:
        found = sorted(k for k in data if not k.startswith("__"))
        raise LDLFormatError(f"{path}: no '{key}' matrix (variables found: {found})")
    value = data[key]
    if sparse.issparse(value):  # MATLAB stores sparse matrices as such (text features)
        value = value.toarray()
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiub":
        kind = getattr(value, "dtype", type(value).__name__)
        raise LDLFormatError(f"{path}: '{key}' is not a numeric matrix ({kind})")
    if value.ndim != 2 or 0 in value.shape:
        raise LDLFormatError(f"{path}: '{key}' must be a non-empty 2-D matrix, got {value.shape}")
    return np.asarray(value, dtype=np.float64)


def load_ldl(
    path: str | Path,
    *,
    label_names: Sequence[str] | None = None,
    normalize: bool = False,
    atol: float = 1e-4,
    on_nan: str = "raise",
    return_X_y: bool = False,
):
    """Load an LDL benchmark ``.mat`` file (``features``, ``labels``).

    Parameters
    ----------
    path : str or Path
        A MATLAB v5 ``.mat`` file (read with :func:`scipy.io.loadmat`).
    label_names : sequence of str, optional
        Names of the label columns (the format stores none); default ``label_0``, ...
    normalize : bool, default=False
        Label rows must sum to 1 within ``atol`` (they are then rescaled to sum to 1 exactly,
        which only removes float noise). Rows further from 1 raise an ``LDLFormatError``,
        unless ``normalize=True``: then they are rescaled too and ``report`` says how many.
        Rows summing to 0 and negative entries always raise.
    atol : float, default=1e-4
        Tolerance on the row sums.
    on_nan : {"raise", "drop"}, default="raise"
        Rows with a NaN or infinite feature or label: raise naming them, or drop them (reported).
    return_X_y : bool, default=False
        Return ``(X, y)`` only.

    Returns
    -------
    Bunch or tuple
        ``data`` (ndarray, float64, (n_samples, n_features)), ``target`` (ndarray, rows summing
        to 1), ``feature_names``, ``target_names``, ``filename`` and ``report`` (list of str:
        what was checked or repaired); or ``(data, target)``.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    LDLFormatError
        Unreadable file, missing or malformed matrix, mismatched rows, invalid label rows.
    """
    from scipy.io import loadmat

    path = Path(path)
    if on_nan not in ("raise", "drop"):
        raise ValueError(f"on_nan must be 'raise' or 'drop', got {on_nan!r}")
    if not (np.isfinite(atol) and atol >= 0):
        raise ValueError(f"atol must be a non-negative number, got {atol!r}")
    if not path.is_file():
        raise FileNotFoundError(f"LDL file not found: {path}")
    try:
        data = loadmat(path)
    except NotImplementedError as exc:  # MATLAB v7.3 (HDF5)
        raise LDLFormatError(
            f"{path}: MATLAB v7.3 (HDF5) files are not supported; save it as v5 ({exc})"
        ) from exc
    except (ValueError, TypeError, OSError) as exc:
        raise LDLFormatError(f"{path}: not a readable MATLAB .mat file ({exc})") from exc
    X = _matrix(data, "features", path)
    Y = _matrix(data, "labels", path)
    if len(X) != len(Y):
        raise LDLFormatError(
            f"{path}: 'features' has {len(X)} rows but 'labels' has {len(Y)}; they must match"
        )
    if Y.shape[1] < 2:
        raise LDLFormatError(f"{path}: 'labels' has {Y.shape[1]} column; need at least 2")
    report = [f"{path.name}: {X.shape[0]} samples, {X.shape[1]} features, {Y.shape[1]} labels"]

    bad = ~(np.isfinite(X).all(axis=1) & np.isfinite(Y).all(axis=1))
    if bad.any():
        rows = np.flatnonzero(bad)
        msg = f"{bad.sum()} row(s) with NaN or infinite values (first: {rows[:5].tolist()})"
        if on_nan == "raise":
            raise LDLFormatError(f"{path}: {msg}; on_nan='drop' drops them")
        X, Y = X[~bad], Y[~bad]
        report.append(f"dropped {msg}")
        if len(X) == 0:
            raise LDLFormatError(f"{path}: no row left after dropping non-finite rows")

    if (Y < 0).any():
        rows = np.flatnonzero((Y < 0).any(axis=1))
        raise LDLFormatError(
            f"{path}: {len(rows)} label row(s) have negative entries (first: {rows[:5].tolist()})"
        )
    sums = Y.sum(axis=1)
    if (sums <= 0).any():
        rows = np.flatnonzero(sums <= 0)
        raise LDLFormatError(
            f"{path}: {len(rows)} label row(s) sum to 0 (first: {rows[:5].tolist()}); "
            "they are not distributions"
        )
    off = np.abs(sums - 1.0) > atol
    if off.any():
        rows = np.flatnonzero(off)
        msg = (
            f"{off.sum()} label row(s) do not sum to 1 within {atol:g} (sums from "
            f"{sums[off].min():.6g} to {sums[off].max():.6g}; first rows {rows[:5].tolist()})"
        )
        if not normalize:
            raise LDLFormatError(f"{path}: {msg}; normalize=True rescales them")
        report.append(f"rescaled {msg}")
    report.append(
        f"label row sums within [{sums.min():.7g}, {sums.max():.7g}]; rescaled to 1; "
        f"{(Y == 0).mean():.0%} of label entries are 0"
    )
    Y = Y / sums[:, None]

    if label_names is None:
        label_names = [f"label_{j}" for j in range(Y.shape[1])]
    label_names = [str(n) for n in label_names]
    if len(label_names) != Y.shape[1]:
        raise ValueError(f"label_names has {len(label_names)} names but the file has {Y.shape[1]}")
    if return_X_y:
        return X, Y
    return Bunch(
        data=X,
        target=Y,
        feature_names=np.array([f"feature_{j}" for j in range(X.shape[1])]),
        target_names=np.array(label_names),
        filename=str(path),
        report=report,
    )
