"""Subject-wise feature standardisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mpcl_sklearn.preprocessing import subject_standardize


def test_each_subject_has_zero_mean_unit_std():
    rng = np.random.default_rng(0)
    groups = np.repeat(["a", "b", "c"], [10, 20, 5])
    offsets = np.array([100.0, -3.0, 7.0])[np.searchsorted(["a", "b", "c"], groups)]
    X = rng.normal(size=(35, 4)) * [1, 10, 0.1, 1] + offsets[:, None]
    X[:, 3] = offsets  # constant within every subject
    frame = pd.DataFrame(X, columns=list("pqrs"), index=pd.RangeIndex(100, 135))
    Z = subject_standardize(frame, groups)
    assert isinstance(Z, pd.DataFrame)
    assert list(Z.columns) == list("pqrs") and Z.index.equals(frame.index)
    for g in "abc":
        rows = Z[groups == g].to_numpy()
        np.testing.assert_allclose(rows[:, :3].mean(0), 0, atol=1e-12)
        np.testing.assert_allclose(rows[:, :3].std(0), 1, atol=1e-12)
        np.testing.assert_array_equal(rows[:, 3], 0.0)
    # the subject offsets are gone: the same within-subject pattern gives the same values
    np.testing.assert_allclose(subject_standardize(X, groups)[:, :3], Z.to_numpy()[:, :3])
    assert np.isfinite(X).all()  # input untouched


def test_errors():
    with pytest.raises(ValueError, match="2-D"):
        subject_standardize(np.zeros(5), np.zeros(5))
    with pytest.raises(ValueError, match="groups has 3"):
        subject_standardize(np.zeros((5, 2)), np.zeros(3))
    X = np.ones((4, 2))
    X[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        subject_standardize(X, np.zeros(4))
    huge = np.array([[1e200, 1.0], [-1e200, 2.0], [3e200, 3.0]])
    with pytest.raises(ValueError, match="subject 0: feature values too large"):
        subject_standardize(huge, np.zeros(3, dtype=int))


def test_prepare_dataset_option():
    from mpcl_sklearn.experiments import prepare_dataset

    small = {"n_subjects": 3, "trials_per_subject": 3, "duration_s": 20.0}
    raw = prepare_dataset("synthetic", feature_set="minimal", synthetic_params=small)
    norm = prepare_dataset(
        "synthetic", feature_set="minimal", synthetic_params=small, subject_normalize=True
    )
    assert "transductive" in norm.description and "transductive" not in raw.description
    pd.testing.assert_frame_equal(norm.X, subject_standardize(raw.X, raw.groups))
    np.testing.assert_array_equal(norm.y, raw.y)


# ---------------------------------------------------------------------------- SubjectCalibrator


def _subjects(seed=0, n_per=12, n_subjects=4, n_features=3):
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"s{i}" for i in range(n_subjects)], n_per)
    offsets = rng.normal(scale=20, size=(n_subjects, n_features))
    spreads = rng.uniform(0.5, 5, size=(n_subjects, n_features))
    codes = np.repeat(np.arange(n_subjects), n_per)
    X = rng.normal(size=(len(groups), n_features)) * spreads[codes] + offsets[codes]
    reference = np.tile(np.arange(n_per) < 5, n_subjects)
    return X, groups, reference


@pytest.mark.parametrize("mode", ["reference", "transductive"])
@pytest.mark.parametrize("center,scale", [("median", "iqr"), ("mean", "std"), ("median", None)])
def test_calibrator_uses_each_subjects_own_rows(mode, center, scale):
    from mpcl_sklearn.preprocessing import SubjectCalibrator

    X, groups, ref = _subjects()
    cal = SubjectCalibrator(mode=mode, center=center, scale=scale)
    Z = cal.fit_transform(X, groups=groups, reference=ref)
    for g in np.unique(groups):
        rows = groups == g
        calib = X[rows & ref] if mode == "reference" else X[rows]
        loc = np.median(calib, 0) if center == "median" else calib.mean(0)
        if scale == "iqr":
            q75, q25 = np.percentile(calib, [75, 25], axis=0)
            spread = (q75 - q25) / 1.3489795003921634
        elif scale == "std":
            spread = calib.std(0)
        else:
            spread = np.ones(X.shape[1])
        np.testing.assert_allclose(Z[rows], (X[rows] - loc) / spread, rtol=1e-10)


def test_calibrator_learns_nothing_across_subjects():
    from mpcl_sklearn.preprocessing import SubjectCalibrator

    X, groups, ref = _subjects(n_subjects=5)
    test = groups == "s4"
    alone = SubjectCalibrator().fit(X[test], groups=groups[test], reference=ref[test])
    expected = alone.transform(X[test], groups=groups[test], reference=ref[test])
    # fitted on other subjects only: the test subject is new and uses its own reference rows
    for train_subjects in (["s0"], ["s0", "s1", "s2", "s3"]):
        train = np.isin(groups, train_subjects)
        cal = SubjectCalibrator().fit(X[train], groups=groups[train], reference=ref[train])
        np.testing.assert_allclose(
            cal.transform(X[test], groups=groups[test], reference=ref[test]), expected
        )
        # transformed together with other subjects' rows: the same
        both = test | train
        Z = cal.transform(X[both], groups=groups[both], reference=ref[both])
        np.testing.assert_allclose(Z[test[both]], expected)
    # changing another subject's data changes nothing for this one
    X2 = X.copy()
    X2[groups == "s0"] *= 1000
    Z2 = SubjectCalibrator().fit_transform(X2, groups=groups, reference=ref)
    np.testing.assert_allclose(Z2[test], expected)


def test_calibrator_keeps_fitted_subject_statistics():
    """A subject seen in fit keeps its statistics (subject-dependent protocols)."""
    from mpcl_sklearn.preprocessing import SubjectCalibrator

    X, groups, ref = _subjects()
    cal = SubjectCalibrator().fit(X, groups=groups, reference=ref)
    later = ~ref  # no reference rows in this call: fitted statistics are used
    Z = cal.transform(X[later], groups=groups[later])
    np.testing.assert_allclose(Z, cal.transform(X, groups=groups, reference=ref)[later])
    assert list(cal.subjects_) == ["s0", "s1", "s2", "s3"] and cal.center_.shape == (4, 3)


def test_calibrator_errors():
    from mpcl_sklearn.preprocessing import SubjectCalibrator

    X, groups, ref = _subjects()
    with pytest.raises(ValueError, match="needs groups="):
        SubjectCalibrator().fit(X)
    cal = SubjectCalibrator().fit(X[:24], groups=groups[:24], reference=ref[:24])
    with pytest.raises(ValueError, match="needs groups="):
        cal.transform(X)
    with pytest.raises(ValueError, match="subject 's2' has 0 reference rows"):
        cal.transform(X[24:], groups=groups[24:])
    with pytest.raises(ValueError, match="fewer than min_rows=6"):
        SubjectCalibrator(min_rows=6).fit(X, groups=groups, reference=ref)
    with pytest.raises(ValueError, match="transductive calibration|1 rows"):
        SubjectCalibrator(mode="transductive").fit(X[:24], groups=groups[:24]).transform(
            X[24:25], groups=groups[24:25]
        )
    with pytest.raises(ValueError, match="'mode' parameter"):
        SubjectCalibrator(mode="global").fit(X, groups=groups)
    with pytest.raises(ValueError, match="'scale' parameter"):
        SubjectCalibrator(scale="mad").fit(X, groups=groups, reference=ref)
    with pytest.raises(ValueError, match="one entry per row"):
        SubjectCalibrator().fit(X, groups=groups[:5], reference=ref)
    with pytest.raises(ValueError, match="boolean mask"):
        SubjectCalibrator().fit(X, groups=groups, reference=np.full(len(X), 2))
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        SubjectCalibrator().fit(bad, groups=groups, reference=ref)
    X_before = X.copy()
    SubjectCalibrator().fit_transform(X, groups=groups, reference=ref)
    np.testing.assert_array_equal(X, X_before)  # input untouched


def test_calibrator_metadata_routing():
    import sklearn
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV, GroupKFold, cross_validate
    from sklearn.pipeline import make_pipeline

    from mpcl_sklearn.preprocessing import SubjectCalibrator

    X, groups, ref = _subjects(n_subjects=6)
    y = X[:, 0] - np.repeat(X.reshape(6, 12, 3)[:, :5, 0].mean(1), 12)
    pipe = make_pipeline(SubjectCalibrator(), Ridge())
    with sklearn.config_context(enable_metadata_routing=True):
        params = {"groups": groups, "reference": ref}
        res = cross_validate(pipe, X, y, params=params, cv=GroupKFold(3))
        assert np.isfinite(res["test_score"]).all()
        search = GridSearchCV(pipe, {"ridge__alpha": [0.1, 1.0]}, cv=GroupKFold(3))
        search.fit(X, y, **params)
        # BaseSearchCV.predict takes no metadata: predict with the refitted pipeline
        pred = search.best_estimator_.predict(X[:12], groups=groups[:12], reference=ref[:12])
        assert pred.shape == (12,)
        with pytest.raises(ValueError, match="needs groups="):
            search.best_estimator_.predict(X[:12])
    # without routing: fit through step parameters works, predict cannot get groups -> error
    pipe.fit(X, y, subjectcalibrator__groups=groups, subjectcalibrator__reference=ref)
    with pytest.raises(ValueError, match="enable metadata routing"):
        pipe.predict(X)


def test_calibrator_keeps_a_frames_names_and_metadata():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(12, 3)), columns=["eda__a", "eda__b", "acc__c"])
    X.attrs = {"emotions": ["Happy", "Sad"], "behavioural": ["acc"]}
    groups = np.repeat(["s1", "s2"], 6)
    from mpcl_sklearn.preprocessing import SubjectCalibrator

    Z = SubjectCalibrator(mode="transductive").fit_transform(X, groups=groups)
    assert isinstance(Z, pd.DataFrame) and list(Z.columns) == list(X.columns)
    assert Z.attrs == X.attrs and Z.attrs is not X.attrs
    assert (Z.index == X.index).all()
    np.testing.assert_allclose(Z.groupby(groups).mean().to_numpy(), 0, atol=1e-12)
    plain = SubjectCalibrator(mode="transductive").fit_transform(X.to_numpy(), groups=groups)
    np.testing.assert_allclose(plain, Z.to_numpy())


def test_calibrator_inside_cross_validate_gets_the_test_subjects_rows():
    """distribution_scorers(predict_metadata=...) hands groups/reference on to predict, so a
    calibrated pipeline scores in cross_validate exactly as a hand-written fold loop."""
    import sklearn
    from sklearn.model_selection import LeaveOneGroupOut, cross_validate
    from sklearn.pipeline import make_pipeline

    from mpcl_sklearn.metrics import distribution_scorers, kl_divergence
    from mpcl_sklearn.models import SABFGSRegressor
    from mpcl_sklearn.preprocessing import SubjectCalibrator

    rng = np.random.default_rng(3)
    groups = np.repeat(["a", "b", "c", "d"], 20)
    offsets = rng.normal(scale=3.0, size=(4, 5))
    X = rng.normal(size=(80, 5)) + np.repeat(offsets, 20, axis=0)
    Y = rng.dirichlet(np.ones(3), size=80)
    reference = np.tile(np.arange(20) < 5, 4)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(SubjectCalibrator(), SABFGSRegressor(alpha=1.0))
        scores = cross_validate(
            pipe,
            X,
            Y,
            cv=LeaveOneGroupOut(),
            scoring=distribution_scorers(predict_metadata=("groups", "reference")),
            params={"groups": groups, "reference": reference},
        )
        with pytest.raises(ValueError, match="needs groups"):  # sklearn's scorers pass none
            cross_validate(
                pipe, X, Y, cv=LeaveOneGroupOut(), scoring=distribution_scorers(),
                params={"groups": groups, "reference": reference}, error_score="raise",
            )  # fmt: skip
    expected = []
    for test in np.unique(groups):
        tr, te = groups != test, groups == test
        cal = SubjectCalibrator().fit(X[tr], groups=groups[tr], reference=reference[tr])
        model = SABFGSRegressor(alpha=1.0).fit(
            cal.transform(X[tr], groups[tr], reference[tr]), Y[tr]
        )
        P = model.predict(cal.transform(X[te], groups[te], reference[te]))
        expected.append(-kl_divergence(Y[te], P))
    np.testing.assert_allclose(scores["test_neg_kl_divergence"], expected, rtol=1e-10)


def test_distribution_scoring_predicts_once_per_fold_with_the_six_scorers_values():
    """distribution_scoring(predict_metadata=...) returns the six scorers' values from one
    predict per fold; the six separate scorers predict six times (scikit-learn caches only
    its own scorers), which is why it exists."""
    import sklearn
    from sklearn.model_selection import LeaveOneGroupOut, cross_validate
    from sklearn.pipeline import make_pipeline

    from mpcl_sklearn.metrics import distribution_scorers, distribution_scoring
    from mpcl_sklearn.models import SABFGSRegressor
    from mpcl_sklearn.preprocessing import SubjectCalibrator

    calls = []

    class CountingSABFGS(SABFGSRegressor):
        def predict(self, X):
            calls.append(len(X))
            return super().predict(X)

    rng = np.random.default_rng(4)
    groups = np.repeat(["a", "b", "c"], 15)
    X = rng.normal(size=(45, 4)) + np.repeat(rng.normal(scale=2.0, size=(3, 4)), 15, axis=0)
    Y = rng.dirichlet(np.ones(3), size=45)
    reference = np.tile(np.arange(15) < 4, 3)
    meta = ("groups", "reference")
    runs = {}
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(SubjectCalibrator(), CountingSABFGS(alpha=1.0))
        for name, scoring in [
            ("one", distribution_scoring(predict_metadata=meta)),
            ("six", distribution_scorers(predict_metadata=meta)),
        ]:
            calls.clear()
            runs[name] = cross_validate(
                pipe, X, Y, cv=LeaveOneGroupOut(), scoring=scoring, error_score="raise",
                params={"groups": groups, "reference": reference},
            )  # fmt: skip
            runs[name]["predicts"] = len(calls)
        with pytest.raises(ValueError, match="needs groups"):  # nothing routed: an error
            cross_validate(pipe, X, Y, cv=LeaveOneGroupOut(), scoring=distribution_scoring(),
                           params={"groups": groups, "reference": reference},
                           error_score="raise")  # fmt: skip
    assert runs["one"]["predicts"] == 3 and runs["six"]["predicts"] == 18
    names = [k for k in runs["six"] if k.startswith("test_")]
    assert len(names) == 6 and sorted(names) == sorted(
        k for k in runs["one"] if k.startswith("test_")
    )
    for k in names:
        np.testing.assert_allclose(runs["one"][k], runs["six"][k], rtol=1e-12)
    assert (runs["one"]["test_neg_kl_divergence"] < 0).all()
    with pytest.raises(ValueError, match="predict_metadata"):
        distribution_scoring(predict_metadata=("not a name",))
    for make in (distribution_scoring, distribution_scorers):  # a bare string: not 6 letters
        with pytest.raises(ValueError, match="sequence of parameter names.*'groups'"):
            make(predict_metadata="groups")


def test_predict_metadata_scorers_weight_the_metrics_like_sklearns_scorers():
    """Called directly with sample_weight, the predict_metadata scorers weight every metric as
    scikit-learn's own scorers (distribution_scorers() without metadata) do; before, they
    dropped it silently."""
    from mpcl_sklearn.metrics import distribution_scorers, distribution_scoring
    from mpcl_sklearn.models import MeanDistributionRegressor

    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(8, 2)), rng.dirichlet(np.ones(3), size=8)
    w = rng.uniform(0.1, 3.0, size=8)
    model = MeanDistributionRegressor().fit(X[:4], Y[:4])
    plain, routed = distribution_scorers(), distribution_scorers(predict_metadata=("groups",))
    together = distribution_scoring(predict_metadata=("groups",))(model, X, Y, sample_weight=w)
    for name, scorer in plain.items():
        expected = scorer(model, X, Y, sample_weight=w)
        assert expected != pytest.approx(scorer(model, X, Y))  # the weights matter here
        assert routed[name](model, X, Y, sample_weight=w) == pytest.approx(expected, rel=1e-12)
        assert together[name] == pytest.approx(expected, rel=1e-12)
