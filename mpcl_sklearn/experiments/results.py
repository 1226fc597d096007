"""Result tables of an experiment: several models scored under the same folds."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..metrics import METRICS, correlation_distance

__all__ = ["ExperimentResult"]


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
    prediction_folds : dict of str to ndarray
        With ``predictions``: the fold that tested each row (the ``fold`` of ``scores``).
    labels : ndarray, optional
        The labels the models were trained and scored on (rows as ``data.y``; the permuted
        ones in a label-permutation control).
    notes : list of str
        What the table must be read with: calibration, which rows were scored, a permutation
        control.
    scored : ndarray of bool, optional
        The rows that were scored (None: all).
    """

    scores: pd.DataFrame
    summary: pd.DataFrame
    protocol: str
    seconds: dict[str, float]
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    prediction_folds: dict[str, np.ndarray] = field(default_factory=dict)
    labels: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    scored: np.ndarray | None = None

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

    def wins_over(self, reference: str = "mean", metric: str = "kl_divergence") -> dict:
        """Per model, ``(n, total)``: the folds (rows of :attr:`scores`: held-out subjects, or
        subjects and folds) on which it is strictly better than ``reference`` by ``metric``;
        empty when ``reference`` was not run."""
        if reference not in set(self.scores["model"]):
            return {}
        keys = [c for c in self.scores.columns if c not in METRICS and c != "model"]
        keys = [c for c in keys if c not in ("n_train", "n_test", "n_scored")]
        wide = self.scores.pivot_table(index=keys, columns="model", values=metric)
        ref = wide[reference]
        sign = -1.0 if METRICS[metric][1] else 1.0
        return {
            model: (int((sign * (wide[model] - ref) < 0).sum()), int(ref.notna().sum()))
            for model in dict.fromkeys(self.scores["model"])
            if model != reference
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

    def correlation_distances(self, y=None) -> pd.Series:
        """Per model with held-out predictions: the Frobenius distance between the emotion
        correlations of its pooled out-of-fold predictions and of the true labels
        (:func:`~mpcl_sklearn.metrics.correlation_distance`, an emotion predicted constant
        within every fold counting as uncorrelated), over the scored rows.

        Parameters
        ----------
        y : array-like, optional
            The true labels (default: ``labels``).
        """
        y = self.labels if y is None else y
        if y is None:
            raise ValueError("no labels: pass y (the data's labels)")
        y = np.asarray(y, dtype=float)
        rows = slice(None) if self.scored is None else np.asarray(self.scored)
        values = {}
        for model, pred in self.predictions.items():
            folds = self.prediction_folds.get(model)
            folds = None if folds is None else np.asarray(folds)[rows]
            values[model] = correlation_distance(pred[rows], y[rows], folds=folds)
        return pd.Series(values, name="correlation_distance", dtype=float)
