"""Subject calibration in the runner, scored rows, the label-permutation control, the LDL
k-fold protocol and the co-occurrence measures (small synthetic problems)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin

from mpcl_sklearn.cli import main
from mpcl_sklearn.datasets import FeatureTable
from mpcl_sklearn.experiments import (
    calibrated,
    fit_final_mpcl,
    permute_trial_labels,
    prepare_dataset,
    reference_rows,
    run_experiment,
    write_outputs,
)
from mpcl_sklearn.metrics import (
    METRICS,
    cooccurrence_spearman,
    correlation_distance,
    distribution_report,
    emotion_correlation,
)

SMALL = {"n_subjects": 4, "trials_per_subject": 4, "duration_s": 20.0}


@pytest.fixture(scope="module")
def data() -> FeatureTable:
    return prepare_dataset("synthetic", feature_set="minimal", synthetic_params=SMALL)


# ------------------------------------------------------------------------------ metrics
def test_cooccurrence_spearman():
    rng = np.random.default_rng(0)
    Y = rng.dirichlet(np.ones(5), size=200)
    target = emotion_correlation(Y)
    assert cooccurrence_spearman(target, Y) == pytest.approx(1.0)
    # any strictly increasing map of the correlations ranks the pairs alike
    assert cooccurrence_spearman(np.exp(3 * target), Y) == pytest.approx(1.0)
    assert cooccurrence_spearman(-target, Y) == pytest.approx(-1.0)

    class Fitted:
        cooccurrence_ = np.exp(target)

    assert cooccurrence_spearman(Fitted(), Y) == pytest.approx(1.0)
    assert np.isnan(cooccurrence_spearman(np.full((5, 5), 0.2), Y))  # nothing to rank
    with pytest.raises(ValueError, match="square"):
        cooccurrence_spearman(np.ones((5, 4)), Y)
    with pytest.raises(ValueError, match="emotions"):
        cooccurrence_spearman(np.eye(4), Y)
    with pytest.raises(ValueError, match="NaN"):
        cooccurrence_spearman(np.full((5, 5), np.nan), Y)


def test_correlation_distance():
    rng = np.random.default_rng(1)
    Y = rng.dirichlet(np.ones(4), size=100)
    assert correlation_distance(Y, Y) == pytest.approx(0.0, abs=1e-12)
    # a constant prediction: its emotions count as uncorrelated (the identity), never NaN
    const = np.tile(Y.mean(0), (100, 1))
    expected = np.linalg.norm(np.eye(4) - emotion_correlation(Y, constant=0.0))
    assert correlation_distance(const, Y) == pytest.approx(expected)
    # one constant per fold (the mean predictor out of fold) is treated the same with folds
    folds = np.repeat([0, 1], 50)
    per_fold = np.vstack([np.tile(Y[:50].mean(0), (50, 1)), np.tile(Y[50:].mean(0), (50, 1))])
    assert correlation_distance(per_fold, Y, folds=folds) == pytest.approx(expected)
    assert correlation_distance(per_fold, Y) != pytest.approx(expected)  # between-fold artefact
    noisy = 0.5 * Y + 0.5 * rng.dirichlet(np.ones(4), size=100)
    assert 0 < correlation_distance(noisy, Y) < correlation_distance(const, Y)
    with pytest.raises(ValueError, match="shape"):
        correlation_distance(Y[:, :3] / Y[:, :3].sum(1, keepdims=True), Y)


# ------------------------------------------------------------------------------ permutation
def test_permute_trial_labels(data):
    y_before = data.y.copy()
    permuted = permute_trial_labels(data, random_state=3)
    np.testing.assert_array_equal(data.y, y_before)  # the input is untouched
    assert permuted.X.equals(data.X) and (permuted.groups == data.groups).all()
    units = pd.Series(list(zip(data.groups, data.trials, strict=True)))
    assert units.nunique() == 16
    moved = 0
    for unit in units.unique():
        rows = (units == unit).to_numpy()
        labels = permuted.y[rows]
        np.testing.assert_allclose(labels, labels[:1].repeat(len(labels), 0))  # one per trial
        moved += not np.allclose(labels[0], data.y[rows][0])
    assert moved == 16  # no trial keeps its own label (the synthetic labels all differ)
    # every original label is used exactly once (a permutation of the trial labels)
    first = units.drop_duplicates().index.to_numpy()
    orig = {tuple(np.round(r, 12)) for r in data.y[first]}
    assert {tuple(np.round(r, 12)) for r in permuted.y[first]} == orig
    np.testing.assert_allclose(permute_trial_labels(data, random_state=3).y, permuted.y)
    assert not np.allclose(permute_trial_labels(data, random_state=4).y, permuted.y)
    assert "permut" in permuted.report[-1]
    one = replace(data, groups=np.full(len(data.y), "s"), trials=np.full(len(data.y), "t"))
    with pytest.raises(ValueError, match="at least 2"):
        permute_trial_labels(one)


def test_permutation_control_in_runner(data):
    result = run_experiment(data, ["mean"], cv=2, permute_labels=True, random_state=3)
    assert result.notes and result.notes[0].startswith("PERMUTATION CONTROL")
    np.testing.assert_allclose(result.labels, permute_trial_labels(data, 3).y)
    plain = run_experiment(data, ["mean"], cv=2)
    np.testing.assert_allclose(plain.labels, data.y)
    assert not plain.notes


# ------------------------------------------------------------------------------ reference rows
def test_reference_rows(data):
    # 20 s trials back to back, 10 s windows stepping 5 s: the first 0.5 min holds the first
    # trial's 3 windows (ends 10, 15, 20 s) and the second trial's first (ends 30 s)
    ref = reference_rows(data, minutes=0.5)
    assert ref.dtype == bool and ref.sum() == 4 * 4
    ends = data.times_s + data.window_s
    assert (ends[ref] <= 30).all() and (ends[~ref] > 30).all()
    with pytest.raises(ValueError, match="no conditions"):
        reference_rows(data, condition="Base")
    with pytest.raises(ValueError, match="exactly one"):
        reference_rows(data)
    with pytest.raises(ValueError, match="fewer than 20 reference rows"):
        reference_rows(data, minutes=0.5, min_rows=20)
    conds = np.where(np.char.endswith(data.trials.astype(str), "t01"), "Base", "Task")
    with_conditions = replace(data, conditions=conds, times_s=None)
    mask = reference_rows(with_conditions, condition="Base")
    np.testing.assert_array_equal(mask, conds == "Base")
    with pytest.raises(ValueError, match="unknown reference condition"):
        reference_rows(with_conditions, condition="Rest")
    with pytest.raises(ValueError, match="no window start times"):
        reference_rows(with_conditions, minutes=1)


# ------------------------------------------------------------------------------ calibration
_SEEN: list = []


class _Spy(RegressorMixin, BaseEstimator):
    """Records what reaches fit and predict; predicts the training mean."""

    __metadata_request__fit = {"groups": True}

    def fit(self, X, y, groups=None):
        _SEEN.append(("fit", np.asarray(X, dtype=float), groups, list(getattr(X, "columns", []))))
        self.mean_ = np.asarray(y, dtype=float).mean(0)
        return self

    def predict(self, X):
        _SEEN.append(("predict", np.asarray(X, dtype=float), None, None))
        return np.tile(self.mean_, (len(X), 1))


def test_calibrator_in_every_fold_with_routed_subjects(data):
    _SEEN.clear()
    run_experiment(data, {"spy": _Spy()}, cv=2, calibration="transductive")
    fits = [s for s in _SEEN if s[0] == "fit"]
    predicts = [s for s in _SEEN if s[0] == "predict"]
    assert len(fits) == len(predicts) == 2
    for _, X, groups, columns in fits:
        assert columns == list(data.X.columns)  # the models keep the feature names
        assert groups is not None and set(groups) <= set(data.groups)  # groups still routed
        for g in np.unique(groups):  # every training subject centred by its own rows
            np.testing.assert_allclose(X[groups == g].mean(0), 0, atol=1e-9)
    for _, X, _, _ in predicts:  # the test subjects (2 per fold) centred by their own rows
        half = len(X) // 2
        np.testing.assert_allclose(X[:half].mean(0), 0, atol=1e-9)
        np.testing.assert_allclose(X[half:].mean(0), 0, atol=1e-9)


def test_transductive_calibration_equals_subject_normalisation(data):
    """Calibrating inside every fold (inner GridSearchCV of SA-BFGS included) scores exactly
    what the global transductive z-scoring scores: the calibrator learns nothing across
    subjects."""
    calibrated_run = run_experiment(data, ["mean", "sa-bfgs"], cv=2, calibration="transductive")
    normalised = prepare_dataset(
        "synthetic", feature_set="minimal", synthetic_params=SMALL, subject_normalize=True
    )
    plain = run_experiment(normalised, ["mean", "sa-bfgs"], cv=2)
    pd.testing.assert_frame_equal(calibrated_run.summary, plain.summary, atol=1e-8)
    assert "transductive" in calibrated_run.notes[0]


def test_reference_calibration_and_scored_rows(data):
    ref = reference_rows(data, minutes=0.5)
    result = run_experiment(
        data,
        ["mean", "mpcl"],
        cv=2,
        max_epochs=1,
        calibration="reference",
        reference=ref,
        score_on="non-reference",
    )
    assert any("Scored rows: the 32 non-reference rows" in n for n in result.notes)
    scores = result.scores[result.scores["model"] == "mean"]
    assert scores["n_scored"].sum() == 32 and scores["n_test"].sum() == 48
    pred, folds = result.predictions["mean"], result.prediction_folds["mean"]
    for fold, row in scores.set_index("fold").iterrows():
        keep = (folds == fold) & ~ref
        expected = distribution_report(data.y[keep], pred[keep])
        for metric in METRICS:
            assert row[metric] == pytest.approx(expected[metric])
    all_rows = run_experiment(data, ["mean"], cv=2, calibration="reference", reference=ref)
    assert any("Scored rows: all 48 rows" in n for n in all_rows.notes)


def test_calibration_subject_dependent(data):
    ref = reference_rows(data, minutes=0.25)  # the first window of every subject
    with pytest.raises(ValueError, match="reference segment falls in the test rows"):
        run_experiment(
            data,
            ["mean"],
            protocol="subject-dependent",
            calibration="reference",
            reference=reference_rows(data, minutes=0.5),
        )
    ref = reference_rows(data, minutes=1.0)
    result = run_experiment(
        data,
        ["mean", "sa-bfgs"],
        protocol="subject-dependent",
        split="temporal",
        calibration="reference",
        reference=ref,
    )
    assert np.isfinite(result.summary["mean"]).all()
    trans = run_experiment(
        data, ["sa-bfgs"], protocol="subject-dependent", calibration="transductive"
    )
    assert np.isfinite(trans.summary["mean"]).all()


def test_calibration_argument_errors(data):
    ref = reference_rows(data, minutes=0.5)
    with pytest.raises(ValueError, match="calibration must be one of"):
        run_experiment(data, ["mean"], calibration="global")
    with pytest.raises(ValueError, match="needs reference="):
        run_experiment(data, ["mean"], calibration="reference")
    with pytest.raises(ValueError, match="reference= is for"):
        run_experiment(data, ["mean"], calibration="transductive", reference=ref)
    with pytest.raises(ValueError, match="score_on='non-reference' needs"):
        run_experiment(data, ["mean"], score_on="non-reference")
    with pytest.raises(ValueError, match="boolean mask"):
        run_experiment(data, ["mean"], calibration="reference", reference=ref[:5])
    with pytest.raises(ValueError, match="not with protocol='kfold'"):
        run_experiment(data, ["mean"], protocol="kfold", calibration="transductive")
    with pytest.raises(ValueError, match="calibration mode"):
        calibrated(None, "none")


# ------------------------------------------------------------------------------ LDL, k-fold
@pytest.fixture
def ldl_file(tmp_path):
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 12))
    logits = X[:, :5] @ rng.normal(size=(5, 5))
    Y = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    path = tmp_path / "toy.mat"
    savemat(path, {"features": X, "labels": Y})
    return path


def test_ldl_kfold(ldl_file, recwarn):
    data = prepare_dataset("ldl", ldl_file)
    assert data.X.shape == (90, 12) and len(set(data.groups)) == 90
    assert all(c.startswith("features__") for c in data.X.columns)
    result = run_experiment(
        data, ["mean", "sa-bfgs", "aa-knn", "mpcl", "helo"], protocol="kfold", cv=3, max_epochs=2
    )
    assert result.protocol.startswith("3-fold cross-validation over 90 rows")
    assert (result.scores.groupby("model").size() == 3).all()
    assert result.predictions["mpcl"].shape == (90, 5)
    assert not [w for w in recwarn if "token" in str(w.message) or "groups" in str(w.message)]
    best = result.best()
    assert best["kl_divergence"] != "mean"  # the features carry the labels
    with pytest.raises(ValueError, match="subjects= does not apply"):
        prepare_dataset("ldl", ldl_file, subjects=["a"])


# ------------------------------------------------------------------------------ outputs and CLI
def test_write_outputs_cooccurrence(tmp_path, data):
    result = run_experiment(data, ["mean", "sa-bfgs"], cv=2, calibration="transductive")
    final = fit_final_mpcl(data, calibration="transductive", max_epochs=2)
    assert final.steps[0][0] == "calibrator" and final[-1].cooccurrence_.shape == (10, 10)
    written = write_outputs(result, tmp_path, data=data, name="run", final_model=final)
    table = pd.read_csv(written["cooccurrence"], index_col="model")
    assert set(table.index) == {"mean", "sa-bfgs", "mpcl (final model)"}
    expected = cooccurrence_spearman(final[-1].cooccurrence_, data.y)
    assert table.loc["mpcl (final model)", "cooccurrence_spearman"] == pytest.approx(expected)
    np.testing.assert_allclose(
        table.loc[["mean", "sa-bfgs"], "correlation_distance"],
        result.correlation_distances(data.y)[["mean", "sa-bfgs"]],
    )
    assert written["correlations"].stat().st_size > 0
    md = written["markdown"].read_text()
    assert "Calibration: transductive" in md and "correlation_distance" in md
    meta = json.loads(written["json"].read_text())
    assert meta["notes"] == result.notes and "sa-bfgs" in meta["cooccurrence"]


COMMON = [
    "--n-subjects", "4", "--trials-per-subject", "4", "--duration-s", "20",
    "--feature-set", "minimal", "--cv", "2", "--quiet",
]  # fmt: skip


def test_cli_calibration_and_permutation(tmp_path, capsys):
    argv = ["evaluate", "--models", "mean,sa-bfgs", *COMMON, "--out", str(tmp_path)]
    extra = ["--calibration", "reference", "--reference-minutes", "0.5"]
    assert main([*argv, *extra, "--score-on", "non-reference", "--permute-labels"]) == 0
    out = capsys.readouterr().out
    assert "PERMUTATION CONTROL" in out and "Scored rows: the 32 non-reference rows" in out
    assert "Frobenius distance" in out
    md = (tmp_path / "synthetic_subject-independent.md").read_text()
    assert "PERMUTATION CONTROL" in md and "Calibration: reference" in md


def test_cli_ldl(tmp_path, ldl_file, capsys):
    argv = ["evaluate", "--dataset", "ldl", "--path", str(ldl_file), "--protocol", "kfold"]
    argv += ["--cv", "3", "--models", "mean,sa-bfgs", "--quiet", "--out", str(tmp_path)]
    assert main(argv) == 0
    assert "3-fold cross-validation over 90 rows" in capsys.readouterr().out
    assert (tmp_path / "ldl_toy_kfold.md").exists()


def test_cli_control_errors(capsys, ldl_file):
    def error(argv) -> str:
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
        err = capsys.readouterr().err
        assert code == 2, (argv, code, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        return err

    ldl = ["--dataset", "ldl", "--path", str(ldl_file)]
    assert "use --protocol kfold" in error(["evaluate", *ldl])
    assert "not with --protocol kfold" in error(
        ["evaluate", *ldl, "--protocol", "kfold", "--calibration", "transductive"]
    )
    assert "no such file" in error(["evaluate", "--dataset", "ldl", "--path", "/nope.mat"])
    assert "--reference-minutes N for synthetic" in error(
        ["evaluate", "--calibration", "reference"]
    )
    assert "for --calibration reference" in error(["evaluate", "--reference-minutes", "3"])
    assert "for --calibration reference" in error(["evaluate", "--score-on", "non-reference"])
    assert "not both" in error(
        ["evaluate", "--calibration", "reference", "--reference-minutes", "1",
         "--reference-condition", "Base"]
    )  # fmt: skip
    assert "positive number of minutes" in error(
        ["evaluate", "--calibration", "reference", "--reference-minutes", "-1"]
    )
    assert "no conditions" in error(
        ["evaluate", *COMMON, "--calibration", "reference", "--reference-condition", "Base"]
    )
    assert "takes a number of folds" in error(["evaluate", "--protocol", "kfold", "--cv", "loso"])
    assert "invalid choice" in error(["evaluate", "--calibration", "global"])


WESAD = Path(__file__).resolve().parents[2] / "shared" / "data" / "wesad"


@pytest.mark.skipif(not WESAD.is_dir(), reason=f"real WESAD data not found at {WESAD}")
def test_wesad_conditions_and_times():
    data = prepare_dataset("wesad", WESAD, subjects=["S2"], backend="fast")
    assert data.conditions is not None and "Base" in set(data.conditions)
    np.testing.assert_array_equal(reference_rows(data, condition="Base"), data.conditions == "Base")
    # windows of one trial follow each other; the conditions follow the protocol's order
    starts = pd.Series(data.times_s).groupby(data.conditions).min().sort_values()
    assert starts.iloc[0] == 0.0 and starts.index[0] == "Base"
    early = reference_rows(data, minutes=5)
    assert early.sum() == 9  # 60 s windows stepping 30 s that end within 300 s
    assert set(data.conditions[early]) == {"Base"}


def test_wins_over_the_mean_counts_folds():
    from mpcl_sklearn.experiments.results import ExperimentResult

    rows = []
    for fold, (a, b, mean) in enumerate([(0.1, 0.3, 0.2), (0.25, 0.1, 0.2), (0.1, 0.2, 0.2)]):
        for model, kl in (("a", a), ("b", b), ("mean", mean)):
            rows.append(
                {"fold": fold, "test_subjects": f"s{fold}", "n_train": 9, "n_test": 3,
                 "kl_divergence": kl, "cosine": 1 - kl, "model": model}
            )  # fmt: skip
    scores = pd.DataFrame(rows)
    result = ExperimentResult(scores=scores, summary=pd.DataFrame(), protocol="p", seconds={})
    assert result.wins_over() == {"a": (2, 3), "b": (1, 3)}  # a tie is not a win
    assert result.wins_over(metric="cosine") == {"a": (2, 3), "b": (1, 3)}
    assert (
        ExperimentResult(
            scores=scores[scores.model != "mean"], summary=pd.DataFrame(), protocol="p", seconds={}
        ).wins_over()
        == {}
    )
