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


def test_groups_and_cv_mistakes_are_clear(data):
    """Issue 12: groups=None raised "len() of unsized object", cv="LOSO" a splitter TypeError."""
    X, y, groups, trials = data
    est = MeanDistributionRegressor()
    for evaluate in (
        lambda g: subject_independent_evaluate(est, X, y, g),
        lambda g: subject_dependent_evaluate(est, X, y, g, trials),
    ):
        with pytest.raises(ValueError, match="groups is required: the subject id of every row"):
            evaluate(None)
        with pytest.raises(ValueError, match="groups must be a 1-D sequence"):
            evaluate(np.c_[groups, groups])
    loso = subject_independent_evaluate(est, X, y, groups, cv="loso")
    for spelling in ("LOSO", " Loso "):
        res = subject_independent_evaluate(est, X, y, groups, cv=spelling)
        pd.testing.assert_frame_equal(res.scores, loso.scores)
        assert "leave-one-subject-out" in res.protocol
    with pytest.raises(ValueError, match="cv must be 'loso', a number of GroupKFold folds"):
        subject_independent_evaluate(est, X, y, groups, cv="five")
    with pytest.raises(ValueError, match="need at least 2 GroupKFold folds"):
        subject_independent_evaluate(est, X, y, groups, cv=1)
    with pytest.raises(TypeError, match="splitter with split"):
        subject_independent_evaluate(est, X, y, groups, cv=2.5)
    with pytest.raises(ValueError, match="fit_groups must be"):
        subject_independent_evaluate(est, X, y, groups, fit_groups="yes")


def test_trial_split_never_shares_a_trial(data):
    X, _, groups, trials = data
    ids = pd.DataFrame({"subject": groups, "trial": trials})
    splitter = SubjectDependentSplitter("trial", n_splits=4)
    splits = list(splitter.split(X, groups=ids))
    assert len(splits) == 6 * 4 == splitter.get_n_splits(X, groups=ids)
    for train, test in splits:
        assert len(set(groups[train])) == 1 and set(groups[train]) == set(groups[test])
        assert not set(trials[train]) & set(trials[test])
        assert len(train) + len(test) == 20


def test_temporal_split_trains_on_the_start_of_every_trial(data):
    X, _, groups, trials = data
    ids = np.column_stack([groups, trials])  # (n_samples, 2): subject, trial
    for train, test in SubjectDependentSplitter("temporal").split(X, groups=ids):
        for trial in np.unique(trials[test]):
            tr, te = train[trials[train] == trial], test[trials[test] == trial]
            assert len(te) == 1 and len(tr) == 4
            assert tr.max() < te.min()


def test_temporal_split_uses_times_when_given(data):
    X, _, groups, trials = data
    times = -np.arange(len(groups))  # reversed time: the first rows are the latest
    ids = pd.DataFrame({"subject": groups, "trial": trials, "time": times})
    for train, test in SubjectDependentSplitter("temporal").split(X, groups=ids):
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


# ------------------------------------------------ splitters in scikit-learn's own tools ---


def _kl_scorer():
    from mpcl_sklearn.metrics import distribution_scorers

    return distribution_scorers()["neg_kl_divergence"]


@pytest.mark.parametrize("strategy", ["trial", "temporal", "random"])
def test_subject_dependent_splitter_in_cross_validate(data, strategy):
    """cross_validate with the splitter scores the folds subject_dependent_evaluate scores."""
    import warnings

    from sklearn.model_selection import cross_validate

    X, y, groups, trials = data
    ids = pd.DataFrame({"subject": groups, "trial": trials})
    splitter = SubjectDependentSplitter(strategy, n_splits=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LeakageWarning)
        cv = cross_validate(
            MeanDistributionRegressor(),
            X,
            y,
            groups=ids,
            cv=splitter,
            scoring=_kl_scorer(),
            return_indices=True,
        )
        res = subject_dependent_evaluate(
            MeanDistributionRegressor(),
            X,
            y,
            groups,
            trials,
            split=strategy,
            n_splits=3,
            random_state=0,
        )
    assert len(cv["test_score"]) == len(res.scores) == splitter.get_n_splits(X, y, ids)
    np.testing.assert_allclose(-cv["test_score"], res.scores["kl_divergence"], rtol=1e-12)
    for train, test, subject in zip(
        cv["indices"]["train"], cv["indices"]["test"], res.scores["subject"]
    ):
        assert set(groups[train]) == set(groups[test]) == {subject}
        if strategy == "trial":
            assert not set(trials[train]) & set(trials[test])


def test_subject_dependent_splitter_in_grid_search(data):
    from sklearn.model_selection import GridSearchCV

    X, y, groups, trials = data
    seen = []

    class Recorder(MeanDistributionRegressor):
        def fit(self, X, y):
            seen.append(len(y))
            return super().fit(X, y)

    ids = pd.DataFrame({"subject": groups, "trial": trials})
    search = GridSearchCV(
        Recorder(),
        {"normalize_y": [False, True]},
        cv=SubjectDependentSplitter("trial", n_splits=2),
        scoring=_kl_scorer(),
    ).fit(X, y, groups=ids)
    # 6 subjects x 2 folds per candidate, each fit on half of one subject's 20 windows
    assert search.n_splits_ == 12
    assert seen[:24] == [10] * 24 and seen[-1] == len(y)  # then the refit on everything
    assert search.best_params_["normalize_y"] in (False, True)
    with pytest.raises(ValueError, match="needs groups"):
        GridSearchCV(
            MeanDistributionRegressor(),
            {"normalize_y": [False, True]},
            cv=SubjectDependentSplitter(),
        ).fit(X, y)


def test_splitters_under_metadata_routing(data):
    """With routing on, groups reach the splitters (they request them) but not the model."""
    import sklearn
    from sklearn.model_selection import GridSearchCV, cross_validate

    from mpcl_sklearn.model_selection import InnerGroupKFold

    X, y, groups, trials = data
    ids = pd.DataFrame({"subject": groups, "trial": trials})
    with sklearn.config_context(enable_metadata_routing=True):
        cv = cross_validate(
            MeanDistributionRegressor(),
            X,
            y,
            params={"groups": ids},
            cv=SubjectDependentSplitter("temporal"),
            scoring=_kl_scorer(),
        )
        assert len(cv["test_score"]) == 6
        search = GridSearchCV(
            MeanDistributionRegressor(),
            {"normalize_y": [False, True]},
            cv=SubjectDependentSplitter("trial", n_splits=2),
            scoring=_kl_scorer(),
        ).fit(X, y, groups=ids)
        assert search.n_splits_ == 12
        search = GridSearchCV(
            MeanDistributionRegressor(),
            {"normalize_y": [False, True]},
            cv=InnerGroupKFold(3),
            scoring=_kl_scorer(),
        ).fit(X, y, groups=groups)
        assert search.n_splits_ == 3


def test_subject_dependent_splitter_groups_layouts(data):
    X, _, groups, trials = data
    frame = pd.DataFrame({"subject": groups, "trial": trials})
    array = np.column_stack([groups, trials])
    a = list(SubjectDependentSplitter("trial", n_splits=2).split(X, groups=frame))
    b = list(SubjectDependentSplitter("trial", n_splits=2).split(X, groups=array))
    assert len(a) == len(b) == 12
    for (tr_a, te_a), (tr_b, te_b) in zip(a, b):
        np.testing.assert_array_equal(tr_a, tr_b)
        np.testing.assert_array_equal(te_a, te_b)
    # times given as text in a 2-D array are compared as numbers, not as strings
    times = np.tile(np.array(["9", "10", "11", "12", "13"]), 24)
    ids = np.column_stack([groups, trials, times])
    for _, test in SubjectDependentSplitter("temporal").split(X, groups=ids):
        assert set(times[test]) == {"13"}
    with pytest.raises(ValueError, match="time column"):
        list(
            SubjectDependentSplitter("temporal").split(
                X, groups=np.column_stack([groups, trials, np.full(len(X), "late")])
            )
        )
    # random needs subjects only
    with pytest.warns(LeakageWarning):
        assert len(list(SubjectDependentSplitter("random").split(X, groups=groups))) == 30
    with pytest.raises(ValueError, match="trial id"):
        list(SubjectDependentSplitter("trial").split(X, groups=groups))
    with pytest.raises(ValueError, match=r"got columns \['s', 'trial'\]"):
        list(SubjectDependentSplitter().split(X, groups=frame.rename(columns={"subject": "s"})))
    with pytest.raises(ValueError, match=r"got \(120, 4\)"):
        list(SubjectDependentSplitter().split(X, groups=np.zeros((len(X), 4))))
    with pytest.raises(ValueError, match="rows but groups"):
        list(SubjectDependentSplitter().split(X[:-1], groups=frame))
    with pytest.raises(ValueError, match="'strategy' parameter of SubjectDependentSplitter"):
        SubjectDependentSplitter("by-window").get_n_splits(X, groups=frame)
    assert "strategy='temporal'" in repr(SubjectDependentSplitter("temporal"))


def test_inner_group_kfold(data):
    from mpcl_sklearn.model_selection import InnerGroupKFold

    X, _, groups, _ = data
    two = np.isin(groups, ["S0", "S1"])
    splits = list(InnerGroupKFold(3).split(X[two], groups=groups[two]))
    assert len(splits) == 2 == InnerGroupKFold(3).get_n_splits(X[two], groups=groups[two])
    for train, test in splits:
        assert not set(groups[two][train]) & set(groups[two][test])
    assert InnerGroupKFold(3).get_n_splits(X, groups=groups) == 3
    one = groups == "S0"
    with pytest.warns(UserWarning, match="got 1 group"):
        folds = list(InnerGroupKFold(4).split(X[one], groups=groups[one]))
    assert [len(test) for _, test in folds] == [5, 5, 5, 5]
    assert np.concatenate([test for _, test in folds]).tolist() == list(range(20))


def test_subject_dependent_splitter_groups_reach_torch_models_under_routing(data):
    """Under routing the splitter's subject/trial table reaches the torch models' fit too
    (they request groups): early stopping reads it (whole trials of the training subject held
    out) instead of crashing on a 2-D array; other 2-D groups are refused by name."""
    import sklearn
    from sklearn.model_selection import GridSearchCV

    from mpcl_sklearn._groups import validation_groups
    from mpcl_sklearn.models import MLPDistributionRegressor

    X, y, groups, trials = data
    frame = pd.DataFrame({"subject": groups, "trial": trials})
    model = MLPDistributionRegressor(max_epochs=2, random_state=0, early_stopping=True)
    with sklearn.config_context(enable_metadata_routing=True):
        for ids in (frame, frame.to_numpy()):
            search = GridSearchCV(
                model,
                {"lr": [1e-3, 1e-2]},
                cv=SubjectDependentSplitter("trial", n_splits=2),
                scoring=_kl_scorer(),
                error_score="raise",
            ).fit(X, y, groups=ids)
            assert search.n_splits_ == 12
    # the early-stopping split of a subject/trial table holds out whole trials
    units = validation_groups(frame, "model")
    assert len(np.unique(units)) == len(np.unique(trials))
    for unit in np.unique(units):
        assert len(set(trials[units == unit])) == 1
    np.testing.assert_array_equal(validation_groups(groups, "model"), groups)
    with pytest.raises(ValueError, match=r"MLPDistributionRegressor: groups must be 1-D subject"):
        model.fit(X, y, groups=np.zeros((len(X), 4)))
    with pytest.raises(ValueError, match=r"got columns \['s'\]"):
        model.fit(X, y, groups=pd.DataFrame({"s": groups}))


# ---------------------------------------- groups that mirror the subject-dependent split ---


def test_temporal_blocks_cut_each_trial_in_time_order():
    from mpcl_sklearn.model_selection import temporal_blocks

    trials = np.array(["a"] * 8 + ["b"] * 6)
    times = np.r_[np.arange(8)[::-1], np.arange(6)]  # trial a recorded in reverse row order
    train = np.r_[np.arange(8), np.arange(8, 12)]  # b's last two rows are test rows
    blocks = temporal_blocks(train, trials, times, 4)
    np.testing.assert_array_equal(blocks[:8], [3, 3, 2, 2, 1, 1, 0, 0])
    np.testing.assert_array_equal(blocks[8:], [0, 1, 2, 3, -1, -1])
    # fewer training rows than blocks: one row per block
    np.testing.assert_array_equal(temporal_blocks([0, 1], ["a", "a"], [0, 1], 4), [0, 1])
    with pytest.raises(ValueError, match="n_blocks"):
        temporal_blocks(train, trials, times, 0)
    with pytest.raises(ValueError, match="times"):
        temporal_blocks(train, trials, times[:3], 4)
    with pytest.raises(ValueError, match="train"):
        temporal_blocks([0, 99], trials, times, 4)


@pytest.mark.parametrize("split", ["trial", "temporal"])
def test_subject_dependent_fit_groups_mirror_the_split(data, split):
    X, y, groups, trials = data
    seen = []

    class Recorder(MeanDistributionRegressor):
        def fit(self, X, y, groups=None):
            seen.append(np.asarray(groups))
            return super().fit(X, y)

    res = subject_dependent_evaluate(Recorder(), X, y, groups, trials, split=split)
    assert len(seen) == len(res.scores)
    if split == "trial":  # the training trials' ids: whole trials are held out inside
        for fold_groups in seen:
            assert set(fold_groups) <= set(trials) and len(set(fold_groups)) == 3
    else:  # 4 training windows per trial (test_size=0.2 of 5): one block each, in time order
        for fold_groups in seen:
            np.testing.assert_array_equal(fold_groups, np.tile(np.arange(4), 4))
