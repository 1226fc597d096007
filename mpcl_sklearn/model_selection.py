"""Evaluation protocols: subject-independent and subject-dependent, with tidy result tables.

* :func:`subject_independent_evaluate` trains on some subjects and tests on others
  (``GroupKFold`` or leave-one-subject-out).
* :func:`subject_dependent_evaluate` trains one model per subject. Inside a subject, windows are
  split by trial (no trial in both train and test), temporally within each trial (first 80% of
  each trial's windows train, last 20% test), or at random. Neighbouring windows share signal
  and label, so the random split leaks; it is offered only for comparison with published numbers
  and warns with :class:`LeakageWarning`.
* Its splits come from :class:`SubjectDependentSplitter`, a scikit-learn splitter (also usable as
  ``cv=`` in ``cross_validate``/``GridSearchCV``); :class:`InnerGroupKFold` is the group split of
  the hyper-parameter searches nested inside training folds.

Metrics are averaged per sample over each test set and then reported as mean and standard
deviation over folds (subject-independent) or subjects (subject-dependent).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import BaseCrossValidator, GroupKFold, KFold

from ._groups import describe, forms, id_columns
from ._param_validation import Float, Int, Options, validate_params
from ._protocol_folds import (
    RowOptions,
    _check_groups,
    _check_lengths,
    _outer_splitter,
    _routed_groups,
    _run_parallel,
)
from .metrics import METRICS

__all__ = [
    "EvaluationResult",
    "InnerGroupKFold",
    "LeakageWarning",
    "SubjectDependentSplitter",
    "subject_dependent_evaluate",
    "subject_independent_evaluate",
    "temporal_blocks",
]

METRIC_NAMES = list(METRICS)


class LeakageWarning(UserWarning):
    """A split that puts windows of one trial in both train and test."""


@dataclass
class EvaluationResult:
    """Scores of one protocol run.

    Attributes
    ----------
    scores : pandas.DataFrame
        One row per fold (subject-independent) or per subject and fold (subject-dependent), with
        the six metrics as columns plus ``n_train``, ``n_test`` and who was tested.
    summary : pandas.DataFrame
        One row per metric with ``mean`` and ``std`` over folds or subjects, and whether higher
        is better.
    protocol : str
        Description of the protocol that produced the scores.
    predictions : ndarray of shape (n_samples, n_emotions) or None
        Subject-independent protocol with ``return_predictions=True``: every row's prediction
        by the model of the fold that held it out.
    prediction_folds : ndarray of shape (n_samples,) or None
        With ``predictions``: the fold (row of ``scores``) that tested each row.
    """

    scores: pd.DataFrame
    summary: pd.DataFrame
    protocol: str
    predictions: np.ndarray | None = None
    prediction_folds: np.ndarray | None = None

    def format_summary(self, digits: int = 4) -> str:
        """The summary as text, one ``metric  mean ± std`` line per metric."""
        lines = [self.protocol]
        for name, row in self.summary.iterrows():
            arrow = "higher is better" if row["higher_is_better"] else "lower is better"
            lines.append(
                f"  {name:<14s} {row['mean']:.{digits}f} ± {row['std']:.{digits}f}   ({arrow})"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format_summary()


def _summarise(
    per_unit: pd.DataFrame, protocol: str, scores: pd.DataFrame, predictions=None
) -> EvaluationResult:
    summary = pd.DataFrame(
        {
            "mean": per_unit[METRIC_NAMES].mean(),
            "std": per_unit[METRIC_NAMES].std(ddof=0),
            "higher_is_better": [METRICS[m][1] for m in METRIC_NAMES],
        }
    )
    summary.index.name = "metric"
    return EvaluationResult(
        scores=scores, summary=summary, protocol=protocol, predictions=predictions
    )


def subject_independent_evaluate(
    estimator,
    X,
    y,
    groups,
    *,
    cv: int | str | object = 5,
    n_jobs: int | None = None,
    progress: bool = False,
    fit_params: dict | None = None,
    fit_groups: bool | str = "auto",
    return_predictions: bool = False,
    rows: RowOptions | None = None,
) -> EvaluationResult:
    """Cross-validate across subjects: no subject is in both train and test.

    Parameters
    ----------
    estimator : estimator
        Any estimator whose ``predict`` returns distributions (a Pipeline is fine).
    X : array-like or DataFrame of shape (n_samples, ...)
    y : array-like of shape (n_samples, n_emotions)
    groups : array-like of shape (n_samples,)
        Subject id of every row.
    cv : int, "loso" or splitter, default=5
        Number of ``GroupKFold`` folds (>= 2), ``"loso"`` (any case) for
        leave-one-subject-out, or any splitter whose ``split(X, y, groups)`` keeps groups
        apart.
    n_jobs : int, optional
        Folds run in parallel with joblib (``None`` = 1, ``-1`` = all cores).
    progress : bool
        Show a progress bar over folds.
    fit_params : dict, optional
        Extra keyword arguments for ``fit``.
    fit_groups : bool or "auto", default="auto"
        Pass the training rows' subject ids to ``fit`` as ``groups``: for nested
        hyper-parameter searches such as ``GridSearchCV(..., cv=GroupKFold(3))`` that must
        keep subjects apart inside the training folds too, and for the torch models' early
        stopping (whole subjects held out for validation). ``"auto"``: when the estimator takes
        them (its ``fit`` has a ``groups`` parameter, or a Pipeline's last step's does, passed
        as ``<step>__groups``; under metadata routing, when it requests them); True: always
        (as ``groups``); False: never.
    return_predictions : bool, default=False
        Keep the out-of-fold predictions in ``EvaluationResult.predictions`` (for plots such as
        predicted vs true co-occurrence).
    rows : RowOptions, optional
        Per-row metadata for ``fit`` and ``predict`` (e.g. a calibrator's subjects) and the
        test rows to score (``n_scored`` in ``scores``).

    Returns
    -------
    EvaluationResult
        ``scores`` has one row per fold; ``summary`` the mean ± std over folds.
    """
    groups = _check_groups(groups)
    _check_lengths(X, y, groups=groups)
    n_subjects = len(np.unique(groups))
    splitter, label = _outer_splitter(cv, n_subjects)
    splits = list(splitter.split(X, y, groups))
    for train, test in splits:
        shared = set(groups[train]).intersection(groups[test])
        if shared:
            raise ValueError(f"splitter {label} put subjects {sorted(shared)} in train and test")
    inner, key = _routed_groups(estimator, fit_groups, groups)
    rows = None if rows is None else rows.check(len(groups))
    tasks = [(estimator, X, y, tr, te, fit_params, inner, key, rows) for tr, te in splits]
    reports, preds = zip(*_run_parallel(tasks, n_jobs, progress, "folds"), strict=True)
    predictions = folds = None
    if return_predictions:
        predictions = np.full((len(groups), preds[0].shape[1]), np.nan)
        folds = np.full(len(groups), -1)
        for i, ((_, test), pred) in enumerate(zip(splits, preds, strict=True)):
            predictions[test], folds[test] = pred, i
        tested = folds >= 0
        if not tested.all():
            raise ValueError(
                f"return_predictions=True needs every row in some test fold; splitter {label} "
                f"left {int((~tested).sum())} rows untested"
            )
    rows = []
    for i, ((train, test), rep) in enumerate(zip(splits, reports, strict=True)):
        rows.append(
            {
                "fold": i,
                "test_subjects": ",".join(map(str, np.unique(groups[test]))),
                "n_train": len(train),
                "n_test": len(test),
            }
            | rep
        )
    scores = pd.DataFrame(rows)
    protocol = f"subject-independent, {label} over {n_subjects} subjects"
    result = _summarise(scores, protocol, scores, predictions)
    result.prediction_folds = folds
    return result


class InnerGroupKFold(BaseCrossValidator):
    """``GroupKFold(n_splits)`` capped at the number of groups: the ``cv`` of a hyper-parameter
    search nested in a protocol's training fold, whose number of subjects (or trials) varies.

    With a single group (one training trial per subject in the subject-dependent protocol, two
    subjects left one out) the rows are split into ``n_splits`` contiguous ``KFold`` folds,
    with a warning.

    Parameters
    ----------
    n_splits : int, default=3
        Most folds.
    """

    __metadata_request__split = {"groups": True}

    _constraints = {"n_splits": Int(2)}

    def __init__(self, n_splits: int = 3):
        self.n_splits = n_splits

    def _splitter(self, groups) -> BaseCrossValidator:
        validate_params(self)
        n_groups = 0 if groups is None else len(np.unique(groups))
        if n_groups < 2:
            warnings.warn(
                f"the inner hyper-parameter search got {n_groups} group(s) in this training "
                f"fold: it splits the rows into {self.n_splits} contiguous folds instead",
                UserWarning,
                stacklevel=3,
            )
            return KFold(self.n_splits)
        return GroupKFold(min(self.n_splits, n_groups))

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """Number of folds for these ``groups``."""
        return self._splitter(groups).get_n_splits()

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train, test)`` indices; no group in both."""
        splitter = self._splitter(groups)
        return splitter.split(X, y, None if isinstance(splitter, KFold) else groups)


def _check_strategy(value, name: str) -> None:
    if value not in ("trial", "temporal", "random"):
        raise ValueError(f"{name} must be 'trial', 'temporal' or 'random', got {value!r}")


class SubjectDependentSplitter(BaseCrossValidator):
    """Splits within each subject: by trial, temporally within each trial, or at random.

    A scikit-learn splitter: ``split(X, y, groups)`` yields ``(train, test)`` index arrays, one
    pair per subject and fold, both within that subject (the subject-dependent protocol trains
    one model per subject). It works as ``cv=`` in ``cross_validate``, ``GridSearchCV`` and
    the rest of :mod:`sklearn.model_selection`.

    ``groups`` carries the ids the split needs, one row per sample: a DataFrame with columns
    ``subject`` and ``trial`` and optionally ``time`` (the time of the row within its trial;
    row order when absent), or an array of shape (n_samples, 2 or 3) with the same columns in
    that order. ``strategy="random"`` needs only the subject, so plain 1-D subject ids do::

        groups = pd.DataFrame({"subject": subjects, "trial": trials})
        cross_validate(model, X, y, groups=groups, cv=SubjectDependentSplitter("trial"))
        GridSearchCV(model, grid, cv=SubjectDependentSplitter("temporal")).fit(X, y, groups=groups)

    The splitter requests ``groups`` under metadata routing: then pass them to
    ``cross_validate`` as ``params={"groups": groups}`` (``GridSearchCV.fit`` is unchanged).

    Parameters
    ----------
    strategy : {"trial", "temporal", "random"}, default="trial"
        ``"trial"``: ``GroupKFold`` over the subject's trials, so no trial is in both train and
        test. ``"temporal"``: in every trial, the first ``1 - test_size`` of its windows (row
        order, or ``time``) train and the rest test; one split per subject. ``"random"``:
        shuffled windows, which leaks (neighbouring windows share signal and label); warns
        with :class:`LeakageWarning`.
    n_splits : int, default=5
        Folds per subject for ``"trial"`` (capped at the subject's number of trials) and
        ``"random"``.
    test_size : float, default=0.2
        Test fraction for ``"temporal"``.
    random_state : int, optional
        Seed for ``"random"``.
    """

    __metadata_request__split = {"groups": True}

    _constraints = {
        "strategy": Options("trial", "temporal", "random"),
        "n_splits": Int(2),
        "test_size": Float(0, 1, "neither"),
        "random_state": Int(0) | None,
    }

    def __init__(
        self,
        strategy: str = "trial",
        n_splits: int = 5,
        test_size: float = 0.2,
        random_state: int | None = None,
    ):
        self.strategy = strategy
        self.n_splits = n_splits
        self.test_size = test_size
        self.random_state = random_state

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train, test)`` row indices, one pair per subject and fold.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        y : ignored
        groups : DataFrame, array-like of shape (n_samples, 2 or 3) or (n_samples,)
            Subject, trial and optionally time of every row (see the class docstring).
        """
        subjects, trials, times = self._ids(X, groups)
        for _, _, train, test in self._subject_folds(subjects, trials, times, warn=True):
            yield train, test

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """Number of ``(train, test)`` pairs :meth:`split` yields for these ``groups``."""
        return sum(1 for _ in self._subject_folds(*self._ids(X, groups)))

    def _ids(self, X, groups) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Subject, trial (or None) and time (or None) of every row, from ``groups``."""
        cols = id_columns(groups)
        if cols is None:
            raise ValueError(
                f"SubjectDependentSplitter needs groups: {forms()} (1-D subject ids only for "
                f"strategy='random'); got {describe(groups)}"
            )
        subjects, trials, times = cols
        if X is not None and len(subjects) != len(X):
            raise ValueError(f"X has {len(X)} rows but groups has {len(subjects)}")
        if times is not None and times.dtype.kind in "OSU":
            try:
                times = times.astype(float)
            except (TypeError, ValueError):
                raise ValueError("the time column of groups must hold numbers") from None
        return subjects, trials, times

    def _subject_folds(self, subjects, trials=None, times=None, *, warn=False):
        """Yield ``(subject, fold, train, test)`` with indices into all rows; ``warn``: warn
        that ``strategy="random"`` leaks."""
        validate_params(self)
        subjects = np.asarray(subjects)
        if self.strategy != "random" and trials is None:
            raise ValueError(
                f"strategy={self.strategy!r} needs the trial id of every row (the 'trial' column "
                "of groups; trials= in subject_dependent_evaluate)"
            )
        if warn and self.strategy == "random":
            warnings.warn(
                "split='random' (strategy='random') puts windows of the same trial in train and "
                "test; neighbouring "
                "windows share signal and label, so scores are optimistic. Use it only to "
                "compare with published numbers; prefer split='trial' or 'temporal'.",
                LeakageWarning,
                stacklevel=3,
            )
        trials = None if trials is None else np.asarray(trials)
        times = np.arange(len(subjects)) if times is None else np.asarray(times)
        rng = np.random.default_rng(self.random_state)
        for subject in pd.unique(subjects):
            rows = np.flatnonzero(subjects == subject)
            if self.strategy == "trial":
                yield from self._by_trial(subject, rows, trials)
            elif self.strategy == "temporal":
                yield self._temporal(subject, rows, trials, times)
            else:
                yield from self._random(subject, rows, rng)

    def _by_trial(self, subject, rows, trials):
        sub_trials = trials[rows]
        n_trials = len(np.unique(sub_trials))
        if n_trials < 2:
            raise ValueError(
                f"subject {subject!r} has {n_trials} trial; split='trial' needs at least 2"
            )
        k = min(self.n_splits, n_trials)
        for fold, (tr, te) in enumerate(GroupKFold(n_splits=k).split(rows, groups=sub_trials)):
            yield subject, fold, rows[tr], rows[te]

    def _temporal(self, subject, rows, trials, times):
        train, test = [], []
        for trial in pd.unique(trials[rows]):
            trial_rows = rows[trials[rows] == trial]
            ordered = trial_rows[np.argsort(times[trial_rows], kind="stable")]
            n_test = int(round(len(ordered) * self.test_size))
            if n_test == 0 or n_test == len(ordered):
                raise ValueError(
                    f"trial {trial!r} of subject {subject!r} has {len(ordered)} windows: too "
                    f"few to split temporally with test_size={self.test_size}"
                )
            train.append(ordered[:-n_test])
            test.append(ordered[-n_test:])
        return subject, 0, np.concatenate(train), np.concatenate(test)

    def _random(self, subject, rows, rng):
        if len(rows) < self.n_splits:
            raise ValueError(
                f"subject {subject!r} has {len(rows)} rows, fewer than n_splits={self.n_splits}"
            )
        perm = rng.permutation(rows)
        for fold, test in enumerate(np.array_split(perm, self.n_splits)):
            yield subject, fold, np.setdiff1d(perm, test), np.sort(test)


def temporal_blocks(train, trials, times, n_blocks: int) -> np.ndarray:
    """Group ids that cut every trial's ``train`` rows into ``n_blocks`` stretches of time.

    The training rows of each trial, in order of ``times``, are split into ``n_blocks``
    consecutive blocks of near-equal size (``numpy.array_split``); a row's group is its
    block's index, shared by all trials, so ``GroupKFold`` over these groups holds out the same
    stretch of every trial. Rows outside ``train`` get ``-1``.

    Parameters
    ----------
    train : array of int
        Indices of the training rows.
    trials, times : arrays of shape (n_samples,)
        Trial id and time (or order) of every row.
    n_blocks : int
        Blocks per trial (fewer when a trial has fewer training rows).

    Returns
    -------
    ndarray of int, shape (n_samples,)
    """
    trials, times = np.asarray(trials), np.asarray(times)
    train = np.asarray(train)
    if isinstance(n_blocks, bool) or not isinstance(n_blocks, int | np.integer) or n_blocks < 1:
        raise ValueError(f"n_blocks must be an integer >= 1, got {n_blocks!r}")
    if trials.ndim != 1 or times.shape != trials.shape:
        raise ValueError(
            f"trials and times must be 1-D with one entry per row, got shapes {trials.shape} "
            f"and {times.shape}"
        )
    if (
        train.ndim != 1
        or train.dtype.kind not in "iu"
        or not np.all((0 <= train) & (train < len(trials)))
    ):
        raise ValueError(f"train must be 1-D integer row indices in [0, {len(trials)})")
    blocks = np.full(len(trials), -1)
    for trial in pd.unique(trials[train]):
        rows = train[trials[train] == trial]
        ordered = rows[np.argsort(times[rows], kind="stable")]
        for b, part in enumerate(np.array_split(ordered, min(int(n_blocks), len(ordered)))):
            blocks[part] = b
    return blocks


def subject_dependent_evaluate(
    estimator,
    X,
    y,
    groups,
    trials=None,
    *,
    split: str = "trial",
    n_splits: int = 5,
    test_size: float = 0.2,
    times=None,
    random_state: int | None = None,
    n_jobs: int | None = None,
    progress: bool = False,
    fit_params: dict | None = None,
    fit_groups: bool | str = "auto",
    rows: RowOptions | None = None,
) -> EvaluationResult:
    """Train and test one model per subject (see :class:`SubjectDependentSplitter`).

    Parameters
    ----------
    estimator : estimator
        Any estimator whose ``predict`` returns distributions.
    X, y : the windows and their distributions.
    groups : array-like of shape (n_samples,)
        Subject id of every row.
    trials : array-like of shape (n_samples,), optional
        Trial id of every row (required unless ``split="random"``).
    split : {"trial", "temporal", "random"}, default="trial"
        The splitter's ``strategy``.
    n_splits, test_size, random_state :
        Passed to :class:`SubjectDependentSplitter`.
    times : array-like, optional
        Time of each row within its trial (for ``split="temporal"``); row order otherwise.
    n_jobs, progress, fit_params :
        As in :func:`subject_independent_evaluate`.
    fit_groups : bool or "auto", default="auto"
        Pass groups to ``fit`` that mirror the split, for what a model holds out inside its
        training rows (nested searches, MPCL's cross-fitted members, the torch models' early
        stopping): with ``split="trial"`` the trial ids (whole trials held out, as the test
        trial is unseen); with ``split="temporal"`` the temporal block of each training row
        (:func:`temporal_blocks`: every trial's training stretch cut into
        ``round((1 - test_size) / test_size)`` consecutive blocks the size of its test
        stretch, block ``b`` of all trials one group), so a fold holds out the same stretch of
        every trial while its other stretches train, as the split tests later windows of
        trials it has seen. ``"auto"`` as in :func:`subject_independent_evaluate` (only when
        ``trials`` are given).
    rows : RowOptions, optional
        As in :func:`subject_independent_evaluate`.

    Returns
    -------
    EvaluationResult
        ``scores`` has one row per subject and fold; the summary averages each subject's folds
        first and then gives the mean ± std over subjects.
    """
    groups = _check_groups(groups)
    if trials is not None:
        trials = _check_groups(trials, "the trial id of every row", "trials")
    _check_lengths(X, y, groups=groups, trials=trials, times=times)
    _check_strategy(split, "split")
    splitter = SubjectDependentSplitter(split, n_splits, test_size, random_state)
    splits = list(splitter._subject_folds(groups, trials, times, warn=True))
    if fit_groups is True and trials is None:
        raise ValueError("fit_groups=True needs the trial id of every row")
    ids = None if trials is None else np.asarray(trials)
    inner, key = _routed_groups(estimator, fit_groups, ids)
    rows = None if rows is None else rows.check(len(groups))
    inners = [inner] * len(splits)
    if inner is not None and split == "temporal":
        n_blocks = max(2, round((1.0 - test_size) / test_size))
        order = np.arange(len(groups)) if times is None else np.asarray(times)
        inners = [temporal_blocks(tr, inner, order, n_blocks) for _, _, tr, _ in splits]
    tasks = [
        (estimator, X, y, tr, te, fit_params, blocks, key, rows)
        for (_, _, tr, te), blocks in zip(splits, inners, strict=True)
    ]
    reports = [rep for rep, _ in _run_parallel(tasks, n_jobs, progress, "subject folds")]
    rows = [
        {"subject": s, "fold": f, "n_train": len(tr), "n_test": len(te)} | rep
        for (s, f, tr, te), rep in zip(splits, reports, strict=True)
    ]
    scores = pd.DataFrame(rows)
    per_subject = scores.groupby("subject", sort=False)[METRIC_NAMES].mean()
    protocol = f"subject-dependent, split={split!r} within each of {len(per_subject)} subjects"
    return _summarise(per_subject, protocol, scores)
