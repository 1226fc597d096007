"""The ids a ``groups`` argument carries: subject ids, or the subject, trial and time of every
row that :class:`~mpcl_sklearn.model_selection.SubjectDependentSplitter` reads.

One parser for everyone who receives such ``groups``: the splitter, and (under scikit-learn's
metadata routing, which hands the splitter's ``groups`` to ``fit`` too) the torch models, whose
early-stopping split holds out whole subjects, or whole trials of a subject/trial table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["ID_COLUMNS", "describe", "forms", "id_columns", "validation_groups"]

#: The columns of a ``groups`` table, in the order of an (n_samples, 2 or 3) array.
ID_COLUMNS = ("subject", "trial", "time")

_FORMS = (
    "1-D subject ids, a DataFrame with columns 'subject', 'trial' and optionally 'time', or an "
    "(n_samples, 2 or 3) array of those columns"
)


def id_columns(groups) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None] | None:
    """Subject, trial (or None) and time (or None) ids of every row, or None when ``groups``
    has none of the forms: 1-D subject ids, a DataFrame with a ``subject`` column (and
    optionally ``trial`` and ``time``), or an array of shape (n_samples, 2 or 3) with those
    columns in that order."""
    if groups is None:
        return None
    if isinstance(groups, pd.DataFrame):
        if "subject" not in groups.columns:
            return None
        subjects, trials, times = (
            groups[c].to_numpy() if c in groups.columns else None for c in ID_COLUMNS
        )
        return subjects, trials, times
    try:
        ids = np.asarray(groups)
    except (TypeError, ValueError):  # ragged rows
        return None
    if ids.ndim == 1:
        return ids, None, None
    if ids.ndim == 2 and ids.shape[1] in (2, 3):
        trials = ids[:, 1]
        times = ids[:, 2] if ids.shape[1] == 3 else None
        return ids[:, 0], trials, times
    return None


def describe(groups) -> str:
    """What ``groups`` is, for an error message: its columns, shape or type."""
    if isinstance(groups, pd.DataFrame):
        return f"columns {list(groups.columns)}"
    if groups is None:
        return "None"
    try:
        return str(getattr(groups, "shape", np.shape(groups) if np.ndim(groups) else type(groups)))
    except (TypeError, ValueError):  # ragged rows
        return str(type(groups))


def validation_groups(groups, owner: str) -> np.ndarray | None:
    """The groups an early-stopping split holds out whole, from ``groups`` in any form
    :func:`id_columns` reads (None stays None): the subjects of 1-D ids, or the trials (each
    ``(subject, trial)`` pair) of a subject/trial table, the protocol it comes from training one
    model per subject; a ValueError naming ``owner`` for anything else."""
    if groups is None:
        return None
    ids = id_columns(groups)
    if ids is None:
        raise ValueError(f"{owner}: groups must be {_FORMS}; got {describe(groups)}")
    subjects, trials, _ = ids
    if trials is None:
        return subjects
    return pd.MultiIndex.from_arrays([subjects, trials]).factorize()[0]


def forms() -> str:
    """The accepted forms of ``groups``, for error messages."""
    return _FORMS
