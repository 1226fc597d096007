"""Label-distribution baselines: contract, correctness of each algorithm, and that each learns."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.optimize import check_grad
from scipy.special import softmax
from sklearn.base import clone
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks

from mpcl_sklearn.metrics import intersection_similarity, kl_divergence
from mpcl_sklearn.models import (
    AAKNNRegressor,
    MeanDistributionRegressor,
    MLPDistributionRegressor,
    SABFGSRegressor,
)
from mpcl_sklearn.nn.helo import HeLoModule, gromov_wasserstein_ipot, thresholded_cosine_cost

# --------------------------------------------------------------------------------------------
# a small learnable problem with subjects


def make_problem(
    n_subjects: int = 8,
    n_per_subject: int = 60,
    n_emotions: int = 5,
    seed: int = 0,
    modalities: tuple[tuple[str, int], ...] = (("eda", 6), ("bvp", 6), ("temp", 4), ("acc", 6)),
):
    """Latent affect -> modality features (+ subject offsets) -> Dirichlet distributions.

    Returns a DataFrame with ``<modality>__<feature>`` columns, the target distributions and the
    subject of each row.
    """
    rng = np.random.default_rng(seed)
    n_latent = 3
    n_features = sum(k for _, k in modalities)
    A = rng.normal(size=(n_latent, n_features))
    B = 1.5 * rng.normal(size=(n_latent, n_emotions))
    X, D, groups = [], [], []
    for s in range(n_subjects):
        z = rng.normal(size=(n_per_subject, n_latent))
        offset = 0.3 * rng.normal(size=n_features)
        X.append(z @ A + offset + 0.3 * rng.normal(size=(n_per_subject, n_features)))
        mean = softmax(z @ B, axis=1)
        D.append(np.array([rng.dirichlet(1.0 + 40.0 * m) for m in mean]))
        groups.append(np.full(n_per_subject, s))
    columns = [f"{m}__f{i}" for m, k in modalities for i in range(k)]
    X = pd.DataFrame(np.vstack(X), columns=columns)
    return X, np.vstack(D), np.concatenate(groups)


@pytest.fixture(scope="module")
def problem():
    X, D, groups = make_problem()
    test = groups >= 6  # two held-out subjects
    return X[~test], D[~test], X[test], D[test]


def _assert_beats_mean(est, problem, *, factor: float):
    X_tr, D_tr, X_te, D_te = problem
    P = est.fit(X_tr, D_tr).predict(X_te)
    P0 = MeanDistributionRegressor().fit(X_tr, D_tr).predict(X_te)
    kl, kl0 = kl_divergence(D_te, P), kl_divergence(D_te, P0)
    assert kl < factor * kl0, (kl, kl0)
    assert intersection_similarity(D_te, P) > intersection_similarity(D_te, P0)
    return kl, kl0


def _assert_contract(est, problem):
    """Rows sum to 1 in float64; clone/get_params; pickle round trip predicts identically."""
    X_tr, D_tr, X_te, _ = problem
    params = est.get_params()
    fitted = clone(est).fit(X_tr, D_tr)
    assert clone(est).get_params() == params
    P = fitted.predict(X_te)
    assert P.dtype == np.float64 and P.shape == (len(X_te), D_tr.shape[1])
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)
    assert (P >= 0).all()
    np.testing.assert_array_equal(fitted.predict_proba(X_te), P)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict(X_te), P)


# --------------------------------------------------------------------------------------------
# scikit-learn's estimator checks


def _expected_failed_checks(estimator) -> dict[str, str]:
    failures = {
        "check_regressors_no_decision_function": (
            "distribution regressors expose predict_proba (= predict) on purpose"
        ),
        "check_regressor_multioutput": (
            "feeds make_regression targets with negative entries, which are not distributions "
            "and are rejected even with normalize_y=True"
        ),
    }
    if not get_tags(estimator).regressor_tags.poor_score:
        failures["check_regressors_train"] = (
            "asserts R^2 > 0.5 on a shifted 1-column target, which normalize_y turns into a "
            "constant; a distribution cannot fit it"
        )
    return failures


@parametrize_with_checks(
    [
        SABFGSRegressor(normalize_y=True, max_iter=50),
        AAKNNRegressor(normalize_y=True, n_neighbors=3),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# --------------------------------------------------------------------------------------------
# SA-BFGS


def test_sabfgs_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    n, d, c = 30, 4, 5
    X = rng.normal(size=(n, d))
    D = rng.dirichlet(np.ones(c), n)
    w = rng.uniform(0.5, 2.0, n)
    w /= w.sum()
    for alpha in (0.0, 0.3):
        theta = rng.normal(size=d * c + c)

        def f(t, alpha=alpha):
            return SABFGSRegressor._objective(t, X, D, alpha, w)[0]

        def g(t, alpha=alpha):
            return SABFGSRegressor._objective(t, X, D, alpha, w)[1]

        scale = np.linalg.norm(g(theta))
        assert scale > 1e-3
        assert check_grad(f, g, theta) < 1e-5 * scale


def test_sabfgs_objective_is_mean_kl_plus_l2():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(20, 3))
    D = rng.dirichlet(np.ones(4), 20)
    W, b = rng.normal(size=(3, 4)), rng.normal(size=4)
    P = softmax(X @ W + b, axis=1)
    expected = np.mean(np.sum(D * np.log(D / P), axis=1)) + 0.5 * 0.7 * np.sum(W**2)
    theta = np.concatenate([W.ravel(), b])
    loss, _ = SABFGSRegressor._objective(theta, X, D, 0.7, np.full(20, 1 / 20))
    assert loss == pytest.approx(expected, rel=1e-10)


def test_sabfgs_strong_penalty_predicts_the_mean(problem):
    X_tr, D_tr, X_te, _ = problem
    P = SABFGSRegressor(alpha=1e6).fit(X_tr, D_tr).predict(X_te)
    np.testing.assert_allclose(P, np.tile(D_tr.mean(axis=0), (len(X_te), 1)), atol=1e-4)


def test_sabfgs_recovers_a_softmax_linear_model():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 3))
    W = rng.normal(size=(3, 4))
    D = softmax(X @ W + np.array([0.5, 0.0, -0.5, 0.2]), axis=1)
    est = SABFGSRegressor(alpha=0.0, standardize=False, tol=1e-10, max_iter=2000).fit(X, D)
    np.testing.assert_allclose(est.predict(X), D, atol=1e-4)
    assert est.n_iter_ >= 1 and est.loss_ < 1e-6


def test_sabfgs_warns_when_not_converged(problem):
    X_tr, D_tr, _, _ = problem
    with pytest.warns(Warning, match="did not converge"):
        SABFGSRegressor(alpha=0.0, max_iter=2).fit(X_tr, D_tr)


def test_sabfgs_contract_and_learns(problem):
    est = SABFGSRegressor(alpha=1e-2)
    _assert_contract(est, problem)
    _assert_beats_mean(est, problem, factor=0.4)


def test_sabfgs_matches_pyldl(problem):
    pyldl_algorithms = pytest.importorskip("pyldl.algorithms")
    X_tr, D_tr, X_te, _ = problem
    # PyLDL's SA-BFGS has no intercept or penalty: give it a constant column and use alpha=0
    Xc_tr = np.column_stack([np.ones(len(X_tr)), X_tr.to_numpy()])
    Xc_te = np.column_stack([np.ones(len(X_te)), X_te.to_numpy()])
    ref = pyldl_algorithms.SA_BFGS()
    ref.fit(Xc_tr, D_tr)
    ours = SABFGSRegressor(alpha=0.0, standardize=False, tol=1e-9, max_iter=5000)
    P = ours.fit(X_tr.to_numpy(), D_tr).predict(X_te.to_numpy())
    np.testing.assert_allclose(P, ref.predict(Xc_te), atol=2e-3)


# --------------------------------------------------------------------------------------------
# AA-kNN


def test_aaknn_averages_neighbour_distributions():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(50, 3))
    D = rng.dirichlet(np.ones(4), 50)
    Q = rng.normal(size=(7, 3))
    Xs = (X - X.mean(0)) / X.std(0)
    Qs = (Q - X.mean(0)) / X.std(0)
    dist = np.linalg.norm(Qs[:, None, :] - Xs[None, :, :], axis=2)
    nearest = np.argsort(dist, axis=1)[:, :5]
    P = AAKNNRegressor(n_neighbors=5).fit(X, D).predict(Q)
    np.testing.assert_allclose(P, D[nearest].mean(axis=1), atol=1e-12)
    Pw = AAKNNRegressor(n_neighbors=5, weights="distance").fit(X, D).predict(Q)
    wts = 1.0 / np.take_along_axis(dist, nearest, axis=1)
    expected = np.einsum("qk,qkc->qc", wts, D[nearest]) / wts.sum(1, keepdims=True)
    np.testing.assert_allclose(Pw, expected, atol=1e-12)


def test_aaknn_caps_neighbours_and_rejects_bad_weights():
    rng = np.random.default_rng(5)
    X, D = rng.normal(size=(4, 2)), rng.dirichlet(np.ones(3), 4)
    P = AAKNNRegressor(n_neighbors=50).fit(X, D).predict(X[:2])
    np.testing.assert_allclose(P, np.tile(D.mean(0), (2, 1)), atol=1e-12)
    with pytest.raises(ValueError, match="weights"):
        AAKNNRegressor(weights="gaussian").fit(X, D)


def test_aaknn_contract_and_learns(problem):
    est = AAKNNRegressor(n_neighbors=15)
    _assert_contract(est, problem)
    _assert_beats_mean(est, problem, factor=0.4)


@pytest.mark.parametrize("algorithm", ["kd_tree", "ball_tree", "brute"])
def test_aaknn_state_holds_training_arrays_not_the_tree(algorithm):
    """Pickles and skops files hold the training arrays; the tree is rebuilt on load."""
    from sklearn.base import BaseEstimator
    from sklearn.neighbors import KNeighborsRegressor

    rng = np.random.default_rng(6)
    X, D, Q = rng.normal(size=(300, 4)), rng.dirichlet(np.ones(3), 300), rng.normal(size=(20, 4))
    est = AAKNNRegressor(n_neighbors=7, weights="distance").fit(X, D)
    est.knn_.set_params(algorithm=algorithm).fit(est.knn_._fit_X, est.knn_._y)
    state = est.__getstate__()
    assert "knn_" not in state and not any(
        isinstance(v, KNeighborsRegressor) for v in state.values()
    )
    loaded = pickle.loads(pickle.dumps(est))
    assert loaded.knn_ is not est.knn_ and loaded.knn_.get_params() == est.knn_.get_params()
    np.testing.assert_array_equal(loaded.predict(Q), est.predict(Q))

    # a state written by version 0.1.0 (the fitted KNeighborsRegressor itself): its tree is
    # discarded and rebuilt from the training arrays
    legacy = BaseEstimator.__getstate__(est)
    assert isinstance(legacy["knn_"], KNeighborsRegressor)
    restored = AAKNNRegressor.__new__(AAKNNRegressor)
    restored.__setstate__(legacy)
    assert restored.knn_ is not est.knn_
    np.testing.assert_array_equal(restored.predict(Q), est.predict(Q))

    bad = dict(state, _knn_fit=dict(state["_knn_fit"], y=D[:10]))
    with pytest.raises(ValueError, match="inconsistent"):
        AAKNNRegressor.__new__(AAKNNRegressor).__setstate__(bad)


# --------------------------------------------------------------------------------------------
# HeLo's torch module


def test_gromov_wasserstein_plan_marginals_and_permutation_recovery():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(3, 8, 16, generator=gen)
    b = torch.randn(3, 6, 16, generator=gen)
    plan = gromov_wasserstein_ipot(thresholded_cosine_cost(a), thresholded_cosine_cost(b))
    assert plan.shape == (3, 8, 6) and (plan >= 0).all()
    torch.testing.assert_close(plan.sum(1), torch.full((3, 6), 1 / 6), atol=1e-5, rtol=0)
    assert torch.allclose(plan.sum((1, 2)), torch.ones(3), atol=1e-4)
    # a permuted copy of a token set is matched token to token (GW is rotation invariant)
    perm = torch.randperm(8, generator=gen)
    plan = gromov_wasserstein_ipot(
        thresholded_cosine_cost(a), thresholded_cosine_cost(a[:, perm]), beta=0.05, n_outer=10
    )
    assert torch.equal(plan.argmax(2), torch.argsort(perm).expand(3, -1))


def _module(beh=([8, 9],), **kw):
    torch.manual_seed(0)
    return HeLoModule([[0, 1, 2], [3, 4], [5, 6, 7]], list(beh), 5, **kw)


def test_helo_module_learns_its_label_embedding_and_is_deterministic_in_eval():
    m = _module()
    names = dict(m.named_parameters())
    assert "label_embedding" in names and names["label_embedding"].shape == (5, 32)
    X = torch.randn(16, 10)
    out = m(X)
    assert out.shape == (16, 5)
    torch.testing.assert_close(out.exp().sum(1), torch.ones(16))
    (-(out.mean()) + m.correlation_loss()).backward()
    for p in ("label_embedding", "phys_encoders.1.weight", "beh_encoders.0.weight"):
        assert names[p].grad is not None and names[p].grad.abs().sum() > 0, p
    m.eval()
    assert torch.equal(m(X), m(X))  # no DropKey / dropout at evaluation
    m.train()
    assert not torch.equal(m(X), m(X))  # ... but active in training


def test_helo_module_correlation_loss_pulls_towards_target():
    target = torch.tensor([[1.0, -0.5, 0.2], [-0.5, 1.0, 0.0], [0.2, 0.0, 1.0]])
    m = HeLoModule([[0, 1]], [], 3, label_corr=target)
    opt = torch.optim.Adam([m.label_embedding], lr=0.05)
    start = m.correlation_loss().item()
    for _ in range(300):
        opt.zero_grad()
        m.correlation_loss().backward()
        opt.step()
    assert m.correlation_loss().item() < 0.05 * start
    torch.testing.assert_close(m.label_correlation(), target, atol=0.05, rtol=0)


@pytest.mark.parametrize(
    "phys, beh, use_ot",
    [([[0, 1, 2]], [], True), ([[0, 1, 2], [3, 4]], [[8, 9], [5, 6]], False)],
)
def test_helo_module_without_behaviour_or_ot(phys, beh, use_ot):
    m = HeLoModule(phys, beh, 4, use_ot=use_ot).eval()
    out = m(torch.randn(7, 10))
    assert out.shape == (7, 4) and torch.isfinite(out).all()


@pytest.mark.parametrize(
    ("make_y", "match"),
    [
        (lambda Y: Y.astype(str).astype(object), "holds '"),  # numeric strings: not parsed
        (lambda Y: np.where(np.arange(Y.size).reshape(Y.shape) == 3, None, Y), "holds None"),
        (lambda Y: Y + 1j, "complex"),
    ],
)
@pytest.mark.parametrize(
    "make_est", [MeanDistributionRegressor, lambda: MLPDistributionRegressor(max_epochs=1)]
)
def test_targets_that_are_not_real_numbers_are_refused(make_est, make_y, match):
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(8, 3)), rng.dirichlet(np.ones(3), size=8)
    with pytest.raises(ValueError, match=match):
        make_est().fit(X, make_y(Y))
    fitted = make_est().fit(X, Y)
    with pytest.raises(ValueError, match=match):
        fitted.score(X, make_y(Y))
