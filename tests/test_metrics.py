"""The six distribution metrics: independent references, properties, scorers, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial import distance
from scipy.special import rel_entr
from sklearn.model_selection import GroupKFold, cross_validate

from mpcl_sklearn.metrics import (
    EPS,
    canberra,
    chebyshev,
    clark,
    cosine_similarity,
    distribution_report,
    distribution_scorers,
    intersection_similarity,
    kl_divergence,
    per_sample_scores,
)
from mpcl_sklearn.models import MeanDistributionRegressor

FUNCS = {
    "chebyshev": chebyshev,
    "clark": clark,
    "canberra": canberra,
    "kl_divergence": kl_divergence,
    "cosine": cosine_similarity,
    "intersection": intersection_similarity,
}


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    return rng.dirichlet(np.ones(10), 200), rng.dirichlet(np.ones(10) * 0.5, 200)


def _reference(t, p):
    """Per-metric means computed row by row with scipy or the textbook formula."""
    return {
        "chebyshev": np.mean([distance.chebyshev(a, b) for a, b in zip(t, p)]),
        "clark": np.mean([np.sqrt(np.sum(((a - b) / (a + b)) ** 2)) for a, b in zip(t, p)]),
        "canberra": np.mean([distance.canberra(a, b) for a, b in zip(t, p)]),
        "kl_divergence": np.mean([rel_entr(a, b).sum() for a, b in zip(t, p)]),
        "cosine": np.mean([1 - distance.cosine(a, b) for a, b in zip(t, p)]),
        "intersection": np.mean([np.minimum(a, b).sum() for a, b in zip(t, p)]),
    }


def test_metrics_match_independent_computation(pair):
    t, p = pair
    ref = _reference(t, p)
    for name, fn in FUNCS.items():
        assert fn(t, p) == pytest.approx(ref[name], rel=1e-10), name
    assert distribution_report(t, p) == pytest.approx(ref, rel=1e-10)


def test_per_sample_scores_average_to_report(pair):
    t, p = pair
    rows = per_sample_scores(t, p)
    assert all(v.shape == (len(t),) for v in rows.values())
    assert {k: v.mean() for k, v in rows.items()} == pytest.approx(distribution_report(t, p))


def test_sample_weight_is_a_weighted_mean(pair):
    t, p = pair
    w = np.zeros(len(t))
    w[:10] = 1.0
    for fn in FUNCS.values():
        assert fn(t, p, sample_weight=w) == pytest.approx(fn(t[:10], p[:10]))


def test_zero_entries_follow_eps_clipping():
    t = np.array([[0.5, 0.5, 0.0]])
    p = np.array([[0.25, 0.25, 0.5]])
    tc, pc = np.clip(t, EPS, 1), np.clip(p, EPS, 1)
    assert kl_divergence(t, p) == pytest.approx(np.sum(tc * np.log(tc / pc)))
    assert canberra(t, p) == pytest.approx(np.sum(np.abs(tc - pc) / (tc + pc)))
    # Reversed: the truth has mass where the prediction has none -> large but finite KL.
    kl = kl_divergence(p, t)
    assert np.isfinite(kl) and kl > 10


def _distribution_arrays(min_rows=1, max_rows=8, min_cols=2, max_cols=12):
    """Hypothesis strategy: a pair of same-shape arrays of distributions, zeros allowed."""

    @st.composite
    def build(draw):
        n = draw(st.integers(min_rows, max_rows))
        c = draw(st.integers(min_cols, max_cols))
        elems = st.one_of(st.just(0.0), st.floats(1e-12, 1.0))
        out = []
        for _ in range(2):
            a = draw(arrays(np.float64, (n, c), elements=elems))
            a[:, 0] += 1e-3  # no all-zero row
            out.append(a / a.sum(axis=1, keepdims=True))
        return out

    return build()


@settings(max_examples=200, deadline=None)
@given(_distribution_arrays())
def test_properties_ranges_identity_and_finiteness(arrs):
    t, p = arrs
    c = t.shape[1]
    rep = distribution_report(t, p)
    assert all(np.isfinite(v) for v in rep.values())
    assert 0.0 <= rep["chebyshev"] <= 1.0
    assert 0.0 <= rep["clark"] <= np.sqrt(c) + 1e-12
    assert 0.0 <= rep["canberra"] <= c + 1e-12
    assert rep["kl_divergence"] >= -1e-12
    assert 0.0 <= rep["cosine"] <= 1.0
    assert 0.0 <= rep["intersection"] <= 1.0
    same = distribution_report(t, t)
    assert same == {
        "chebyshev": 0.0,
        "clark": 0.0,
        "canberra": 0.0,
        "kl_divergence": 0.0,
        "cosine": 1.0,
        "intersection": 1.0,
    }


@pytest.mark.parametrize(
    "t, p, match",
    [
        (np.array([0.5, 0.5]), np.array([0.5, 0.5]), "2-D"),
        (np.ones((2, 3)) / 3, np.ones((3, 3)) / 3, "shape"),
        (np.array([[np.nan, 1.0]]), np.array([[0.5, 0.5]]), "NaN or inf"),
        (np.array([[0.5, 0.5]]), np.array([[np.inf, 0.5]]), "NaN or inf"),
        (np.array([[1.5, -0.5]]), np.array([[0.5, 0.5]]), "negative"),
        (np.array([[0.5, 0.5], [0.2, 0.2]]), np.array([[0.5, 0.5]] * 2), r"rows 1 do not"),
        (np.zeros((0, 3)), np.zeros((0, 3)), "empty"),
    ],
)
def test_bad_input_raises_clear_error(t, p, match):
    for fn in FUNCS.values():
        with pytest.raises(ValueError, match=match):
            fn(t, p)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.array([[0.5, 0.5]]) + 1j, "complex"),
        (np.array([[0.5, 0.5]]) + 0j, "complex"),  # even with no imaginary part
        (np.array([[0.5, 0.5 + 1e-3j]], dtype=object), "complex"),
        (np.array([["0.5", "0.5"]]), "numeric.*strings"),  # numpy would parse them
        (np.array([[0.5, "abc"]], dtype=object), r"numeric.*'abc' \(str\) at index \(0, 1\)"),
        (np.array([[0.5, None]], dtype=object), "numeric.*None"),
        (None, "numeric.*None"),
        (np.array([["2020-01-01", "2020-01-02"]], dtype="datetime64[D]"), "numeric"),
        ([[0.5, 0.5], [1.0]], "numeric"),
    ],
)
def test_non_real_input_is_refused(bad, match):
    import warnings

    ok = np.array([[0.5, 0.5]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning: an error, not a silent cast
        for fn in FUNCS.values():
            with pytest.raises(ValueError, match=match):
                fn(bad, ok)
            with pytest.raises(ValueError, match=match):
                fn(ok, bad)


def test_bool_int_and_object_numbers_are_accepted():
    one_hot = np.array([[True, False], [False, True]])
    assert chebyshev(one_hot, one_hot.astype(int)) == 0.0
    obj = np.array([[0.5, np.float32(0.5)], [1, 0]], dtype=object)
    assert chebyshev(obj, np.array([[0.5, 0.5], [1.0, 0.0]])) == 0.0


def test_bad_sample_weight():
    t = np.ones((3, 2)) / 2
    with pytest.raises(ValueError, match="sample_weight"):
        chebyshev(t, t, sample_weight=[1, 2])
    with pytest.raises(ValueError, match="sample_weight"):
        chebyshev(t, t, sample_weight=[-1, 1, 1])


def test_scorers_in_cross_validate_with_groups():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 4))
    y = rng.dirichlet(np.ones(5), 60)
    groups = np.repeat(np.arange(6), 10)
    scorers = distribution_scorers()
    assert set(scorers) == {
        "neg_chebyshev",
        "neg_clark",
        "neg_canberra",
        "neg_kl_divergence",
        "cosine",
        "intersection",
    }
    res = cross_validate(
        MeanDistributionRegressor(),
        X,
        y,
        groups=groups,
        cv=GroupKFold(3),
        scoring=scorers,
        error_score="raise",
    )
    for name in scorers:
        vals = res[f"test_{name}"]
        assert vals.shape == (3,) and np.all(np.isfinite(vals))
        if name.startswith("neg_"):
            assert np.all(vals <= 0)
        else:
            assert np.all((vals > 0) & (vals <= 1))
    # The scorer value is the metric on the held-out fold, with sklearn's sign convention.
    train, test = next(GroupKFold(3).split(X, y, groups))
    est = MeanDistributionRegressor().fit(X[train], y[train])
    assert scorers["neg_kl_divergence"](est, X[test], y[test]) == pytest.approx(
        -kl_divergence(y[test], est.predict(X[test]))
    )
    assert scorers["intersection"](est, X[test], y[test]) == pytest.approx(
        intersection_similarity(y[test], est.predict(X[test]))
    )


def test_matches_pyldl_when_installed(pair):
    pyldl_metrics = pytest.importorskip("pyldl.metrics")
    t, p = pair
    for name in ["chebyshev", "clark", "canberra", "kl_divergence", "cosine", "intersection"]:
        assert FUNCS[name](t, p) == pytest.approx(getattr(pyldl_metrics, name)(t, p), rel=1e-8)


@pytest.mark.parametrize(
    "w, match",
    [
        ([np.nan, 1, 1], "NaN or inf at samples 0"),
        ([1, np.inf, 1], "NaN or inf"),
        ([0, 0, 0], "all zero"),
        ([[1], [1], [1]], r"sample_weight must have shape \((3|n_samples),\)"),
        ([1e308, 1e308, 1e308], "overflow"),
        (["1", "1", "1"], "sample_weight must be"),
        ([1 + 1j, 1, 1], "Complex"),
    ],
)
def test_sample_weight_shared_check(w, match):
    from mpcl_sklearn.models import MeanDistributionRegressor, SABFGSRegressor

    t = np.eye(3)
    for fn in (
        lambda: chebyshev(t, t, sample_weight=w),
        lambda: distribution_report(t, t, sample_weight=w),
        lambda: distribution_scorers()["cosine"](
            MeanDistributionRegressor().fit(t, t), t, t, sample_weight=w
        ),
        lambda: MeanDistributionRegressor().fit(t, t, sample_weight=w),
        lambda: SABFGSRegressor().fit(t, t, sample_weight=w),
        lambda: MeanDistributionRegressor().fit(t, t).score(t, t, sample_weight=w),
    ):
        with pytest.raises(ValueError, match=match):
            fn()


def test_huge_and_tiny_weights_give_the_weighted_mean():
    rng = np.random.default_rng(0)
    t, p = rng.dirichlet(np.ones(4), 5), rng.dirichlet(np.ones(4), 5)
    w = rng.uniform(0.5, 2, 5)
    ref = distribution_report(t, p, sample_weight=w)
    for scale in (1e300, 1e-300):  # sums finite, products over-/underflow unscaled
        got = distribution_report(t, p, sample_weight=w * scale)
        assert got == pytest.approx(ref, rel=1e-12)
    near_max = np.array([8e307, 8e307, 0.0, 0.0, 0.0])
    assert kl_divergence(t, p, sample_weight=near_max) == pytest.approx(
        kl_divergence(t[:2], p[:2]), rel=1e-12
    )


def test_messages_show_the_sum_and_ask_for_2d():
    y = np.array([[0.5, 0.500002]] * 3)
    with pytest.raises(ValueError, match=r"first sum: 1\.000002, off by 2e-06"):
        chebyshev(y, y)
    from mpcl_sklearn.models import MeanDistributionRegressor

    with pytest.raises(ValueError, match=r"y must be 2-D \(n_samples, n_emotions\).*One-hot"):
        MeanDistributionRegressor().fit(np.zeros((4, 1)), np.array([0, 1, 2, 1]))
