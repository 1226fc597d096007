"""Neural baselines: MLPDistributionRegressor and HeLoRegressor (contract, learning, layout)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from _problems import make_multimodal_problem
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from mpcl_sklearn.metrics import kl_divergence
from mpcl_sklearn.models import (
    AAKNNRegressor,
    HeLoRegressor,
    MeanDistributionRegressor,
    MLPDistributionRegressor,
    SABFGSRegressor,
)

EXPECTED_FAILED = {
    "check_regressors_no_decision_function": (
        "distribution regressors expose predict_proba (= predict) on purpose"
    ),
}


@pytest.fixture(scope="module")
def problem():
    return make_multimodal_problem(
        {"eda": 8, "bvp": 6, "face": 6},
        n_subjects=10,
        per_subject=50,
        n_emotions=4,
        offset_scale=0.5,
        noise_scale=0.5,
    )


def _mlp(**kw):
    params = dict(hidden_layer_sizes=(16,), max_epochs=3, batch_size=32, random_state=0)
    return MLPDistributionRegressor(**{**params, **kw})


def _helo(**kw):
    params = dict(
        d_model=8,
        n_tokens=2,
        n_heads=2,
        ffn_dim=16,
        hidden_size=16,
        ot_outer_iter=2,
        ot_inner_iter=5,
        max_epochs=3,
        batch_size=32,
        random_state=0,
    )
    return HeLoRegressor(**{**params, **kw})


# --------------------------------------------------------------------------------------------
# scikit-learn's estimator checks (same expected failures as MPCL)


@parametrize_with_checks(
    # the checks feed arbitrary real targets: "softmax" reads each row as unnormalised scores
    [_mlp(max_epochs=2, normalize_y="softmax"), _helo(max_epochs=2, normalize_y="softmax")],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# --------------------------------------------------------------------------------------------
# both estimators


FACTORIES = {
    "mlp": lambda **kw: _mlp(**{"hidden_layer_sizes": (64, 32), **kw}),
    "helo": lambda **kw: _helo(**{"d_model": 16, "n_tokens": 4, **kw}),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_beats_mean_on_held_out_subjects(problem, name):
    X, Y, G = problem
    tr, te = G < 8, G >= 8
    est = FACTORIES[name](max_epochs=25, lr=3e-3).fit(X[tr], Y[tr])
    P = est.predict(X[te])
    kl = kl_divergence(Y[te], P)
    kl_mean = kl_divergence(Y[te], MeanDistributionRegressor().fit(X[tr], Y[tr]).predict(X[te]))
    assert kl < 0.5 * kl_mean, (kl, kl_mean)
    losses = est.history_[:, "train_loss"]
    assert len(losses) == 25 and losses[-1] < losses[0]


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_contract_determinism_clone_and_pickle(problem, name):
    X, Y, _ = problem
    X, Y = X.iloc[:200], Y[:200]
    est = FACTORIES[name]()
    params = est.get_params()
    assert clone(est).get_params() == params
    fitted = clone(est).fit(X, Y)
    P = fitted.predict(X)
    assert P.dtype == np.float64 and P.shape == (200, Y.shape[1])
    np.testing.assert_allclose(P.sum(1), 1.0, atol=1e-12)
    assert (P >= 0).all()
    np.testing.assert_array_equal(fitted.predict_proba(X), P)
    np.testing.assert_array_equal(fitted.predict(X), P)  # no dropout / DropKey at test time
    assert list(fitted.feature_names_in_) == list(X.columns)
    # same seed, same model; another seed, another model
    np.testing.assert_array_equal(clone(est).fit(X, Y).predict(X), P)
    other = clone(est).set_params(random_state=1).fit(X, Y).predict(X)
    assert not np.allclose(other, P)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict(X), P)
    assert clone(fitted).get_params() == params


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_fit_leaves_global_rng_alone(problem, name):
    X, Y, _ = problem
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    FACTORIES[name](max_epochs=1).fit(X.iloc[:64], Y[:64])
    torch.testing.assert_close(torch.rand(3), expected)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_huge_features_train_and_huge_test_values_give_distributions(name):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 5)), rng.dirichlet(np.ones(3), size=40)
    # the shared standardiser takes any finite magnitude: the same network as on X
    ordinary = FACTORIES[name](max_epochs=1, random_state=0).fit(X, y)
    huge = FACTORIES[name](max_epochs=1, random_state=0).fit(X * 1e200, y)
    np.testing.assert_allclose(huge.predict(X * 1e200), ordinary.predict(X), atol=1e-5)
    est = FACTORIES[name](max_epochs=2).fit(X * 1e100, y)
    for scale in (1.0, 1e30, 1e100, 1e200):  # up to |x| ~ 1e300
        P = est.predict(X[:6] * 1e100 * scale)
        assert np.isfinite(P).all() and np.allclose(P.sum(1), 1.0), scale


def test_experiments_keywords():
    """The keyword names experiments.py builds the baselines with."""
    helo = HeLoRegressor(random_state=3, behavioural_modalities=("acc",), max_epochs=7)
    assert helo.get_params()["behavioural_modalities"] == ("acc",)
    assert MLPDistributionRegressor(random_state=3, max_epochs=7).get_params()["max_epochs"] == 7


# --------------------------------------------------------------------------------------------
# MLP


def test_mlp_layers_and_parameter_errors(problem):
    X, Y, _ = problem
    X, Y = X.iloc[:64], Y[:64]
    est = _mlp(hidden_layer_sizes=(8, 4), activation="gelu", dropout=0.0).fit(X, Y)
    linears = [m for m in est.net_.module_.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(20, 8), (8, 4), (4, 4)]
    assert not any(isinstance(m, torch.nn.Dropout) for m in est.net_.module_.modules())
    linear = _mlp(hidden_layer_sizes=()).fit(X, Y)  # softmax-linear
    assert len([m for m in linear.net_.module_.modules() if isinstance(m, torch.nn.Linear)]) == 1
    assert _mlp(hidden_layer_sizes=5).fit(X, Y).predict(X).shape == (64, 4)
    for bad, match in [
        (dict(hidden_layer_sizes=(8, 0)), "hidden_layer_sizes"),
        (dict(hidden_layer_sizes="big"), "hidden_layer_sizes"),
        (dict(activation="sigmoidish"), "activation"),
        (dict(dropout=1.0), "dropout"),
    ]:
        with pytest.raises(ValueError, match=match):
            _mlp(**bad).fit(X, Y)


# --------------------------------------------------------------------------------------------
# HeLo


def test_helo_modalities_from_column_names(problem):
    X, Y, _ = problem
    est = _helo(max_epochs=1).fit(X.iloc[:64], Y[:64])
    assert est.physiological_modalities_ == ["eda", "bvp"]
    assert est.behavioural_modalities_ == ["face"]
    module = est.net_.module_
    assert (module.n_phys, module.n_beh) == (2, 1)
    assert est.label_correlation_.shape == (4, 4)
    np.testing.assert_allclose(np.diag(est.label_correlation_), 1.0)
    R = est.learned_label_correlation_
    assert R.shape == (4, 4) and np.allclose(R, R.T) and np.allclose(np.diag(R), 1.0, atol=1e-5)
    names = dict(module.named_parameters())
    assert "label_embedding" in names  # learned, not re-sampled


def test_helo_without_behavioural_modality_skips_ot(problem, monkeypatch):
    X, Y, _ = problem
    X, Y = X.iloc[:64], Y[:64]
    calls = []
    from mpcl_sklearn.nn import helo

    real = helo.gromov_wasserstein_ipot
    monkeypatch.setattr(
        helo, "gromov_wasserstein_ipot", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    est = _helo(max_epochs=1, behavioural_modalities=()).fit(X, Y)
    assert est.behavioural_modalities_ == [] and est.net_.module_.n_beh == 0
    assert est.physiological_modalities_ == ["eda", "bvp", "face"]
    assert calls == []
    assert np.isfinite(est.predict(X)).all()
    _helo(max_epochs=1).fit(X, Y)  # with "face" behavioural, the transport runs
    assert calls


def test_helo_plain_array_and_explicit_modalities(problem):
    X, Y, _ = problem
    A, Y = X.to_numpy()[:64], Y[:64]
    est = _helo(max_epochs=1).fit(A, Y)
    assert est.physiological_modalities_ == ["x"] and est.behavioural_modalities_ == []
    assert est.predict(A).shape == (64, 4)
    mods = {"eeg": list(range(0, 10)), "ppg": list(range(10, 14)), "video": list(range(14, 20))}
    est = _helo(max_epochs=1, modalities=mods, behavioural_modalities=("video",)).fit(A, Y)
    assert est.physiological_modalities_ == ["eeg", "ppg"]
    assert est.behavioural_modalities_ == ["video"]
    by_name = {"eda": [c for c in X.columns if c.startswith("eda")], "rest": list(X.columns[8:])}
    est = _helo(max_epochs=1, modalities=by_name).fit(X.iloc[:64], Y)
    assert est.physiological_modalities_ == ["eda", "rest"]


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(behavioural_modalities=("eda", "bvp", "face")), "physiological"),
        (dict(modalities={"a": [0, 1]}), "no modality"),
        (dict(modalities={"a": [0, 1], "b": [1, *range(2, 20)]}), "modalities"),
        (dict(modalities={"a": ["nope"]}), "unknown column"),
        (dict(d_model=10, n_heads=4), "divisible"),
        (dict(lambda_corr=-1.0), "lambda_corr"),
        (dict(dropkey=1.5), "dropkey"),
    ],
)
def test_helo_parameter_errors(problem, params, match):
    X, Y, _ = problem
    with pytest.raises(ValueError, match=match):
        _helo(max_epochs=1, **params).fit(X.iloc[:32], Y[:32])


def test_helo_auxiliary_loss_is_weighted_correlation_loss(problem):
    X, Y, _ = problem
    est = _helo(max_epochs=1, lambda_corr=0.5).fit(X.iloc[:64], Y[:64])
    module = est.net_.module_
    torch.testing.assert_close(module.auxiliary_loss(), 0.5 * module.correlation_loss())
    off = _helo(max_epochs=1, lambda_corr=0.0).fit(X.iloc[:64], Y[:64])
    assert off.net_.module_.auxiliary_loss() is None


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_skops_round_trip_with_the_allowlist(problem, name, tmp_path):
    from mpcl_sklearn.io import load_model, save_model

    X, Y, _ = problem
    est = FACTORIES[name](max_epochs=1).fit(X.iloc[:64], Y[:64])
    save_model(est, tmp_path / "model.skops")
    restored = load_model(tmp_path / "model.skops")
    np.testing.assert_array_equal(restored.predict(X.iloc[:64]), est.predict(X.iloc[:64]))


# --------------------------------------------------------------------------------------------
# extreme feature values in the classical baselines (their scaler used to overflow)


@pytest.mark.parametrize(
    "make",
    [
        lambda: SABFGSRegressor(alpha=1e-2),
        lambda: AAKNNRegressor(n_neighbors=3, weights="distance"),
    ],
    ids=["SABFGS", "AAKNN"],
)
@pytest.mark.parametrize("scale", [1e-300, 1e200, 1e300])
def test_standardisation_is_scale_invariant(make, scale):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 4)), rng.dirichlet(np.ones(3), size=40)
    expected = make().fit(X, y).predict(X)
    np.testing.assert_allclose(make().fit(X * scale, y).predict(X * scale), expected, atol=1e-9)


@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize(
    "make",
    [
        lambda s: SABFGSRegressor(standardize=s),
        lambda s: AAKNNRegressor(n_neighbors=3, weights="distance", standardize=s),
        lambda s: AAKNNRegressor(n_neighbors=3, standardize=s, p=20),
    ],
    ids=["SABFGS", "AAKNN-distance", "AAKNN-p20"],
)
def test_huge_test_values_give_distributions(make, standardize):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(40, 4)) * 1e-10, rng.dirichlet(np.ones(3), size=40)
    est = make(standardize).fit(X, y)
    for scale in (1e20, 1e200, 1e305):  # standardised: up to ~1e315, i.e. inf
        P = est.predict(rng.normal(size=(6, 4)) * scale)
        assert np.isfinite(P).all() and np.allclose(P.sum(1), 1.0), scale
    if isinstance(est, SABFGSRegressor) and standardize:
        # the softmax limit along the row's direction, as a large finite input gives
        Q = rng.normal(size=(6, 4))
        np.testing.assert_allclose(est.predict(Q * 1e305), est.predict(Q * 1e-4), atol=1e-9)


def test_sabfgs_unstandardised_overflow_fails_clearly():
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(30, 3)) * 1e200, rng.dirichlet(np.ones(3), size=30)
    with pytest.raises(ValueError, match="too large"):
        SABFGSRegressor(standardize=False).fit(X, y)
