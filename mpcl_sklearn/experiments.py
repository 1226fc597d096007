"""End-to-end experiments: data -> windows -> features -> every model under the same folds.

This is what ``mpcl-sklearn evaluate`` and ``mpcl-sklearn ablation`` run. Features are computed
once per dataset: windowing and feature extraction are per-window and learn nothing from the
data, so doing them before the split cannot leak. Everything that learns (standardisation,
hyper-parameter searches, the models) is fitted inside the training folds only.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .metrics import METRICS, distribution_scorers
from .model_selection import (
    EvaluationResult,
    subject_dependent_evaluate,
    subject_independent_evaluate,
)

__all__ = [
    "ABLATIONS",
    "DATASET_DEFAULTS",
    "MODEL_NAMES",
    "ExperimentData",
    "ExperimentResult",
    "make_model",
    "prepare_dataset",
    "run_ablation",
    "run_experiment",
    "write_outputs",
]

#: Models known to :func:`make_model`, in the order tables list them.
MODEL_NAMES = ("mpcl", "helo", "sa-bfgs", "aa-knn", "mlp", "mean")

#: The four MPCL switches; each ablation turns one off ("all" turns every one off).
ABLATIONS = (
    "use_memory_fusion",
    "use_prototype_distillation",
    "use_cooccurrence_retrieval",
    "use_hierarchical_compression",
)


@dataclass
class ExperimentData:
    """A feature table ready for the protocols.

    Attributes
    ----------
    X : pandas.DataFrame
        Features, columns ``<modality>__<scale>__<feature>``.
    y : ndarray of shape (n_samples, n_emotions)
    groups : ndarray of shape (n_samples,)
        Subject ids.
    trials : ndarray of shape (n_samples,)
        Trial ids (unique across subjects).
    emotions : list of str
    behavioural : tuple of str
        Behavioural modalities.
    description : str
        What was loaded and how it was windowed.
    report : list of str
        What the loader and the windowing reported.
    """

    X: pd.DataFrame
    y: np.ndarray
    groups: np.ndarray
    trials: np.ndarray
    emotions: list[str]
    behavioural: tuple[str, ...] = ()
    description: str = ""
    report: list[str] = field(default_factory=list)


@dataclass
class ExperimentResult:
    """Scores of several models under the same folds.

    Attributes
    ----------
    scores : pandas.DataFrame
        Per-fold (or per subject and fold) metrics, with a ``model`` column.
    summary : pandas.DataFrame
        Long table: ``model``, ``metric``, ``mean``, ``std``, ``higher_is_better``.
    protocol : str
    seconds : dict of str to float
        Wall time per model.
    predictions : dict of str to ndarray
        Subject-independent protocol: each model's out-of-fold predictions (rows as ``data.y``).
    """

    scores: pd.DataFrame
    summary: pd.DataFrame
    protocol: str
    seconds: dict[str, float]
    predictions: dict[str, np.ndarray] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """Models x metrics, cells ``mean ± std``."""
        wide = self.summary.pivot(index="model", columns="metric", values="mean")
        std = self.summary.pivot(index="model", columns="metric", values="std")
        models = list(dict.fromkeys(self.summary["model"]))
        metrics = [m for m in METRICS if m in wide.columns]
        cells = (
            wide.loc[models, metrics].map("{:.4f}".format)
            + " ± "
            + std.loc[models, metrics].map("{:.4f}".format)
        )
        return cells

    def best(self) -> dict[str, str]:
        """The best model per metric (lowest distance, highest similarity)."""
        wide = self.summary.pivot(index="model", columns="metric", values="mean")
        return {
            m: (wide[m].idxmax() if METRICS[m][1] else wide[m].idxmin())
            for m in METRICS
            if m in wide.columns
        }

    def to_markdown(self) -> str:
        """A markdown table, best value per column in bold, arrows giving the direction."""
        cells = self.table()
        best = self.best()
        header = ["model"] + [f"{m} {'↑' if METRICS[m][1] else '↓'}" for m in cells.columns]
        lines = [
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
        ]
        for model, row in cells.iterrows():
            vals = [f"**{v}**" if best[m] == model else v for m, v in row.items()]
            lines.append("| " + " | ".join([model, *vals]) + " |")
        return "\n".join(lines)

    def wins(self, model: str) -> int:
        """On how many of the six metrics ``model`` is the best."""
        return sum(b == model for b in self.best().values())


#: Default windowing per dataset: (window_s, step_s, frame scales in seconds).
DATASET_DEFAULTS = {
    "synthetic": (10.0, 5.0, (2.0, 10.0)),
    "wesad": (60.0, 30.0, (10.0, 30.0)),
}


def prepare_dataset(
    dataset: str = "synthetic",
    path: str | Path | None = None,
    *,
    window_s: float | None = None,
    step_s: float | None = None,
    scales_s: Sequence[float] | None = None,
    feature_set: str = "default",
    backend: str = "fast",
    subjects: Sequence[str] | None = None,
    synthetic_params: dict | None = None,
    random_state: int | None = 0,
    n_jobs: int | None = None,
    progress: bool = False,
    subject_normalize: bool = False,
) -> ExperimentData:
    """Load a dataset, cut it into windows and compute the feature table once.

    Windowing and feature extraction are computed per window and learn nothing from the data,
    so computing them before the cross-validation split cannot leak.

    Parameters
    ----------
    dataset : {"synthetic", "wesad", "dmer"}
        ``"synthetic"``: :func:`~mpcl_sklearn.datasets.make_mixed_emotion_recordings`.
        ``"wesad"``: :func:`~mpcl_sklearn.datasets.load_wesad` on ``path`` (wrist E4 signals,
        PANAS self-reports). ``"dmer"``: DMER's precomputed features
        (:func:`~mpcl_sklearn.datasets.load_dmer`, ``form="features"``); the windowing and
        feature parameters do not apply.
    path : str or Path, optional
        Dataset folder (WESAD, DMER).
    window_s, step_s, scales_s : optional
        Window length, window step and :class:`~mpcl_sklearn.windowing.SignalWindower` frame
        scales in seconds; defaults in :data:`DATASET_DEFAULTS`.
    feature_set, backend :
        Passed to :class:`~mpcl_sklearn.features.ModalityFeatureExtractor`.
    subjects : sequence of str, optional
        Subjects to load (WESAD, DMER).
    synthetic_params : dict, optional
        Extra arguments for the synthetic generator (``n_subjects``, ``trials_per_subject``,
        ``duration_s``, ...).
    random_state : int, optional
        Seed of the synthetic generator.
    n_jobs, progress :
        Passed to the feature extractor.
    subject_normalize : bool, default=False
        Z-score every feature within each subject
        (:func:`~mpcl_sklearn.preprocessing.subject_standardize`). This uses the unlabelled
        features of the test subjects too (transductive, no labels); the description says so.

    Returns
    -------
    ExperimentData
    """
    from .datasets import load_dmer, load_wesad, make_mixed_emotion_recordings
    from .features import ModalityFeatureExtractor
    from .windowing import SignalWindower, make_windows

    if dataset == "dmer":
        if path is None:
            raise ValueError("dataset='dmer' needs path= (the DMER release folder)")
        data = load_dmer(path, form="features", subjects=subjects)
        return _subject_normalized(data) if subject_normalize else data
    if dataset not in DATASET_DEFAULTS:
        raise ValueError(f"unknown dataset {dataset!r}; choose from synthetic, wesad, dmer")
    default_window, default_step, default_scales = DATASET_DEFAULTS[dataset]
    window_s = default_window if window_s is None else float(window_s)
    if step_s is None:
        step_s = default_step if window_s == default_window else window_s / 2
    if scales_s is None:
        scales_s = tuple(s for s in default_scales if s <= window_s) or (window_s,)
    if dataset == "synthetic":
        params = {"random_state": random_state, **(synthetic_params or {})}
        recordings = make_mixed_emotion_recordings(**params)
        source = "synthetic mixed-emotion recordings ({})".format(
            ", ".join(f"{k}={v}" for k, v in params.items())
        )
    else:
        if path is None:
            raise ValueError("dataset='wesad' needs path= (the folder holding S2 ... S17)")
        recordings = load_wesad(path, subjects)
        source = f"WESAD wrist signals from {path}"
    X_sig, y, groups, trials = make_windows(
        recordings, window_s=window_s, step_s=step_s, return_trials=True
    )
    frames = SignalWindower(scales_s=scales_s).fit_transform(X_sig)
    extractor = ModalityFeatureExtractor(
        backend=backend, feature_set=feature_set, n_jobs=n_jobs, progress=progress
    ).set_output(transform="pandas")
    X = extractor.fit_transform(frames)
    report = list(recordings.report) + list(X_sig.attrs.get("report", []))
    n_subjects = len(np.unique(groups))
    description = (
        f"{source}; {n_subjects} subjects, {len(np.unique(trials))} trials, {len(X)} windows "
        f"of {window_s:g} s (step {step_s:g} s), frames {tuple(scales_s)} s, "
        f"{X.shape[1]} {backend}/{feature_set} features"
    )
    data = ExperimentData(
        X=X,
        y=np.asarray(y),
        groups=np.asarray(groups).astype(str),
        trials=np.asarray(trials).astype(str),
        emotions=list(X_sig.attrs.get("emotions", [])),
        behavioural=tuple(X_sig.attrs.get("behavioural", ())),
        description=description,
        report=report,
    )
    return _subject_normalized(data) if subject_normalize else data


def _subject_normalized(data: ExperimentData) -> ExperimentData:
    from dataclasses import replace

    from .preprocessing import subject_standardize

    return replace(
        data,
        X=subject_standardize(data.X, data.groups),
        description=data.description
        + "; features z-scored within each subject (transductive: uses the test subjects' "
        "unlabelled features)",
    )


class _InnerGroupKFold:
    """``GroupKFold(n_splits)`` capped at the number of groups in the training fold.

    With a single group (e.g. one training trial per subject in the subject-dependent
    protocol, or two subjects left one out) no group split exists: the rows are then split into
    ``n_splits`` contiguous folds (``KFold``), with a warning.
    """

    def __init__(self, n_splits: int = 3):
        self.n_splits = n_splits

    def _splitter(self, groups):
        from sklearn.model_selection import GroupKFold, KFold

        n_groups = 0 if groups is None else len(np.unique(groups))
        if n_groups < 2:
            warnings.warn(
                f"the inner hyper-parameter search got {n_groups} group(s) in this training "
                f"fold: it splits the rows into {self.n_splits} contiguous folds instead",
                UserWarning,
                stacklevel=2,
            )
            return KFold(self.n_splits)
        return GroupKFold(min(self.n_splits, n_groups))

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        return self._splitter(groups).get_n_splits()

    def split(self, X, y=None, groups=None):
        return self._splitter(groups).split(X, y, groups)


def make_model(
    name: str,
    *,
    random_state: int | None = 0,
    behavioural: Sequence[str] | None = None,
    nested: bool = True,
    max_epochs: int | None = None,
    **mpcl_params,
):
    """A fresh estimator for one of :data:`MODEL_NAMES`.

    Parameters
    ----------
    name : str
        One of ``mpcl``, ``helo``, ``sa-bfgs``, ``aa-knn``, ``mlp``, ``mean``.
    random_state : int, optional
    behavioural : sequence of str, optional
        Behavioural modalities (passed to MPCL and HeLo; default: their own defaults).
    nested : bool, default=True
        Wrap the shallow baselines in a ``GridSearchCV`` over groups (their regularisation /
        number of neighbours is chosen inside the training folds). The neural models use their
        documented defaults.
    max_epochs : int, optional
        Override the neural models' number of epochs (for quick runs).
    **mpcl_params
        Extra parameters for ``MPCLDistributionRegressor`` (e.g. the ablation switches).

    Returns
    -------
    estimator
    """
    from sklearn.model_selection import GridSearchCV

    from . import models as baselines

    epochs = {} if max_epochs is None else {"max_epochs": max_epochs}
    beh = {} if behavioural is None else {"behavioural_modalities": tuple(behavioural)}
    kl_scorer = distribution_scorers()["neg_kl_divergence"]

    def search(est, grid):
        if not nested:
            return est
        return GridSearchCV(
            est, grid, cv=_InnerGroupKFold(3), scoring=kl_scorer, error_score="raise"
        )

    if name == "mpcl":
        from .models import MPCLDistributionRegressor

        return MPCLDistributionRegressor(random_state=random_state, **beh, **epochs, **mpcl_params)
    if mpcl_params:
        raise ValueError(f"MPCL parameters {sorted(mpcl_params)} given for model {name!r}")
    if name == "helo":
        return baselines.HeLoRegressor(random_state=random_state, **beh, **epochs)
    if name == "mlp":
        return baselines.MLPDistributionRegressor(random_state=random_state, **epochs)
    if name == "sa-bfgs":
        return search(baselines.SABFGSRegressor(), {"alpha": [1e-2, 1e-1, 1.0, 10.0]})
    if name == "aa-knn":
        return search(baselines.AAKNNRegressor(), {"n_neighbors": [5, 15, 45]})
    if name == "mean":
        return baselines.MeanDistributionRegressor()
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")


def _needs_groups(estimator) -> bool:
    """Hyper-parameter searches get the groups (their inner CV keeps subjects apart)."""
    from sklearn.model_selection._search import BaseSearchCV

    return isinstance(estimator, BaseSearchCV)


def _evaluate_one(
    estimator,
    data: ExperimentData,
    protocol: str,
    *,
    cv,
    split: str,
    n_jobs: int | None,
    progress: bool,
) -> EvaluationResult:
    fit_groups = _needs_groups(estimator)
    if protocol == "subject-independent":
        return subject_independent_evaluate(
            estimator,
            data.X,
            data.y,
            data.groups,
            cv=cv,
            n_jobs=n_jobs,
            progress=progress,
            fit_groups=fit_groups,
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
            fit_groups=fit_groups,
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
    return ExperimentResult(
        scores=scores, summary=summary, protocol=protocol, seconds=seconds, predictions=predictions
    )


def run_experiment(
    data: ExperimentData,
    models: Sequence[str] | dict = MODEL_NAMES,
    *,
    protocol: str = "subject-independent",
    cv="loso",
    split: str = "trial",
    random_state: int | None = 0,
    max_epochs: int | None = None,
    n_jobs: int | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> ExperimentResult:
    """Evaluate several models under the same protocol and folds.

    Parameters
    ----------
    data : ExperimentData
    models : list of str or dict of str to estimator
        Model names for :func:`make_model`, or ready estimators by display name.
    protocol : {"subject-independent", "subject-dependent"}
    cv : int or "loso"
        Folds for the subject-independent protocol.
    split : {"trial", "temporal", "random"}
        Split for the subject-dependent protocol.
    random_state, max_epochs :
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
                behavioural=data.behavioural,
                max_epochs=max_epochs,
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
    data: ExperimentData,
    *,
    protocol: str = "subject-independent",
    cv="loso",
    split: str = "trial",
    random_state: int | None = 0,
    max_epochs: int | None = None,
    n_jobs: int | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> ExperimentResult:
    """MPCL with every component, each switch off in turn, all four off, and no linear path.

    The rows are ``full``, ``no <component>`` for each of :data:`ABLATIONS`, ``none (all
    off)`` (the four components off, the linear evidence path kept) and ``no linear evidence``
    (the four components on, the penalised linear read-out off).
    """
    variants = {"full": {}}
    variants |= {f"no {s[4:].replace('_', ' ')}": {s: False} for s in ABLATIONS}
    variants["none (all off)"] = dict.fromkeys(ABLATIONS, False)
    # not one of the four MPCL components: the penalised linear read-out (docs/method.md)
    variants["no linear evidence"] = {"use_linear_evidence": False}
    models = {
        label: make_model(
            "mpcl",
            random_state=random_state,
            behavioural=data.behavioural,
            max_epochs=max_epochs,
            **params,
        )
        for label, params in variants.items()
    }
    return run_experiment(
        data,
        models,
        protocol=protocol,
        cv=cv,
        split=split,
        n_jobs=n_jobs,
        progress=progress,
        log=log,
    )


def write_outputs(
    result: ExperimentResult,
    out_dir: str | Path,
    *,
    data: ExperimentData | None = None,
    name: str = "results",
    command: str | None = None,
    final_model=None,
) -> dict[str, Path]:
    """Write the per-fold CSV, the markdown table and the figures.

    Parameters
    ----------
    result : ExperimentResult
    out_dir : str or Path
    data : ExperimentData, optional
        Needed for the co-occurrence and distribution figures (true labels, emotion names).
    name : str
        File name stem.
    command : str, optional
        The command that produced the result (written into the markdown and JSON).
    final_model : fitted estimator, optional
        A model with ``cooccurrence_`` (MPCL) fitted on all the data, for the learned
        co-occurrence figure.

    Returns
    -------
    dict of str to Path
        What was written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    written["scores"] = out / f"{name}_folds.csv"
    result.scores.to_csv(written["scores"], index=False)
    written["summary"] = out / f"{name}_summary.csv"
    result.summary.to_csv(written["summary"], index=False)
    md = [f"# {name}", "", f"Protocol: {result.protocol}."]
    if data is not None:
        md.append(f"Data: {data.description}.")
    if command:
        md += ["", "Command:", "", "```", command, "```"]
    md += [
        "",
        result.to_markdown(),
        "",
        "Mean ± std over folds (subject-independent) or subjects (subject-dependent); "
        "best per column in bold.",
        "",
        "Wall time per model: " + ", ".join(f"{k} {v:.0f} s" for k, v in result.seconds.items()),
    ]
    written["markdown"] = out / f"{name}.md"
    written["markdown"].write_text("\n".join(md) + "\n")
    written.update(_write_figures(result, out, name, data, final_model))
    written["json"] = out / f"{name}_meta.json"
    written["json"].write_text(
        json.dumps(
            {
                "protocol": result.protocol,
                "seconds": result.seconds,
                "command": command,
                "data": None if data is None else data.description,
                "data_report": None if data is None else data.report,
            },
            indent=2,
        )
    )
    return written


def _write_figures(result, out: Path, name: str, data, final_model) -> dict[str, Path]:
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - matplotlib is an optional extra
        return {}
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plotting import (
        plot_cooccurrence,
        plot_distributions,
        plot_learned_cooccurrence,
        plot_metric_comparison,
    )

    written = {}

    def save(key, fig):
        written[key] = out / f"{name}_{key}.png"
        fig.savefig(written[key], dpi=110)
        plt.close(fig)

    save("metrics", plot_metric_comparison(result.summary, title=f"{name}: {result.protocol}"))
    if data is not None:
        for model, pred in result.predictions.items():
            title = f"{model}: emotion co-occurrence, true vs out-of-fold predictions"
            save(
                f"cooccurrence_{_slug(model)}",
                plot_cooccurrence(data.y, pred, data.emotions, title=title),
            )
            save(f"distributions_{_slug(model)}", plot_distributions(data.y, pred, data.emotions))
    if final_model is not None and data is not None:
        save("learned_cooccurrence", plot_learned_cooccurrence(final_model, data.emotions))
    return written


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")
