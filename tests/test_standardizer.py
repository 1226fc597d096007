"""The one standardiser of every model, and the shared Pearson correlation."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, StandardScaler

from mpcl_sklearn._scaling import MAX_Z, Standardizer, legacy_standardizer
from mpcl_sklearn._stats import pearson_correlation


@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6)) * [1.0, 10.0, 1e-3, 5e3, 1.0, 0.2] + [0, 3, -1, 1e4, 7, 0]
    X[:, 4] = 2.5  # a constant column
    return X


@pytest.mark.parametrize("weighted", [False, True])
def test_standardizer_equals_standard_scaler_on_ordinary_data(table, weighted):
    """The same map as scikit-learn's StandardScaler, to rounding (with sample weights too)."""
    w = np.random.default_rng(1).uniform(0.1, 2.0, len(table)) if weighted else None
    ours = Standardizer().fit(table, sample_weight=w)
    ref = StandardScaler().fit(table, sample_weight=w)
    np.testing.assert_allclose(ours.transform(table), ref.transform(table), rtol=1e-12, atol=1e-12)
    Z = ours.transform(table)
    np.testing.assert_allclose(Z[:, 4], 0.0, atol=1e-12)  # constant: centred, scale 1
    assert ours.scale_[4] == 1.0
    if not weighted:
        # ordinary columns are used as they are: exactly (x - mean) / std
        np.testing.assert_array_equal(ours.peak_, 1.0)
        std = np.where(table.std(0) > 0, table.std(0), 1.0)
        np.testing.assert_array_equal(Z, (table - table.mean(0)) / std)
        np.testing.assert_allclose(Z.mean(0), 0.0, atol=1e-12)
        np.testing.assert_allclose(Z[:, [0, 1, 2, 3, 5]].std(0), 1.0, rtol=1e-12)


@pytest.mark.parametrize("scale", [1e200, 1e-13, 1e-300])
def test_huge_and_tiny_features_keep_their_signal(table, scale):
    """A plain StandardScaler overflows (1e200: variance inf) or flattens (1e-300: variance
    underflows), and the torch models' old absolute threshold flattened std < 1e-12 (1e-13);
    the standardiser gives the same z-scores as for the ordinary table."""
    Z = Standardizer().fit(table * scale).transform(table * scale)
    assert np.isfinite(Z).all()
    np.testing.assert_allclose(Z, Standardizer().fit(table).transform(table), atol=1e-9)


def test_bounded_transform_shrinks_far_rows_keeping_direction(table):
    std = Standardizer().fit(table)
    far = table[:3] * np.array([[1e30], [1e200], [1.0]])
    far[2, 2] = 1e308  # a column of scale ~1e-3: overflows to inf in transform
    with np.errstate(over="ignore"):
        assert np.isinf(std.transform(far)[2]).any()
    Z = std.transform_bounded(far)
    assert np.isfinite(Z).all()
    np.testing.assert_allclose(np.abs(Z).max(1), MAX_Z)
    D = std.directions(far)
    np.testing.assert_allclose(Z / MAX_Z, D, atol=1e-6)
    near = std.transform_bounded(table[:5])
    np.testing.assert_array_equal(near, std.transform(table[:5]))  # inside: untouched


def test_legacy_pipeline_becomes_the_same_standardizer(table):
    """Model files of 0.1.0 stored MaxAbsScaler + StandardScaler; they load as the same map."""
    max_abs = MaxAbsScaler().fit(table)
    pipe = make_pipeline(max_abs, StandardScaler().fit(max_abs.transform(table)))
    std = legacy_standardizer(pipe)
    np.testing.assert_array_equal(std.transform(table), pipe.transform(table))
    fresh = Standardizer().fit(table).transform(table)
    np.testing.assert_allclose(std.transform(table), fresh, rtol=1e-12, atol=1e-12)
    assert legacy_standardizer(None) is None


def test_pearson_correlation_matches_numpy_and_handles_constant_columns():
    rng = np.random.default_rng(0)
    Y = rng.dirichlet(np.ones(5), size=100)
    np.testing.assert_allclose(pearson_correlation(Y), np.corrcoef(Y.T), atol=1e-12)
    Y[:, 2] = 0.2 + 1e-17 * rng.normal(size=100)  # constant up to rounding
    R = pearson_correlation(Y)
    assert R[2, 2] == 1.0 and (np.delete(R[2], 2) == 0).all() and (np.delete(R[:, 2], 2) == 0).all()
    R_nan = pearson_correlation(Y, constant=np.nan)
    assert np.isnan(np.delete(R_nan[2], 2)).all() and R_nan[2, 2] == 1.0
    assert (np.abs(R) <= 1).all()
