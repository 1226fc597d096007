"""The experiment runner and the command line (small synthetic problems)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator

from mpcl_sklearn.cli import main
from mpcl_sklearn.datasets import FeatureTable
from mpcl_sklearn.experiments import (
    ABLATIONS,
    ExperimentData,
    ablation_variants,
    make_model,
    prepare_dataset,
    run_ablation,
    run_experiment,
    write_outputs,
)
from mpcl_sklearn.metrics import METRICS, distribution_report
from mpcl_sklearn.model_selection import subject_independent_evaluate

SMALL = {"n_subjects": 4, "trials_per_subject": 4, "duration_s": 20.0}


@pytest.fixture(scope="module")
def data() -> FeatureTable:
    return prepare_dataset("synthetic", feature_set="minimal", synthetic_params=SMALL)


def test_prepare_dataset_synthetic(data):
    assert isinstance(data, FeatureTable) and ExperimentData is FeatureTable  # the former name
    # 4 subjects x 4 trials x 20 s, 10 s windows stepping 5 s -> 3 windows per trial
    assert data.X.shape[0] == 48 == len(data.y) == len(data.groups) == len(data.trials)
    assert sorted(set(data.groups)) == ["S01", "S02", "S03", "S04"] or len(set(data.groups)) == 4
    assert len(set(data.trials)) == 16
    np.testing.assert_allclose(data.y.sum(1), 1.0)
    assert data.y.shape[1] == len(data.emotions) == 10
    assert set(data.behavioural) == {"acc", "face"}
    assert all("__" in c for c in data.X.columns)
    assert np.isfinite(data.X.to_numpy()).all()
    assert "48 windows" in data.description
    # frames of 2 s and 10 s for every modality
    scales = {c.split("__")[1] for c in data.X.columns}
    assert scales == {"2s", "10s"}


def test_prepare_dataset_errors():
    with pytest.raises(ValueError, match="unknown dataset"):
        prepare_dataset("deap")
    with pytest.raises(ValueError, match="needs path"):
        prepare_dataset("wesad")
    with pytest.raises(ValueError, match="needs path"):
        prepare_dataset("dmer")


def test_make_model_names():
    assert type(make_model("mean")).__name__ == "MeanDistributionRegressor"
    search = make_model("sa-bfgs")
    assert type(search).__name__ == "GridSearchCV"
    assert type(make_model("sa-bfgs", nested=False)).__name__ == "SABFGSRegressor"
    mpcl = make_model("mpcl", behavioural=("acc",), max_epochs=3, use_memory_fusion=False)
    assert mpcl.max_epochs == 3 and mpcl.use_memory_fusion is False
    assert mpcl.behavioural_modalities == ("acc",)
    with pytest.raises(ValueError, match="unknown model"):
        make_model("svm")
    with pytest.raises(ValueError, match="MPCL parameters"):
        make_model("mean", use_memory_fusion=False)


def test_inner_search_with_one_group_per_training_fold():
    """Two trials per subject: each subject-dependent training fold holds a single trial."""
    two_trials = {"n_subjects": 2, "trials_per_subject": 2, "duration_s": 20.0}
    small = prepare_dataset("synthetic", feature_set="minimal", synthetic_params=two_trials)
    with pytest.warns(UserWarning, match="got 1 group"):
        result = run_experiment(small, ["sa-bfgs"], protocol="subject-dependent")
    assert np.isfinite(result.summary["mean"]).all()


def test_run_experiment_same_folds_and_tables(data):
    result = run_experiment(data, ["mean", "sa-bfgs", "aa-knn"], cv=2)
    assert set(result.summary["model"]) == {"mean", "sa-bfgs", "aa-knn"}
    assert set(result.summary["metric"]) == set(METRICS)
    # every model was scored on the same folds
    folds = result.scores.pivot(index="fold", columns="model", values="test_subjects")
    assert (folds.nunique(axis=1) == 1).all()
    table = result.table()
    assert list(table.columns) == list(METRICS) and list(table.index) == [
        "mean",
        "sa-bfgs",
        "aa-knn",
    ]
    best = result.best()
    wide = result.summary.pivot(index="model", columns="metric", values="mean")
    assert best["kl_divergence"] == wide["kl_divergence"].idxmin()
    assert best["cosine"] == wide["cosine"].idxmax()
    assert sum(result.wins(m) for m in ["mean", "sa-bfgs", "aa-knn"]) == 6
    md = result.to_markdown()
    assert md.count("**") == 12  # one bold cell per metric
    assert "kl_divergence ↓" in md and "cosine ↑" in md
    # out-of-fold predictions: every row predicted once, by a model that did not see it
    pred = result.predictions["mean"]
    assert pred.shape == data.y.shape and np.isfinite(pred).all()
    for tested in result.scores.loc[result.scores["model"] == "mean", "test_subjects"]:
        rows = np.isin(data.groups, tested.split(","))
        expected = data.y[~rows].mean(0)
        np.testing.assert_allclose(pred[rows], np.tile(expected, (rows.sum(), 1)))


def test_out_of_fold_predictions_match_scores(data):
    from mpcl_sklearn.models import MeanDistributionRegressor

    res = subject_independent_evaluate(
        MeanDistributionRegressor(),
        data.X,
        data.y,
        data.groups,
        cv="loso",
        return_predictions=True,
    )
    for _, row in res.scores.iterrows():
        rows = np.isin(data.groups, row["test_subjects"].split(","))
        rep = distribution_report(data.y[rows], res.predictions[rows])
        assert rep["kl_divergence"] == pytest.approx(row["kl_divergence"])
    plain = subject_independent_evaluate(
        MeanDistributionRegressor(), data.X, data.y, data.groups, cv="loso"
    )
    assert plain.predictions is None
    pd.testing.assert_frame_equal(plain.scores, res.scores)


def test_subject_dependent_protocol(data):
    result = run_experiment(data, ["mean"], protocol="subject-dependent", split="trial")
    assert result.protocol.startswith("subject-dependent")
    assert result.predictions == {}
    assert set(result.scores["subject"]) == set(np.unique(data.groups))
    with pytest.raises(ValueError, match="protocol"):
        run_experiment(data, ["mean"], protocol="cross-dataset")


def test_ablation_variants(data):
    lines = []
    result = run_ablation(data, cv=2, max_epochs=2, log=lines.append)
    models = list(dict.fromkeys(result.summary["model"]))
    assert models[0] == "full"
    assert models[-3:] == ["none (all off)", "no linear evidence", "no read-out projection"]
    assert len(models) == len(ABLATIONS) + 4 == len(lines)
    assert "no memory fusion" in models


def test_ablation_has_a_condition_row_when_the_models_get_conditions(data, monkeypatch):
    import dataclasses

    from mpcl_sklearn.experiments import running
    from mpcl_sklearn.models.mpcl import SHRINKAGE_TARGETS

    assert "conditions" in SHRINKAGE_TARGETS
    off = ablation_variants(conditions=True)["no condition read-out"]["shrinkage_targets"]
    assert set(off) == set(SHRINKAGE_TARGETS) - {"conditions"}
    seen = {}
    monkeypatch.setattr(running, "run_experiment", lambda d, models, **o: seen.update(models))
    with_conditions = dataclasses.replace(data, conditions=np.asarray(data.trials).astype(str))
    for table, options, expected in (
        (with_conditions, {}, True),
        (with_conditions, {"conditions": False}, False),
        (data, {}, False),
    ):
        seen.clear()
        run_ablation(table, max_epochs=2, **options)
        assert ("no condition read-out" in seen) is expected
        assert list(seen)[: len(ablation_variants())] == list(ablation_variants())
    assert seen["full"].get_params()["shrinkage_targets"] == SHRINKAGE_TARGETS


def test_write_outputs(tmp_path, data):
    from mpcl_sklearn.models import MPCLDistributionRegressor

    result = run_experiment(data, ["mean", "aa-knn"], cv=2)
    final = MPCLDistributionRegressor(max_epochs=2, random_state=0).fit(data.X, data.y)
    written = write_outputs(
        result, tmp_path, data=data, name="run", command="mpcl-sklearn x", final_model=final
    )
    for key in (
        "scores",
        "summary",
        "markdown",
        "json",
        "metrics",
        "cooccurrence_mean",
        "distributions_aa_knn",
        "learned_cooccurrence",
    ):
        assert written[key].exists() and written[key].stat().st_size > 0, key
    folds = pd.read_csv(written["scores"])
    assert len(folds) == 4 and set(folds["model"]) == {"mean", "aa-knn"}
    md = written["markdown"].read_text()
    assert "mpcl-sklearn x" in md and "| mean |" in md and data.description in md
    meta = json.loads(written["json"].read_text())
    assert meta["protocol"] == result.protocol and meta["data_report"] == data.report


def test_cli_demo_quick(capsys):
    assert main(["demo", "--quick", "--quiet"]) == 0
    out = capsys.readouterr().out
    for metric in METRICS:
        assert metric in out
    assert "| mpcl |" in out and "| mean |" in out and "subject-independent" in out


def test_cli_evaluate_and_ablation(tmp_path, capsys):
    common = [
        "--dataset",
        "synthetic",
        "--n-subjects",
        "4",
        "--trials-per-subject",
        "3",
        "--duration-s",
        "20",
        "--feature-set",
        "minimal",
        "--cv",
        "2",
        "--max-epochs",
        "2",
        "--quiet",
        "--out",
        str(tmp_path),
    ]
    assert main(["evaluate", "--models", "mpcl,mean", *common]) == 0
    out = capsys.readouterr().out
    assert "| mpcl |" in out and "wrote" in out
    stem = "synthetic_subject-independent"
    assert (tmp_path / f"{stem}.md").exists()
    assert (tmp_path / f"{stem}_learned_cooccurrence.png").exists()
    assert (tmp_path / f"{stem}_cooccurrence_mpcl.png").exists()
    assert "--models mpcl,mean" in (tmp_path / f"{stem}.md").read_text()
    assert main(["ablation", "--name", "abl", *common]) == 0
    assert "| none (all off) |" in (tmp_path / "abl.md").read_text()


def test_cli_errors(capsys):
    def error(argv) -> str:
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's own errors
            code = exc.code
        err = capsys.readouterr().err
        assert code == 2, (argv, code, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        return err

    assert "unknown models" in error(["evaluate", "--models", "mpcl,svm"])
    assert "needs --path" in error(["evaluate", "--dataset", "wesad"])
    assert "for --dataset synthetic" in error(
        ["evaluate", "--dataset", "dmer", "--path", ".", "--n-subjects", "3"]
    )
    assert "--cv is for the subject-independent" in error(
        ["evaluate", "--protocol", "subject-dependent", "--cv", "3"]
    )
    assert "--split is for --protocol subject-dependent" in error(
        ["evaluate", "--split", "temporal"]
    )
    assert "do not apply to --dataset dmer" in error(
        ["evaluate", "--dataset", "dmer", "--path", ".", "--window-s", "30"]
    )
    for bad in ("abc", "1"):
        assert "expected 'loso' or a number of folds >= 2" in error(["evaluate", "--cv", bad])


def test_cli_evaluate_dmer_feature_files(tmp_path, capsys):
    """DMER's precomputed-feature layout (generated files) through the whole CLI."""
    from test_datasets_dmer import write_features

    root = tmp_path / "dmer"
    root.mkdir()
    for i, sub in enumerate(["1", "2", "3"]):
        write_features(root, sub, [v for v in range(i, 30, 5) for _ in range(4)])
    out = tmp_path / "out"
    assert (
        main(
            [
                "evaluate",
                "--dataset",
                "dmer",
                "--path",
                str(root),
                "--cv",
                "3",
                "--models",
                "mpcl,aa-knn,mean",
                "--max-epochs",
                "2",
                "--quiet",
                "--no-final-model",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "DMER precomputed features, 3 subjects" in text and "| mpcl |" in text
    folds = pd.read_csv(out / "dmer_subject-independent_folds.csv", dtype={"test_subjects": str})
    assert len(folds) == 9 and set(folds["test_subjects"]) == {"1", "2", "3"}


class _ConditionSpy(BaseEstimator):
    """A mean predictor that checks the conditions its fit gets (None or the training rows')."""

    # requested like MPCL's, for the calibrated pipelines (metadata routing)
    __metadata_request__fit = {"groups": True, "conditions": True}

    def __init__(self, expect=True):
        self.expect = expect

    def fit(self, X, y, groups=None, conditions=None):
        if self.expect:
            assert conditions is not None and len(conditions) == len(X)
            # the training rows' own conditions, row for row
            np.testing.assert_array_equal(conditions, X.index.get_level_values("trial"))
        else:
            assert conditions is None
        self.mean_ = np.asarray(y).mean(0)
        return self

    def predict(self, X):
        return np.tile(self.mean_, (len(X), 1))


@pytest.mark.parametrize("calibration", ["none", "transductive"])
def test_conditions_reach_only_the_models_that_take_them(data, calibration):
    import dataclasses

    from mpcl_sklearn.models import MeanDistributionRegressor

    X = data.X.copy()
    trials = np.asarray(data.trials).astype(str)
    conditions = np.char.partition(trials, "/")[:, 2] if "/" in trials[0] else trials
    X.index = pd.MultiIndex.from_arrays([data.groups, conditions], names=["subject", "trial"])
    with_conditions = dataclasses.replace(data, X=X, conditions=conditions)
    models = {"spy": _ConditionSpy(), "mean": MeanDistributionRegressor()}
    result = run_experiment(with_conditions, models, cv=2, calibration=calibration)
    assert any(note.startswith("Conditions:") for note in result.notes)
    models = {"spy": _ConditionSpy(expect=False), "mean": MeanDistributionRegressor()}
    if calibration == "none":  # no conditions in the data, or conditions=False: none passed
        for table, flag in ((data, True), (with_conditions, False)):
            result = run_experiment(table, models, cv=2, conditions=flag)
            assert not any(note.startswith("Conditions:") for note in result.notes)
