"""The fast backend equals tsfresh, feature by feature, on random and on real WESAD signals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import signal, stats

from mpcl_sklearn.features import fast
from mpcl_sklearn.features.tsfresh_backend import tsfresh_features

pytest.importorskip("tsfresh")

WESAD = Path(__file__).resolve().parents[2] / "shared" / "data" / "wesad"
RTOL, ATOL = 1e-6, 1e-9
FULL = fast.resolve_settings("default+entropy")


def _assert_matches_tsfresh(x: np.ndarray, settings=FULL, min_defined: float = 0.9) -> None:
    ours = fast.compute_features(x, settings)
    theirs, names = tsfresh_features(x, settings, n_jobs=0)
    expected = fast.feature_names(settings)
    assert sorted(names) == sorted(expected)
    theirs = theirs[:, [names.index(n) for n in expected]]
    assert ours.shape == theirs.shape == (x.shape[0], len(expected))
    both_nan = np.isnan(ours) & np.isnan(theirs)
    close = np.isclose(ours, theirs, rtol=RTOL, atol=ATOL) | both_nan
    if not close.all():
        bad = {
            expected[j]: (ours[~close[:, j], j][:3], theirs[~close[:, j], j][:3])
            for j in np.flatnonzero(~close.all(axis=0))
        }
        pytest.fail(f"fast != tsfresh for {bad}")
    # the comparison is not vacuous: most values are defined
    assert np.isfinite(ours).mean() > min_defined


def test_feature_sets_cover_the_issue():
    names = fast.feature_names(fast.resolve_settings("default"))
    for needed in fast.feature_names(fast.resolve_settings("minimal")):
        assert needed in names
    for needed in [
        "autocorrelation__lag_1",
        "quantile__q_0.1",
        'linear_trend__attr_"slope"',
        "number_peaks__n_3",
        "number_crossing_m__m_0",
        "spkt_welch_density__coeff_2",
        'fft_aggregated__aggtype_"centroid"',
    ]:
        assert needed in names
    assert "sample_entropy" in fast.feature_names(FULL)


def test_matches_tsfresh_on_random_signals():
    rng = np.random.default_rng(7)
    x = np.vstack(
        [
            rng.standard_normal((6, 200)),
            rng.standard_normal((4, 200)).cumsum(axis=1),  # random walks (trends)
            rng.integers(-2, 3, (3, 200)).astype(float),  # ties (quantiles, crossings, peaks)
            np.sin(np.arange(200) / 3.0)[None] * 5 + 1,
            np.full((1, 200), 3.0),  # constant: undefined features
            rng.exponential(2.0, (2, 200)),  # skewed
        ]
    )
    _assert_matches_tsfresh(x)


def test_matches_tsfresh_on_low_amplitude_signals():
    """Signals recorded in volts (EEG, ECG ~1e-6): moment sums far below 1e-14."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((4, 256)) * np.array([[1e-3], [1e-6], [1e-9], [1e-6]])
    x[3] += 0.5  # a small signal on an offset
    # tsfresh (and so we) give NaN autocorrelations where the variance is np.isclose to 0
    _assert_matches_tsfresh(x, min_defined=0.8)
    s = fast.compute_features(x, {"skewness": None, "kurtosis": None})
    assert np.isfinite(s).all() == (fast._ZERO_BELOW == 0.0)


@pytest.mark.parametrize("n_times", [5, 17, 64])
def test_matches_tsfresh_on_short_signals(n_times):
    rng = np.random.default_rng(n_times)
    _assert_matches_tsfresh(rng.standard_normal((4, n_times)), min_defined=0.7)


def _read_e4(path: Path) -> tuple[float, np.ndarray]:
    raw = pd.read_csv(path, header=None).to_numpy(dtype=float)
    return float(raw[1, 0]), raw[2:].T


@pytest.mark.skipif(not WESAD.is_dir(), reason=f"WESAD data not found at {WESAD}")
def test_matches_tsfresh_on_real_wesad_recording():
    e4 = WESAD / "S2" / "S2_E4_Data"
    rows = []
    for name, seconds in [("BVP.csv", 4), ("EDA.csv", 30), ("ACC.csv", 8), ("TEMP.csv", 30)]:
        rate, sig = _read_e4(e4 / name)
        n = int(seconds * rate)
        for start_s in (600, 1800, 3000):
            a = int(start_s * rate)
            rows.extend(sig[:, a : a + n])
        _assert_matches_tsfresh(np.asarray(rows[-3 * sig.shape[0] :]))


def test_extra_checks_against_scipy():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 300)).cumsum(axis=1)
    s = {
        "linear_trend": [{"attr": "slope"}, {"attr": "pvalue"}],
        "spkt_welch_density": [{"coeff": 5}],
    }
    got = fast.compute_features(x, s)
    for i, row in enumerate(x):
        lr = stats.linregress(np.arange(300), row)
        assert got[i, 0] == pytest.approx(lr.slope, rel=1e-9)
        assert got[i, 1] == pytest.approx(lr.pvalue, rel=1e-6, abs=1e-12)
        assert got[i, 2] == pytest.approx(signal.welch(row, nperseg=256)[1][5], rel=1e-9)


def test_sample_entropy_of_regular_signal_is_lower():
    rng = np.random.default_rng(0)
    t = np.arange(256)
    x = np.vstack([np.sin(2 * np.pi * t / 32), rng.standard_normal(256)])
    se = fast.compute_features(x, {"sample_entropy": None})[:, 0]
    assert se[0] < se[1]


def test_resolve_settings_errors():
    with pytest.raises(ValueError, match="unknown fast feature_set"):
        fast.resolve_settings("everything")
    with pytest.raises(ValueError, match="does not implement"):
        fast.resolve_settings({"cwt_coefficients": None})
    with pytest.raises(ValueError, match="needs a list"):
        fast.resolve_settings({"quantile": None})
    with pytest.raises(ValueError, match="2-D"):
        fast.compute_features(np.zeros(5), FULL)
