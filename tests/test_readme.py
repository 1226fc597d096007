"""README's "Use" snippet runs as written, gives MPCL its modality tokens, and computes the
`mpcl` row of the README's demo table (what `make demo` runs)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
MODALITIES = 7  # of the synthetic recordings
SCALES = ("2s", "10s")


def _snippet() -> str:
    text = README.read_text(encoding="utf-8")
    use = text[text.index("## Use") :]
    match = re.search(r"```python\n(.*?)```", use, re.S)
    assert match, "README's Use section has no python block"
    return match.group(1)


def _setup_lines() -> str:
    """The snippet without its last statement (the cross-validation)."""
    code = _snippet()
    return code[: code.index("print(subject_independent_evaluate")]


def test_readme_snippet_gives_mpcl_its_tokens():
    namespace: dict = {}
    exec(compile(_setup_lines(), str(README), "exec"), namespace)  # noqa: S102
    pipe, X, y = namespace["pipe"], namespace["X"], namespace["y"]
    pipe.set_params(mpcl__max_epochs=1).fit(X, y)
    mpcl = pipe[-1]
    assert len(mpcl.tokens_) == MODALITIES * len(SCALES)
    assert {scale for _, scale in mpcl.tokens_} == set(SCALES)
    assert mpcl.behavioural_modalities_ == ["acc", "face"]
    assert list(mpcl.emotions_) == list(namespace["recordings"].emotions)


@pytest.mark.slow
def test_readme_snippet_prints_the_demo_mpcl_row():
    """The snippet's scores equal the demo's (prepare_dataset + run_experiment, the CLI path)."""
    from mpcl_sklearn.experiments import prepare_dataset, run_experiment

    out = io.StringIO()
    namespace: dict = {}
    with contextlib.redirect_stdout(out):
        exec(compile(_snippet(), str(README), "exec"), namespace)  # noqa: S102
    printed = out.getvalue()
    data = prepare_dataset(
        "synthetic",
        feature_set="minimal",
        synthetic_params={"n_subjects": 8, "trials_per_subject": 8, "duration_s": 40.0},
        random_state=0,
    )
    demo = run_experiment(data, ["mpcl"], cv=4, random_state=0)
    for metric, row in demo.summary.set_index("metric").iterrows():
        assert f"{metric:<14s} {row['mean']:.4f} ± {row['std']:.4f}" in printed, (metric, printed)
    assert np.isfinite(demo.summary["mean"]).all()
