"""The Empatica E4 wrist export of one WESAD subject, and its clock offset to the protocol.

``SX/SX_E4_Data/`` (or ``SX_E4_Data.zip``) holds one CSV per signal: line 1 the start unix time,
line 2 the sampling rate, then the samples. The export starts earlier than the chest recorder
whose clock the questionnaire's condition times use; :func:`estimate_e4_offset` estimates the
offset from the end of the recording and the synchronisation double tap.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .release import WESADFormatError

#: E4 file -> (modality name, expected channel count).
_E4_FILES: dict[str, tuple[str, int]] = {
    "BVP.csv": ("bvp", 1),
    "EDA.csv": ("eda", 1),
    "TEMP.csv": ("temp", 1),
    "ACC.csv": ("acc", 3),
}

#: Seconds the chest recorder is assumed to run after the last condition's END.
END_MARGIN_S = 60.0


def _read_e4_csv(raw: bytes, where: str, n_channels: int) -> tuple[float, float, np.ndarray]:
    """Parse one E4 CSV: (start unix time, sampling rate, (n_channels, n_times) array)."""
    head = raw.split(b"\n", 2)
    if len(head) < 3:
        raise WESADFormatError(f"{where}: fewer than 3 lines (need start time, rate, samples)")
    try:
        t0 = float(head[0].split(b",")[0])
        fs = float(head[1].split(b",")[0])
    except ValueError:
        raise WESADFormatError(
            f"{where}: lines 1-2 must hold the start unix time and the sampling rate, got "
            f"{head[0][:40]!r} and {head[1][:40]!r}"
        ) from None
    if not fs > 0:
        raise WESADFormatError(f"{where}:2: sampling rate must be > 0, got {fs}")
    try:
        data = pd.read_csv(io.BytesIO(head[2]), header=None, engine="c", dtype=float).to_numpy()
    except (ValueError, pd.errors.ParserError) as exc:
        for lineno, line in enumerate(head[2].decode(errors="replace").splitlines(), start=3):
            try:
                vals = [float(v) for v in line.split(",")]
            except ValueError:
                vals = []
            if len(vals) != n_channels:
                raise WESADFormatError(
                    f"{where}:{lineno}: expected {n_channels} number(s), got {line[:40]!r}"
                ) from None
        raise WESADFormatError(f"{where}: unparsable samples ({exc})") from None
    if data.ndim != 2 or data.shape[1] != n_channels:
        raise WESADFormatError(f"{where}: expected {n_channels} columns, got {data.shape[1]}")
    bad = ~np.isfinite(data)
    if bad.any():
        first = int(np.flatnonzero(bad.any(axis=1))[0])
        raise WESADFormatError(f"{where}:{first + 3}: missing or non-numeric sample")
    return t0, fs, np.ascontiguousarray(data.T)


def _e4_source(subject_dir: Path, subject: str):
    folder = subject_dir / f"{subject}_E4_Data"
    if folder.is_dir():
        return folder
    for zpath in (
        subject_dir / f"{subject}_E4_Data.zip",
        subject_dir.parent / f"{subject}_E4_Data.zip",
    ):
        if zpath.is_file():
            return zpath
    return None


def read_e4(subject_dir: str | Path, subject: str | None = None) -> dict[str, Any]:
    """Read a subject's Empatica E4 export (folder or zip).

    Parameters
    ----------
    subject_dir : str or Path
        The ``SX`` folder.
    subject : str, optional
        Subject id; the folder name by default.

    Returns
    -------
    dict
        ``signals`` (modality -> (n_channels, n_times)), ``sfreq``, ``start`` (unix time per
        modality) and ``source`` (the path read).
    """
    subject_dir = Path(subject_dir)
    subject = subject or subject_dir.name
    src = _e4_source(subject_dir, subject)
    if src is None:
        raise FileNotFoundError(
            f"{subject}: no E4 export: neither {subject_dir / (subject + '_E4_Data')}/ nor "
            f"{subject}_E4_Data.zip exists"
        )
    out: dict[str, Any] = {"signals": {}, "sfreq": {}, "start": {}, "source": str(src)}
    zf = zipfile.ZipFile(src) if src.is_file() else None
    try:
        members = {Path(n).name: n for n in zf.namelist()} if zf else {}
        for fname, (modality, n_ch) in _E4_FILES.items():
            if zf is not None:
                if fname not in members:
                    raise FileNotFoundError(f"{src}: member {fname} missing")
                raw = zf.read(members[fname])
                where = f"{src}!{members[fname]}"
            else:
                fpath = src / fname
                if not fpath.is_file():
                    raise FileNotFoundError(f"{subject}: E4 file missing: {fpath}")
                raw = fpath.read_bytes()
                where = str(fpath)
            t0, fs, data = _read_e4_csv(raw, where, n_ch)
            out["signals"][modality] = data
            out["sfreq"][modality] = fs
            out["start"][modality] = t0
    finally:
        if zf is not None:
            zf.close()
    return out


def find_double_taps(
    acc: np.ndarray,
    sfreq: float,
    t_min: float,
    t_max: float,
    *,
    min_jerk: float = 40.0,
) -> pd.DataFrame:
    """Find isolated double-tap gestures in a 3-axis accelerometer.

    A double tap is two jerk peaks (sample-to-sample change of the acceleration vector) above
    ``min_jerk`` that are 0.15-1.0 s apart, with no other peak within 3 s on either side.

    Parameters
    ----------
    acc : ndarray of shape (3, n_times)
    sfreq : float
    t_min, t_max : float
        Search window in seconds from the start of ``acc``.
    min_jerk : float, default=40
        Jerk threshold in the accelerometer's units (E4: 1/64 g per sample).

    Returns
    -------
    pandas.DataFrame
        Columns ``time_s`` (first tap), ``gap_s`` and ``amplitude`` (the smaller of the two
        peaks), one row per candidate.
    """
    jerk = np.linalg.norm(np.diff(acc, axis=1), axis=0)
    lo, hi = max(int(t_min * sfreq), 0), min(int(t_max * sfreq), jerk.size)
    cols = ["time_s", "gap_s", "amplitude"]
    if hi <= lo:
        return pd.DataFrame(columns=cols)
    seg = jerk[lo:hi]
    med = np.median(jerk)
    thr = max(min_jerk, med + 10 * np.median(np.abs(jerk - med)))
    above = np.flatnonzero(seg > thr)
    if above.size == 0:
        return pd.DataFrame(columns=cols)
    clusters = np.split(above, np.flatnonzero(np.diff(above) > max(int(0.1 * sfreq), 1)) + 1)
    t = np.array([(lo + c[np.argmax(seg[c])]) / sfreq for c in clusters])
    amp = np.array([seg[c].max() for c in clusters])
    rows = []
    for i in range(len(t) - 1):
        gap = t[i + 1] - t[i]
        before = t[i] - t[i - 1] if i > 0 else np.inf
        after = t[i + 2] - t[i + 1] if i + 2 < len(t) else np.inf
        if 0.15 <= gap <= 1.0 and before > 3.0 and after > 3.0:
            rows.append((t[i], gap, min(amp[i], amp[i + 1])))
    return pd.DataFrame(rows, columns=cols)


def estimate_e4_offset(
    acc: np.ndarray,
    acc_sfreq: float,
    e4_duration_s: float,
    last_end_s: float,
    first_start_s: float,
    *,
    end_margin_s: float = END_MARGIN_S,
    tap_window_s: tuple[float, float] = (-300.0, 30.0),
    min_tap_amplitude: float = 100.0,
) -> dict[str, Any]:
    """Estimate the E4 clock offset of one subject (E4 time = protocol time + offset).

    1. Heuristic (SOURCE.md): the chest recording ends ``end_margin_s`` after the last
       condition's END, at the same time as the E4 export:
       ``offset0 = e4_duration - (last_end + end_margin_s)``.
    2. Refinement: the devices were synchronised with a double tap at the start of the chest
       recording. Among the isolated double taps of the wrist accelerometer within
       ``offset0 + tap_window_s``, the strongest one with amplitude >= ``min_tap_amplitude``
       gives the offset (its time). A refined offset that would put a condition outside the
       recording is rejected. Without a convincing tap, the heuristic is kept.

    Parameters
    ----------
    acc : ndarray of shape (3, n_times)
    acc_sfreq : float
    e4_duration_s : float
    last_end_s, first_start_s : float
        Protocol times (chest clock) of the last END and first START.
    end_margin_s : float, default=60
    tap_window_s : (float, float), default=(-300, 30)
    min_tap_amplitude : float, default=100
        E4 units per sample (1/64 g), about 1.5 g of jerk.

    Returns
    -------
    dict
        ``offset_s``, ``method`` ("tap" or "end-heuristic"), ``offset_heuristic_s``,
        ``tap_time_s``, ``tap_amplitude``, ``n_tap_candidates``.
    """
    offset0 = e4_duration_s - (last_end_s + end_margin_s)
    taps = find_double_taps(acc, acc_sfreq, offset0 + tap_window_s[0], offset0 + tap_window_s[1])
    out = {
        "offset_s": offset0,
        "method": "end-heuristic",
        "offset_heuristic_s": offset0,
        "tap_time_s": np.nan,
        "tap_amplitude": np.nan,
        "n_tap_candidates": len(taps),
    }
    strong = taps[taps["amplitude"] >= min_tap_amplitude]
    if len(strong):
        best = strong.loc[strong["amplitude"].idxmax()]
        t = float(best["time_s"])
        if t + first_start_s >= 0 and t + last_end_s <= e4_duration_s:
            out.update(
                offset_s=t, method="tap", tap_time_s=t, tap_amplitude=float(best["amplitude"])
            )
    return out
