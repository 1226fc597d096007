"""Validation shared by the data structures, metrics and estimators: emotion distributions,
sample weights, sampling rates and lists of ids."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping

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


def as_real_array(y, name: str, what: str = "a numeric array of distributions") -> np.ndarray:
    """``y`` as a float64 array; a ValueError naming ``name`` unless every entry is a real number.

    Refused rather than silently converted: complex numbers (numpy would drop the imaginary part
    with only a ComplexWarning), strings (numpy parses ``"0.5"``), bytes, dates, ``None`` and other
    objects. Booleans are numbers (0/1), so one-hot boolean rows are accepted. ``what`` completes
    the messages ("``name`` must be ``what``").
    """
    try:
        raw = np.asarray(y)
    except (TypeError, ValueError) as exc:  # ragged nested sequences
        raise ValueError(f"{name} must be {what}: {exc}") from exc
    kind = raw.dtype.kind
    if kind == "O":
        for idx, v in np.ndenumerate(raw):
            if isinstance(v, numbers.Complex) and not isinstance(v, numbers.Real):
                kind = "c"
                break
            if not isinstance(v, numbers.Real):
                where = f" at index {idx}" if raw.ndim else ""
                raise ValueError(
                    f"{name} must be {what}, but holds {v!r} ({type(v).__name__}){where}"
                )
    if kind == "c":
        raise ValueError(
            f"Complex data not supported: {name} is complex; {name} must be real numbers (the "
            "imaginary part would be dropped)"
        )
    if kind not in "biufO":
        raise ValueError(
            f"{name} must be {what}, got dtype {raw.dtype} "
            f"({'strings' if kind in 'US' else 'not numbers'})"
        )
    try:
        return raw.astype(np.float64, copy=False)
    except (TypeError, ValueError, OverflowError) as exc:  # e.g. a Python int beyond float
        raise ValueError(f"{name} must be {what}: {exc}") from exc


#: How an estimator's ``y`` whose rows do not sum to 1 is fixed (the default ``hint``).
ESTIMATOR_HINT = "Normalise them, or pass normalize_y=True to the estimator."
#: The same for arrays given to a function (metrics, figures), which has no such option.
ARRAY_HINT = "Normalise them first (divide each row by its sum)."


def check_distributions(
    y,
    *,
    name: str = "y",
    normalize: bool = False,
    tol: float = SUM_TOLERANCE,
    hint: str = ESTIMATOR_HINT,
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
    hint : str
        The last sentence of the message for rows that do not sum to 1: how the caller fixes
        them (default: an estimator's ``normalize_y=True``; a metric or a loader says its own).

    Returns
    -------
    ndarray of shape (n_samples, n_emotions), float64

    Raises
    ------
    ValueError
        If ``y`` is not a real numeric array (complex numbers, strings, ``None`` or other
        objects are refused; booleans count as 0/1), is not 2-D, is empty, has NaN/inf or
        negative entries, or has rows that do not sum to 1 (the message lists the offending
        rows and prints the first bad sum with 12 significant digits and its deviation). A
        single column whose rows do not sum to 1 (a 1-D ``y`` of class indices or scores,
        reshaped by an estimator) is told that ``y`` must be 2-D with one column per emotion.
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
                _one_column_hint(name, arr)
                + f"{name} rows {_row_list(np.flatnonzero(zero))} sum to 0 and cannot be normalised"
            )
        return arr / sums[:, None]
    off = np.abs(sums - 1.0) > tol
    if off.any():
        rows = np.flatnonzero(off)
        raise ValueError(
            _one_column_hint(name, arr)
            + f"{name} rows must sum to 1 (tolerance {tol:g}); rows {_row_list(rows)} do not "
            f"(first sum: {sums[rows[0]]:.12g}, off by {sums[rows[0]] - 1:.3g}). {hint}"
        )
    return arr


def _one_column_hint(name: str, arr: np.ndarray) -> str:
    """The first sentence of a bad-sum message when ``arr`` has a single column."""
    if arr.shape[1] != 1:
        return ""
    return (
        f"{name} must be 2-D (n_samples, n_emotions), one distribution per row, but it has a "
        f"single column (shape {arr.shape}; a 1-D {name} is read as one column). Class labels? "
        "One-hot encode them, e.g. np.eye(n_emotions)[labels]. "
    )


# --------------------------------------------------------------------------------------------
# sample weights


def check_sample_weight(sample_weight, n_samples: int | None, *, name: str = "sample_weight"):
    """Validate sample weights; return them as a new float64 array (``None`` stays ``None``).

    One check for every estimator's ``fit`` and every metric. Only the ratios of weights
    matter, so the returned copy is scaled by a power of two (exact: every weighted mean, sum
    ratio and normalisation computed from it is bit-identical) so that its largest weight lies
    in [0.5, 1): a weighted sum can then neither overflow nor lose precision in subnormals.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,), real number, or None
        A single number weighs every sample equally (as in scikit-learn).
    n_samples : int or None
        The number of samples the weights belong to (None: any length, checked by the caller;
        a single number is then refused).
    name : str
        Name used in error messages.

    Raises
    ------
    ValueError
        Weights that are not real numbers (complex, strings, objects), of the wrong shape or
        length, NaN or infinite, negative, all zero, or whose sum overflows float64; the
        message names ``name``.
    """
    if sample_weight is None:
        return None
    w = as_real_array(sample_weight, name, "a 1-D array of non-negative numbers")
    if w.ndim == 0 and n_samples is not None:
        w = np.full(int(n_samples), float(w))
    n = w.shape[0] if n_samples is None and w.ndim == 1 else n_samples
    if n is None or w.shape != (int(n),):
        raise ValueError(
            f"{name} must have shape ({'n_samples' if n is None else int(n)},), one weight per "
            f"sample, got shape {w.shape}"
        )
    bad = ~np.isfinite(w)
    if bad.any():
        raise ValueError(f"{name} contains NaN or inf at samples {_row_list(np.flatnonzero(bad))}")
    neg = w < 0
    if neg.any():
        raise ValueError(
            f"{name} has negative weights at samples {_row_list(np.flatnonzero(neg))}; weights "
            "must be >= 0"
        )
    peak = float(w.max()) if w.size else 0.0
    if peak <= 0:
        raise ValueError(
            f"{name} is all zero: at least one sample needs a positive weight"
            if w.size
            else f"{name} is empty"
        )
    with np.errstate(over="ignore"):
        total = float(w.sum())
    if not math.isfinite(total):
        raise ValueError(
            f"{name} sums to inf (the weights overflow float64, largest {peak!r}); only their "
            f"ratios matter: divide them by their largest value"
        )
    return np.ldexp(w, -math.frexp(peak)[1])


# --------------------------------------------------------------------------------------------
# sampling rates and ids


def check_sampling_rate(value, what: str) -> float:
    """A sampling rate as a float: a real number (not bool, not a string), finite and > 0.

    Raises
    ------
    ValueError
        Naming ``what`` (e.g. ``"modality 'eda'"``) and the value.
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)
    f = float(value) if ok else math.nan
    if not ok or not math.isfinite(f) or f <= 0:
        raise ValueError(
            f"sampling rate of {what} must be a positive, finite number of Hz, got {value!r}"
            + ("" if ok else f" ({type(value).__name__})")
        )
    return f


def is_id(value) -> bool:
    """Whether ``value`` can be a subject or trial id: a string or an integer (not bool)."""
    return isinstance(value, str) or (
        isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)
    )


def as_id_list(values, name: str) -> list[str] | None:
    """A list of ids (subjects) given by the user, as strings; ``None`` stays ``None``.

    Raises
    ------
    TypeError
        For a single string (``"S2"`` would otherwise be read as ``["S", "2"]``: pass
        ``["S2"]``), a set (no order), a mapping, bytes, or an element that is not a string or
        an integer.
    ValueError
        For an empty list, or an id listed twice (also ``1`` and ``"1"``).
    """
    if values is None:
        return None
    if isinstance(values, str):
        raise TypeError(
            f"{name} must be a list of ids, not the string {values!r}; for one, pass [{values!r}]"
        )
    if isinstance(values, bytes | set | frozenset | Mapping) or not isinstance(values, Iterable):
        raise TypeError(
            f"{name} must be a list of ids (strings), got {type(values).__name__} {values!r}"
            + ("; a set has no order, pass a list" if isinstance(values, set | frozenset) else "")
        )
    values = list(values)
    for v in values:
        if not is_id(v):
            raise TypeError(
                f"{name} must hold ids (strings or integers), got {v!r} ({type(v).__name__})"
            )
    if not values:
        raise ValueError(f"{name} is empty: give at least one id, or None for all")
    out = [str(v) for v in values]
    seen: dict[str, object] = {}
    for v, s in zip(values, out):
        if s in seen:
            raise ValueError(f"{name} lists {s!r} twice ({seen[s]!r} and {v!r})")
        seen[s] = v
    return out


def trial_id(subject, trial) -> str:
    """The trial id of a (subject, trial) pair: ``"<subject>/<trial>"``, unambiguous.

    ``%`` and ``/`` in the subject are written ``%25`` and ``%2F``, so the first ``/`` always
    separates subject from trial: ``("a/b", "c")`` gives ``"a%2Fb/c"`` and ``("a", "b/c")``
    gives ``"a/b/c"``. Used by :func:`~mpcl_sklearn.windowing.make_windows` and the feature
    table loader.
    """
    return str(subject).replace("%", "%25").replace("/", "%2F") + "/" + str(trial)


def _is_missing(value) -> bool:
    """None, a float NaN, pandas' NA/NaT: a missing id."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NaT, pd.NA (raises on ambiguity)
    except (TypeError, ValueError):
        return True


def check_distinct_as_text(values: Iterable, what: str) -> None:
    """Refuse ids that differ but read the same as text, such as ``1`` and ``"1"``.

    Windows, groups and outputs use the text of an id, so such ids would merge silently.
    ``values`` are the distinct ids (e.g. the subjects); ``what`` names them (``"subjects"``).

    Raises
    ------
    ValueError
        Naming both ids and their types.
    """
    as_text: dict[str, object] = {}
    for v in values:
        other = as_text.setdefault(str(v), v)
        if other is not v and (type(other) is not type(v) or other != v):
            if isinstance(other, str | np.str_) and isinstance(v, str | np.str_):
                continue  # str and numpy.str_ of the same text are the same id
            if _same_integer(other, v):
                continue  # int and numpy.int64 of the same value
            raise ValueError(
                f"{what} {other!r} ({type(other).__name__}) and {v!r} ({type(v).__name__}) "
                "differ but read the same as text; windows, groups and outputs use the text, so "
                "they would merge: use one id for each"
            )


def _same_integer(a, b) -> bool:
    ints = numbers.Integral
    return (
        isinstance(a, ints)
        and isinstance(b, ints)
        and not isinstance(a, bool | np.bool_)
        and not isinstance(b, bool | np.bool_)
        and int(a) == int(b)
    )


def check_group_ids(groups, what: str = "groups") -> np.ndarray:
    """Subject (or trial) ids of every row as a 1-D array, refused when ambiguous.

    Refused, with a ``ValueError`` naming ``what``: missing ids (None, NaN, NaT, pandas' NA),
    values that are not hashable, and two ids that differ but read the same as text (``1`` and
    ``"1"``; also when a plain list would let numpy turn ``1`` into ``"1"``). A list or object
    array mixing types without such a clash (``[1, "c"]``) is returned as text, which numpy
    and scikit-learn can sort; other arrays are returned as ``np.asarray`` gives them.

    The caller checks the shape (1-D) first.
    """
    import pandas as pd

    arr = groups if isinstance(groups, np.ndarray) else np.asarray(groups)
    kind = arr.dtype.kind
    if kind == "f":
        bad = np.flatnonzero(np.isnan(arr)) if arr.ndim == 1 else np.empty(0, int)
        if bad.size:
            raise ValueError(f"{what} has missing ids (NaN) at rows {_row_list(bad)}")
        return arr
    if kind in "mM":
        bad = np.flatnonzero(np.isnat(arr)) if arr.ndim == 1 else np.empty(0, int)
        if bad.size:
            raise ValueError(f"{what} has missing ids (NaT) at rows {_row_list(bad)}")
        return arr
    # a list may hold 1 and "1": numpy would have made both "1"; look at the objects themselves
    objects = arr if kind == "O" else None
    if objects is None and not isinstance(groups, np.ndarray | pd.Series | pd.Index):
        try:
            objects = np.asarray(list(groups), dtype=object)
        except (TypeError, ValueError):
            objects = None
    if objects is None or objects.ndim != 1:
        return arr
    try:
        distinct = pd.unique(objects)
    except TypeError as exc:
        raise ValueError(f"{what} must hold hashable ids (strings or numbers): {exc}") from None
    missing = [v for v in distinct if _is_missing(v)]
    if missing:
        rows = np.flatnonzero([_is_missing(v) for v in objects])
        raise ValueError(
            f"{what} has missing ids ({missing[0]!r}) at rows {_row_list(rows)}: every row "
            "needs an id"
        )
    check_distinct_as_text(distinct, what)
    if kind != "O":
        return arr
    types = {type(v) for v in distinct}
    if all(issubclass(t, str | np.str_) for t in types):
        return objects.astype(str)
    integers = all(
        issubclass(t, numbers.Integral) and not issubclass(t, bool | np.bool_) for t in types
    )
    if integers:
        try:
            return objects.astype(np.int64)
        except OverflowError:
            return objects.astype(str)
    if len(types) > 1:
        return objects.astype(str)
    return arr
