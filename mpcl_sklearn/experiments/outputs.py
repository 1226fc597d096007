"""Writing an experiment's files: per-fold CSV, summary, markdown table, JSON and figures."""

from __future__ import annotations

import json
from pathlib import Path

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
    """Write the per-fold CSV, the markdown table and the figures.

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
    """The figures as PNG files. The plotting functions build ``Figure`` objects outside pyplot,
    so writing them leaves the user's matplotlib backend alone."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:  # pragma: no cover - matplotlib is an optional extra
        return {}
    from ..plotting import (
        plot_cooccurrence,
        plot_distributions,
        plot_learned_cooccurrence,
        plot_metric_comparison,
    )

    written = {}

    def save(key, fig):
        written[key] = out / f"{name}_{key}.png"
        fig.savefig(written[key], dpi=110)

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
