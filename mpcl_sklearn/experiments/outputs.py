"""Writing an experiment's files: per-fold CSV, summary, markdown table, JSON and figures."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..datasets.table import FeatureTable
from .results import ExperimentResult

__all__ = ["write_outputs"]


def write_outputs(
    result: ExperimentResult,
    out_dir: str | Path,
    *,
    data: FeatureTable | None = None,
    name: str = "results",
    command: str | None = None,
    final_model=None,
) -> dict[str, Path]:
    """Write an experiment's files under ``out_dir``, named ``<name>...``.

    ``_folds.csv`` (metrics per fold or subject and fold), ``_summary.csv`` and ``.md`` (mean ±
    std, best in bold, the command, the emotions), ``_meta.json`` (protocol, timings, command,
    data description, emotions, what the loader reported, package and library versions) and
    the figures (``_metrics.png``; per model ``_cooccurrence_<model>.png`` and
    ``_distributions_<model>.png``; ``_learned_cooccurrence.png`` with ``final_model``). With
    out-of-fold predictions (subject-independent protocol) also ``_predictions.csv`` (one row
    per window and model: subject, trial, model, fold, ``true:<emotion>`` and
    ``pred:<emotion>`` columns) and ``_per_emotion.csv`` (mean absolute error per model and
    emotion, also in the markdown) and ``_cooccurrence.csv``: per model, the Frobenius distance
    between the emotion correlations of its held-out predictions and of the true labels
    (:meth:`ExperimentResult.correlation_distances`) and, for ``final_model``, the Spearman
    correlation of its learned ``cooccurrence_`` with the labels' emotion correlations
    (:func:`~mpcl_sklearn.metrics.cooccurrence_spearman`); also in the markdown and JSON, with
    the figure ``_correlations.png`` (true | learned | each model's predictions). The result's
    ``notes`` (calibration, scored rows, permutation control) head the markdown and JSON.
    Emotion names label every table, CSV header and figure; the labels written and drawn are
    the ones the models were scored on (``result.labels``, permuted in a control).

    Parameters
    ----------
    result : ExperimentResult
    out_dir : str or Path
    data : FeatureTable, optional
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
    if data is not None and result.labels is not None:
        data = replace(data, y=np.asarray(result.labels, dtype=float))
    written = {}
    written["scores"] = out / f"{name}_folds.csv"
    result.scores.to_csv(written["scores"], index=False)
    written["summary"] = out / f"{name}_summary.csv"
    result.summary.to_csv(written["summary"], index=False)
    per_emotion = None
    if data is not None and result.predictions:
        per_emotion = _per_emotion_error(result, data)
        written["per_emotion"] = out / f"{name}_per_emotion.csv"
        per_emotion.to_csv(written["per_emotion"])
        written["predictions"] = out / f"{name}_predictions.csv"
        _predictions_table(result, data).to_csv(written["predictions"], index=False)
    cooccurrence = _cooccurrence_table(result, data, final_model)
    if cooccurrence is not None:
        written["cooccurrence"] = out / f"{name}_cooccurrence.csv"
        cooccurrence.to_csv(written["cooccurrence"])
    md = [f"# {name}", "", *result.notes, *([""] if result.notes else [])]
    md.append(f"Protocol: {result.protocol}.")
    if data is not None:
        md.append(f"Data: {data.description}.")
        if data.emotions:
            md.append(f"Emotions: {', '.join(map(str, data.emotions))}.")
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
    wins = result.wins_over("mean")
    if wins:
        md += [
            "",
            "Better than the mean predictor (KL, per fold): "
            + ", ".join(f"{m} on {n} of {total}" for m, (n, total) in wins.items())
            + ".",
        ]
    if per_emotion is not None:
        md += [
            "",
            "Mean absolute error of each emotion's probability (out-of-fold predictions):",
            "",
            _markdown(per_emotion),
        ]
    if cooccurrence is not None:
        md += [
            "",
            "Emotion co-occurrence: `correlation_distance` = Frobenius distance between the "
            "emotion correlations of the held-out predictions (pooled over folds; an emotion "
            "predicted constant within every fold counts as uncorrelated) and of the true "
            "labels, lower is better; `cooccurrence_spearman` = Spearman correlation of the "
            "final MPCL's learned co-occurrence with the labels' emotion correlations "
            "(off-diagonal entries):",
            "",
            _markdown(cooccurrence),
        ]
    written["markdown"] = out / f"{name}.md"
    written["markdown"].write_text("\n".join(md) + "\n")
    written.update(_write_figures(result, out, name, data, final_model))
    written["json"] = out / f"{name}_meta.json"
    written["json"].write_text(
        json.dumps(
            {
                "protocol": result.protocol,
                "notes": list(result.notes),
                "seconds": result.seconds,
                "folds_better_than_mean": {m: list(v) for m, v in wins.items()},
                "cooccurrence": None
                if cooccurrence is None
                else {
                    model: {k: (None if pd.isna(v) else float(v)) for k, v in row.items()}
                    for model, row in cooccurrence.iterrows()
                },
                "command": command,
                "data": None if data is None else data.description,
                "emotions": None if data is None else [str(e) for e in data.emotions],
                "data_report": None if data is None else data.report,
                "versions": versions(),
            },
            indent=2,
        )
    )
    return written


def versions() -> dict[str, str | None]:
    """Versions of Python, this package and the libraries that shape the results (read from
    the installed distributions; nothing is imported)."""
    import platform
    from importlib import metadata

    out: dict[str, str | None] = {"python": platform.python_version()}
    for key, dist in (
        ("mpcl_sklearn", "mpcl-sklearn"),
        ("torch", "torch"),
        ("scikit-learn", "scikit-learn"),
        ("numpy", "numpy"),
        ("scipy", "scipy"),
        ("pandas", "pandas"),
        ("skorch", "skorch"),
    ):
        try:
            out[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[key] = None
    return out


def _cooccurrence_table(result, data, final_model) -> pd.DataFrame | None:
    """Models x (correlation_distance, cooccurrence_spearman), or None without predictions
    and final model."""
    from ..metrics import cooccurrence_spearman

    if data is None or (not result.predictions and final_model is None):
        return None
    table = pd.DataFrame(
        {"correlation_distance": result.correlation_distances(data.y)}, dtype=float
    )
    learned = _learned_matrix(final_model)
    if learned is not None and learned.shape == (data.y.shape[1],) * 2 and len(learned) >= 3:
        label = "mpcl (final model)"
        if label not in table.index:
            table.loc[label] = np.nan
        table["cooccurrence_spearman"] = np.nan
        table.loc[label, "cooccurrence_spearman"] = cooccurrence_spearman(learned, data.y)
    table.index.name = "model"
    return table


def _learned_matrix(final_model) -> np.ndarray | None:
    """``cooccurrence_`` of a fitted model (a Pipeline's last step), or None."""
    if final_model is None:
        return None
    obj = final_model.steps[-1][1] if hasattr(final_model, "steps") else final_model
    matrix = getattr(obj, "cooccurrence_", None)
    return None if matrix is None else np.asarray(matrix, dtype=float)


def _emotion_labels(data: FeatureTable, n: int) -> list[str]:
    names = [str(e) for e in (data.emotions or [])]
    return names if len(names) == n else [f"emotion_{i}" for i in range(n)]


def _per_emotion_error(result: ExperimentResult, data: FeatureTable) -> pd.DataFrame:
    """Models x emotions: mean absolute error of each emotion's predicted probability."""
    y = np.asarray(data.y, dtype=float)
    rows = {model: np.abs(pred - y).mean(axis=0) for model, pred in result.predictions.items()}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=_emotion_labels(data, y.shape[1]))
    table.index.name = "model"
    return table


def _predictions_table(result: ExperimentResult, data: FeatureTable) -> pd.DataFrame:
    """One row per window and model: ids, the true distribution and the out-of-fold one."""
    y = np.asarray(data.y, dtype=float)
    names = _emotion_labels(data, y.shape[1])
    ids = pd.DataFrame({"subject": data.groups, "trial": data.trials})
    true = pd.DataFrame(y, columns=[f"true:{e}" for e in names])
    parts = []
    for model, pred in result.predictions.items():
        folds = result.prediction_folds.get(model)
        head = ids.assign(model=model, fold=-1 if folds is None else folds)
        pred_frame = pd.DataFrame(pred, columns=[f"pred:{e}" for e in names])
        parts.append(pd.concat([head, true, pred_frame], axis=1))
    return pd.concat(parts, ignore_index=True)


def _markdown(table: pd.DataFrame, digits: int = 4) -> str:
    header = [table.index.name or ""] + [str(c) for c in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for idx, row in table.iterrows():
        lines.append("| " + " | ".join([str(idx)] + [f"{v:.{digits}f}" for v in row]) + " |")
    return "\n".join(lines)


def _write_figures(result, out: Path, name: str, data, final_model) -> dict[str, Path]:
    """The figures as PNG files; each is closed once saved (pyplot keeps no reference)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:  # pragma: no cover - matplotlib is an optional extra
        return {}
    import matplotlib.pyplot as plt

    from ..plotting import (
        plot_cooccurrence,
        plot_correlation_panels,
        plot_distributions,
        plot_learned_cooccurrence,
        plot_metric_comparison,
    )

    written = {}

    def save(key, fig):
        written[key] = out / f"{name}_{key}.png"
        try:
            fig.savefig(written[key], dpi=110)
        finally:
            plt.close(fig)

    save("metrics", plot_metric_comparison(result.summary, title=f"{name}: {result.protocol}"))
    emotions = None
    if data is not None and data.emotions and len(data.emotions) == np.shape(data.y)[1]:
        emotions = list(data.emotions)
    if data is not None:
        for model, pred in result.predictions.items():
            title = f"{model}: emotion co-occurrence, true vs out-of-fold predictions"
            fig = plot_cooccurrence(
                data.y, pred, emotions, title=title, folds=result.prediction_folds.get(model)
            )
            save(f"cooccurrence_{_slug(model)}", fig)
            save(f"distributions_{_slug(model)}", plot_distributions(data.y, pred, emotions))
    if final_model is not None:
        save("learned_cooccurrence", plot_learned_cooccurrence(final_model, emotions))
    learned = _learned_matrix(final_model)
    if data is not None and (result.predictions or learned is not None):
        rows = slice(None) if result.scored is None else np.asarray(result.scored)
        fig = plot_correlation_panels(
            data.y[rows],
            {m: p[rows] for m, p in result.predictions.items()},
            learned if learned is not None and learned.shape == (data.y.shape[1],) * 2 else None,
            emotions,
            folds={m: np.asarray(f)[rows] for m, f in result.prediction_folds.items()},
            title=f"{name}: emotion co-occurrence, true | learned | held-out predictions",
        )
        save("correlations", fig)
    return written


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")
