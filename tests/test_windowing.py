"""make_windows and SignalWindower: alignment, traceability, reports and bad input."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from mpcl_sklearn.recordings import Recordings, Trial
from mpcl_sklearn.windowing import SignalWindower, make_windows

SFREQ = {"bvp": 64.0, "eda": 4.0, "acc": 32.0}
N_CH = {"bvp": 1, "eda": 1, "acc": 3}


def _ramp_trial(subject, trial, duration_s, label):
    """Signals whose sample value is its time in seconds (so alignment is checkable)."""
    signals = {}
    for m, f in SFREQ.items():
        t = np.arange(int(round(duration_s * f))) / f
        signals[m] = np.tile(t, (N_CH[m], 1))
    return Trial(subject, trial, signals, np.asarray(label, dtype=float))


def _recordings(durations=None):
    durations = durations or {("S1", "A"): 30.0, ("S1", "B"): 21.0, ("S2", "A"): 25.0}
    labels = {"A": [0.6, 0.3, 0.1], "B": [0.2, 0.2, 0.6]}
    trials = [_ramp_trial(s, t, d, labels.get(t, [1 / 3] * 3)) for (s, t), d in durations.items()]
    return Recordings(trials, dict(SFREQ), ["joy", "fear", "calm"], behavioural=("acc",))


def test_make_windows_shapes_alignment_and_labels():
    rec = _recordings()
    X, y, groups, trials = make_windows(rec, 8.0, 4.0, return_trials=True)
    # 30 s -> starts 0,4,..,20 (6); 21 s -> 0,4,8,12 (4); 25 s -> 0..16 (5)
    assert len(X) == 15
    assert list(X.columns) == ["bvp", "eda", "acc"]
    assert X.attrs["sfreq"] == SFREQ
    assert X.attrs["behavioural"] == ("acc",)
    assert X.attrs["emotions"] == ["joy", "fear", "calm"]
    assert X.index.names == ["subject", "trial", "start_s"]
    for (_subject, _trial, start), row in X.iterrows():
        for m, f in SFREQ.items():
            cell = row[m]
            assert cell.shape == (N_CH[m], round(8 * f))
            # the first sample of every modality is the window's start time: aligned
            assert cell[0, 0] == pytest.approx(start)
            assert cell[0, -1] == pytest.approx(start + 8 - 1 / f)
    starts = X.loc[("S1", "A")].index.to_numpy()
    np.testing.assert_allclose(starts, [0, 4, 8, 12, 16, 20])
    assert y.shape == (15, 3)
    np.testing.assert_allclose(y.sum(1), 1.0)
    np.testing.assert_allclose(y[X.index.get_level_values("trial") == "B"], [[0.2, 0.2, 0.6]] * 4)
    assert list(groups) == list(X.index.get_level_values("subject"))
    assert trials[0] == "S1/A" and trials[-1] == "S2/A"
    X2, y2, g2 = make_windows(rec, 8.0, 4.0)
    assert len(X2) == len(X)


def test_default_step_is_window_and_modality_subset():
    X, y, g = make_windows(_recordings(), 10.0, modalities=["eda"])
    assert list(X.columns) == ["eda"]
    assert X.attrs["sfreq"] == {"eda": 4.0}
    assert X.attrs["behavioural"] == ()
    np.testing.assert_allclose(X.loc[("S1", "A")].index.to_numpy(), [0, 10, 20])


def test_short_trial_is_reported_not_silently_dropped():
    rec = _recordings({("S1", "A"): 30.0, ("S3", "tiny"): 5.0})
    with pytest.warns(UserWarning, match=r"'tiny' of subject 'S3'"):
        X, y, g = make_windows(rec, 8.0, 4.0)
    assert "S3" not in set(g)
    assert any("tiny" in line for line in X.attrs["report"])


def test_no_window_at_all_raises():
    rec = _recordings({("S1", "A"): 5.0})
    with pytest.raises(ValueError, match="no window"):
        make_windows(rec, 8.0)


def test_many_short_trials_give_one_warning_and_a_short_error():
    durations = {("S1", f"T{i}"): 5.0 + i for i in range(30)}
    rec = _recordings({**durations, ("S2", "long"): 40.0})
    with pytest.warns(UserWarning) as caught:
        X, _, _ = make_windows(rec, 36.0, 4.0)
    shorts = [w for w in caught if "shorter than one 36 s window" in str(w.message)]
    assert len(shorts) == 1
    text = str(shorts[0].message)
    assert text.startswith("30 trial(s) shorter") and "trial 'T0' of subject 'S1' (5.000 s)" in text
    assert "'T25'" not in text and "(30 trials in all)" in text
    assert sum("no window taken" in line for line in X.attrs["report"]) == 30
    with pytest.raises(ValueError) as exc:
        make_windows(_recordings(durations), 100.0)
    message = str(exc.value)
    assert "every trial is shorter (the longest, trial 'T29' of subject 'S1', lasts" in message
    assert len(message) < 200


def test_min_coverage_drops_nan_windows_and_reports():
    rec = _recordings({("S1", "A"): 30.0})
    rec.trials[0].signals["eda"][0, :20] = np.nan  # first 5 s missing
    X, _, _ = make_windows(rec, 10.0, min_coverage=0.9)
    np.testing.assert_allclose(X.index.get_level_values("start_s"), [10, 20])
    assert any("dropped" in line for line in X.attrs["report"])
    X, _, _ = make_windows(rec, 10.0, min_coverage=0.5)
    assert len(X) == 3 and np.isnan(X["eda"].iloc[0]).sum() == 20


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"window_s": 0}, "window_s"),
        ({"window_s": 4, "step_s": -1}, "step_s"),
        ({"window_s": 4, "modalities": ["eeg"]}, "unknown modalities"),
        ({"window_s": 0.01}, "shorter than one sample"),
        ({"window_s": 4, "min_coverage": 0}, "min_coverage"),
    ],
)
def test_make_windows_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_windows(_recordings(), **kwargs)


def test_make_windows_rejects_non_recordings():
    with pytest.raises(ValueError, match="Recordings"):
        make_windows({"bvp": np.zeros((1, 10))}, 1.0)


def test_signal_windower_frames_each_modality_at_its_rate():
    X, _, _ = make_windows(_recordings(), 8.0, 4.0)
    sw = SignalWindower(scales_s=(1.0, 4.0), overlap=0.5)
    F = sw.fit_transform(X)
    assert len(F) == len(X)
    assert F.index.equals(X.index)
    assert list(F.columns) == [f"{m}__{s}" for m in SFREQ for s in ("1s", "4s")]
    assert F.attrs["sfreq"] == SFREQ
    assert F.attrs["frames"]["acc__4s"] == {"modality": "acc", "scale": "4s", "scale_s": 4.0}
    for m, f in SFREQ.items():
        for s in (1.0, 4.0):
            cell = F[f"{m}__{s:g}s"].iloc[3]
            flen = round(s * f)
            step = max(1, round(flen * 0.5))
            n_frames = (round(8 * f) - flen) // step + 1
            assert cell.shape == (n_frames, N_CH[m], flen)
            raw = X[m].iloc[3]
            np.testing.assert_array_equal(cell[1], raw[:, step : step + flen])
            # frame k starts k * step samples = k * s * 0.5 seconds after the window start
            assert cell[-1, 0, 0] == pytest.approx(raw[0, 0] + (n_frames - 1) * step / f)


def test_signal_windower_errors_and_sklearn_contract():
    X, _, _ = make_windows(_recordings(), 8.0, 4.0)
    with pytest.raises(ValueError, match="longer than the signal window"):
        SignalWindower(scales_s=(10.0,)).fit_transform(X)
    with pytest.raises(ValueError, match="overlap"):
        SignalWindower(overlap=1.0).fit(X)
    with pytest.raises(ValueError, match="scales_s"):
        SignalWindower(scales_s=(0,)).fit(X)
    bare = X.copy()
    bare.attrs = {}
    with pytest.raises(ValueError, match="sampling rate"):
        SignalWindower().fit(bare)
    with pytest.raises(ValueError, match="missing"):
        SignalWindower(modalities=["eeg"]).fit(X)
    bad = X.copy()
    bad.iat[2, 0] = np.zeros(5)
    with pytest.raises(ValueError, match="2-D"):
        SignalWindower().fit(bad)
    bad = X.copy()
    bad.iat[2, 2] = np.zeros((2, bad.iat[2, 2].shape[1]))
    with pytest.raises(ValueError, match="channel count"):
        SignalWindower().fit(bad)
    with pytest.raises(ValueError, match="DataFrame"):
        SignalWindower().fit(np.zeros((3, 3)))
    sw = SignalWindower(scales_s=(2.0,), overlap=0.25)
    assert clone(sw).get_params() == sw.get_params()
    restored = pickle.loads(pickle.dumps(sw))
    out = restored.fit_transform(X)
    assert isinstance(out, pd.DataFrame) and out.shape == (len(X), 3)
    # sklearn's row indexing keeps attrs, so framing works on a CV split
    assert SignalWindower().fit_transform(X.iloc[[0, 5]]).shape[0] == 2


@settings(max_examples=40, deadline=None)
@given(
    duration=st.floats(1.0, 40.0),
    window=st.floats(0.5, 12.0),
    step=st.floats(0.25, 12.0),
)
def test_window_count_and_bounds_property(duration, window, step):
    rec = _recordings({("S1", "A"): duration})
    n_samples = {m: rec.trials[0].signals[m].shape[1] for m in SFREQ}
    shortest = min(n_samples[m] / f for m, f in SFREQ.items())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            X, y, _ = make_windows(rec, window, step)
        except ValueError as exc:
            assert "no window" in str(exc) or "shorter than one sample" in str(exc)
            return
    starts = X.index.get_level_values("start_s").to_numpy()
    np.testing.assert_allclose(starts, np.arange(len(X)) * step, atol=1e-6)
    # every window lies inside the signal and has the same length
    for m, f in SFREQ.items():
        lengths = {cell.shape[1] for cell in X[m]}
        assert lengths == {round(window * f)}
    assert starts[-1] + window <= shortest + 1e-6 + 1.0 / min(SFREQ.values())
    # one more window would run past the shortest modality's end (in time)
    assert len(X) * step + window > shortest + 1e-9


# --------------------------------------------------------------------------------------------
# issues 12 and 14


def test_windows_dropped_for_nan_warn_with_the_count_per_trial():
    rec = _recordings({("S1", "A"): 30.0, ("S2", "A"): 30.0, ("S2", "B"): 30.0})
    rec.trials[0].signals["eda"][0, 3] = np.nan  # first 10-s window of S1/A
    rec.trials[2].signals["bvp"][0, -1] = np.nan  # last window of S2/B
    rec.trials[2].signals["bvp"][0, 10] = np.inf  # and its first
    with pytest.warns(UserWarning, match=r"S1/A: 1 of 3; S2/B: 2 of 3") as record:
        X, _, _ = make_windows(rec, 10.0)
    assert len(record) == 1 and len(X) == 2 + 3 + 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing dropped, nothing said
        make_windows(_recordings(), 10.0)


def test_trial_ids_are_unambiguous_and_subjects_must_not_merge():
    from mpcl_sklearn.windowing import trial_id

    rec = _recordings({("a/b", "c"): 10.0, ("a", "b/c"): 10.0, ("5%", "x"): 10.0})
    _, _, groups, trials = make_windows(rec, 5.0, return_trials=True)
    assert list(dict.fromkeys(trials)) == ["a%2Fb/c", "a/b/c", "5%25/x"]
    assert trial_id("a/b", "c") != trial_id("a", "b/c")
    assert list(dict.fromkeys(groups)) == ["a/b", "a", "5%"]
    with pytest.raises(ValueError, match="read the same as text"):
        _recordings({(1, "A"): 10.0, ("1", "B"): 10.0})


def test_step_below_one_sample_is_refused():
    with pytest.raises(ValueError, match=r"step_s=0.1 s is shorter than one sample of 'eda'"):
        make_windows(_recordings(), 8.0, 0.1)
    X, _, _ = make_windows(_recordings({("S1", "A"): 9.0}), 8.0, 0.25)  # one eda sample
    assert len(X) == 5


def test_durations_of_a_trial_must_agree():
    rec = _recordings({("S1", "A"): 30.0})
    sig = dict(rec.trials[0].signals)
    with pytest.raises(ValueError, match=r"'acc' lasts 240 s .* but 'bvp' lasts 30 s"):
        Recordings([Trial("S1", "A", sig, [1, 0, 0])], SFREQ | {"acc": 4.0}, ["a", "b", "c"])
    sig["bvp"] = sig["bvp"][:, : 64 * 29]  # 1 s shorter: within the tolerance
    rec = Recordings([Trial("S1", "A", sig, [1, 0, 0])], dict(SFREQ), ["a", "b", "c"])
    X, _, _ = make_windows(rec, 10.0, 1.0)
    assert X.index.get_level_values("start_s")[-1] == 19.0  # the shortest modality decides
    rec.trials[0].signals["eda"] = sig["eda"][:, :40]  # edited after construction: 10 s
    with pytest.raises(ValueError, match="'eda' lasts 10 s"):
        make_windows(rec, 5.0)


def test_complex_signals_are_refused():
    rec = _recordings({("S1", "A"): 10.0})
    sig = dict(rec.trials[0].signals)
    sig["eda"] = sig["eda"] + 1j
    with pytest.raises(ValueError, match="complex"):
        Recordings([Trial("S1", "A", sig, [1, 0, 0])], dict(SFREQ), ["a", "b", "c"])
    X, _, _ = make_windows(rec, 5.0)
    bad = X.copy()
    bad.iat[0, 1] = bad.iat[0, 1] + 1j
    with pytest.raises(ValueError, match="complex"):
        SignalWindower().fit(bad)


def test_window_tables_share_nothing_with_the_recordings():
    rec = _recordings({("S1", "A"): 30.0})
    X, _, _ = make_windows(rec, 10.0, 5.0)
    cell = X["bvp"].iloc[0]
    with pytest.raises(ValueError, match="read-only"):
        cell[0, 0] = 99.0
    rec.trials[0].signals["bvp"][0, 0] = 99.0
    assert cell[0, 0] == 0.0
    X.attrs["sfreq"]["bvp"] = 1.0
    assert rec.sfreq["bvp"] == 64.0
    X.attrs["sfreq"]["bvp"] = 64.0
    F = SignalWindower(scales_s=(2.0,)).fit_transform(X)
    F.attrs["report"].append("edited")
    assert X.attrs["report"] == []
    writable = X.copy()
    writable.iat[0, 0] = np.array(X.iat[0, 0])
    F = SignalWindower(scales_s=(2.0,)).fit_transform(writable)
    writable.iat[0, 0][0, 0] = -5.0
    assert F.iat[0, 0][0, 0, 0] != -5.0
