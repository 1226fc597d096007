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
