"""The window table: one row per window, one column per modality, cells ``(n_channels, n_times)``
arrays, sampling rates and labels' metadata in ``attrs``.

:func:`check_signal_frame` validates one (as :func:`~mpcl_sklearn.windowing.make_windows` makes
it); :func:`concat_windows` concatenates several without losing ``attrs`` (``pd.concat`` drops
attrs that differ between its inputs). Both are re-exported by :mod:`mpcl_sklearn.windowing`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ._validation import check_sampling_rate

__all__ = ["MISSING_SFREQ", "WINDOW_METADATA", "check_signal_frame", "concat_windows"]

#: The attrs of a window table that describe its data; tables concatenated by
#: :func:`concat_windows` must agree on them.
WINDOW_METADATA = ("sfreq", "behavioural", "emotions", "channel_names", "frames")


def check_signal_frame(X, *, modalities: Sequence[str] | None = None) -> dict[str, float]:
    """Validate a raw window table (as returned by :func:`make_windows`).

    Returns the sampling rates of the checked modalities.

    Raises
    ------
    ValueError
        If X is not a DataFrame, has no ``attrs["sfreq"]`` (unknown sampling rate; the
        message says how to restore it), has a rate that is not a positive finite number,
        lacks a modality, has duplicate columns, holds a cell that is not a 2-D array of real
        numbers, a modality's shape changes between rows, or the windows of a row last
        different times (more than one sample of each modality apart: a wrong rate).
    """
    if not isinstance(X, pd.DataFrame):
        raise ValueError(
            "expected a pandas DataFrame of signal windows (one column per modality, cells "
            f"(n_channels, n_times) arrays) as made by make_windows, got {type(X).__name__}"
        )
    sfreq = X.attrs.get("sfreq")
    if not sfreq:
        raise ValueError(MISSING_SFREQ)
    if not isinstance(sfreq, Mapping):
        raise ValueError(f"X.attrs['sfreq'] must be a dict {{modality: Hz}}, got {sfreq!r}")
    if X.columns.duplicated().any():
        raise ValueError(f"X has duplicate columns {list(X.columns[X.columns.duplicated()])}")
    mods = list(X.columns) if modalities is None else list(modalities)
    missing = [m for m in mods if m not in X.columns]
    if missing:
        raise ValueError(f"modality columns {missing} are missing from X (has {list(X.columns)})")
    no_rate = [m for m in mods if m not in sfreq]
    if no_rate:
        raise ValueError(f"unknown sampling rate of modalities {no_rate}: not in X.attrs['sfreq']")
    rates = {m: check_sampling_rate(sfreq[m], f"modality {m!r} in X.attrs['sfreq']") for m in mods}
    if len(X) == 0:
        raise ValueError("X has no rows")
    for m in mods:
        shape = None
        for i, cell in enumerate(X[m].to_numpy()):
            if not isinstance(cell, np.ndarray) or cell.ndim != 2:
                raise ValueError(
                    f"cell at row {i} of modality {m!r} must be a 2-D array (n_channels, "
                    f"n_times), got {type(cell).__name__} with shape {getattr(cell, 'shape', None)}"
                )
            if cell.dtype.kind not in "biuf":
                raise ValueError(
                    f"cell at row {i} of modality {m!r} must hold real numbers, got dtype "
                    f"{cell.dtype}"
                    + (
                        " (complex: the imaginary part would be dropped)"
                        if cell.dtype.kind == "c"
                        else ""
                    )
                )
            if shape is None:
                shape = cell.shape
            elif cell.shape[0] != shape[0]:
                raise ValueError(
                    f"modality {m!r}: channel count changes between rows ({shape[0]} in row 0, "
                    f"{cell.shape[0]} in row {i})"
                )
            elif cell.shape != shape:
                raise ValueError(
                    f"modality {m!r}: window length changes between rows ({shape[1]} samples in "
                    f"row 0, {cell.shape[1]} in row {i})"
                )
    _check_window_durations(X, rates)
    return rates


#: The error for a window table without ``attrs["sfreq"]`` (shared with the extractor).
MISSING_SFREQ = (
    "unknown sampling rate: X.attrs['sfreq'] is missing. pandas drops a table's attrs in some "
    "operations (pd.concat of tables whose attrs differ, merge, groupby): combine window tables "
    "with mpcl_sklearn.windowing.concat_windows, or set X.attrs['sfreq'] = {modality: Hz} "
    "(and 'emotions', 'behavioural') again, as make_windows does"
)


def _check_window_durations(X: pd.DataFrame, rates: dict[str, float]) -> None:
    """The windows of a row must last the same time within one sample of each modality."""
    if len(rates) < 2:
        return
    dur = {m: X[m].iloc[0].shape[1] / f for m, f in rates.items()}
    short, long = min(dur, key=dur.get), max(dur, key=dur.get)
    if dur[long] - dur[short] > 1 / rates[short] + 1 / rates[long] + 1e-9:
        raise ValueError(
            f"the windows of {long!r} last {dur[long]:.6g} s ({X[long].iloc[0].shape[1]} "
            f"samples at {rates[long]:g} Hz) but those of {short!r} {dur[short]:.6g} s "
            f"({X[short].iloc[0].shape[1]} samples at {rates[short]:g} Hz): a sampling rate in "
            "X.attrs['sfreq'] is wrong"
        )


def concat_windows(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate window tables (rows), keeping their metadata.

    ``pd.concat`` keeps ``attrs`` only when every table has identical ones, so two tables with
    different ``attrs["report"]`` lose their sampling rates, and the windower and extractor
    then refuse the result. This checks that the tables describe the same data and merges
    their reports.

    Parameters
    ----------
    tables : sequence of DataFrame
        Window tables of :func:`make_windows` (or framed tables of :class:`SignalWindower`),
        with the same columns.

    Returns
    -------
    DataFrame
        The rows of every table in order, with ``attrs`` of the first table (a copy) and the
        reports of all. Cells are read-only copies (the result shares no array with the
        inputs).

    Raises
    ------
    ValueError
        If a table is not a DataFrame or lacks ``attrs["sfreq"]``, the columns differ, the
        tables disagree on ``sfreq``, ``behavioural``, ``emotions``, ``channel_names`` or
        ``frames`` (the message names the key and both values), or a window (index entry)
        appears twice (e.g. the same subject id in two datasets: rename one).
    """
    if isinstance(tables, pd.DataFrame) or not isinstance(tables, Sequence) or not tables:
        raise ValueError("concat_windows expects a non-empty list of window tables")
    first = tables[0]
    for i, t in enumerate(tables):
        if not isinstance(t, pd.DataFrame):
            raise ValueError(f"table {i} is a {type(t).__name__}, not a DataFrame")
        if not t.attrs.get("sfreq"):
            raise ValueError(
                f"table {i} has no attrs['sfreq']: it is not a window table of make_windows "
                "(or it lost its attrs already)"
            )
        if list(t.columns) != list(first.columns):
            raise ValueError(
                f"table {i} has columns {list(t.columns)}, table 0 {list(first.columns)}"
            )
        for key in WINDOW_METADATA:
            a, b = first.attrs.get(key), t.attrs.get(key)
            if a != b:
                raise ValueError(
                    f"the tables disagree on attrs[{key!r}]: table 0 has {a!r}, table {i} {b!r}"
                )
    out = pd.concat(list(tables), axis=0)
    dup = out.index.duplicated()
    if dup.any():
        raise ValueError(
            f"{int(dup.sum())} windows appear twice, e.g. {out.index[dup][0]!r}: the same "
            "(subject, trial, start) in two tables; rename the subjects of one dataset"
        )
    for c in out.columns:
        col = np.empty(len(out), dtype=object)
        for i, cell in enumerate(out[c].to_numpy()):
            col[i] = np.array(cell, copy=True)
            col[i].flags.writeable = False
        out[c] = pd.Series(col, index=out.index, dtype=object)
    attrs = {k: copy.deepcopy(v) for k, v in first.attrs.items() if k != "report"}
    for t in tables[1:]:  # other keys survive only if every table has the same value
        for k in list(attrs):
            if k not in WINDOW_METADATA and t.attrs.get(k) != attrs[k]:
                del attrs[k]
    attrs["report"] = [line for t in tables for line in t.attrs.get("report", [])]
    out.attrs = attrs
    return out
