"""End to end on real WESAD E4 data: load -> make_windows -> SignalWindower -> features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mpcl_sklearn.features import ModalityFeatureExtractor
from mpcl_sklearn.windowing import SignalWindower, make_windows

WESAD = Path(__file__).resolve().parents[2] / "shared" / "data" / "wesad"
pytestmark = pytest.mark.skipif(not WESAD.is_dir(), reason=f"WESAD data not found at {WESAD}")


@pytest.fixture(scope="module")
def wesad_windows():
    from mpcl_sklearn.datasets.wesad import load_wesad

    rec = load_wesad(WESAD, subjects=["S2"])
    return make_windows(rec, 60.0, 60.0, return_trials=True)


def test_windows_are_aligned_and_traceable(wesad_windows):
    X, y, groups, trials = wesad_windows
    assert set(X.columns) == {"bvp", "eda", "temp", "acc"}
    assert X.attrs["sfreq"]["bvp"] == 64.0
    assert X["bvp"].iloc[0].shape == (1, 3840) and X["acc"].iloc[0].shape == (3, 1920)
    assert set(groups) == {"S2"} and len(set(trials)) >= 3
    np.testing.assert_allclose(y.sum(axis=1), 1.0)
    for _, part in X.groupby(level=["subject", "trial"]):
        starts = part.index.get_level_values("start_s").to_numpy()
        assert np.all(np.diff(starts) == 60.0)


def test_fast_equals_tsfresh_backend_on_wesad_frames(wesad_windows):
    X = wesad_windows[0].iloc[:2]
    F = SignalWindower(scales_s=(30.0,), overlap=0.5).fit_transform(X)
    settings = {
        "median": None,
        "quantile": [{"q": 0.3}],
        "linear_trend": [{"attr": "slope"}],
        "number_peaks": [{"n": 3}],
        "autocorrelation": [{"lag": 4}],
    }
    kw = {"feature_set": settings, "nan_policy": "interpolate", "undefined": "nan"}
    zf = ModalityFeatureExtractor(**kw).set_output(transform="pandas").fit_transform(F)
    zt = (
        ModalityFeatureExtractor(backend="tsfresh", **kw)
        .set_output(transform="pandas")
        .fit_transform(F)
    )
    assert "bvp__30s__ch0__quantile__q_0.3__pool_mean" in zf.columns
    np.testing.assert_allclose(
        zf.to_numpy(), zt[zf.columns].to_numpy(), rtol=1e-6, atol=1e-9, equal_nan=True
    )


def test_physio_heart_rate_is_plausible_on_wesad(wesad_windows):
    X = wesad_windows[0]
    ext = ModalityFeatureExtractor(backend="physio", nan_policy="interpolate", undefined="nan")
    Z = ext.set_output(transform="pandas").fit_transform(X[["bvp", "temp", "acc"]].iloc[::4])
    hr = Z["bvp__60s__heart_rate"].to_numpy()
    assert np.isfinite(hr).mean() > 0.8
    assert 40 < np.nanmedian(hr) < 120
    assert (Z["acc__60s__magnitude_mean"] > 0).all()
