"""Figures: emotion co-occurrence, predicted vs true distributions, metric comparison.

All functions need matplotlib (``pip install mpcl-sklearn[plot]``) and return a figure made with
``matplotlib.pyplot.subplots``: it shows with ``plt.show()`` in a script and inline in a
notebook, like any pyplot figure. Nothing here selects a backend (``matplotlib.use`` is never
called): pyplot's own choice, or the user's, applies. Close figures you do not keep with
``plt.close(fig)`` (:func:`mpcl_sklearn.experiments.write_outputs` closes each figure it saves).

Emotion names label every axis: the ``emotions`` argument, else the columns of a DataFrame
argument (``y_true``/``y_pred``), else the estimator's ``emotions_``; ``emotion 0``, ... only
when no name is known.

Colour scales are fixed, so figures compare: correlations on [-1, 1] (``RdBu_r``), learned
co-occurrence (retrieval weights, rows summing to 1) on [0, 1] (``viridis``). Undefined cells
(an emotion whose values do not vary) are grey and marked ``n/a``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._validation import ARRAY_HINT, check_distributions
from .metrics import METRICS, _held_out_correlation, emotion_correlation

__all__ = [
    "emotion_correlation",
    "plot_cooccurrence",
    "plot_correlation_panels",
    "plot_distributions",
    "plot_learned_cooccurrence",
    "plot_metric_comparison",
]

#: Colour limits of a correlation panel.
CORRELATION_RANGE = (-1.0, 1.0)
#: Colour limits of learned co-occurrence (retrieval weights: each row is a distribution).
WEIGHT_RANGE = (0.0, 1.0)
_UNDEFINED_COLOUR = "#d9d9d9"


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plotting needs matplotlib: pip install 'mpcl-sklearn[plot]'") from exc
    return plt


def _subplots(*args, **kwargs):
    """``plt.subplots`` with a constrained layout (a pyplot-managed figure)."""
    return _pyplot().subplots(*args, layout="constrained", **kwargs)


def _names_of(obj) -> list[str] | None:
    """Emotion names carried by ``obj``: a DataFrame's columns or an estimator's
    ``emotions_`` (the last step of a Pipeline)."""
    if hasattr(obj, "steps"):
        obj = obj.steps[-1][1]
    if isinstance(obj, pd.DataFrame):
        cols = list(obj.columns)
        return [str(c) for c in cols] if all(isinstance(c, str) for c in cols) else None
    names = getattr(obj, "emotions_", None)
    return None if names is None else [str(n) for n in names]


def _emotion_names(emotions: Sequence[str] | None, n: int, *sources) -> list[str]:
    if emotions is None:
        for source in sources:
            found = _names_of(source)
            if found is not None and len(found) == n:
                return found
        return [f"emotion {i}" for i in range(n)]
    names = [str(e) for e in emotions]
    if len(names) != n:
        raise ValueError(f"got {len(names)} emotion names for {n} emotions")
    return names


def _matrix(ax, matrix, names, title, limits, cmap, label, digits=2):
    from matplotlib import colormaps

    vmin, vmax = limits
    colours = colormaps[cmap].with_extremes(bad=_UNDEFINED_COLOUR)
    im = ax.imshow(np.ma.masked_invalid(matrix), vmin=vmin, vmax=vmax, cmap=colours)
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=label)
    if len(names) > 12:
        return
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            v = matrix[i, j]
            if not np.isfinite(v):
                ax.text(j, i, "n/a", ha="center", va="center", fontsize=6, color="dimgray")
                continue
            r, g, b, _ = colours(im.norm(v))
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5  # perceived brightness of the cell
            ax.text(
                j,
                i,
                f"{v:.{digits}f}",
                ha="center",
                va="center",
                fontsize=6,
                color="white" if dark else "black",
            )


def plot_cooccurrence(
    y_true,
    y_pred,
    emotions: Sequence[str] | None = None,
    *,
    title: str | None = None,
    folds=None,
):
    """True and predicted emotion co-occurrence (correlation across samples), side by side.

    Both panels share the colour scale [-1, 1]. A correlation is undefined for an emotion
    whose values do not vary: its row and column are grey (``n/a``) and the panel says so. With
    ``folds`` (the test fold of each row of out-of-fold predictions), an emotion whose
    predictions are constant *within every fold* is undefined too: a model that predicts one
    distribution per fold (the mean predictor) only varies between folds, and correlating
    those few training-set means would show values near +-1 that describe no prediction.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples, n_emotions)
    emotions : list of str, optional
        Emotion names, in column order (default: the columns of a DataFrame argument).
    title : str, optional
        Figure title.
    folds : array-like of shape (n_samples,), optional
        Test fold of each row, for out-of-fold predictions.

    Returns
    -------
    matplotlib.figure.Figure
    """
    t = check_distributions(y_true, name="y_true", hint=ARRAY_HINT)
    p = check_distributions(y_pred, name="y_pred", hint=ARRAY_HINT)
    if t.shape != p.shape:
        raise ValueError(f"y_true has shape {t.shape} but y_pred has shape {p.shape}")
    names = _emotion_names(emotions, t.shape[1], y_true, y_pred)
    pred_corr, constant = _held_out_correlation(p, folds)
    fig, axes = _subplots(1, 2, figsize=(12, 5.2))
    panels = ((t, emotion_correlation(t), "true"), (p, pred_corr, "predicted"))
    for ax, (_, corr, which) in zip(axes, panels):
        _matrix(
            ax,
            corr,
            names,
            f"{which} distributions",
            CORRELATION_RANGE,
            "RdBu_r",
            "Pearson r across samples",
        )
    if constant.any():
        what = "all emotions" if constant.all() else f"{int(constant.sum())} emotion(s)"
        where = " within each fold" if folds is not None else ""
        axes[1].set_xlabel(
            f"grey: undefined, constant predictions{where} ({what})", fontsize=9, color="dimgray"
        )
    fig.suptitle(title or "Emotion co-occurrence: correlation between emotions")
    return fig


def plot_learned_cooccurrence(estimator_or_matrix, emotions: Sequence[str] | None = None):
    """MPCL's learned co-occurrence matrix (``cooccurrence_``) as a heat map.

    Retrieval weights (each row a distribution) are drawn on the fixed colour scale [0, 1] and
    annotated with three decimals; a matrix with negative entries within [-1, 1] (e.g. a
    correlation) on [-1, 1]; any other matrix on a symmetric scale of its largest magnitude
    (the colour bar says which).

    Parameters
    ----------
    estimator_or_matrix : fitted MPCLDistributionRegressor, Pipeline ending in one, or array
        Anything with a ``cooccurrence_`` attribute, or the (C, C) matrix itself.
    emotions : list of str, optional
        Emotion names (default: the estimator's ``emotions_``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    obj = estimator_or_matrix
    if hasattr(obj, "steps"):
        obj = obj.steps[-1][1]
    matrix = np.asarray(getattr(obj, "cooccurrence_", obj), dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"co-occurrence matrix must be square, got shape {matrix.shape}")
    names = _emotion_names(emotions, matrix.shape[0], obj)
    finite = matrix[np.isfinite(matrix)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if lo >= 0 and hi <= 1:
        limits, cmap, label = WEIGHT_RANGE, "viridis", "retrieval weight (rows sum to 1)"
    elif lo >= -1 and hi <= 1:
        limits, cmap, label = CORRELATION_RANGE, "RdBu_r", "value"
    else:
        bound = max(abs(lo), abs(hi))
        limits, cmap, label = (-bound, bound), "RdBu_r", f"value (scale +-{bound:.3g})"
    fig, ax = _subplots(figsize=(6.5, 5.5))
    _matrix(
        ax,
        matrix,
        names,
        "Learned emotion co-occurrence (MPCL memory retrieval)",
        limits,
        cmap,
        label,
        digits=3,
    )
    ax.set_xlabel("retrieved emotion")
    ax.set_ylabel("query emotion")
    return fig


def plot_correlation_panels(
    y_true,
    predictions: dict | None = None,
    learned=None,
    emotions: Sequence[str] | None = None,
    *,
    folds: dict | None = None,
    title: str | None = None,
):
    """True label correlation | learned co-occurrence | each model's predictions, side by side.

    Every correlation panel uses the fixed colour scale [-1, 1]; the learned co-occurrence
    (retrieval weights, rows summing to 1) uses [0, 1] ([-1, 1] if it has entries outside).
    An emotion whose predictions do not vary has no defined correlation: grey (``n/a``).

    Parameters
    ----------
    y_true : array-like of shape (n_samples, n_emotions)
    predictions : dict of str to array-like, optional
        Each model's held-out predictions (rows as ``y_true``), by model name.
    learned : array-like of shape (n_emotions, n_emotions) or fitted estimator, optional
        A learned co-occurrence (``cooccurrence_``; a Pipeline's last step is read).
    emotions : list of str, optional
    folds : dict of str to array-like, optional
        Each model's test fold per row: an emotion predicted constant within every fold is
        undefined (grey), as in :func:`plot_cooccurrence`.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    t = check_distributions(y_true, name="y_true", hint=ARRAY_HINT)
    names = _emotion_names(emotions, t.shape[1], y_true)
    folds = folds or {}
    panels = [(emotion_correlation(t), "true labels", CORRELATION_RANGE, "RdBu_r", "Pearson r")]
    if learned is not None:
        obj = learned.steps[-1][1] if hasattr(learned, "steps") else learned
        matrix = np.asarray(getattr(obj, "cooccurrence_", obj), dtype=float)
        if matrix.shape != (t.shape[1], t.shape[1]):
            raise ValueError(
                f"learned co-occurrence has shape {matrix.shape}, expected {(t.shape[1],) * 2}"
            )
        weights = bool(np.nanmin(matrix) >= 0 and np.nanmax(matrix) <= 1)
        limits = WEIGHT_RANGE if weights else CORRELATION_RANGE
        cmap = "viridis" if weights else "RdBu_r"
        panels.append((matrix, "learned co-occurrence", limits, cmap, "weight"))
    for model, pred in (predictions or {}).items():
        p = check_distributions(pred, name=f"predictions[{model!r}]", hint=ARRAY_HINT)
        if p.shape != t.shape:
            raise ValueError(f"predictions of {model!r} have shape {p.shape}, not {t.shape}")
        corr, _ = _held_out_correlation(p, folds.get(model))
        np.fill_diagonal(corr, 1.0)
        panels.append(
            (
                corr,
                f"{model} (held-out)",
                CORRELATION_RANGE,
                "RdBu_r",
                "Pearson r",
            )
        )
    fig, axes = _subplots(1, len(panels), figsize=(5.6 * len(panels), 5.2), squeeze=False)
    for ax, (matrix, label, limits, cmap, bar) in zip(axes[0], panels):
        _matrix(ax, matrix, names, label, limits, cmap, bar)
    fig.suptitle(title or "Emotion co-occurrence: labels, learned, predicted")
    return fig


def plot_distributions(
    y_true,
    y_pred,
    emotions: Sequence[str] | None = None,
    *,
    indices: Sequence[int] | None = None,
    n_samples: int = 4,
):
    """Predicted vs true distribution of a few samples, one bar panel per sample.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples, n_emotions)
    emotions : list of str, optional
        Emotion names (default: the columns of a DataFrame argument).
    indices : list of int, optional
        Which samples to show (default: ``n_samples`` evenly spaced ones).
    n_samples : int
        Number of samples when ``indices`` is not given.

    Returns
    -------
    matplotlib.figure.Figure
    """
    t = check_distributions(y_true, name="y_true", hint=ARRAY_HINT)
    p = check_distributions(y_pred, name="y_pred", hint=ARRAY_HINT)
    if t.shape != p.shape:
        raise ValueError(f"y_true has shape {t.shape} but y_pred has shape {p.shape}")
    names = _emotion_names(emotions, t.shape[1], y_true, y_pred)
    if indices is None:
        indices = np.unique(np.linspace(0, len(t) - 1, min(n_samples, len(t))).astype(int))
    indices = list(indices)
    fig, axes = _subplots(
        len(indices), 1, sharex=True, squeeze=False, figsize=(9, 2.3 * len(indices))
    )
    x = np.arange(len(names))
    top = float(max(t[indices].max(), p[indices].max())) if indices else 1.0
    for ax, i in zip(axes[:, 0], indices):
        ax.bar(x - 0.2, t[i], width=0.4, label="true", color="tab:gray")
        ax.bar(x + 0.2, p[i], width=0.4, label="predicted", color="tab:orange")
        ax.set_ylim(0, min(1.0, 1.1 * top) or 1.0)
        ax.set_ylabel("probability")
        ax.set_title(f"sample {i}", fontsize=9, loc="left")
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xticks(x, names, rotation=45, ha="right")
    fig.suptitle("Emotion distributions: true vs predicted")
    return fig


def plot_metric_comparison(results: pd.DataFrame, *, title: str | None = None):
    """Compare models on the six metrics: one panel per metric, mean ± std bars per model.

    Parameters
    ----------
    results : pandas.DataFrame
        Long table with columns ``model``, ``metric``, ``mean``, ``std`` (as written by
        :mod:`mpcl_sklearn.experiments`).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    missing = {"model", "metric", "mean", "std"}.difference(results.columns)
    if missing:
        raise ValueError(f"results lacks columns {sorted(missing)}")
    metrics = [m for m in METRICS if m in set(results["metric"])]
    models = list(dict.fromkeys(results["model"]))
    fig, axes = _subplots(2, 3, squeeze=False, figsize=(13, 6.5))
    from matplotlib import colormaps

    colors = colormaps["tab10"](np.arange(len(models)) % 10)
    for ax, metric in zip(axes.ravel(), metrics):
        sub = results[results["metric"] == metric].set_index("model").reindex(models)
        ax.bar(range(len(models)), sub["mean"], yerr=sub["std"], color=colors, capsize=3)
        ax.set_xticks(range(len(models)), models, rotation=30, ha="right")
        better = "higher" if METRICS[metric][1] else "lower"
        ax.set_title(f"{metric} ({better} is better)")
    for ax in axes.ravel()[len(metrics) :]:
        ax.set_visible(False)
    fig.suptitle(title or "Models compared on the six distribution metrics (mean ± std)")
    return fig
