"""README's "Use" snippet runs as written, gives MPCL its modality tokens, and computes the
`mpcl` row of the README's demo table (what `make demo` runs); its "Subject calibration"
snippet gives the scores of the command README says runs it."""

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


WESAD = Path(__file__).resolve().parents[2] / "shared" / "data" / "wesad"


@pytest.mark.slow
@pytest.mark.skipif(not WESAD.is_dir(), reason=f"real WESAD data not found at {WESAD}")
def test_readme_calibration_snippet_is_what_the_cli_runs(monkeypatch, tmp_path):
    """The "Subject calibration" snippet, as written, and `mpcl-sklearn evaluate --calibration
    reference --models mpcl`, on the same 3 subjects and 3 of their conditions (the loader
    restricted, to keep the suite short): every fold is scored with the calibrator fed the
    held-out subject's own baseline, and the two give the same scores in every fold (README
    says the command runs this snippet for every model), as does the snippet's pipeline with
    the features computed once before the folds (README says so too)."""
    import pandas as pd
    import sklearn

    import mpcl_sklearn
    import mpcl_sklearn.datasets
    from mpcl_sklearn.cli import main
    from mpcl_sklearn.datasets import load_wesad
    from mpcl_sklearn.metrics import METRICS, scorer_name

    subjects, conditions = ["S2", "S3", "S4"], ("Base", "Fun", "Medi 1")

    def restricted(path, subjects=subjects, **options):
        return load_wesad(path, subjects, **{**options, "conditions": conditions})

    use = README.read_text(encoding="utf-8")
    use = use[use.index("## Use") :]
    first, second = re.findall(r"```python\n(.*?)```", use, re.S)[:2]
    imports = first[: first.index("recordings = ")]
    monkeypatch.setattr(mpcl_sklearn, "load_wesad", lambda path: restricted(WESAD))
    namespace: dict = {}
    try:
        exec(compile(imports + second, str(README), "exec"), namespace)  # noqa: S102
    finally:
        sklearn.set_config(enable_metadata_routing=False)
    scores = namespace["scores"]
    kl = scores["test_neg_kl_divergence"]
    assert len(kl) == 3 and np.isfinite(kl).all() and (kl < 0).all()
    assert isinstance(namespace["pipe"].steps[2][1], mpcl_sklearn.SubjectCalibrator)

    # README: the features computed once before the folds give the same scores
    from sklearn.model_selection import LeaveOneGroupOut, cross_validate
    from sklearn.pipeline import Pipeline

    ns = namespace
    routed = {"groups": "groups", "reference": "baseline", "conditions": "conditions"}
    features = Pipeline(ns["pipe"].steps[:2]).fit_transform(ns["X"])
    with sklearn.config_context(enable_metadata_routing=True):
        once = cross_validate(
            Pipeline(ns["pipe"].steps[2:]), features, ns["y"], cv=LeaveOneGroupOut(),
            scoring=ns["scoring"], params={name: ns[key] for name, key in routed.items()},
        )  # fmt: skip
    np.testing.assert_allclose(once["test_neg_kl_divergence"], kl, rtol=1e-6)

    monkeypatch.setattr(mpcl_sklearn.datasets, "load_wesad", restricted)
    argv = ["evaluate", "--dataset", "wesad", "--path", str(WESAD), "--subjects", "S2,S3,S4"]
    argv += ["--calibration", "reference", "--models", "mpcl", "--no-final-model", "--quiet"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([*argv, "--out", str(tmp_path), "--name", "cli"]) == 0
    folds = pd.read_csv(tmp_path / "cli_folds.csv")
    assert len(folds) == 3
    for metric in ("kl_divergence", "chebyshev", "cosine"):
        sign = 1.0 if METRICS[metric][1] else -1.0  # the scorers' convention
        np.testing.assert_allclose(
            sign * folds[metric], scores[f"test_{scorer_name(metric)}"], rtol=1e-6
        )
