"""Running experiments: every model (or MPCL ablation) under the same protocol and folds."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import pandas as pd

from ..datasets.table import FeatureTable
from ..model_selection import (
    EvaluationResult,
    subject_dependent_evaluate,
    subject_independent_evaluate,
)
from .registry import MODEL_NAMES, ablation_variants, make_model
from .results import ExperimentResult

__all__ = ["run_ablation", "run_experiment"]


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


def _evaluate_one(
    estimator,
    data: FeatureTable,
    protocol: str,
    *,
    cv,
    split: str,
    n_jobs: int | None,
    progress: bool,
) -> EvaluationResult:
    if protocol == "subject-independent":
        return subject_independent_evaluate(
            estimator,
            data.X,
            data.y,
            data.groups,
            cv=cv,
            n_jobs=n_jobs,
            progress=progress,
            return_predictions=True,
        )
    if protocol == "subject-dependent":
        return subject_dependent_evaluate(
            estimator,
            data.X,
            data.y,
            data.groups,
            data.trials,
            split=split,
            n_jobs=n_jobs,
            progress=progress,
        )
    raise ValueError(
        f"protocol must be 'subject-independent' or 'subject-dependent', got {protocol!r}"
    )


def _collect(results: dict[str, EvaluationResult], seconds: dict[str, float]) -> ExperimentResult:
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
) -> ExperimentResult:
    """Evaluate several models under the same protocol and folds.

    Parameters
    ----------
    data : FeatureTable
    models : list of str or dict of str to estimator
        Model names for :func:`make_model`, or ready estimators by display name.
    protocol : {"subject-independent", "subject-dependent"}
    cv : int or "loso"
        Folds for the subject-independent protocol.
    split : {"trial", "temporal", "random"}
        Split for the subject-dependent protocol.
    random_state, max_epochs, device :
        Passed to :func:`make_model`.
    n_jobs, progress :
        Passed to the protocol.
    log : callable, optional
        Called with one line per finished model.

    Returns
    -------
    ExperimentResult
    """
    if not isinstance(models, dict):
        models = {
            name: make_model(
                name,
                random_state=random_state,
                behavioural=behavioural_argument(data),
                max_epochs=max_epochs,
                device=device,
            )
            for name in models
        }
    results, seconds = {}, {}
    for name, est in models.items():
        start = time.perf_counter()
        results[name] = _evaluate_one(
            est, data, protocol, cv=cv, split=split, n_jobs=n_jobs, progress=progress
        )
        seconds[name] = time.perf_counter() - start
        if log is not None:
            kl = results[name].summary.loc["kl_divergence", "mean"]
            log(f"{name:<8s} done in {seconds[name]:6.1f} s   KL {kl:.4f}")
    return _collect(results, seconds)


def run_ablation(
    data: FeatureTable,
    *,
    random_state: int | None = 0,
    max_epochs: int | None = None,
    device: str | None = None,
    **options,
) -> ExperimentResult:
    """MPCL with every component, each switch off in turn, all four off, and no linear path.

    One row per entry of :func:`~mpcl_sklearn.experiments.ablation_variants`, in its order.

    Parameters
    ----------
    data : FeatureTable
    random_state, max_epochs, device :
        Passed to :func:`make_model`.
    **options
        ``protocol``, ``cv``, ``split``, ``n_jobs``, ``progress``, ``log``: as in
        :func:`run_experiment`.

    Returns
    -------
    ExperimentResult
    """
    models = {
        label: make_model(
            "mpcl",
            random_state=random_state,
            behavioural=behavioural_argument(data),
            max_epochs=max_epochs,
            device=device,
            **params,
        )
        for label, params in ablation_variants().items()
    }
    return run_experiment(data, models, **options)
