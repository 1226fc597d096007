"""Issue 13: whole-window physiological features for MPCL's condition read-out (dev14 only).

The read-out (``models._combination.condition_fit``) classifies each window's condition from
the 1300 features of its 10 s and 30 s frames; on WESAD's development folds it confuses
amusement and meditation with the baseline (about 2/3 accuracy), which is what keeps its KL
above the oracle's. This script asks whether features of the whole 60 s window that target
what tells those conditions apart add anything:

- ``acc``: log power and power fraction of the acceleration magnitude in 0.1-0.5 / 0.5-3 /
  3-10 Hz (``scipy.signal.welch``), the fraction of 1 s segments whose magnitude varies by more
  than 0.5 and 2 units, the median of that variation, the posture (mean direction of gravity).
- ``ppg``: neurokit2's HRV of the BVP beats over the whole window (``hrv_time``: mean NN, SDNN,
  RMSSD, pNN50; ``hrv_frequency``: LF, HF, LF/HF: slow paced breathing in meditation moves
  power into LF), the breathing rate as the peak of the beat intervals' spectrum in 0.05-0.5 Hz
  (respiratory sinus arrhythmia), the pulse amplitude and its variation (vasoconstriction).
- ``eda``: slope and range over the window, the number of skin conductance responses of at
  least ``SCR_MIN_AMPLITUDE`` and the mean phasic level (neurokit2, as the backend).
- ``temp``: slope and range over the window.

They are calibrated like the table (reference: each subject's Base windows), appended to the
table's features (or used alone) and the read-out alone, ``predict_proba(X) @ M``, is scored
on ``wesad-dev14`` at C 0.001 and 0.003. A last block smooths the read-out's log-probabilities
over 3-21 neighbouring windows of the subject's timeline (before it or around it). It also
prints the read-out's confusion of the conditions and the oracle that knows each test window's
condition, with and without the two meditations told apart, and that oracle moved towards the
labels of the training subjects whose baseline physiology is nearest (``subject_neighbours``).

Run (``--cache``: the folder of ``dev_condition_classifiers.py``'s WESAD table; the window
features are cached there as ``wesad_window_features.pkl``; 5 min the first time, 3 after)::

    .venv/bin/python benchmarks/dev_condition_features.py --path ../shared/data/wesad \\
        --cache /tmp/wf
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import warnings
from pathlib import Path

import neurokit2 as nk
import numpy as np
import pandas as pd
from scipy import signal
from scipy.special import log_softmax, softmax
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cooc_readout_trials import dev_folds  # noqa: E402
from dev_condition_classifiers import standardised, subject_timeline_means  # noqa: E402

from mpcl_sklearn.experiments import reference_rows  # noqa: E402
from mpcl_sklearn.features.physio import SCR_MIN_AMPLITUDE  # noqa: E402
from mpcl_sklearn.metrics import kl_divergence  # noqa: E402
from mpcl_sklearn.models._combination import condition_fit  # noqa: E402
from mpcl_sklearn.preprocessing import SubjectCalibrator  # noqa: E402

ACC_BANDS = ((0.1, 0.5), (0.5, 3.0), (3.0, 10.0))


def slope(x: np.ndarray, sfreq: float) -> float:
    """Least-squares slope per minute."""
    return float(np.polyfit(np.arange(len(x)) / sfreq, x, 1)[0] * 60)


def acc_features(acc: np.ndarray, sfreq: float) -> dict[str, float]:
    """Movement bands, activity fractions and posture of a ``(3, n)`` acceleration window."""
    mag = np.linalg.norm(acc, axis=0)
    f, p = signal.welch(mag - mag.mean(), fs=sfreq, nperseg=min(256, len(mag)))
    total = p[f > ACC_BANDS[0][0]].sum() + 1e-12
    out = {}
    for lo, hi in ACC_BANDS:
        power = p[(f >= lo) & (f < hi)].sum()
        out[f"acc_log_power_{lo:g}_{hi:g}"] = np.log(power + 1e-12)
        out[f"acc_fraction_{lo:g}_{hi:g}"] = power / total
    second = int(sfreq)
    spread = mag[: len(mag) // second * second].reshape(-1, second).std(axis=1)
    out |= {"acc_moving_0.5": np.mean(spread > 0.5), "acc_moving_2": np.mean(spread > 2.0)}
    out["acc_log_median_spread"] = np.log(np.median(spread) + 1e-3)
    gravity = acc.mean(axis=1) / (np.linalg.norm(acc.mean(axis=1)) + 1e-9)
    return out | {f"acc_posture_{a}": v for a, v in zip("xyz", gravity, strict=True)}


def ppg_features(bvp: np.ndarray, sfreq: float) -> dict[str, float]:
    """neurokit2 HRV, breathing rate from the beat intervals and pulse amplitude."""
    names = ["HRV_MeanNN", "HRV_SDNN", "HRV_RMSSD", "HRV_pNN50", "HRV_LF", "HRV_HF", "HRV_LFHF"]
    out = dict.fromkeys([f"ppg_{n}" for n in names] + ["ppg_breathing_hz", "ppg_amplitude"])
    out["ppg_amplitude_cv"] = np.nan
    clean = nk.ppg_clean(bvp, sampling_rate=int(sfreq))
    peaks = nk.ppg_findpeaks(clean, sampling_rate=int(sfreq))["PPG_Peaks"]
    if len(peaks) < 20:
        return {k: np.nan for k in out}
    hrv = pd.concat(
        [nk.hrv_time(peaks, sampling_rate=sfreq), nk.hrv_frequency(peaks, sampling_rate=sfreq)],
        axis=1,
    )
    out |= {f"ppg_{n}": float(hrv[n].iloc[0]) for n in names}
    beats_s = peaks / sfreq
    grid = np.arange(beats_s[1], beats_s[-1], 0.25)
    intervals = np.interp(grid, beats_s[1:], np.diff(beats_s))
    f, p = signal.welch(intervals - intervals.mean(), fs=4.0, nperseg=min(128, len(grid)))
    band = (f >= 0.05) & (f < 0.5)
    out["ppg_breathing_hz"] = f[band][np.argmax(p[band])]
    amplitude = np.abs(clean[peaks])
    out["ppg_amplitude"] = np.log(amplitude.mean() + 1e-3)
    out["ppg_amplitude_cv"] = amplitude.std() / (amplitude.mean() + 1e-9)
    return out


def eda_features(eda: np.ndarray, sfreq: float) -> dict[str, float]:
    """Slope, range, responses and phasic level over the window (neurokit2)."""
    parts = nk.eda_phasic(eda, sampling_rate=int(sfreq), method="median")
    phasic = parts["EDA_Phasic"].to_numpy()
    _, info = nk.eda_peaks(phasic, sampling_rate=int(sfreq))
    amplitudes = np.asarray(info["SCR_Amplitude"], dtype=float)
    return {
        "eda_slope": slope(eda, sfreq),
        "eda_log_range": np.log(np.ptp(eda) + 1e-3),
        "eda_responses": float(np.sum(amplitudes >= SCR_MIN_AMPLITUDE)),
        "eda_log_phasic": np.log(np.abs(phasic).mean() + 1e-4),
    }


def window_features(path: str, cache: Path) -> pd.DataFrame:
    """The features above for every 60 s window of the WESAD table (cached)."""
    stored = cache / "wesad_window_features.pkl"
    if stored.exists():
        return pd.read_pickle(stored)
    from mpcl_sklearn.datasets import load_wesad
    from mpcl_sklearn.windowing import make_windows

    windows, *_ = make_windows(load_wesad(path), window_s=60.0, step_s=30.0)
    sf = windows.attrs["sfreq"]
    rows = []
    for _, w in windows.iterrows():
        temp = np.asarray(w["temp"])[0]
        rows.append(
            acc_features(np.asarray(w["acc"]), sf["acc"])
            | ppg_features(np.asarray(w["bvp"])[0], sf["bvp"])
            | eda_features(np.asarray(w["eda"])[0], sf["eda"])
            | {"temp_slope": slope(temp, sf["temp"]), "temp_range": np.ptp(temp)}
        )
    frame = pd.DataFrame(rows, index=windows.index, dtype=float)
    frame.to_pickle(stored)
    return frame


def read_out(Z: np.ndarray, Y, cond, folds, C: float) -> tuple[np.ndarray, int, dict]:
    """Out-of-fold log-probabilities, hits and each test subject's condition means."""
    log_p = np.zeros((len(Y), len(np.unique(cond))))
    hits, means = 0, {}
    for tr, te in folds:
        classes = np.unique(cond[tr])
        A, B = standardised(Z, tr, te)
        coef, intercept, means[te[0]] = condition_fit(A, Y[tr], cond[tr], classes, C)
        log_p[te] = log_softmax(B @ coef.T + intercept, axis=1)
        hits += int(np.sum(classes[log_p[te].argmax(axis=1)] == cond[te]))
    return log_p, hits, means


def mixtures(log_p, Y, folds, means) -> np.ndarray:
    """The read-out's predictions: each fold's probabilities mixing its condition means."""
    P = np.zeros_like(Y)
    for _, te in folds:
        P[te] = softmax(log_p[te], axis=1) @ means[te[0]]
    return P


def subject_neighbours(raw, n_components: int, k: int, weight: float) -> float:
    """KL of the oracle moved towards its ``k`` nearest training subjects' labels.

    Each test window gets its true condition's training mean plus ``weight`` times the mean
    deviation from it of the ``k`` training subjects whose baseline is nearest (the mean of
    their *uncalibrated* Base windows' features, standardised and reduced by PCA to
    ``n_components`` on the training subjects): do subjects whose physiology at rest is alike
    rate alike? ``raw``: ``dev_folds("wesad-dev14-none", ...)``.
    """
    X, Y, g, folds = raw
    cond = X.index.get_level_values("trial").to_numpy().astype(str)
    X = np.asarray(X, dtype=np.float64)
    subjects = np.unique(g)
    rest = np.stack([X[(g == s) & (cond == "Base")].mean(axis=0) for s in subjects])
    P = np.zeros_like(Y)
    for tr, te in folds:
        train = subjects != g[te[0]]
        Z = np.nan_to_num(StandardScaler().fit(rest[train]).transform(rest))
        E = PCA(n_components).fit(Z[train]).transform(Z)
        distance = np.linalg.norm(E[train] - E[~train], axis=1)
        near = subjects[train][np.argsort(distance)[:k]]
        for c in np.unique(cond[te]):
            mean = Y[tr][cond[tr] == c].mean(axis=0)
            rated = [Y[(g == s) & (cond == c)].mean(axis=0) for s in near if c in cond[g == s]]
            q = np.clip(mean + weight * (np.mean(rated, axis=0) - mean), 1e-6, None)
            P[te[cond[te] == c]] = q / q.sum()
    tested = np.concatenate([te for _, te in folds])
    return kl_divergence(Y[tested], P[tested])


def _merge_meditations(cond: np.ndarray) -> np.ndarray:
    return np.where(np.char.startswith(cond, "Medi"), "Medi", cond)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", default=os.environ.get("WESAD_DIR", "../shared/data/wesad"))
    parser.add_argument("--cache", type=Path, required=True)
    args = parser.parse_args()
    os.environ["WESAD_DIR"] = args.path
    warnings.filterwarnings("ignore")  # neurokit2 on short windows, small-C convergence
    X, Y, g, folds = dev_folds("wesad-dev14", args.cache / "wesad-dev14.pkl")
    table = pickle.loads(args.cache.joinpath("wesad_table.pkl").read_bytes())
    every = np.asarray(table.groups).astype(str)
    F = window_features(args.path, args.cache).loc[table.X.index]
    F = F.fillna(F.median())  # 3 of 1426 windows: too few BVP beats
    F_cal = SubjectCalibrator(mode="reference").fit_transform(
        F, groups=every, reference=reference_rows(table, condition="Base")
    )
    F_cal = np.asarray(F_cal, dtype=np.float64)[every != "S2"]
    cond = X.index.get_level_values("trial").to_numpy().astype(str)
    own = np.asarray(X, dtype=np.float64)
    inputs = {"table's features": own, "window features alone": F_cal}
    inputs["table's + window features"] = np.hstack([own, F_cal])
    for kind in ("acc", "ppg", "eda", "temp"):
        at = [i for i, c in enumerate(F.columns) if c.startswith(f"{kind}_")]
        inputs[f"table's + {kind} window features"] = np.hstack([own, F_cal[:, at]])
    Cs = (0.001, 0.003)
    tested = np.concatenate([te for _, te in folds])
    print(f"wesad-dev14: {len(tested)} test windows, {F.shape[1]} window features")
    fitted = {(name, C): read_out(Z, Y, cond, folds, C) for name, Z in inputs.items() for C in Cs}
    log_p, _, means = fitted[("table's features", 0.001)]
    called = np.unique(cond)[log_p.argmax(axis=1)]
    print("  the table's read-out at C 0.001: true condition (rows) -> called (columns)")
    confusion = pd.crosstab(cond, called, rownames=["true"], colnames=["called"])
    print("    " + confusion.to_string().replace("\n", "\n    "))
    for name, merged in (("", cond), (", the two meditations merged", _merge_meditations(cond))):
        oracle = np.zeros_like(Y)
        for tr, te in folds:
            for c in np.unique(merged[te]):
                oracle[te[merged[te] == c]] = Y[tr][merged[tr] == c].mean(axis=0)
        kl = kl_divergence(Y[tested], oracle[tested])
        print(f"  oracle: each test window's true condition's mean{name}  KL {kl:.4f}")
    for (name, C), (log_p_Z, hits, means_Z) in fitted.items():
        kl = kl_divergence(Y[tested], mixtures(log_p_Z, Y, folds, means_Z)[tested])
        print(f"  {name:40s} C {C:g}  KL {kl:.4f}  accuracy {hits / len(tested):.3f}")
    times = np.asarray(table.times_s, dtype=np.float64)[every != "S2"]
    print("  the read-out's log-probabilities smoothed over the subject's timeline (C 0.001):")
    for n in (3, 5, 9, 13, 21):
        for centred in (False, True):
            smoothed = subject_timeline_means(log_p, g, times, n, centred)
            kl = kl_divergence(Y[tested], mixtures(smoothed, Y, folds, means)[tested])
            where = "around" if centred else "up to"
            print(f"    {n:2d} windows {where:6s} each  KL {kl:.4f}")
    print("  the oracle moved towards the nearest training subjects at rest (all 13: the oracle):")
    raw = dev_folds("wesad-dev14-none", args.cache / "wesad-dev14-none.pkl")
    for n_components in (2, 5, 10):
        for k in (3, 5):
            for weight in (0.5, 1.0):
                kl = subject_neighbours(raw, n_components, k, weight)
                print(
                    f"    {n_components:2d} components, {k} subjects, weight {weight:g}"
                    f"  KL {kl:.4f}"
                )


if __name__ == "__main__":
    main()
