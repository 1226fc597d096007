"""Cross-fitted MPCL members trained as one stacked network; shrinkage chosen out of fold."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from _problems import make_multimodal_problem
from sklearn.base import clone

from mpcl_sklearn._stats import clustered_standard_error
from mpcl_sklearn.metrics import kl_divergence
from mpcl_sklearn.models import MPCLDistributionRegressor, SABFGSRegressor
from mpcl_sklearn.models._combination import (
    READOUT_FLOOR,
    choose_readout_rank,
    choose_shrinkage,
    choose_weights,
    label_directions,
    mixture_kl,
    out_of_fold_mean,
    out_of_fold_prior,
    project_readout,
    simplex_grid,
)
from mpcl_sklearn.nn.ensemble import StackedEnsemble
from mpcl_sklearn.nn.mpcl import MPCLNet
from mpcl_sklearn.training.members import MemberBatchDataset, MemberKLDivLoss, member_masks

SMALL = dict(d_model=16, prototypes_per_emotion=2, max_epochs=4, batch_size=64, random_state=0)


@pytest.fixture(scope="module")
def problem():
    return make_multimodal_problem(
        {"eeg": 12, "face": 6},
        n_subjects=8,
        per_subject=30,
        n_emotions=4,
        offset_scale=0.7,
        noise_scale=1.0,
    )


def test_member_masks_keep_groups_together():
    groups = np.repeat(np.arange(7), [5, 3, 8, 2, 6, 4, 5])
    masks = member_masks(len(groups), groups, n_folds=3, n_repeats=2, random_state=0)
    assert masks.shape == (33, 6) and masks.dtype == bool
    np.testing.assert_array_equal((~masks).sum(1), 2)  # held out by one member per repeat
    for g in np.unique(groups):
        assert (masks[groups == g] == masks[groups == g][0]).all()
    rows = member_masks(10, None, n_folds=5, n_repeats=1, random_state=0)
    np.testing.assert_array_equal((~rows).sum(0), 2)
    assert member_masks(4, None, n_folds=1, n_repeats=3).all()
    with pytest.raises(ValueError, match="at least 2 groups"):
        member_masks(5, np.zeros(5), n_folds=3)


def test_member_batches_draw_each_members_own_rows():
    X = torch.arange(20.0).reshape(10, 2)
    Y = torch.softmax(torch.randn(10, 3), -1)
    masks = member_masks(10, np.repeat(np.arange(5), 2), n_folds=5, random_state=0)
    ds = MemberBatchDataset(X, Y, masks)
    assert len(ds) == 8
    seen = [set() for _ in range(5)]
    for xb, yb in ds.batches(4, training=True, generator=torch.Generator().manual_seed(0)):
        assert xb.shape == (5, 4, 2) and yb.shape == (5, 4, 3)
        for k in range(5):
            rows = (xb[k, :, 0] / 2).long().tolist()
            assert all(masks[r, k] for r in rows)
            seen[k].update(rows)
    assert all(seen[k] == set(np.flatnonzero(masks[:, k])) for k in range(5))
    xb, yb = next(iter(ds.batches(4, training=False)))
    assert xb.shape == (4, 2)


def test_member_loss_is_the_sum_of_member_losses():
    logp = torch.log_softmax(torch.randn(3, 5, 4), -1)
    Y = torch.softmax(torch.randn(3, 5, 4), -1)
    Y[0, 0] = torch.tensor([1.0, 0, 0, 0])
    ref = sum(torch.nn.KLDivLoss(reduction="batchmean")(logp[k], Y[k]) for k in range(3))
    torch.testing.assert_close(MemberKLDivLoss()(logp, Y), ref)
    torch.testing.assert_close(
        MemberKLDivLoss()(logp[0], Y[0]), torch.nn.KLDivLoss(reduction="batchmean")(logp[0], Y[0])
    )


def test_stacked_members_compute_what_each_member_computes():
    torch.manual_seed(0)
    groups = [[0, 1, 2], [3, 4], [5, 6, 7]]
    members = [MPCLNet(8, 4, groups, [False, False, True], d_model=8) for _ in range(3)]
    ens = StackedEnsemble(members).eval()
    for m in members:
        m.eval()
    X = torch.randn(6, 8)
    out = ens.member_log_proba(X)
    for k, m in enumerate(members):
        torch.testing.assert_close(out[k], m(X), rtol=1e-5, atol=1e-6)
    mean = torch.stack([m(X).exp() for m in members]).mean(0).log()
    torch.testing.assert_close(ens(X), mean, rtol=1e-5, atol=1e-6)
    cooc = ens.call_members("cooccurrence_matrix", X)
    torch.testing.assert_close(cooc[1], members[1].cooccurrence_matrix(X), rtol=1e-5, atol=1e-6)
    ens.train()
    assert ens(torch.randn(3, 6, 8)).shape == (3, 6, 4)  # each member its own rows
    assert ens.auxiliary_loss().shape == ()


def test_shrinkage_is_chosen_by_out_of_fold_kl():
    rng = np.random.default_rng(0)
    Y = rng.dirichlet(np.ones(4), size=200)
    prior = Y.mean(0)
    noise = rng.dirichlet(np.ones(4) * 0.3, size=200)  # unrelated to Y: shrink all the way
    assert choose_shrinkage(Y, noise, prior) > 0.9
    assert choose_shrinkage(Y, Y, prior) == 0.0  # perfect predictions: keep them
    s = choose_shrinkage(Y, 0.5 * Y + 0.5 * noise, prior)
    assert 0.0 < s < 1.0
    for other in (0.0, 1.0, s / 2, (1 + s) / 2):
        assert mixture_kl(Y, 0.5 * Y + 0.5 * noise, prior, s) <= mixture_kl(
            Y, 0.5 * Y + 0.5 * noise, prior, other
        )
    P = np.stack([np.full((3, 2), k, dtype=float) for k in range(3)])  # member k predicts k
    masks = np.array([[True, False, False], [False, True, True], [True, True, True]])
    rows, oof = out_of_fold_mean(P, masks)
    np.testing.assert_array_equal(rows, [True, True, False])
    np.testing.assert_allclose(oof, [[1.5, 1.5], [0.0, 0.0]])


def test_combination_weights_minimise_the_kl_of_the_mixture():
    # regression: the three-part search scored (1 - w_prior) (w_net p_net + w_lin p_lin) +
    # w_prior prior, a mixture of mass < 1, so it almost never mixed in the prior
    rng = np.random.default_rng(0)
    Y = rng.dirichlet(np.ones(5) * 3, size=500)
    prior = Y.mean(0)
    good = np.clip(Y + rng.normal(0, 0.08, Y.shape), 0.01, None)
    good /= good.sum(1, keepdims=True)
    unrelated = rng.dirichlet(np.ones(5) * 3, size=500)
    for parts in ([good, unrelated, prior], [good, unrelated, good[::-1], prior]):
        w = choose_weights(Y, parts, step=0.05)
        assert w.shape == (len(parts),) and np.isclose(w.sum(), 1.0) and (w >= 0).all()

        def kl(weights, parts=parts):
            return kl_divergence(
                Y, sum(wk * np.broadcast_to(p, Y.shape) for wk, p in zip(weights, parts))
            )

        grid = simplex_grid(len(parts), 0.05)
        assert len(grid) == {3: 231, 4: 1771}[len(parts)]
        assert kl(w) <= min(kl(g) for g in grid) + 1e-12
        assert w[-1] > 0.2  # the noisy predictions are shrunk towards the prior


def test_regressor_with_members(problem):
    X, Y, G = problem
    tr, te = G < 6, G >= 6
    est = MPCLDistributionRegressor(member_folds=3, member_repeats=2, **SMALL)
    est.fit(X[tr], Y[tr], groups=G[tr])
    assert est.n_members_ == 6 and 0.0 <= est.shrinkage_ <= 1.0
    assert np.isfinite(est.oof_kl_)
    P = est.predict(X[te])
    np.testing.assert_allclose(P.sum(1), 1.0, atol=1e-12)
    assert est.cooccurrence_.shape == (4, 4)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(again.predict(X[te]), P, rtol=1e-6, atol=1e-9)
    refit = clone(est).fit(X[tr], Y[tr], groups=G[tr])
    np.testing.assert_allclose(refit.predict(X[te]), P, rtol=1e-6, atol=1e-9)  # deterministic
    # a fixed shrinkage is applied as given: the prediction moves toward the training mean
    fixed = clone(est).set_params(shrinkage=0.5).fit(X[tr], Y[tr], groups=G[tr])
    unshrunk = clone(est).set_params(shrinkage=None).fit(X[tr], Y[tr], groups=G[tr])
    assert fixed.shrinkage_ == 0.5 and unshrunk.shrinkage_ == 0.0
    np.testing.assert_allclose(
        fixed.predict(X[te]), 0.5 * unshrunk.predict(X[te]) + 0.5 * Y[tr].mean(0), rtol=1e-6
    )


def test_members_shrink_toward_the_prior_on_noise(problem):
    X, _, G = problem
    rng = np.random.default_rng(1)
    Y = rng.dirichlet(np.ones(4), size=len(X))  # labels unrelated to the features
    est = MPCLDistributionRegressor(member_folds=3, **{**SMALL, "max_epochs": 10})
    est.fit(X, Y, groups=G)
    assert est.shrinkage_ > 0.5


@pytest.mark.parametrize(
    "switch",
    [
        "use_memory_fusion",
        "use_prototype_distillation",
        "use_cooccurrence_retrieval",
        "use_hierarchical_compression",
        "use_linear_evidence",
    ],
)
def test_every_switch_works_with_members(problem, switch):
    X, Y, G = problem
    est = MPCLDistributionRegressor(member_folds=2, **SMALL, **{switch: False})
    P = est.fit(X, Y, groups=G).predict(X[:5])
    np.testing.assert_allclose(P.sum(1), 1.0, atol=1e-12)


def test_linear_alpha_auto_is_chosen_on_the_members_folds(problem):
    X, Y, G = problem
    tr = G < 6
    auto = MPCLDistributionRegressor(linear_alpha="auto", member_folds=3, **SMALL)
    auto.fit(X[tr], Y[tr], groups=G[tr])
    assert set(auto.linear_alpha_scores_) == {0.01, 0.1, 1.0, 10.0}
    assert auto.linear_alpha_ == min(auto.linear_alpha_scores_, key=auto.linear_alpha_scores_.get)
    # the linear read-out mixed in is the convex (SA-BFGS) solution at that penalty
    ref = SABFGSRegressor(alpha=auto.linear_alpha_).fit(X[tr], Y[tr])
    Xs = auto._standardize(np.asarray(X[tr]))
    Z = Xs @ auto.linear_coef_ + auto.linear_intercept_
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(
        P / P.sum(axis=1, keepdims=True), ref.predict(X[tr]), rtol=1e-3, atol=1e-4
    )
    with pytest.raises(ValueError, match="'linear_alpha' parameter"):
        MPCLDistributionRegressor(linear_alpha="best", **SMALL).fit(X, Y)


def test_out_of_fold_prior_excludes_the_held_out_rows():
    Y = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    masks = member_masks(4, np.array([0, 0, 1, 1]), n_folds=2, random_state=0)
    rows, prior = out_of_fold_prior(Y, masks)
    assert rows.all()
    # each subject is scored against the other subject's labels only
    np.testing.assert_allclose(prior, [[0, 1], [0, 1], [1, 0], [1, 0]])


def test_members_survive_a_model_file_and_a_warm_start(problem, tmp_path):
    from mpcl_sklearn.io import load_model, save_model

    X, Y, G = problem
    tr, te = G < 6, G >= 6
    est = MPCLDistributionRegressor(member_folds=3, **SMALL).fit(X[tr], Y[tr], groups=G[tr])
    assert type(est.net_.module_).__name__ == "StackedMPCLNet"
    assert est.module_args_["n_members"] == 3
    path = tmp_path / "members.skops"
    save_model(est, path)
    again = load_model(path)
    np.testing.assert_allclose(again.predict(X[te]), est.predict(X[te]), rtol=1e-6, atol=1e-9)
    # a warm start continues every member on its own rows and keeps the combination
    weights = dict(est.combination_weights_)
    est.set_params(warm_start=True, max_epochs=1).fit(X[tr], Y[tr], groups=G[tr])
    assert est.combination_weights_ == weights
    assert len(est.history_) == SMALL["max_epochs"] + 1


def test_a_network_without_weight_is_not_run(problem, monkeypatch):
    X, Y, G = problem
    est = MPCLDistributionRegressor(member_folds=3, readout_rank=None, **SMALL)
    P = est.fit(X, Y, groups=G).predict(X[:7])
    est.combination_weights_ = {"network": 0.0, "linear": 0.5, "prior": 0.5}
    calls = []
    original = type(est)._network_distribution
    monkeypatch.setattr(
        type(est), "_network_distribution", lambda self, A: calls.append(1) or original(self, A)
    )
    Q = est.predict(X[:7])
    assert calls == [] and np.allclose(Q.sum(1), 1)
    est.combination_weights_ = {"network": 0.5, "linear": 0.5, "prior": 0.0}
    est.predict(X[:7])
    assert calls == [1]  # the spy sees the network when the combination uses it
    Xs = est._standardize(np.asarray(X[:7]))
    Z = Xs @ est.linear_coef_ + est.linear_intercept_
    lin = np.exp(Z - Z.max(1, keepdims=True))
    np.testing.assert_allclose(Q, 0.5 * lin / lin.sum(1, keepdims=True) + 0.5 * est.label_prior_)
    assert P.shape == Q.shape


def test_label_directions_are_the_principal_components():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    Y = rng.dirichlet([4.0, 2.0, 1.0, 0.5, 0.5], size=300)
    U = label_directions(Y)
    pca = PCA().fit(Y)
    for k in range(4):  # the fifth has no variance (rows sum to 1): its direction is arbitrary
        assert abs(U[:, k] @ pca.components_[k]) == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(U.T @ U, np.eye(5), atol=1e-12)
    np.testing.assert_allclose(U[:, :4].sum(0), 0.0, atol=1e-9)  # inside the simplex's plane


def test_project_readout_keeps_a_distribution():
    rng = np.random.default_rng(1)
    Y = rng.dirichlet(np.ones(4), size=50)
    prior, U = Y.mean(0), label_directions(Y)
    P = rng.dirichlet(np.ones(4) * 0.2, size=20)  # sharp: the projection leaves the simplex
    for k in (1, 2, 3):
        Q = project_readout(P, prior, U[:, :k])
        np.testing.assert_allclose(Q.sum(1), 1.0, atol=1e-12)
        assert Q.min() >= READOUT_FLOOR / 2
    np.testing.assert_allclose(project_readout(Y, prior, U), Y, atol=1e-12)  # all directions
    inside = 0.5 * prior + 0.5 * Y[:5]  # a deviation along the first direction only is kept
    shift = (Y[:5] - prior) @ U[:, :1] @ U[:, :1].T
    np.testing.assert_allclose(project_readout(prior + shift, prior, U[:, :1]), prior + shift)
    assert not np.allclose(project_readout(inside, prior, U[:, :1]), inside)


def test_readout_rank_is_chosen_out_of_fold():
    rng = np.random.default_rng(2)
    G = np.repeat(np.arange(9), 40)
    t = rng.normal(size=len(G))  # the labels vary along one direction of the simplex
    Y = np.stack([0.4 + 0.15 * np.tanh(t), 0.3 - 0.15 * np.tanh(t), np.full_like(t, 0.2)], 1)
    Y = np.concatenate([Y, np.full((len(G), 1), 0.1)], 1)
    masks = member_masks(len(G), G, n_folds=3, random_state=0)
    rows = np.ones(len(G), bool)
    noisy = np.clip(Y + rng.normal(scale=0.04, size=Y.shape), 0.01, None)
    noisy /= noisy.sum(1, keepdims=True)  # the truth plus noise in every direction
    k, scores = choose_readout_rank(Y, noisy, rows, masks, G)
    assert k == 1 and set(scores) == {1, 2, 4}
    assert scores[1] < scores[4]  # keeping the labels' one direction removes noise
    assert choose_readout_rank(Y, Y, rows, masks)[0] == 4  # exact: ties keep the prediction
    # a gain that cannot be told from noise is not taken: one subject, no standard error
    assert choose_readout_rank(Y, noisy, rows, masks, np.zeros(len(G)))[0] == 4
    # predictions with signal in every direction lose by any projection
    full_rank = rng.dirichlet(np.ones(4), size=len(G))
    shrunk = 0.5 * full_rank + 0.5 * full_rank.mean(0)
    assert choose_readout_rank(full_rank, shrunk, rows, masks, G)[0] == 4


def test_clustered_standard_error_against_scipy():
    from scipy.stats import sem

    rng = np.random.default_rng(3)
    d, g = rng.normal(size=60), np.repeat(["a", "b", "c", "d", "e"], 12)
    means = [d[g == u].mean() for u in np.unique(g)]
    assert clustered_standard_error(d, g) == pytest.approx(sem(means))
    assert clustered_standard_error(d) == pytest.approx(sem(d))
    assert np.isnan(clustered_standard_error(d, np.zeros(60)))


def test_regressor_readout_rank(problem, tmp_path):
    X, Y, G = problem
    tr, te = G < 6, G >= 6
    auto = MPCLDistributionRegressor(member_folds=3, **SMALL).fit(X[tr], Y[tr], groups=G[tr])
    scores = auto.readout_rank_scores_
    assert set(scores) == {1, 2, 4}
    assert auto.readout_rank_ in (min(scores, key=lambda k: (scores[k], -k)), 4)
    P = auto.predict(X[te])
    np.testing.assert_allclose(P.sum(1), 1.0, atol=1e-12)
    off = clone(auto).set_params(readout_rank=None).fit(X[tr], Y[tr], groups=G[tr])
    assert off.readout_rank_ == 4 and off.readout_basis_ is None and off.readout_rank_scores_ == {}
    fixed = clone(auto).set_params(readout_rank=2).fit(X[tr], Y[tr], groups=G[tr])
    assert fixed.readout_basis_.shape == (4, 2)
    from mpcl_sklearn.io import load_model, save_model

    save_model(fixed, tmp_path / "rank2.skops")  # the basis travels in a model file
    np.testing.assert_allclose(
        load_model(tmp_path / "rank2.skops").predict(X[te]), fixed.predict(X[te])
    )
    np.testing.assert_allclose(
        fixed.predict(X[te]),
        project_readout(off.predict(X[te]), off.label_prior_, label_directions(Y[tr])[:, :2]),
        rtol=1e-6,
        atol=1e-9,
    )
    if auto.readout_rank_ == 4:
        np.testing.assert_allclose(P, off.predict(X[te]), rtol=1e-6, atol=1e-9)
    else:
        assert not np.allclose(P, off.predict(X[te]))
    with pytest.raises(ValueError, match="readout_rank=5 exceeds the number of emotions"):
        clone(auto).set_params(readout_rank=5).fit(X, Y, groups=G)
    with pytest.raises(ValueError, match="'readout_rank' parameter"):
        clone(auto).set_params(readout_rank="best").fit(X, Y, groups=G)
    state = pickle.loads(pickle.dumps(auto)).__getstate__()
    del state["readout_rank"]  # a model saved before the parameter existed: never projects
    legacy = MPCLDistributionRegressor.__new__(MPCLDistributionRegressor)
    legacy.__setstate__(state)
    assert legacy.readout_rank is None


def conditions_problem(seed: int = 0):
    """8 subjects x 5 conditions x 10 windows: the labels are the condition's own (distinct)
    distribution plus a little noise, and the condition shifts five features; no smooth
    function of the features gives the labels, the conditions' means do."""
    rng = np.random.default_rng(seed)
    names = np.array(["Base", "Fun", "Medi", "Stress", "Walk"])
    means = rng.dirichlet(np.full(6, 0.5), size=5)
    groups = np.repeat(np.arange(8), 50)
    code = np.tile(np.repeat(np.arange(5), 10), 8)
    X = rng.normal(size=(400, 20))
    X[:, :5] += 1.5 * np.eye(5)[code]
    Y = 0.9 * means[code] + 0.1 * rng.dirichlet(np.ones(6), size=400)
    return X, Y, groups, names[code]


def test_condition_readout_is_logistic_regression_mixing_condition_means():
    from sklearn.linear_model import LogisticRegression

    from mpcl_sklearn.models._combination import condition_fit, condition_predict

    X, Y, _, cond = conditions_problem()
    classes = np.unique(cond)
    for kept in (classes, classes[:2]):  # five conditions, then two (a binary model)
        rows = np.isin(cond, kept)
        coef, b, means = condition_fit(X[rows], Y[rows], cond[rows], classes, C=0.1)
        clf = LogisticRegression(C=0.1, max_iter=1000).fit(X[rows], cond[rows])
        M = np.stack([Y[rows][cond[rows] == c].mean(0) for c in clf.classes_])
        np.testing.assert_allclose(condition_predict(X, coef, b, means), clf.predict_proba(X) @ M)
    stacked = [
        condition_fit(X[m], Y[m], cond[m], classes, 0.1) for m in (cond != "Fun", cond != "Walk")
    ]
    P = condition_predict(X, *(np.stack(a) for a in zip(*stacked)))
    np.testing.assert_allclose(P[0], condition_predict(X, *stacked[0]))
    np.testing.assert_allclose(P.sum(-1), 1.0)


#: the combination without the linear read-out, which represents these labels too (the
#: conditions shift the features linearly): the read-out then competes with the network only
CONDITIONS_ONLY = {**SMALL, "shrinkage_targets": ("conditions", "prior")}


def test_regressor_mixes_in_the_condition_readout():
    X, Y, G, cond = conditions_problem()
    tr, te = G < 6, G >= 6
    plain = MPCLDistributionRegressor(**CONDITIONS_ONLY).fit(X[tr], Y[tr], groups=G[tr])
    assert plain.conditions_ is None and plain.combination_weights_["conditions"] == 0.0
    est = MPCLDistributionRegressor(**CONDITIONS_ONLY)
    est.fit(X[tr], Y[tr], groups=G[tr], conditions=cond[tr])
    w = est.combination_weights_
    assert w["conditions"] > 0.5 and np.isclose(sum(w.values()), 1.0)
    assert est.condition_C_ in est.condition_C_scores_ and list(est.conditions_) == sorted(
        set(cond)
    )
    # the conditions are known, the test rows' are not needed: the read-out predicts them
    assert kl_divergence(Y[te], est.predict(X[te])) < kl_divergence(Y[te], plain.predict(X[te]))
    default = MPCLDistributionRegressor(**SMALL).fit(X[tr], Y[tr], groups=G[tr])
    off = MPCLDistributionRegressor(shrinkage_targets=("prior", "linear"), **SMALL)
    off.fit(X[tr], Y[tr], groups=G[tr], conditions=cond[tr])
    assert off.conditions_ is None and off.combination_weights_["conditions"] == 0.0
    np.testing.assert_allclose(off.predict(X[te]), default.predict(X[te]))


@pytest.mark.parametrize(
    "bad, match",
    [
        (lambda c: c[:-1], "conditions has 399 entries, X has 400 rows"),
        (lambda c: c.reshape(-1, 1), "conditions must be a 1-D sequence"),
        (
            lambda c: np.where(np.arange(len(c)) == 3, None, c.astype(object)),
            "conditions has missing",
        ),
    ],
)
def test_regressor_refuses_bad_conditions(bad, match):
    X, Y, G, cond = conditions_problem()
    with pytest.raises(ValueError, match=match):
        MPCLDistributionRegressor(**SMALL).fit(X, Y, groups=G, conditions=bad(cond))


def test_conditions_that_cannot_be_used_warn():
    X, Y, G, cond = conditions_problem()
    with pytest.warns(UserWarning, match="a single condition"):
        est = MPCLDistributionRegressor(**SMALL).fit(X, Y, groups=G, conditions=np.full(400, "a"))
    assert est.conditions_ is None
    with pytest.warns(UserWarning, match="member_folds >= 2"):
        MPCLDistributionRegressor(member_folds=1, **SMALL).fit(X, Y, groups=G, conditions=cond)


def test_conditions_reach_mpcl_by_metadata_routing_and_survive_a_model_file(tmp_path):
    import sklearn
    from sklearn.model_selection import GroupKFold, cross_validate
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mpcl_sklearn import load_model, save_model
    from mpcl_sklearn.metrics import distribution_scoring

    X, Y, G, cond = conditions_problem()
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(StandardScaler(), MPCLDistributionRegressor(**CONDITIONS_ONLY))
        res = cross_validate(
            pipe,
            X,
            Y,
            cv=GroupKFold(2),
            scoring=distribution_scoring(),
            params={"groups": G, "conditions": cond},
            return_estimator=True,
        )
    for fitted in res["estimator"]:
        assert fitted[-1].combination_weights_["conditions"] > 0
    est = res["estimator"][0][-1]
    save_model(est, tmp_path / "m.skops")
    loaded = load_model(tmp_path / "m.skops")
    np.testing.assert_array_equal(loaded.conditions_, est.conditions_)
    np.testing.assert_allclose(loaded.predict(X[:20]), est.predict(X[:20]))
