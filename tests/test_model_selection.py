"""Evaluation protocols: folds keep subjects (or trials) apart; tables are consistent."""

import numpy as np
import pandas as pd
import pytest

from mpcl_sklearn.metrics import distribution_report
from mpcl_sklearn.model_selection import (
    LeakageWarning,
    SubjectDependentSplitter,
    subject_dependent_evaluate,
    subject_independent_evaluate,
)
from mpcl_sklearn.models import MeanDistributionRegressor


@pytest.fixture
def data():
    """6 subjects x 4 trials x 5 windows; each trial has its own label."""
    rng = np.random.default_rng(0)
    subjects = np.repeat([f"S{i}" for i in range(6)], 20)
    trial_no = np.tile(np.repeat(np.arange(4), 5), 6)
    trials = np.array([f"{s}/t{t}" for s, t in zip(subjects, trial_no)])
    labels = {t: rng.dirichlet(np.ones(5)) for t in np.unique(trials)}
    y = np.array([labels[t] for t in trials])
    X = rng.normal(size=(len(y), 4))
    return X, y, subjects, trials


def test_subject_independent_table(data):
    X, y, groups, _ = data
    res = subject_independent_evaluate(MeanDistributionRegressor(), X, y, groups, cv=3)
    assert len(res.scores) == 3
    assert res.scores["n_test"].sum() == len(y)
    tested = [set(s.split(",")) for s in res.scores["test_subjects"]]
    assert set().union(*tested) == set(groups) and sum(map(len, tested)) == 6
    assert res.summary.loc["kl_divergence", "mean"] == pytest.approx(
        res.scores["kl_divergence"].mean()
    )
    assert list(res.summary.index) == list(distribution_report(y, y))
    assert "kl_divergence" in res.format_summary()


def test_subject_independent_scores_are_the_held_out_metrics(data):
    X, y, groups, _ = data
    res = subject_independent_evaluate(MeanDistributionRegressor(), X, y, groups, cv="loso")
    assert len(res.scores) == 6
    first = res.scores.iloc[0]
    test = groups == first["test_subjects"]
    pred = MeanDistributionRegressor().fit(X[~test], y[~test]).predict(X[test])
    assert first["chebyshev"] == pytest.approx(distribution_report(y[test], pred)["chebyshev"])


def test_out_of_fold_predictions_need_every_row_tested(data):
    X, y, groups, _ = data

    class FirstSubjectOnly:
        """Holds out subject S0 only: the other subjects are never tested."""

        def split(self, X, y=None, groups=None):
            test = np.flatnonzero(groups == "S0")
            yield np.flatnonzero(groups != "S0"), test

    res = subject_independent_evaluate(
        MeanDistributionRegressor(), X, y, groups, cv="loso", return_predictions=True
    )
    assert res.predictions.shape == y.shape and np.isfinite(res.predictions).all()
    with pytest.raises(ValueError, match="left 100 rows untested"):
        subject_independent_evaluate(
            MeanDistributionRegressor(),
            X,
            y,
            groups,
            cv=FirstSubjectOnly(),
            return_predictions=True,
        )
    partial = subject_independent_evaluate(
        MeanDistributionRegressor(), X, y, groups, cv=FirstSubjectOnly()
    )
    assert len(partial.scores) == 1 and partial.predictions is None


def test_parallel_equals_serial(data):
    X, y, groups, trials = data
    a = subject_independent_evaluate(MeanDistributionRegressor(), X, y, groups, cv=3)
    b = subject_independent_evaluate(MeanDistributionRegressor(), X, y, groups, cv=3, n_jobs=2)
    pd.testing.assert_frame_equal(a.scores, b.scores)


def test_too_few_subjects(data):
    X, y, groups, _ = data
    with pytest.raises(ValueError, match="at least 10 subjects"):
        subject_independent_evaluate(MeanDistributionRegressor(), X, y, groups, cv=10)
    with pytest.raises(ValueError, match="rows but groups"):
        subject_independent_evaluate(MeanDistributionRegressor(), X, y, groups[:-1])


def test_trial_split_never_shares_a_trial(data):
    _, _, groups, trials = data
    splits = list(SubjectDependentSplitter("trial", n_splits=4).split(groups, trials))
    assert len(splits) == 6 * 4
    for subject, _, train, test in splits:
        assert set(groups[train]) == {subject} == set(groups[test])
        assert not set(trials[train]) & set(trials[test])
        assert len(train) + len(test) == 20


def test_temporal_split_trains_on_the_start_of_every_trial(data):
    _, _, groups, trials = data
    for _, _, train, test in SubjectDependentSplitter("temporal").split(groups, trials):
        for trial in np.unique(trials[test]):
            tr, te = train[trials[train] == trial], test[trials[test] == trial]
            assert len(te) == 1 and len(tr) == 4
            assert tr.max() < te.min()


def test_temporal_split_uses_times_when_given(data):
    _, _, groups, trials = data
    times = -np.arange(len(groups))  # reversed time: the first rows are the latest
    for _, _, train, test in SubjectDependentSplitter("temporal").split(groups, trials, times):
        for trial in np.unique(trials[test]):
            assert train[trials[train] == trial].min() > test[trials[test] == trial].max()


def test_random_split_warns_about_leakage(data):
    X, y, groups, _ = data
    with pytest.warns(LeakageWarning):
        res = subject_dependent_evaluate(MeanDistributionRegressor(), X, y, groups, split="random")
    assert len(res.scores) == 6 * 5


def test_subject_dependent_summary_is_over_subjects(data):
    X, y, groups, trials = data
    res = subject_dependent_evaluate(MeanDistributionRegressor(), X, y, groups, trials, n_splits=2)
    per_subject = res.scores.groupby("subject")["clark"].mean()
    assert res.summary.loc["clark", "mean"] == pytest.approx(per_subject.mean())
    assert res.summary.loc["clark", "std"] == pytest.approx(per_subject.std(ddof=0))


def test_subject_dependent_errors(data):
    X, y, groups, trials = data
    with pytest.raises(ValueError, match="trial id"):
        subject_dependent_evaluate(MeanDistributionRegressor(), X, y, groups)
    with pytest.raises(ValueError, match="split must be"):
        subject_dependent_evaluate(MeanDistributionRegressor(), X, y, groups, trials, split="x")
    one_trial = np.array([f"{g}/only" for g in groups])
    with pytest.raises(ValueError, match="needs at least 2"):
        subject_dependent_evaluate(MeanDistributionRegressor(), X, y, groups, one_trial)


def test_nested_search_gets_only_training_subjects(data):
    from sklearn.model_selection import GridSearchCV, GroupKFold

    from mpcl_sklearn.metrics import distribution_scorers

    X, y, groups, _ = data
    seen = []

    class Recorder(MeanDistributionRegressor):
        def fit(self, X, y, groups=None):
            seen.append(set(groups))
            return super().fit(X, y)

    search = GridSearchCV(
        MeanDistributionRegressor(),
        {"normalize_y": [False, True]},
        cv=GroupKFold(2),
        scoring=distribution_scorers()["neg_kl_divergence"],
    )
    res = subject_independent_evaluate(search, X, y, groups, cv=3, fit_groups=True)
    assert len(res.scores) == 3
    subject_independent_evaluate(Recorder(), X, y, groups, cv=3, fit_groups=True)
    for fold_groups, tested in zip(seen, res.scores["test_subjects"]):
        assert not fold_groups & set(tested.split(","))
        assert len(fold_groups) == 4
