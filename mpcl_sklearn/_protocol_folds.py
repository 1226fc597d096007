"""The machinery of the evaluation protocols (:mod:`mpcl_sklearn.model_selection`): checking
``groups`` and ``cv``, routing the rows' groups to ``fit``, and fitting and scoring one fold."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

from ._validation import check_group_ids
from .metrics import METRICS, distribution_report


def _take(data, idx: np.ndarray):
    """Rows ``idx`` of an array or DataFrame (attrs kept)."""
    if hasattr(data, "iloc"):
        return data.iloc[idx]
    return np.asarray(data)[idx] if not isinstance(data, np.ndarray) else data[idx]


def _check_groups(
    groups, what: str = "the subject id of every row", name: str = "groups"
) -> np.ndarray:
    """``groups`` as a 1-D array; a clear error for None, a scalar or a table, and for ids that
    are missing (None, NaN) or would merge as text (``1`` and ``"1"``), as
    :meth:`Recordings.validate <mpcl_sklearn.Recordings.validate>` refuses them."""
    if groups is None:
        raise ValueError(f"{name} is required: {what} (e.g. the groups of make_windows)")
    if np.ndim(groups) != 1:
        raise ValueError(
            f"{name} must be a 1-D sequence ({what}), got an array of shape {np.shape(groups)}"
        )
    return check_group_ids(groups, name)


def _fit_keyword(estimator, name: str = "groups") -> str | None:
    """The ``fit`` keyword under which ``estimator`` takes the rows' groups (or another
    per-row ``name``, e.g. ``conditions``), or None.

    Under metadata routing: ``name`` when the estimator (or a step of a Pipeline) requests
    it. Otherwise: ``groups`` for a hyper-parameter search (``BaseSearchCV``) and for an
    estimator whose ``fit`` has a ``name`` parameter (the package's torch models),
    ``<last step>__<name>`` for a Pipeline whose last step takes it.
    """
    from sklearn import get_config
    from sklearn.model_selection._search import BaseSearchCV
    from sklearn.pipeline import Pipeline

    if get_config().get("enable_metadata_routing", False):
        from sklearn.utils.metadata_routing import get_routing_for_object

        wanted = get_routing_for_object(estimator).consumes("fit", [name])
        return name if wanted else None
    if isinstance(estimator, BaseSearchCV):  # passes groups to its cv's split
        return "groups" if name == "groups" else None
    if isinstance(estimator, Pipeline):
        step, last = estimator.steps[-1]
        inner = _fit_keyword(last, name) if last not in (None, "passthrough") else None
        return None if inner is None else f"{step}__{inner}"
    try:
        params = inspect.signature(estimator.fit).parameters
    except (TypeError, ValueError):
        return None
    return name if name in params else None


def _check_lengths(X, y, **named) -> int:
    n = len(X)
    if len(y) != n:
        raise ValueError(f"X has {n} rows but y has {len(y)}")
    for name, arr in named.items():
        if arr is not None and len(arr) != n:
            raise ValueError(f"X has {n} rows but {name} has {len(arr)}")
    if n == 0:
        raise ValueError("X is empty")
    return n


def _fit_and_score(
    estimator, X, y, train, test, fit_params, fit_groups=None, key="groups", rows=None
):
    """Fit a clone on ``train``; the six metrics on ``test`` and the test predictions.
    ``fit_groups`` (all rows) reach ``fit`` as ``key`` (restricted to ``train``). ``rows``
    (:class:`RowOptions`) adds per-row metadata to ``fit`` and ``predict`` and restricts the
    scored test rows."""
    est = clone(estimator)
    params = dict(fit_params or {})
    if fit_groups is not None:
        params[key] = fit_groups[train]
    metadata = {} if rows is None or rows.metadata is None else rows.metadata
    params |= {name: values[train] for name, values in metadata.items()}
    for name, values in ({} if rows is None else rows.fit_metadata or {}).items():
        key = _fit_keyword(est, name)  # only to an estimator that takes them
        if key is not None:
            params[key] = values[train]
    est.fit(_take(X, train), _take(y, train), **params)
    pred = est.predict(_take(X, test), **{name: v[test] for name, v in metadata.items()})
    y_test = _take(y, test)
    if rows is not None and rows.scored is not None:
        keep = rows.scored[test]
        if not keep.any():
            return dict.fromkeys(METRICS, np.nan) | {"n_scored": 0}, np.asarray(pred)
        report = distribution_report(np.asarray(y_test)[keep], np.asarray(pred)[keep])
        return report | {"n_scored": int(keep.sum())}, np.asarray(pred)
    report = distribution_report(y_test, pred)
    return report, np.asarray(pred)


@dataclass
class RowOptions:
    """Per-row extras of a protocol run.

    Attributes
    ----------
    metadata : dict of str to ndarray, optional
        Arrays of one entry per row, passed (restricted to the fold's rows) to ``fit`` and
        ``predict`` as keyword arguments, e.g. the ``subjects`` and ``reference`` a
        :class:`~mpcl_sklearn.preprocessing.SubjectCalibrator` step requests under metadata
        routing.
    scored : ndarray of bool, optional
        The test rows that are scored (all are predicted); a fold with none scores NaN.
    fit_metadata : dict of str to ndarray, optional
        Arrays of one entry per row passed (restricted to the training rows) to ``fit`` only,
        and only to an estimator that takes them (its ``fit`` has the parameter, or it requests
        it under metadata routing), e.g. MPCL's ``conditions``.
    """

    metadata: dict | None = None
    scored: np.ndarray | None = None
    fit_metadata: dict | None = None

    def check(self, n: int) -> RowOptions:
        """Arrays of ``n`` entries (raises otherwise)."""
        metadata = {k: np.asarray(v) for k, v in (self.metadata or {}).items()}
        fit_metadata = {k: np.asarray(v) for k, v in (self.fit_metadata or {}).items()}
        for name, values in (metadata | fit_metadata).items():
            if len(values) != n:
                raise ValueError(f"row metadata {name!r} has {len(values)} entries, X has {n}")
        scored = None
        if self.scored is not None:
            scored = np.asarray(self.scored)
            if scored.shape != (n,) or scored.dtype != bool:
                raise ValueError(f"scored rows must be a boolean mask of {n} entries")
        return RowOptions(metadata or None, scored, fit_metadata or None)


def _run_parallel(tasks: list, n_jobs, progress: bool, desc: str) -> list:
    parallel = Parallel(n_jobs=n_jobs, return_as="generator")
    results = parallel(delayed(_fit_and_score)(*task) for task in tasks)
    if progress:
        from tqdm.auto import tqdm

        results = tqdm(results, total=len(tasks), desc=desc)
    return list(results)


def _outer_splitter(cv, n_subjects: int) -> tuple[object, str]:
    """The splitter of ``cv`` (an int, "loso" or a splitter) and its label."""
    if isinstance(cv, str):
        if cv.strip().lower() != "loso":
            raise ValueError(
                f"cv must be 'loso', a number of GroupKFold folds (>= 2) or a splitter, got {cv!r}"
            )
        if n_subjects < 2:
            raise ValueError(
                f"cv='loso' needs at least 2 subjects in groups, but groups has {n_subjects}"
            )
        return LeaveOneGroupOut(), "leave-one-subject-out"
    if isinstance(cv, (int, np.integer)) and not isinstance(cv, (bool, np.bool_)):
        if cv < 2:
            raise ValueError(f"cv={cv} folds: need at least 2 GroupKFold folds")
        if n_subjects < cv:
            raise ValueError(
                f"cv={cv} folds need at least {cv} subjects, but groups has {n_subjects}"
            )
        return GroupKFold(n_splits=int(cv)), f"GroupKFold({int(cv)})"
    if not callable(getattr(cv, "split", None)):
        raise TypeError(
            "cv must be 'loso', a number of GroupKFold folds (>= 2) or a splitter with "
            f"split(X, y, groups), got {cv!r} ({type(cv).__name__})"
        )
    return cv, type(cv).__name__


def _routed_groups(estimator, fit_groups, ids: np.ndarray | None):
    """``(ids or None, fit keyword)``: what ``fit`` gets for ``fit_groups`` (see
    :func:`subject_independent_evaluate`)."""
    if isinstance(fit_groups, str):
        if fit_groups != "auto":
            raise ValueError(f"fit_groups must be True, False or 'auto', got {fit_groups!r}")
        key = _fit_keyword(estimator)
        return (None, "groups") if key is None or ids is None else (ids, key)
    return (ids, "groups") if fit_groups else (None, "groups")
