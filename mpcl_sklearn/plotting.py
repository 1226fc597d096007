"""Figures: emotion co-occurrence, predicted vs true distributions, metric comparison.

All functions need matplotlib (``pip install mpcl-sklearn[plot]``) and return a
:class:`matplotlib.figure.Figure` built without pyplot: no backend is selected or switched and no
window opens, so they are safe in scripts, servers and notebooks alike. Save a figure with
``fig.savefig(path)``, or display it where IPython's matplotlib support is active.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._stats import pearson_correlation
from ._validation import check_distributions
from .metrics import METRICS

__all__ = [
    "emotion_correlation",
    "plot_cooccurrence",
    "plot_distributions",
    "plot_learned_cooccurrence",
    "plot_metric_comparison",
]


def _figure(**kwargs):
    """A new ``Figure`` outside pyplot's figure manager (the user's backend is not touched)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plotting needs matplotlib: pip install 'mpcl-sklearn[plot]'") from exc
    return Figure(constrained_layout=True, **kwargs)


def _emotion_names(emotions: Sequence[str] | None, n: int) -> list[str]:
    if emotions is None:
        return [f"emotion {i}" for i in range(n)]
    names = [str(e) for e in emotions]
    if len(names) != n:
        raise ValueError(f"got {len(names)} emotion names for {n} emotions")
    return names


def emotion_correlation(y) -> np.ndarray:
    """Pearson correlation between emotions across samples, shape (C, C).

    An emotion that is constant over the samples has no defined correlation: its row and column
    are NaN except for 1 on the diagonal.
    """
    Y = check_distributions(y, name="y")
    if Y.shape[0] < 2:
        raise ValueError("need at least 2 samples to correlate emotions")
    return pearson_correlation(Y, constant=np.nan)


def _matrix(ax, matrix, names, title, vmin, vmax, cmap, label):
    im = ax.imshow(matrix, vmin=vmin, vmax=vmax, cmap=cmap)
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=label)
    if len(names) <= 12:
        for i in range(matrix.shape[0]):
            for j in range(matrix.shape[1]):
                v = matrix[i, j]
                if np.isfinite(v):
                    dark = abs(v - (vmin + vmax) / 2) > 0.3 * (vmax - vmin)
                    ax.text(
                        j,
                        i,
                        f"{v:.2f}",
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="white" if dark else "black",
                    )


def plot_cooccurrence(y_true, y_pred, emotions: Sequence[str] | None = None, *, title=None):
    """True and predicted emotion co-occurrence (correlation across samples), side by side.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples, n_emotions)
    emotions : list of str, optional
        Emotion names, in column order.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    t = check_distributions(y_true, name="y_true")
    p = check_distributions(y_pred, name="y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true has shape {t.shape} but y_pred has shape {p.shape}")
    names = _emotion_names(emotions, t.shape[1])
    fig = _figure(figsize=(12, 5.2))
    axes = fig.subplots(1, 2)
    for ax, y, which in zip(axes, (t, p), ("true", "predicted")):
        _matrix(
            ax,
            emotion_correlation(y),
            names,
            f"{which} distributions",
            -1,
            1,
            "RdBu_r",
            "Pearson r across samples",
        )
    fig.suptitle(title or "Emotion co-occurrence: correlation between emotions")
    return fig


def plot_learned_cooccurrence(estimator_or_matrix, emotions: Sequence[str] | None = None):
    """MPCL's learned co-occurrence matrix (``cooccurrence_``) as a heat map.

    Parameters
    ----------
    estimator_or_matrix : fitted MPCLDistributionRegressor, Pipeline ending in one, or array
        Anything with a ``cooccurrence_`` attribute, or the (C, C) matrix itself.
    emotions : list of str, optional

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
    names = _emotion_names(emotions, matrix.shape[0])
    fig = _figure(figsize=(6.5, 5.5))
    ax = fig.subplots()
    lo, hi = float(np.nanmin(matrix)), float(np.nanmax(matrix))
    symmetric = lo < 0
    bound = max(abs(lo), abs(hi))
    _matrix(
        ax,
        matrix,
        names,
        "Learned emotion co-occurrence (MPCL memory retrieval)",
        -bound if symmetric else lo,
        bound if symmetric else hi,
        "RdBu_r" if symmetric else "viridis",
        "retrieval weight",
    )
    ax.set_xlabel("retrieved emotion")
    ax.set_ylabel("query emotion")
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
    indices : list of int, optional
        Which samples to show (default: ``n_samples`` evenly spaced ones).
    n_samples : int
        Number of samples when ``indices`` is not given.

    Returns
    -------
    matplotlib.figure.Figure
    """
    t = check_distributions(y_true, name="y_true")
    p = check_distributions(y_pred, name="y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true has shape {t.shape} but y_pred has shape {p.shape}")
    names = _emotion_names(emotions, t.shape[1])
    if indices is None:
        indices = np.unique(np.linspace(0, len(t) - 1, min(n_samples, len(t))).astype(int))
    indices = list(indices)
    fig = _figure(figsize=(9, 2.3 * len(indices)))
    axes = fig.subplots(len(indices), 1, sharex=True, squeeze=False)
    x = np.arange(len(names))
    for ax, i in zip(axes[:, 0], indices):
        ax.bar(x - 0.2, t[i], width=0.4, label="true", color="tab:gray")
        ax.bar(x + 0.2, p[i], width=0.4, label="predicted", color="tab:orange")
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
    fig = _figure(figsize=(13, 6.5))
    axes = fig.subplots(2, 3, squeeze=False)
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
