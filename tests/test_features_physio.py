"""The physio backend on signals with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mpcl_sklearn.features import ModalityFeatureExtractor
from mpcl_sklearn.features.physio import (
    EEG_BANDS,
    MIN_FRAME_S,
    SCR_MIN_AMPLITUDE,
    infer_kind,
    min_frame_samples,
    physio_features,
)

nk = pytest.importorskip("neurokit2")


def _frame(x):
    return np.asarray(x, dtype=float)[None, None, :]


def _pulse_train(bpm, fs, duration_s, width_s=0.05):
    t = np.arange(int(duration_s * fs)) / fs
    out = np.zeros_like(t)
    for c in np.arange(0.3, duration_s, 60.0 / bpm):
        out += np.exp(-0.5 * ((t - c) / width_s) ** 2)
    return out


@pytest.mark.parametrize("bpm", [72, 90])
def test_pulse_train_gives_its_heart_rate(bpm):
    v, names = physio_features(_frame(_pulse_train(bpm, 64.0, 30.0)), 64.0, "bvp", {})
    res = dict(zip(names, v[0], strict=True))
    assert res["heart_rate"] == pytest.approx(bpm, abs=0.5)
    assert res["hrv_rmssd"] < 20 and res["hrv_sdnn"] < 20  # a regular train: little variability
    assert np.isnan(res["hrv_lf_hf"])  # 30 s is too short for LF/HF


def test_simulated_ecg_heart_rate_and_lf_hf_on_long_ppg():
    ecg = nk.ecg_simulate(duration=30, sampling_rate=256, heart_rate=72, random_state=0)
    v, names = physio_features(_frame(ecg), 256.0, "ecg", {})
    assert dict(zip(names, v[0], strict=True))["heart_rate"] == pytest.approx(72, abs=1.5)
    ppg = nk.ppg_simulate(duration=70, sampling_rate=64, heart_rate=72, random_state=0)
    v, names = physio_features(_frame(ppg), 64.0, "ppg", {})
    res = dict(zip(names, v[0], strict=True))
    assert res["heart_rate"] == pytest.approx(72, abs=2)
    assert np.isfinite(res["hrv_lf_hf"]) and res["hrv_lf_hf"] > 0


def test_ten_hz_sine_puts_its_power_in_alpha():
    fs, amp = 128.0, 2.0
    t = np.arange(512) / fs
    v, names = physio_features(_frame(amp * np.sin(2 * np.pi * 10 * t)), fs, "eeg", {})
    res = dict(zip(names, v[0], strict=True))
    # sine power = amp^2 / 2, all of it in alpha (8-14 Hz)
    assert res["ch0__band_power_alpha"] == pytest.approx(amp**2 / 2, rel=1e-3)
    others = [res[f"ch0__band_power_{b}"] for b in EEG_BANDS if b != "alpha"]
    assert max(others) < 1e-6 * res["ch0__band_power_alpha"]
    de = {b: res[f"ch0__de_{b}"] for b in EEG_BANDS}
    assert max(de, key=de.get) == "alpha"


def test_differential_entropy_follows_dmer_formula():
    rng = np.random.default_rng(0)
    fs = 300.0
    x = rng.standard_normal(300)
    v, names = physio_features(_frame(x), fs, "eeg", {})
    spec = np.abs(np.fft.rfft(x * np.hanning(300), n=300)) ** 2
    freqs = np.fft.rfftfreq(300, 1 / fs)
    sel = (freqs >= 8) & (freqs < 14)
    expected = 0.5 * np.log(spec[sel].mean()) + 0.5 * np.log(2 * np.pi * np.e / 1)
    assert dict(zip(names, v[0], strict=True))["ch0__de_alpha"] == pytest.approx(expected)
    # scaling the signal by k adds ln(k) to every band's DE
    v2, _ = physio_features(_frame(3 * x), fs, "eeg", {})
    np.testing.assert_allclose(v2[0, :5] - v[0, :5], np.log(3))


def test_eda_resp_temp_acc_known_answers():
    eda = nk.eda_simulate(duration=30, sampling_rate=4, scr_number=3, random_state=0)
    v, names = physio_features(_frame(eda), 4.0, "eda", {})
    res = dict(zip(names, v[0], strict=True))
    assert res["scr_count"] == 3 and res["scr_amplitude_mean"] > 0
    assert res["tonic_mean"] == pytest.approx(np.median(eda), rel=0.5)

    resp = np.sin(2 * np.pi * 0.25 * np.arange(240) / 4.0)  # 15 breaths per minute
    v, names = physio_features(_frame(resp), 4.0, "resp", {})
    assert names == ["resp_rate"] and v[0, 0] == pytest.approx(15, abs=0.5)

    temp = 33.0 + 0.01 * np.arange(120) / 4.0  # 0.01 degree per second
    v, names = physio_features(_frame(temp), 4.0, "temp", {})
    assert dict(zip(names, v[0], strict=True))["temp_slope"] == pytest.approx(0.01)

    acc = np.zeros((1, 3, 64))
    acc[0, 0], acc[0, 1] = 3.0, 4.0  # magnitude 5 everywhere
    v, names = physio_features(acc, 32.0, "acc", {})
    res = dict(zip(names, v[0], strict=True))
    assert res["magnitude_mean"] == pytest.approx(5) and res["magnitude_std"] == pytest.approx(0)


def test_kind_mapping():
    assert infer_kind("GSR") == "eda" and infer_kind("bvp") == "ppg" and infer_kind("rsp") == "resp"
    with pytest.raises(ValueError, match="physio_kinds"):
        infer_kind("video")


def test_extractor_physio_backend_with_mapping():
    fs = 64.0
    cells = [np.vstack([_pulse_train(72, fs, 20.0)]) for _ in range(2)]
    X = pd.DataFrame({"wrist": pd.Series(cells, dtype=object)})
    X.attrs["sfreq"] = {"wrist": fs}
    with pytest.raises(ValueError, match="physio_kinds"):
        ModalityFeatureExtractor(backend="physio").fit(X)
    with pytest.raises(
        ValueError, match=r"'physio_kinds' parameter .* the value of 'wrist' \('heart'\)"
    ):
        ModalityFeatureExtractor(backend="physio", physio_kinds={"wrist": "heart"}).fit(X)
    ext = ModalityFeatureExtractor(backend="physio", physio_kinds={"wrist": "ppg"})
    Z = ext.set_output(transform="pandas").fit_transform(X)
    assert Z["wrist__20s__heart_rate"].to_numpy() == pytest.approx([72, 72], abs=0.5)
    assert (Z["wrist__20s__hrv_lf_hf"] == 0).all()  # undefined -> imputed 0 (policy "zero")


_KIND_RATES = {"eda": 4.0, "ppg": 64.0, "ecg": 256.0, "resp": 16.0, "temp": 4.0, "acc": 32.0}
_KIND_RATES["eeg"] = 128.0


@pytest.mark.parametrize("n_samples", [1, 2, 4, 8])
@pytest.mark.parametrize("kind", sorted(_KIND_RATES))
def test_short_frames_give_nan_not_a_crash(kind, n_samples):
    """Frames too short for a method (neurokit2's filters) give NaN features, never an error."""
    sfreq = _KIND_RATES[kind]
    n_ch = 3 if kind in ("acc", "eeg") else 1
    data = np.random.default_rng(n_samples).normal(size=(4, n_ch, n_samples))
    data[1] = 2.0  # a constant frame too
    with np.errstate(all="ignore"):
        v, names = physio_features(data, sfreq, kind, {kind: kind})
    assert v.shape == (4, len(names)) and len(names) > 0
    if n_samples < min_frame_samples(kind, sfreq):
        assert np.isnan(v).all()
    # through the extractor: the undefined policy decides (raise names the columns)
    X = pd.DataFrame({kind: pd.Series(list(data), dtype=object)})
    X.attrs["sfreq"] = {kind: sfreq}
    Z = ModalityFeatureExtractor(backend="physio", undefined="zero").fit_transform(X)
    assert Z.shape == (4, len(names)) and np.isfinite(Z.to_numpy()).all()
    if np.isnan(v).any():
        with pytest.raises(ValueError, match="undefined feature values"):
            ModalityFeatureExtractor(backend="physio", undefined="raise").fit_transform(X)


@pytest.mark.parametrize(
    "kind, sfreq, simulate",
    [
        ("eda", 4.0, lambda d, fs: nk.eda_simulate(d, fs, scr_number=2, random_state=0)),
        ("ppg", 64.0, lambda d, fs: nk.ppg_simulate(d, fs, random_state=0)),
        ("ecg", 256.0, lambda d, fs: nk.ecg_simulate(d, fs, random_state=0)),
    ],
)
def test_neurokit_kinds_just_below_and_at_minimum_frame(kind, sfreq, simulate):
    n_min = min_frame_samples(kind, sfreq)
    assert n_min == int(np.ceil(MIN_FRAME_S[kind] * sfreq))
    sig = np.asarray(simulate(10, int(sfreq)), dtype=float)
    for n in range(max(1, n_min - 3), n_min + 4):
        v, _ = physio_features(_frame(sig[:n]), sfreq, kind, {})
        if n < n_min:
            assert np.isnan(v).all(), n
    if kind == "eda":  # at the minimum, the tonic level is defined
        v, _ = physio_features(_frame(sig[:n_min]), sfreq, kind, {})
        assert np.isfinite(v[0, 0])


def test_fast_plus_physio_is_both_backends_side_by_side():
    """backend='fast+physio' gives exactly the fast statistics and the physiological features
    of each (modality, scale), named as each backend names them, with unique names."""
    from mpcl_sklearn.windowing import SignalWindower

    fs = {"bvp": 64.0, "eda": 4.0}
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "bvp": pd.Series([_pulse_train(60 + 10 * i, 64.0, 20.0)[None] for i in range(3)]),
            "eda": pd.Series([rng.normal(size=(1, 80)) + 5 for _ in range(3)]),
        }
    )
    X.attrs["sfreq"] = fs
    frames = SignalWindower(scales_s=(10.0, 20.0)).fit_transform(X)
    kw = dict(feature_set="minimal", undefined="nan")
    both = ModalityFeatureExtractor(backend="fast+physio", **kw).fit_transform(frames)
    fast = ModalityFeatureExtractor(backend="fast", **kw).fit_transform(frames)
    physio = ModalityFeatureExtractor(backend="physio", **kw).fit_transform(frames)
    assert both.columns.is_unique
    assert set(both.columns) == set(fast.columns) | set(physio.columns)
    assert len(both.columns) == len(fast.columns) + len(physio.columns)
    pd.testing.assert_frame_equal(both[fast.columns], fast)
    pd.testing.assert_frame_equal(both[physio.columns], physio)


def _scrs(amplitude, onsets_s=(10.0, 30.0, 50.0), fs=4.0, duration_s=60.0, noise=0.0):
    """A 2 uS level with skin conductance responses (rise 1 s, decay 3 s) and white noise."""
    t = np.arange(int(duration_s * fs)) / fs
    x = np.full_like(t, 2.0)
    for o in onsets_s:
        d = np.clip(t - o, 0, None)
        x += amplitude * (1 - np.exp(-d / 1.0)) * np.exp(-d / 3.0) / 0.4725  # peak = amplitude
    return x + noise * np.random.default_rng(0).standard_normal(t.size)


@pytest.mark.parametrize(("amplitude", "count"), [(0.2, 3), (0.05, 3), (0.003, 0)])
def test_scr_count_has_an_absolute_floor(amplitude, count):
    # responses below SCR_MIN_AMPLITUDE (0.01 uS) do not count, whatever the frame's largest
    v, names = physio_features(_frame(_scrs(amplitude, noise=1e-4)), 4.0, "eda", {})
    res = dict(zip(names, v[0], strict=True))
    assert res["scr_count"] == count
    if count:
        assert res["scr_amplitude_mean"] >= SCR_MIN_AMPLITUDE
    else:
        assert np.isnan(res["scr_amplitude_mean"])


@pytest.mark.parametrize(
    "eda",
    [
        2.0 + 1e-4 * np.random.default_rng(1).standard_normal(240),  # noise only: was 63 SCRs
        2.0 + 0.01 * np.sin(np.arange(240) / 40.0),  # a peak without an onset
        2.0 + 0.001 * np.arange(240) / 4.0,  # a ramp: no peak (neurokit2 raises)
        np.full(240, 2.0),
    ],
    ids=["noise", "no-onset", "ramp", "flat"],
)
def test_frames_without_responses_count_zero_quietly(eda, recwarn):
    v, names = physio_features(_frame(eda), 4.0, "eda", {})
    res = dict(zip(names, v[0], strict=True))
    assert res["scr_count"] == 0 and np.isnan(res["scr_amplitude_mean"])
    assert res["tonic_mean"] == pytest.approx(eda.mean(), abs=0.05)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
