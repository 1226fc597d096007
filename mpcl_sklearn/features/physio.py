"""The ``"physio"`` backend: domain features per modality kind.

Which features a modality gets is decided by its *kind*, inferred from the modality name
(:func:`infer_kind`) or given by ``ModalityFeatureExtractor(physio_kinds={name: kind})``:

============  ===============================================================================
kind          features (per frame; names prefixed ``ch<i>__`` where per channel)
============  ===============================================================================
``eeg``       ``de_<band>`` differential entropy per band (DMER definition, below) and
              ``band_power_<band>`` (Welch power in the band), per channel; bands delta 1-4,
              theta 4-8, alpha 8-14, beta 14-31, gamma 31-49 Hz (DMER's code)
``eda``       ``tonic_mean``, ``scr_count``, ``scr_amplitude_mean`` (neurokit2: median-filter
              tonic/phasic split, ``eda_peaks`` on the phasic part; only responses of at
              least :data:`SCR_MIN_AMPLITUDE` count), channel 0; frames of at least 4 s (the
              median filter's width)
``ppg``       ``heart_rate``, ``hrv_rmssd``, ``hrv_sdnn`` (ms), ``hrv_lf_hf`` (NaN when the frame
              is shorter than 60 s), from neurokit2 ``ppg_findpeaks``; channel 0; frames of at
              least 0.667 s (Elgendi's beat window)
``ecg``       the same from neurokit2 ``ecg_peaks``; channel 0; frames of at least 0.75 s (the
              detector's averaging window)
``resp``      ``resp_rate`` (breaths/min: Welch peak in 0.1-0.7 Hz), channel 0
``temp``      ``temp_mean``, ``temp_slope`` (units per second, least squares), channel 0
``acc``       ``magnitude_{mean,std,min,max}`` of the Euclidean norm over channels
============  ===============================================================================

DMER differential entropy (``../shared/docs/background.md`` 2.3): Hann window, FFT of
``max(256, n)`` points, band power ``P`` = mean ``|FFT|^2`` over the band's bins,
``DE = 0.5 * ln(P) + 0.5 * ln(2 * pi * e / max(1, round(fs / 256)))``.

Features a frame cannot define (too short, no peaks) are NaN and handled by the extractor's
``undefined`` policy: frames shorter than :data:`MIN_FRAME_S` of their kind are not passed to
neurokit2 (whose filters need a minimum length) and get NaN features. The other kinds accept
frames of any length (a single sample gives NaN where a feature needs more, e.g. ``temp_slope``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
from scipy import signal

from .._neurokit import neurokit_length_error

#: EEG bands (Hz) as in DMER's feature code.
EEG_BANDS: dict[str, tuple[float, float]] = {
    "delta": (1.0, 4.0),
    "theta": (4.0, 8.0),
    "alpha": (8.0, 14.0),
    "beta": (14.0, 31.0),
    "gamma": (31.0, 49.0),
}

KINDS = ("eeg", "eda", "ppg", "ecg", "resp", "temp", "acc")
_ALIASES = {
    "eeg": "eeg",
    "eda": "eda",
    "gsr": "eda",
    "bvp": "ppg",
    "ppg": "ppg",
    "ecg": "ecg",
    "resp": "resp",
    "rsp": "resp",
    "temp": "temp",
    "acc": "acc",
}
#: Minimal frame length (s) for the LF/HF ratio.
MIN_LFHF_S = 60.0
#: Shortest frame (s) per neurokit2-based kind: the widths of neurokit2's smoothing windows
#: (``eda_phasic(method="median")``: 4 s; ``ppg_findpeaks``: 0.667 s beat window;
#: ``ecg_peaks``: 0.75 s averaging window). Shorter frames give NaN features.
MIN_FRAME_S: dict[str, float] = {"eda": 4.0, "ppg": 0.667, "ecg": 0.75}

#: Smallest skin conductance response that counts (in the signal's unit, microsiemens for
#: every wearable we load): the lowest of the usual minima, 0.01-0.05 uS (Boucsein,
#: *Electrodermal Activity*, 2012). neurokit2's ``eda_peaks`` keeps every peak above 10% of
#: the frame's largest, so without a floor a flat frame's quantisation noise reads as dozens of
#: responses a minute (WESAD's wrist EDA in 10 s frames: 46 a minute on average; 7 with the
#: floor).
SCR_MIN_AMPLITUDE = 0.01


def min_frame_samples(kind: str, sfreq: float) -> int:
    """Fewest samples a frame of ``kind`` at ``sfreq`` Hz needs (1 for kinds without a minimum)."""
    return max(1, int(np.ceil(MIN_FRAME_S.get(kind, 0.0) * sfreq - 1e-9)))


def infer_kind(modality: str) -> str:
    """Kind of a modality from its name: the first known alias the lower-cased name starts with.

    Aliases: eeg; eda, gsr -> eda; bvp, ppg -> ppg; ecg; resp, rsp -> resp; temp; acc.
    """
    name = modality.lower()
    for alias, kind in _ALIASES.items():
        if name.startswith(alias):
            return kind
    raise ValueError(
        f"cannot tell the physiological kind of modality {modality!r}; pass "
        f"physio_kinds={{{modality!r}: kind}} with kind in {KINDS}"
    )


def resolve_kinds(physio_kinds: Mapping[str, str] | None) -> dict[str, str]:
    """Validate a ``{modality: kind}`` mapping (None -> {})."""
    kinds = dict(physio_kinds or {})
    bad = {m: k for m, k in kinds.items() if k not in KINDS}
    if bad:
        raise ValueError(f"unknown physio kinds {bad}; use {KINDS}")
    return kinds


# --------------------------------------------------------------------------------------------


def differential_entropy(x: np.ndarray, sfreq: float) -> tuple[np.ndarray, list[str]]:
    """DMER differential entropy per band of every row of ``x`` (n_series, n_times)."""
    n = x.shape[-1]
    nfft = max(256, n)
    spec = np.abs(np.fft.rfft(x * np.hanning(n), n=nfft, axis=-1)) ** 2
    freqs = np.fft.rfftfreq(nfft, 1.0 / sfreq)
    const = 0.5 * np.log(2 * np.pi * np.e / max(1, round(sfreq / 256)))
    cols, names = [], []
    for band, (lo, hi) in EEG_BANDS.items():
        sel = (freqs >= lo) & (freqs < hi)
        if not sel.any():
            cols.append(np.full(x.shape[0], np.nan))
        else:
            with np.errstate(divide="ignore"):
                cols.append(0.5 * np.log(spec[:, sel].mean(axis=-1)) + const)
        names.append(f"de_{band}")
    return np.column_stack(cols), names


def band_powers(x: np.ndarray, sfreq: float) -> tuple[np.ndarray, list[str]]:
    """Welch power in each EEG band (signal units squared), rows of ``x``."""
    n = x.shape[-1]
    f, pxx = signal.welch(x, fs=sfreq, nperseg=min(n, int(2 * sfreq)), axis=-1)
    df = f[1] - f[0] if len(f) > 1 else np.nan
    cols, names = [], []
    for band, (lo, hi) in EEG_BANDS.items():
        sel = (f >= lo) & (f < hi)
        cols.append(pxx[:, sel].sum(axis=-1) * df if sel.any() else np.full(x.shape[0], np.nan))
        names.append(f"band_power_{band}")
    return np.column_stack(cols), names


def _hrv(peaks: np.ndarray, sfreq: float, duration_s: float) -> list[float]:
    peaks = np.asarray(peaks, dtype=float)
    if len(peaks) < 3:
        return [np.nan] * 4
    ibi = np.diff(peaks) / sfreq * 1000.0  # ms
    hr = 60000.0 / ibi.mean()
    rmssd = np.sqrt(np.mean(np.diff(ibi) ** 2))
    sdnn = ibi.std(ddof=1)
    lf_hf = np.nan
    if duration_s >= MIN_LFHF_S and len(ibi) >= 10:
        t = np.cumsum(ibi) / 1000.0
        fs_i = 4.0
        grid = np.arange(t[0], t[-1], 1 / fs_i)
        if len(grid) > 16:
            r = np.interp(grid, t, ibi)
            f, p = signal.welch(r - r.mean(), fs=fs_i, nperseg=min(len(r), 256))
            lf = p[(f >= 0.04) & (f < 0.15)].sum()
            hf = p[(f >= 0.15) & (f < 0.4)].sum()
            lf_hf = lf / hf if hf > 0 else np.nan
    return [hr, rmssd, sdnn, lf_hf]


_HRV_NAMES = ["heart_rate", "hrv_rmssd", "hrv_sdnn", "hrv_lf_hf"]


def _cardiac(x: np.ndarray, sfreq: float, kind: str) -> tuple[np.ndarray, list[str]]:
    import neurokit2 as nk

    out = np.full((x.shape[0], 4), np.nan)
    if x.shape[-1] < min_frame_samples(kind, sfreq):
        return out, list(_HRV_NAMES)
    for i, row in enumerate(x):
        if np.ptp(row) == 0 or not np.isfinite(row).all():
            continue
        try:
            if kind == "ppg":
                clean = nk.ppg_clean(row, sampling_rate=sfreq)
                peaks = nk.ppg_findpeaks(clean, sampling_rate=sfreq)["PPG_Peaks"]
            else:
                _, info = nk.ecg_peaks(row, sampling_rate=sfreq)
                peaks = info["ECG_R_Peaks"]
        except (ValueError, IndexError, ZeroDivisionError):
            continue
        except TypeError as exc:
            if not neurokit_length_error(exc):
                raise
            continue
        out[i] = _hrv(peaks, sfreq, len(row) / sfreq)
    return out, list(_HRV_NAMES)


def _eda(x: np.ndarray, sfreq: float) -> tuple[np.ndarray, list[str]]:
    import neurokit2 as nk

    names = ["tonic_mean", "scr_count", "scr_amplitude_mean"]
    out = np.full((x.shape[0], 3), np.nan)
    if x.shape[-1] < min_frame_samples("eda", sfreq):
        return out, names
    for i, row in enumerate(x):
        if not np.isfinite(row).all():
            continue
        try:
            comp = nk.eda_phasic(row, sampling_rate=sfreq, method="median")
            tonic = comp["EDA_Tonic"].to_numpy()
            phasic = comp["EDA_Phasic"].to_numpy()
            out[i, 0] = tonic.mean()
            if signal.find_peaks(phasic)[0].size == 0:  # flat or monotone: no response
                out[i, 1:] = (0.0, np.nan)  # (neurokit2 would raise)
                continue
            with warnings.catch_warnings():
                # a frame whose peaks have no onset: neurokit2 takes the min of an all-NaN
                # array and finds no response, which is the answer
                warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
                _, info = nk.eda_peaks(phasic, sampling_rate=sfreq)
            amps = np.asarray(info["SCR_Amplitude"], dtype=float)
            amps = amps[np.isfinite(amps) & (amps >= SCR_MIN_AMPLITUDE)]
            out[i, 1] = float(len(amps))
            out[i, 2] = amps.mean() if len(amps) else np.nan
        except (ValueError, IndexError, ZeroDivisionError):
            continue
        except TypeError as exc:
            if not neurokit_length_error(exc):
                raise
            continue
    return out, names


def _resp(x: np.ndarray, sfreq: float) -> tuple[np.ndarray, list[str]]:
    n = x.shape[-1]
    f, p = signal.welch(x - x.mean(axis=-1, keepdims=True), fs=sfreq, nperseg=n, axis=-1)
    sel = (f >= 0.1) & (f <= 0.7)
    rate = np.full(x.shape[0], np.nan)
    if sel.any():
        ps = p[:, sel]
        ok = ps.max(axis=-1) > 0
        rate[ok] = f[sel][ps[ok].argmax(axis=-1)] * 60.0
    return rate[:, None], ["resp_rate"]


def _temp(x: np.ndarray, sfreq: float) -> tuple[np.ndarray, list[str]]:
    n = x.shape[-1]
    t = np.arange(n) / sfreq
    tc = t - t.mean()
    denom = (tc**2).sum()
    slope = (x - x.mean(axis=-1, keepdims=True)) @ tc / denom if denom > 0 else np.nan
    return np.column_stack([x.mean(axis=-1), np.broadcast_to(slope, x.shape[:1])]), [
        "temp_mean",
        "temp_slope",
    ]


def _acc(data: np.ndarray) -> tuple[np.ndarray, list[str]]:
    mag = np.sqrt((data**2).sum(axis=1))  # (N, T)
    vals = np.column_stack([mag.mean(-1), mag.std(-1), mag.min(-1), mag.max(-1)])
    return vals, [f"magnitude_{s}" for s in ("mean", "std", "min", "max")]


def physio_features(
    data: np.ndarray, sfreq: float, modality: str, kinds: Mapping[str, str]
) -> tuple[np.ndarray, list[str]]:
    """Physiological features of frames ``data`` (n_frames, n_channels, n_times).

    Returns values ``(n_frames, n_features)`` and feature names (see the module table).
    """
    kind = kinds.get(modality) or infer_kind(modality)
    n, c, _ = data.shape
    if kind == "eeg":
        flat = data.reshape(n * c, -1)
        de, de_names = differential_entropy(flat, sfreq)
        bp, bp_names = band_powers(flat, sfreq)
        vals = np.concatenate([de, bp], axis=1).reshape(n, -1)
        names = [f"ch{ci}__{f}" for ci in range(c) for f in de_names + bp_names]
        return vals, names
    if kind == "acc":
        return _acc(data)
    x = data[:, 0, :]
    if kind in ("ppg", "ecg"):
        return _cardiac(x, sfreq, kind)
    if kind == "eda":
        return _eda(x, sfreq)
    if kind == "resp":
        return _resp(x, sfreq)
    return _temp(x, sfreq)
