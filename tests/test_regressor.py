"""MPCLDistributionRegressor: learning, layout, determinism, persistence, bad input."""

from __future__ import annotations

import pickle

import joblib
import numpy as np
import pytest
import torch
from _problems import make_multimodal_problem
from sklearn import config_context
from sklearn.impute import SimpleImputer
from sklearn.model_selection import GroupKFold, cross_validate
from sklearn.pipeline import Pipeline

from mpcl_sklearn.models import MeanDistributionRegressor, MPCLDistributionRegressor
from mpcl_sklearn.training.batches import validation_split

SMALL = dict(d_model=16, prototypes_per_emotion=2, max_epochs=4, batch_size=64, random_state=0)


def _kl(P, Q):
    P, Q = np.clip(P, 1e-12, None), np.clip(Q, 1e-12, None)
    return float(np.mean(np.sum(P * np.log(P / Q), axis=1)))


@pytest.fixture(scope="module")
def problem():
    return make_multimodal_problem(
        {"eeg": 24, "ecg": 10, "face": 14},
        n_subjects=14,
        per_subject=80,
        n_emotions=6,
        offset_scale=0.7,
        noise_scale=1.0,
    )


@pytest.fixture(scope="module")
def fitted(problem):
    X, Y, G = problem
    tr = G < 10
    return MPCLDistributionRegressor(random_state=0, max_epochs=15).fit(X[tr], Y[tr])


def test_beats_mean_on_held_out_subjects(problem, fitted):
    X, Y, G = problem
    tr, te = G < 10, G >= 10
    kl_mpcl = _kl(Y[te], fitted.predict(X[te]))
    kl_mean = _kl(Y[te], MeanDistributionRegressor().fit(X[tr], Y[tr]).predict(X[te]))
    assert kl_mpcl < 0.5 * kl_mean, (kl_mpcl, kl_mean)


def test_outputs_and_learned_attributes(problem, fitted):
    X, Y, G = problem
    P = fitted.predict(X[G >= 10])
    assert P.dtype == np.float64 and P.shape == (int((G >= 10).sum()), 6)
    np.testing.assert_allclose(P.sum(1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(fitted.predict_proba(X[G >= 10]), P)
    assert fitted.n_features_in_ == X.shape[1] and fitted.n_outputs_ == 6
    assert list(fitted.feature_names_in_) == list(X.columns)
    assert fitted.tokens_ == [("eeg", "4s"), ("ecg", "4s"), ("face", "4s")]
    assert fitted.cooccurrence_.shape == (6, 6)
    np.testing.assert_allclose(fitted.cooccurrence_.sum(1), 1.0)
    assert fitted.cooccurrence_target_.shape == (6, 6)
    assert len(fitted.history_) == 15
    losses = fitted.history_[:, "train_loss"]
    assert losses[-1] < losses[0]
    assert fitted.n_members_ == 3  # cross-fitted members by default
    assert fitted.net_.module_.template.students == ["physiological", "behavioural"]


def test_determinism(problem):
    X, Y, _ = problem
    X, Y = X.iloc[:300], Y[:300]
    a = MPCLDistributionRegressor(**SMALL).fit(X, Y).predict(X)
    b = MPCLDistributionRegressor(**SMALL).fit(X, Y).predict(X)
    np.testing.assert_array_equal(a, b)
    # the seed reaches the network (the default combination may give it no weight, and the
    # linear read-out and the prior do not depend on the seed)
    net = {**SMALL, "shrinkage": None}
    a = MPCLDistributionRegressor(**net).fit(X, Y).predict(X)
    c = MPCLDistributionRegressor(**{**net, "random_state": 1}).fit(X, Y).predict(X)
    assert not np.allclose(a, c)


def test_fit_leaves_global_rng_alone(problem):
    X, Y, _ = problem
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    MPCLDistributionRegressor(**SMALL).fit(X.iloc[:100], Y[:100])
    torch.testing.assert_close(torch.rand(3), expected)


def test_pipeline_pickle_and_joblib_round_trip(problem, tmp_path):
    X, Y, _ = problem
    X, Y = X.iloc[:300], Y[:300]
    pipe = Pipeline(
        [
            ("impute", SimpleImputer().set_output(transform="pandas")),
            ("mpcl", MPCLDistributionRegressor(**SMALL)),
        ]
    ).fit(X, Y)
    P = pipe.predict(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(pipe)).predict(X), P)
    joblib.dump(pipe, tmp_path / "pipe.joblib")
    restored = joblib.load(tmp_path / "pipe.joblib")
    np.testing.assert_array_equal(restored.predict(X), P)
    np.testing.assert_array_equal(restored[-1].cooccurrence_, pipe[-1].cooccurrence_)
    assert len(restored[-1].history_) == SMALL["max_epochs"]


def test_state_holds_no_torch_objects(problem):
    X, Y, _ = problem
    m = MPCLDistributionRegressor(**SMALL).fit(X.iloc[:100], Y[:100])
    state = m.__getstate__()
    assert "net_" not in state
    assert all(isinstance(v, np.ndarray) for v in state["_module_state_"].values())
    assert isinstance(state["history_"], list)


def test_gpu_fitted_model_unpickles_on_cpu_only_machine(problem, monkeypatch):
    """Simulated as in skorch's tests: the state says cuda, CUDA is unavailable at load."""
    X, Y, _ = problem
    m = MPCLDistributionRegressor(**SMALL).fit(X.iloc[:200], Y[:200])
    P = m.predict(X.iloc[:50])
    state = m.__getstate__()
    state["device_"] = "cuda"
    state["device"] = "cuda"
    payload = pickle.dumps(state)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    restored = MPCLDistributionRegressor.__new__(MPCLDistributionRegressor)
    restored.__setstate__(pickle.loads(payload))
    assert restored.device_ == "cpu"
    assert next(restored.net_.module_.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(restored.predict(X.iloc[:50]), P)
    # refitting with device="cuda" on this machine is a clear error
    with pytest.raises(ValueError, match="CUDA is not available"):
        restored.fit(X.iloc[:50], Y[:50])


def test_plain_array_and_explicit_modalities(problem):
    X, Y, _ = problem
    A = X.to_numpy()[:200]
    plain = MPCLDistributionRegressor(**SMALL).fit(A, Y[:200])
    assert plain.tokens_ == [("x", None)]
    assert plain.net_.module_.template.students == []  # one modality: no distillation branch
    assert np.isfinite(plain.predict(A)).all()
    mods = {"eeg": list(range(24)), "ecg": list(range(24, 34)), "face": list(range(34, 48))}
    explicit = MPCLDistributionRegressor(**SMALL, modalities=mods).fit(A, Y[:200])
    assert [t[0] for t in explicit.tokens_] == ["eeg", "ecg", "face"]
    assert explicit.net_.module_.template.students == ["physiological", "behavioural"]
    names = MPCLDistributionRegressor(
        **SMALL, modalities={"phys": list(X.columns[:34]), "face": list(X.columns[34:])}
    ).fit(X.iloc[:200], Y[:200])
    assert names.tokens_ == [("phys", "4s"), ("face", "4s")]


def test_affect_groups(problem):
    X, Y, _ = problem
    m = MPCLDistributionRegressor(**SMALL, affect_groups=[[0, 1, 2], [3, 4, 5]], member_folds=1)
    m.fit(X.iloc[:100], Y[:100])
    M = m.net_.module_.compression.membership()
    assert M.shape == (6, 2) and M.sum() == 6
    with pytest.raises(ValueError, match="emotion 9"):
        MPCLDistributionRegressor(**SMALL, affect_groups=[[0, 9]]).fit(X.iloc[:50], Y[:50])


def test_early_stopping_with_groups_and_metadata_routing(problem):
    X, Y, G = problem
    m = MPCLDistributionRegressor(**{**SMALL, "max_epochs": 30}, early_stopping=True)
    m.set_params(n_iter_no_change=2, validation_fraction=0.25)
    m.fit(X, Y, groups=G)
    assert "valid_loss" in m.history_[-1]
    train, valid = validation_split(len(G), G, m.validation_fraction, 0)
    assert not set(G[train]) & set(G[valid])
    with config_context(enable_metadata_routing=True):
        est = MPCLDistributionRegressor(**SMALL, early_stopping=True).set_fit_request(groups=True)
        res = cross_validate(est, X, Y, cv=GroupKFold(2), params={"groups": G}, error_score="raise")
    assert np.isfinite(res["test_score"]).all()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ("sum", "sum to 1"),
        ("negative", "negative"),
    ],
)
def test_bad_targets(problem, change, match):
    X, Y, _ = problem
    Y = Y[:50].copy()
    if change == "sum":
        Y[3] *= 2
    else:
        Y[3, 0] = -0.1
        Y[3, 1] += 0.1
    with pytest.raises(ValueError, match=match):
        MPCLDistributionRegressor(**SMALL).fit(X.iloc[:50], Y)


def test_normalize_y_accepts_unnormalised_rows(problem):
    X, Y, _ = problem
    m = MPCLDistributionRegressor(**SMALL, normalize_y=True).fit(X.iloc[:50], 3 * Y[:50])
    np.testing.assert_allclose(m.predict(X.iloc[:5]).sum(1), 1.0)
    with pytest.raises(ValueError, match="normalize_y"):
        MPCLDistributionRegressor(**SMALL, normalize_y="l1").fit(X.iloc[:50], Y[:50])


def test_bad_features(problem, fitted):
    X, Y, _ = problem
    Xn = X.iloc[:50].copy()
    Xn.iloc[2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        MPCLDistributionRegressor(**SMALL).fit(Xn, Y[:50])
    Xi = X.iloc[:50].copy()
    Xi.iloc[2, 3] = np.inf
    with pytest.raises(ValueError, match="infinity|inf"):
        fitted.predict(Xi)
    with pytest.raises(ValueError, match="features"):
        fitted.predict(X.to_numpy()[:5, :-1])
    missing_face = X.drop(columns=[c for c in X.columns if c.startswith("face")])
    with pytest.raises(ValueError, match="feature names"):
        fitted.predict(missing_face.iloc[:5])


def test_bad_modalities(problem):
    X, Y, _ = problem
    A = X.to_numpy()[:40]
    with pytest.raises(ValueError, match="belong to no modality"):
        MPCLDistributionRegressor(**SMALL, modalities={"eeg": [0, 1]}).fit(A, Y[:40])
    with pytest.raises(ValueError, match="not among the feature names"):
        MPCLDistributionRegressor(**SMALL, modalities={"eeg": ["nope"]}).fit(X.iloc[:40], Y[:40])
    with pytest.raises(ValueError, match="are in modalities|is in modalities"):
        MPCLDistributionRegressor(**SMALL, modalities={"a": list(range(48)), "b": [0]}).fit(
            A, Y[:40]
        )
    with pytest.raises(ValueError, match="listed twice in modality 'a'"):
        MPCLDistributionRegressor(**SMALL, modalities={"a": [0, *range(48)]}).fit(A, Y[:40])
    # 1 and "1" would be one token name: refused instead of silently dropping column 0
    with pytest.raises(ValueError, match="have the same name"):
        MPCLDistributionRegressor(**SMALL, modalities={1: [0], "1": list(range(1, 48))}).fit(
            A, Y[:40]
        )


@pytest.mark.parametrize(
    ("params", "match"),
    [
        (
            {"lr_schedule": "step"},
            r"'lr_schedule' parameter .* must be a str among \{'cosine'\} or None",
        ),
        ({"weight_averaging": 1.5}, r"'weight_averaging' parameter .* range \[0\.0, 1\.0\]"),
        ({"weight_averaging": "last"}, r"'weight_averaging' parameter .* range \[0\.0, 1\.0\]"),
    ],
)
def test_bad_schedule_parameters(problem, params, match):
    X, Y, _ = problem
    with pytest.raises(ValueError, match=match):
        MPCLDistributionRegressor(**SMALL, **params).fit(X.iloc[:40], Y[:40])


def test_too_few_samples_or_groups_for_validation(problem):
    X, Y, G = problem
    est = MPCLDistributionRegressor(**SMALL, early_stopping=True, validation_fraction=0.5)
    with pytest.raises(ValueError, match="validation split"):
        est.fit(X.iloc[:1], Y[:1])
    with pytest.raises(ValueError, match="at least 2 groups"):
        est.fit(X.iloc[:40], Y[:40], groups=np.zeros(40))


def test_skops_round_trip_trusts_only_our_class(problem):
    sio = pytest.importorskip("skops.io")
    X, Y, _ = problem
    m = MPCLDistributionRegressor(**SMALL).fit(X.iloc[:200], Y[:200])
    payload = sio.dumps(m)
    ours = [
        "mpcl_sklearn._scaling.Standardizer",
        "mpcl_sklearn.models.mpcl.MPCLDistributionRegressor",
    ]
    assert sio.get_untrusted_types(data=payload) == ours
    restored = sio.loads(payload, trusted=ours)
    np.testing.assert_array_equal(restored.predict(X.iloc[:50]), m.predict(X.iloc[:50]))
    assert restored.tokens_ == m.tokens_
