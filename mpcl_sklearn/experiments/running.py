"""Running experiments: every model (or MPCL ablation) under the same protocol and folds."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from ..datasets.table import FeatureTable
from ..model_selection import (
    EvaluationResult,
    RowOptions,
    subject_dependent_evaluate,
    subject_independent_evaluate,
)
from .calibration import CALIBRATION_MODES, calibrated
from .registry import MODEL_NAMES, ablation_variants, make_model
from .results import ExperimentResult

__all__ = ["PROTOCOLS", "SCORE_ON", "fit_final_mpcl", "run_ablation", "run_experiment"]

#: Protocols of :func:`run_experiment`.
PROTOCOLS = ("subject-independent", "subject-dependent", "kfold")
#: ``score_on=`` values: every test row, or the test rows outside the calibration segment.
SCORE_ON = ("all", "non-reference")


def behavioural_argument(data: FeatureTable) -> tuple[str, ...] | None:
    """What :func:`make_model` gets as ``behavioural`` for ``data``.

    None when ``data.X.attrs["behavioural"]`` already declares ``data.behavioural`` (the loaders
    set it): the models then read it as the table's metadata (``behavioural_modalities="auto"``)
    instead of as names the user wrote, which they would check against the columns and warn
    about (a table whose names fall back to one token would get a "check the spelling" warning
    for a modality the loader inferred). Otherwise the names, explicitly.
    """
    declared = getattr(data.X, "attrs", {}).get("behavioural")
    if declared is not None and tuple(declared) == tuple(data.behavioural):
        return None
    return tuple(data.behavioural)


class _RowKFold(KFold):
    """``KFold`` that takes the protocol's ``groups`` (one per row) without warning."""

    def split(self, X, y=None, groups=None):
        return super().split(X, y)


def _evaluate_one(
    estimator,
    data: FeatureTable,
    y,
    protocol: str,
    *,
    cv,
    split: str,
    n_jobs: int | None,
    progress: bool,
    rows: RowOptions | None,
    random_state: int | None,
) -> EvaluationResult:
    if protocol == "kfold":
        folds = 10 if cv in (None, "loso") else int(cv)
        ids = np.arange(len(y)).astype(str)  # every row its own group
        result = subject_independent_evaluate(
            estimator,
            data.X,
            y,
            ids,
            cv=_RowKFold(folds, shuffle=True, random_state=random_state),
            n_jobs=n_jobs,
            progress=progress,
            return_predictions=True,
            rows=rows,
        )
        result.protocol = (
            f"{folds}-fold cross-validation over {len(y)} rows (KFold, shuffled, "
            f"random_state={random_state}; no groups)"
        )
        return result
    if protocol == "subject-independent":
        return subject_independent_evaluate(
            estimator,
            data.X,
            y,
            data.groups,
            cv="loso" if cv is None else cv,
            n_jobs=n_jobs,
            progress=progress,
            return_predictions=True,
            rows=rows,
        )
    if protocol == "subject-dependent":
        return subject_dependent_evaluate(
            estimator,
            data.X,
            y,
            data.groups,
            data.trials,
            split=split,
            n_jobs=n_jobs,
            progress=progress,
            rows=rows,
        )
    raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")


def _row_options(
    data, calibration, reference, score_on, conditions: bool = True
) -> tuple[RowOptions | None, list[str]]:
    """The calibrator's per-row metadata, the scored rows, the conditions for the models that
    take them (``conditions`` and the data has them) and the notes saying so."""
    if calibration not in CALIBRATION_MODES:
        raise ValueError(
            f"calibration must be one of {', '.join(CALIBRATION_MODES)}, got {calibration!r}"
        )
    if score_on not in SCORE_ON:
        raise ValueError(f"score_on must be one of {', '.join(SCORE_ON)}, got {score_on!r}")
    n = len(data.y)
    if reference is not None:
        reference = np.asarray(reference)
        if reference.shape != (n,) or reference.dtype != bool:
            raise ValueError(f"reference must be a boolean mask with one entry per row ({n})")
    if calibration == "reference" and reference is None:
        raise ValueError("calibration='reference' needs reference= (the calibration rows)")
    if calibration != "reference" and reference is not None:
        raise ValueError("reference= is for calibration='reference'")
    if score_on == "non-reference" and reference is None:
        raise ValueError("score_on='non-reference' needs calibration='reference'")
    notes, metadata, scored = [], None, None
    if calibration != "none":
        metadata = {"subjects": np.asarray(data.groups)}
        if calibration == "reference":
            what = f"its own reference rows ({int(reference.sum())} rows in all)"
        else:
            what = "all its rows, test subjects' unlabelled rows included (transductive)"
        notes.append(
            f"Calibration: {calibration} (SubjectCalibrator first in every model's pipeline, "
            f"fitted in each training fold; each subject normalised by {what})."
        )
    if reference is not None:
        metadata["reference"] = reference
    if score_on == "non-reference":
        scored = ~reference
        notes.append(
            f"Scored rows: the {int(scored.sum())} non-reference rows of the test folds "
            "(reference rows are predicted, not scored)."
        )
    elif reference is not None:
        notes.append(
            f"Scored rows: all {n} rows, the {int(reference.sum())} reference rows included "
            "(the calibration centres those at 0)."
        )
    fit_metadata = None
    if conditions and data.conditions is not None:
        fit_metadata = {"conditions": np.asarray(data.conditions)}
        notes.append(
            "Conditions: the training rows' experimental conditions reach the fit of the "
            "models that take them (MPCL's condition read-out); test rows' conditions are "
            "never used."
        )
    if metadata is None and scored is None and fit_metadata is None:
        return None, notes
    return RowOptions(metadata, scored, fit_metadata), notes


def _check_reference_folds(data, protocol, cv, split, reference, min_rows: int = 3) -> None:
    """Every subject the calibrator fits (or meets new at test time) has reference rows:
    checked before any model is fitted, with the fold named."""
    from ..model_selection import SubjectDependentSplitter

    groups = np.asarray(data.groups).astype(str)
    if protocol == "subject-dependent":
        splitter = SubjectDependentSplitter(split)
        for subject, fold, train, _ in splitter._subject_folds(groups, data.trials):
            if reference[train].sum() < min_rows:
                raise ValueError(
                    f"reference calibration: subject {subject}'s training rows in fold {fold} "
                    f"of split={split!r} hold {int(reference[train].sum())} reference rows "
                    f"(fewer than {min_rows}): its reference segment falls in the test rows. "
                    + (
                        "Use split='temporal' (the first windows of every trial train), "
                        if split != "temporal"
                        else "Use a longer reference segment, "
                    )
                    + "or calibration 'transductive'"
                )
        return
    for g in np.unique(groups):
        if reference[groups == g].sum() < min_rows:
            raise ValueError(
                f"reference calibration: subject {g} has {int(reference[groups == g].sum())} "
                f"reference rows, fewer than {min_rows}"
            )


def _collect(
    results: dict[str, EvaluationResult], seconds: dict[str, float], labels, notes, scored=None
) -> ExperimentResult:
    scores = pd.concat(
        [r.scores.assign(model=name) for name, r in results.items()], ignore_index=True
    )
    summary = pd.concat(
        [r.summary.reset_index().assign(model=name) for name, r in results.items()],
        ignore_index=True,
    )[["model", "metric", "mean", "std", "higher_is_better"]]
    protocol = next(iter(results.values())).protocol
    predictions = {n: r.predictions for n, r in results.items() if r.predictions is not None}
    folds = {n: r.prediction_folds for n, r in results.items() if r.prediction_folds is not None}
    return ExperimentResult(
        scores=scores,
        summary=summary,
        protocol=protocol,
        seconds=seconds,
        predictions=predictions,
        prediction_folds=folds,
        labels=labels,
        notes=notes,
        scored=scored,
    )


def run_experiment(
    data: FeatureTable,
    models: Sequence[str] | dict = MODEL_NAMES,
    *,
    protocol: str = "subject-independent",
    cv="loso",
    split: str = "trial",
    random_state: int | None = 0,
    max_epochs: int | None = None,
    device: str | None = None,
    n_jobs: int | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    calibration: str = "none",
    reference=None,
    score_on: str = "all",
    permute_labels: bool = False,
    conditions: bool = True,
) -> ExperimentResult:
    """Evaluate several models under the same protocol and folds.

    Parameters
    ----------
    data : FeatureTable
    models : list of str or dict of str to estimator
        Model names for :func:`make_model`, or ready estimators by display name.
    protocol : {"subject-independent", "subject-dependent", "kfold"}
        ``"kfold"``: ``KFold(cv, shuffle=True, random_state)`` over rows, no groups (every row
        its own group where a model or inner search needs groups), for data of independent
        instances such as the LDL benchmarks.
    cv : int or "loso"
        Folds for the subject-independent protocol; number of folds for ``"kfold"`` (default
        10 when ``"loso"`` or None).
    split : {"trial", "temporal", "random"}
        Split for the subject-dependent protocol.
    random_state, max_epochs, device :
        Passed to :func:`make_model`; ``random_state`` also seeds ``"kfold"`` and the label
        permutation.
    n_jobs, progress :
        Passed to the protocol.
    log : callable, optional
        Called with one line per finished model.
    calibration : {"none", "reference", "transductive"}, default="none"
        Put a :class:`~mpcl_sklearn.preprocessing.SubjectCalibrator` first in every model's
        pipeline (:func:`~mpcl_sklearn.experiments.calibration.calibrated`), fitted inside
        each training fold; the subjects (and ``reference``) reach it by metadata routing,
        at fit and at predict (the test subject by its own rows). Not with ``"kfold"``.
    reference : array-like of bool, optional
        The calibration rows of ``calibration="reference"``
        (:func:`~mpcl_sklearn.experiments.calibration.reference_rows`).
    score_on : {"all", "non-reference"}, default="all"
        Score every test row, or only those outside the reference segment (the calibration
        centres the reference rows at 0 by construction). The result's ``notes`` say which.
    permute_labels : bool, default=False
        Label-permutation control (:func:`~mpcl_sklearn.experiments.permutation.
        permute_trial_labels`, seeded by ``random_state``): the labels are shuffled between
        (subject, trial) units before evaluation; ``notes`` say so.
    conditions : bool, default=True
        Pass the training rows' experimental conditions (``data.conditions``, when the data
        has them: WESAD) to the ``fit`` of the models that take them (MPCL's ``conditions``);
        ``notes`` say so. False: never.

    Returns
    -------
    ExperimentResult
        ``labels`` holds the labels evaluated against (permuted for the control).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if protocol == "kfold" and calibration != "none":
        raise ValueError(
            "calibration needs subjects: not with protocol='kfold' (every row its own group)"
        )
    rows, notes = _row_options(data, calibration, reference, score_on, conditions)
    if calibration == "reference":
        _check_reference_folds(data, protocol, cv, split, np.asarray(reference))
    y = np.asarray(data.y, dtype=float)
    if permute_labels:
        from .permutation import permute_trial_labels

        permuted = permute_trial_labels(data, random_state)
        y = permuted.y
        notes = [f"PERMUTATION CONTROL: {permuted.report[-1]}.", *notes]
    if not isinstance(models, dict):
        behavioural = behavioural_argument(data)
        if calibration != "none":  # explicit: not read from X.attrs behind another step
            behavioural = tuple(data.behavioural)
        models = {
            name: make_model(
                name,
                random_state=random_state,
                behavioural=behavioural,
                max_epochs=max_epochs,
                device=device,
            )
            for name in models
        }
    routing = nullcontext()
    if calibration != "none":
        import sklearn

        routing = sklearn.config_context(enable_metadata_routing=True)
    results, seconds = {}, {}
    with routing:
        for name, est in models.items():
            if calibration != "none":
                est = calibrated(est, calibration)
            start = time.perf_counter()
            results[name] = _evaluate_one(
                est,
                data,
                y,
                protocol,
                cv=cv,
                split=split,
                n_jobs=n_jobs,
                progress=progress,
                rows=rows,
                random_state=random_state,
            )
            seconds[name] = time.perf_counter() - start
            if log is not None:
                kl = results[name].summary.loc["kl_divergence", "mean"]
                log(f"{name:<8s} done in {seconds[name]:6.1f} s   KL {kl:.4f}")
    return _collect(results, seconds, y, notes, None if rows is None else rows.scored)


def run_ablation(
    data: FeatureTable,
    *,
    random_state: int | None = 0,
    max_epochs: int | None = None,
    device: str | None = None,
    **options,
) -> ExperimentResult:
    """MPCL with every component, each switch off in turn, all four off, and no linear path.

    One row per entry of :func:`~mpcl_sklearn.experiments.ablation_variants`, in its order
    (``no condition read-out`` when the data has conditions and ``conditions`` is not off).

    Parameters
    ----------
    data : FeatureTable
    random_state, max_epochs, device :
        Passed to :func:`make_model`.
    **options
        ``protocol``, ``cv``, ``split``, ``n_jobs``, ``progress``, ``log``, ``calibration``,
        ``reference``, ``score_on``, ``permute_labels``, ``conditions``: as in
        :func:`run_experiment`.

    Returns
    -------
    ExperimentResult
    """
    with_conditions = options.get("conditions", True) and data.conditions is not None
    behavioural = behavioural_argument(data)
    if options.get("calibration", "none") != "none":  # the calibrator's output has no attrs
        behavioural = tuple(data.behavioural)
    models = {
        label: make_model(
            "mpcl",
            random_state=random_state,
            behavioural=behavioural,
            max_epochs=max_epochs,
            device=device,
            **params,
        )
        for label, params in ablation_variants(with_conditions).items()
    }
    return run_experiment(data, models, **options)


def fit_final_mpcl(
    data: FeatureTable,
    labels=None,
    *,
    calibration: str = "none",
    reference=None,
    random_state: int | None = 0,
    max_epochs: int | None = None,
    device: str | None = None,
    conditions: bool = True,
):
    """MPCL fitted on every row (for its learned co-occurrence), as the experiment's models.

    With ``calibration`` the model is the same calibrated pipeline the experiment evaluated
    (:func:`~mpcl_sklearn.experiments.calibration.calibrated`), fitted under metadata routing.

    Parameters
    ----------
    data : FeatureTable
    labels : array-like, optional
        The labels to fit (default ``data.y``; a permutation control's ``result.labels``).
    calibration, reference :
        As in :func:`run_experiment`.
    random_state, max_epochs, device :
        Passed to :func:`make_model`.
    conditions : bool, default=True
        Fit with the rows' experimental conditions (``data.conditions``) when the data has
        them, as :func:`run_experiment`.

    Returns
    -------
    fitted MPCLDistributionRegressor or Pipeline ending in one
    """
    y = np.asarray(data.y if labels is None else labels, dtype=float)
    if len(data.emotions) == y.shape[1]:
        y = pd.DataFrame(y, columns=[str(e) for e in data.emotions])
    behavioural = behavioural_argument(data) if calibration == "none" else data.behavioural
    model = make_model(
        "mpcl",
        random_state=random_state,
        behavioural=None if behavioural is None else tuple(behavioural),
        max_epochs=max_epochs,
        device=device,
    )
    extra = {}
    if conditions and data.conditions is not None:
        extra["conditions"] = np.asarray(data.conditions)
    if calibration == "none":
        return model.fit(data.X, y, groups=data.groups, **extra)
    import sklearn

    params = {"groups": data.groups, "subjects": np.asarray(data.groups), **extra}
    if calibration == "reference":
        params["reference"] = np.asarray(reference)
    with sklearn.config_context(enable_metadata_routing=True):
        return calibrated(model, calibration).fit(data.X, y, **params)
