"""Result tables of an experiment: several models scored under the same folds."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..metrics import METRICS

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
    """

    scores: pd.DataFrame
    summary: pd.DataFrame
    protocol: str
    seconds: dict[str, float]
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    prediction_folds: dict[str, np.ndarray] = field(default_factory=dict)

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
