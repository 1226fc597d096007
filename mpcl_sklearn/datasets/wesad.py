"""Loader for WESAD (Schmidt et al., ICMI 2018) as an emotion-distribution dataset.

Each of the five protocol conditions (Base, TSST, Fun, Medi 1, Medi 2) of each subject becomes
one trial, labelled with the subject's own PANAS ratings given after that condition, normalised
to a distribution. Signals come from the Empatica E4 wrist export (``SX/SX_E4_Data/`` or
``SX/SX_E4_Data.zip``) or, when present, from the synchronised pickle ``SX/SX.pkl`` (which adds
the RespiBAN chest channels).

The E4 export starts earlier than the chest recorder, whose clock the questionnaire's condition
times use, so a per-subject clock offset is estimated (see :func:`estimate_e4_offset`),
overridable with ``offsets=``, and reported in ``Recordings.info`` and ``Recordings.report``.
"""

from __future__ import annotations

import io
import pickle
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..recordings import Recordings, Trial
from .emotions import (
    DMER_EMOTIONS,
    DMER_TO_WESAD,
    WESAD_PANAS_ITEMS,
    WESAD_PANAS_ITEMS_TSST,
    WESAD_SSSQ_ITEMS,
    WESAD_STAI_ITEMS,
)

#: The 15 subjects of the public release (S1 and S12 were discarded by the authors).
WESAD_SUBJECTS: tuple[str, ...] = tuple(
    f"S{i}" for i in (2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17)
)

#: The five labelled conditions, as spelled in ``# ORDER``.
WESAD_CONDITIONS: tuple[str, ...] = ("Base", "TSST", "Fun", "Medi 1", "Medi 2")

#: Condition -> (readable name, code in the pickle's 700 Hz ``label`` array).
_CONDITION_INFO: dict[str, tuple[str, int]] = {
    "Base": ("baseline", 1),
    "TSST": ("stress", 2),
    "Fun": ("amusement", 3),
    "Medi 1": ("meditation", 4),
    "Medi 2": ("meditation", 4),
}

#: E4 file -> (modality name, expected channel count).
_E4_FILES: dict[str, tuple[str, int]] = {
    "BVP.csv": ("bvp", 1),
    "EDA.csv": ("eda", 1),
    "TEMP.csv": ("temp", 1),
    "ACC.csv": ("acc", 3),
}

#: Pickle chest key -> modality name.
_CHEST_KEYS: dict[str, str] = {
    "ECG": "chest_ecg",
    "EMG": "chest_emg",
    "EDA": "chest_eda",
    "Temp": "chest_temp",
    "Resp": "chest_resp",
    "ACC": "chest_acc",
}
_PICKLE_WRIST_RATES = {"bvp": 64.0, "eda": 4.0, "temp": 4.0, "acc": 32.0}
_CHEST_RATE = 700.0
_BEHAVIOURAL = ("acc", "chest_acc")

#: Seconds the chest recorder is assumed to run after the last condition's END.
END_MARGIN_S = 60.0


class WESADFormatError(ValueError):
    """A WESAD file is missing or malformed; the message names the file (and line)."""


# ------------------------------------------------------------------------------ quest.csv ---


@dataclass
class WesadQuest:
    """Parsed content of one ``SX_quest.csv``.

    Attributes
    ----------
    subject : str
    order : list of str
        All ``# ORDER`` tokens (conditions and reading segments).
    start_s, end_s : dict of str to float
        Condition start/end in seconds on the chest clock.
    panas, stai, dim : dict of str to ndarray
        Per labelled condition (in ``order``), the questionnaire row (PANAS has 24 or 26 values).
    sssq : ndarray or None
    lines : dict of str to int
        Condition -> 1-based line number of its PANAS row (for error messages).
    """

    subject: str
    order: list[str]
    start_s: dict[str, float]
    end_s: dict[str, float]
    panas: dict[str, np.ndarray] = field(default_factory=dict)
    stai: dict[str, np.ndarray] = field(default_factory=dict)
    dim: dict[str, np.ndarray] = field(default_factory=dict)
    sssq: np.ndarray | None = None
    lines: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def parse_minutes_seconds(token: str, *, where: str = "") -> float:
    """Convert WESAD's minutes.seconds notation to seconds.

    ``"39.55"`` is 39 min 55 s, ``"50.3"`` is 50 min 30 s (a trailing zero dropped by the
    spreadsheet), ``"22"`` is 22 min.

    Parameters
    ----------
    token : str
    where : str
        Location for the error message.

    Returns
    -------
    float
    """
    text = str(token).strip()
    m = re.fullmatch(r"(\d+)(?:\.(\d{1,2}))?", text)
    if not m:
        raise WESADFormatError(f"{where}: {text!r} is not a minutes.seconds time")
    minutes = int(m.group(1))
    seconds = int((m.group(2) or "0").ljust(2, "0"))
    if seconds >= 60:
        raise WESADFormatError(f"{where}: {text!r} has {seconds} seconds (must be < 60)")
    return 60.0 * minutes + seconds


_MISSING_TOKENS = {"", "nan", "na", "n/a", "-"}


def _row_values(cells: list[str], where: str, *, n_allowed: tuple[int, ...], lo, hi, what):
    """Parse one questionnaire row; missing answers ('Nan', empty) become NaN."""
    vals = [c.strip() for c in cells]
    while vals and vals[-1] == "":
        vals.pop()
    if len(vals) not in n_allowed:
        expected = " or ".join(map(str, n_allowed))
        raise WESADFormatError(f"{where}: {what} row has {len(vals)} values, expected {expected}")
    out = np.empty(len(vals))
    for i, v in enumerate(vals):
        if v.lower() in _MISSING_TOKENS:
            out[i] = np.nan
            continue
        try:
            out[i] = float(v)
        except ValueError:
            raise WESADFormatError(
                f"{where}: {what} value {i + 1} is {v!r}, not a number"
            ) from None
        if not (lo <= out[i] <= hi) or out[i] != np.round(out[i]):
            raise WESADFormatError(
                f"{where}: {what} value {i + 1} is {v!r}, outside the integer scale {lo}-{hi}"
            )
    return out


def read_wesad_quest(path: str | Path) -> WesadQuest:
    """Parse a WESAD ``SX_quest.csv``.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    WesadQuest

    Raises
    ------
    WESADFormatError
        On a missing tag row, an unparsable time or rating, or a row with the wrong number of
        values; the message names the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"WESAD questionnaire file not found: {path}")
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    rows: dict[str, list[tuple[int, list[str]]]] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip().startswith("#"):
            continue
        cells = line.strip().lstrip("#").split(";")
        tag = cells[0].strip().upper()
        rows.setdefault(tag, []).append((lineno, cells[1:]))
    for tag in ("ORDER", "START", "END"):
        if tag not in rows:
            raise WESADFormatError(f"{path}: no '# {tag}' row")

    def tokens(tag):
        lineno, cells = rows[tag][0]
        vals = [c.strip() for c in cells]
        while vals and vals[-1] == "":
            vals.pop()
        return lineno, vals

    subj = tokens("SUBJ")[1][0] if "SUBJ" in rows and tokens("SUBJ")[1] else path.parent.name
    l_order, order = tokens("ORDER")
    l_start, start = tokens("START")
    l_end, end = tokens("END")
    if not (len(order) == len(start) == len(end)):
        raise WESADFormatError(
            f"{path}:{l_order}: ORDER has {len(order)} entries but START (line {l_start}) has "
            f"{len(start)} and END (line {l_end}) has {len(end)}"
        )
    start_s = {c: parse_minutes_seconds(v, where=f"{path}:{l_start}") for c, v in zip(order, start)}
    end_s = {c: parse_minutes_seconds(v, where=f"{path}:{l_end}") for c, v in zip(order, end)}
    for c in order:
        if end_s[c] <= start_s[c]:
            raise WESADFormatError(
                f"{path}:{l_end}: condition {c!r} ends ({end[order.index(c)]}) before it starts "
                f"({start[order.index(c)]})"
            )
    q = WesadQuest(subject=subj, order=order, start_s=start_s, end_s=end_s)
    labelled = [c for c in order if c in WESAD_CONDITIONS]
    n_panas = len(WESAD_PANAS_ITEMS)
    specs = {
        "PANAS": (q.panas, (n_panas, n_panas + 2), 1, 5),
        "STAI": (q.stai, (len(WESAD_STAI_ITEMS),), 1, 4),
        "DIM": (q.dim, (2,), 1, 9),
    }
    for tag, (target, n_allowed, lo, hi) in specs.items():
        found = rows.get(tag, [])
        if len(found) != len(labelled):
            q.notes.append(
                f"{path}: {len(found)} '# {tag}' rows for {len(labelled)} conditions {labelled}"
            )
        for cond, (lineno, cells) in zip(labelled, found):
            where = f"{path}:{lineno}"
            target[cond] = _row_values(cells, where, n_allowed=n_allowed, lo=lo, hi=hi, what=tag)
            miss = np.flatnonzero(np.isnan(target[cond]))
            if miss.size:
                q.notes.append(
                    f"{where}: {tag} row for {cond!r} has missing value(s) at position(s) "
                    f"{(miss + 1).tolist()}"
                )
            if tag == "PANAS":
                q.lines[cond] = lineno
                n = target[cond].size
                if (n == n_panas + 2) != (cond == "TSST"):
                    q.notes.append(
                        f"{where}: PANAS row for {cond!r} has {n} values; WESAD asks Angry and "
                        "Irritated (26 values) only after TSST"
                    )
    if "SSSQ" in rows:
        lineno, cells = rows["SSSQ"][0]
        q.sssq = _row_values(
            cells, f"{path}:{lineno}", n_allowed=(len(WESAD_SSSQ_ITEMS),), lo=1, hi=5, what="SSSQ"
        )
    return q


# -------------------------------------------------------------------------------- emotions ---


def _resolve_emotions(emotions: str | Sequence[str]) -> tuple[list[str], list[str]]:
    """Return (label names, WESAD item names) for the ``emotions`` argument."""
    if isinstance(emotions, str):
        if emotions == "dmer10":
            names = list(DMER_EMOTIONS)
            return names, [DMER_TO_WESAD.get(e, e) for e in names]
        if emotions == "all":
            return list(WESAD_PANAS_ITEMS), list(WESAD_PANAS_ITEMS)
        raise ValueError(
            f"emotions={emotions!r}: use 'dmer10', 'all' or a list of item names from "
            f"{list(WESAD_PANAS_ITEMS)} (or 'Upset' for WESAD's 'Annoyed')"
        )
    names = [str(e) for e in emotions]
    valid = set(WESAD_PANAS_ITEMS) | set(DMER_TO_WESAD)
    unknown = [e for e in names if e not in valid]
    if unknown:
        extra = ""
        tsst_only = [e for e in unknown if e in WESAD_PANAS_ITEMS_TSST]
        if tsst_only:
            extra = f" ({tsst_only} are asked only after TSST, so cannot label every condition)"
        raise ValueError(
            f"unknown WESAD emotion names {unknown}{extra}; valid names are "
            f"{sorted(WESAD_PANAS_ITEMS)} plus the DMER alias 'Upset' (= 'Annoyed')"
        )
    if len(set(names)) != len(names) or len(names) < 2:
        raise ValueError(f"emotions must be at least 2 distinct names, got {names}")
    items = [DMER_TO_WESAD.get(e, e) for e in names]
    if len(set(items)) != len(items):
        raise ValueError(f"emotions {names} name the same WESAD item twice ('Upset' = 'Annoyed')")
    return names, items


def _panas_index(cond_row: np.ndarray) -> dict[str, int]:
    items = WESAD_PANAS_ITEMS_TSST if cond_row.size == len(WESAD_PANAS_ITEMS_TSST) else None
    return {name: i for i, name in enumerate(items or WESAD_PANAS_ITEMS)}


# ---------------------------------------------------------------------------------- E4 ---


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


# ---------------------------------------------------------------------------------- loader ---


#: Globals a WESAD ``SX.pkl`` may name: numpy array, dtype and scalar reconstruction (numpy 1.x
#: writes ``numpy.core``, 2.x ``numpy._core``), ``_codecs.encode`` (bytes in protocol-2 pickles
#: written by Python 3) and plain containers. Anything else (``os.system``, ``builtins.eval``,
#: arbitrary classes) is refused: unpickling must never run code from a downloaded file.
_PICKLE_CONTAINERS = ("dict", "list", "tuple", "set", "frozenset", "str", "bytes", "bytearray")
_PICKLE_CONTAINERS += ("int", "float", "complex", "bool")
#: Python 2 builtins -> Python 3 names.
_PY2_BUILTINS = {"unicode": "str", "long": "int"}
_PICKLE_ALLOWED: frozenset[tuple[str, str]] = frozenset(
    [
        (core + ".multiarray", name)
        for core in ("numpy.core", "numpy._core")
        for name in ("_reconstruct", "scalar")
    ]
    + [(core + ".numeric", "_frombuffer") for core in ("numpy.core", "numpy._core")]
    + [("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")]
    + [("builtins", name) for name in _PICKLE_CONTAINERS]
    + [("__builtin__", name) for name in (*_PICKLE_CONTAINERS, *_PY2_BUILTINS)]
)


_NUMPY2 = int(np.__version__.split(".")[0]) >= 2


class _WesadUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals in :data:`_PICKLE_ALLOWED`."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _PICKLE_ALLOWED:
            raise pickle.UnpicklingError(
                f"refused global {module}.{name}: a WESAD pickle holds only numpy arrays, "
                "dicts and strings (the file may be corrupt or malicious)"
            )
        if module.startswith("numpy.core") and _NUMPY2:
            module = "numpy._core" + module[len("numpy.core") :]  # avoid the deprecated alias
        elif module == "__builtin__":  # written by Python 2
            module, name = "builtins", _PY2_BUILTINS.get(name, name)
        return super().find_class(module, name)


def _load_pickle(path: Path) -> dict:
    """Read a WESAD ``SX.pkl`` (written by Python 2: ``encoding="latin1"``) safely.

    Only numpy arrays, dicts, lists and strings are reconstructed (:class:`_WesadUnpickler`);
    a pickle naming any other global raises :class:`WESADFormatError` without running it.
    """
    with open(path, "rb") as fh:
        try:
            data = _WesadUnpickler(fh, encoding="latin1").load()
        except Exception as exc:  # noqa: BLE001 - re-raised with the file name
            raise WESADFormatError(
                f"{path}: cannot unpickle ({type(exc).__name__}: {exc})"
            ) from exc
    if not isinstance(data, dict) or not {"signal", "label"} <= set(data):
        raise WESADFormatError(f"{path}: expected a dict with 'signal' and 'label' keys")
    return data


def _label_runs(label: np.ndarray, code: int) -> list[tuple[int, int]]:
    m = np.concatenate([[False], label == code, [False]])
    d = np.flatnonzero(np.diff(m.astype(int)))
    return list(zip(d[::2], d[1::2]))


def load_wesad(
    path: str | Path,
    subjects: Sequence[str] | None = None,
    *,
    emotions: str | Sequence[str] = "dmer10",
    conditions: Sequence[str] = WESAD_CONDITIONS,
    offsets: Mapping[str, float] | None = None,
    source: str = "auto",
    chest: bool = True,
    chest_decimate: int = 1,
    on_missing_rating: str = "drop",
) -> Recordings:
    """Load WESAD as trials (one per subject and condition) with PANAS emotion distributions.

    Parameters
    ----------
    path : str or Path
        Folder holding the ``SX`` subject folders.
    subjects : sequence of str, optional
        Subject ids (``"S2"``...); by default every ``S<number>`` folder found.
    emotions : {"dmer10", "all"} or list of str, default="dmer10"
        ``"dmer10"``: DMER's 10 items (Inspired, Alert, Excited, Enthusiastic, Determined, Afraid,
        Upset, Nervous, Scared, Distressed); WESAD asked "Annoyed" in place of PANAS's "Upset", so
        the label "Upset" holds the "Annoyed" rating. ``"all"``: the 24 items asked after every
        condition. A list: WESAD item names (``"Upset"`` accepted for ``"Annoyed"``).
    conditions : sequence of str, default=("Base", "TSST", "Fun", "Medi 1", "Medi 2")
        Conditions to load (``# ORDER`` spelling).
    offsets : dict of str to float, optional
        Per-subject E4 clock offset in seconds (E4 time = protocol time + offset), overriding
        the estimate. Ignored for subjects read from the pickle (already synchronised).
    source : {"auto", "e4", "pickle"}, default="auto"
        ``"auto"`` uses ``SX/SX.pkl`` where present and the E4 export otherwise.
    chest : bool, default=True
        With the pickle, also load the chest (RespiBAN, 700 Hz) channels. If only some subjects
        have a pickle, chest channels are dropped (all trials must share modalities) and this is
        reported.
    chest_decimate : int, default=1
        Keep every ``chest_decimate``-th chest sample after an anti-aliasing filter
        (``scipy.signal.decimate``); e.g. 7 gives 100 Hz and a 7x smaller memory footprint
        (the 700 Hz chest channels of 15 subjects take about 2 GB).
    on_missing_rating : {"drop", "raise"}, default="drop"
        A condition without a PANAS row, or whose PANAS row misses a rating of one of the
        selected ``emotions`` (S5 has a ``Nan``): drop that trial (and say so in ``report``), or
        raise naming the file and line. Missing ratings of unselected items only get a report
        line.

    Returns
    -------
    Recordings
        Modalities ``bvp`` (64 Hz), ``eda``, ``temp`` (4 Hz), ``acc`` (32 Hz, behavioural), plus
        ``chest_*`` at 700 Hz from the pickle. Trial ids are the condition names; ``meta`` holds
        ``condition``, ``label_code``, SAM ``valence``/``arousal``, ``stai_*``, ``sssq_*`` (TSST),
        the full ``panas`` dict and the protocol times. ``info`` has one row per subject with
        the source, E4 duration, estimated and used offsets and the method, the time the E4
        recorded after the last condition, and the demographics and notes of ``SX_readme.txt``.

    Raises
    ------
    FileNotFoundError
        Missing folder or file (named).
    WESADFormatError
        Malformed questionnaire or E4 file (file and line named), or a condition outside the
        recording.
    ValueError
        Unknown emotion, condition or option.
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"WESAD folder not found: {root}")
    if source not in ("auto", "e4", "pickle"):
        raise ValueError(f"source must be 'auto', 'e4' or 'pickle', got {source!r}")
    if int(chest_decimate) != chest_decimate or chest_decimate < 1:
        raise ValueError(f"chest_decimate must be a positive integer, got {chest_decimate!r}")
    chest_decimate = int(chest_decimate)
    if on_missing_rating not in ("raise", "drop"):
        raise ValueError(f"on_missing_rating must be 'raise' or 'drop', got {on_missing_rating!r}")
    conditions = list(conditions)
    bad = [c for c in conditions if c not in WESAD_CONDITIONS]
    if bad or not conditions:
        raise ValueError(f"unknown conditions {bad}; valid: {list(WESAD_CONDITIONS)}")
    names, items = _resolve_emotions(emotions)
    if subjects is None:
        subjects = sorted(
            (p.name for p in root.iterdir() if p.is_dir() and re.fullmatch(r"S\d+", p.name)),
            key=lambda s: int(s[1:]),
        )
        if not subjects:
            raise FileNotFoundError(f"no subject folders S<number> in {root}")
    subjects = [str(s) for s in subjects]
    offsets = dict(offsets or {})
    unknown_off = set(offsets).difference(subjects)
    if unknown_off:
        raise ValueError(f"offsets given for subjects not loaded: {sorted(unknown_off)}")

    report: list[str] = []
    if emotions == "dmer10":
        report.append("emotions: DMER's 10 items; label 'Upset' = WESAD's 'Annoyed' rating")
    trials: list[Trial] = []
    info_rows = []
    sfreq_all: dict[str, float] = {}
    modal_sets = []
    for subject in subjects:
        sdir = root / subject
        if not sdir.is_dir():
            raise FileNotFoundError(f"subject folder not found: {sdir}")
        q = read_wesad_quest(sdir / f"{subject}_quest.csv")
        report.extend(q.notes)
        pkl = sdir / f"{subject}.pkl"
        use_pickle = source == "pickle" or (source == "auto" and pkl.is_file())
        if source == "pickle" and not pkl.is_file():
            raise FileNotFoundError(f"{subject}: source='pickle' but {pkl} does not exist")
        row: dict[str, Any] = {"subject": subject}
        readme = read_wesad_readme(sdir / f"{subject}_readme.txt")
        if not readme:
            report.append(f"{subject}: no {subject}_readme.txt (demographics unknown)")
        cut: dict[str, tuple[dict[str, np.ndarray], dict]] = {}
        if use_pickle:
            data = _load_pickle(pkl)
            row["source"] = str(pkl)
            sig_all, sf = _pickle_signals(data, pkl, chest)
            label = np.asarray(data["label"]).ravel()
            del data
            dur = label.size / _CHEST_RATE
            row |= {"duration_s": dur, "offset_s": 0.0, "offset_method": "pickle (synchronised)"}
            medi = sorted((c for c in q.order if c in ("Medi 1", "Medi 2")), key=q.start_s.get)
            for cond in conditions:
                if cond not in q.start_s:
                    raise WESADFormatError(
                        f"{_quest_path(sdir, subject)}: condition {cond!r} not in ORDER"
                    )
                code = _CONDITION_INFO[cond][1]
                runs = _label_runs(label, code)
                runs = [r for r in runs if (r[1] - r[0]) / _CHEST_RATE >= 10.0]
                k = medi.index(cond) if cond in medi else 0
                if len(runs) <= k:
                    raise WESADFormatError(
                        f"{pkl}: no stretch of label {code} ({cond}) of 10 s or more in 'label'"
                    )
                t0, t1 = runs[k][0] / _CHEST_RATE, runs[k][1] / _CHEST_RATE
                qs, qe = q.start_s[cond], q.end_s[cond]
                if abs(t0 - qs) > 90 or abs(t1 - qe) > 90:
                    report.append(
                        f"{subject} {cond}: pickle label stretch {t0:.0f}-{t1:.0f} s differs from "
                        f"quest START/END {qs:.0f}-{qe:.0f} s by more than 90 s; using the labels"
                    )
                sigs = {
                    m: _slice(x, sf[m], t0, t1, f"{pkl} {m!r} for {cond!r}")
                    for m, x in sig_all.items()
                }
                if chest_decimate > 1:
                    sigs = {
                        m: _decimate(x, chest_decimate) if m.startswith("chest_") else x
                        for m, x in sigs.items()
                    }
                cut[cond] = (sigs, {})
            if chest_decimate > 1:
                sf = {m: f / chest_decimate if m.startswith("chest_") else f for m, f in sf.items()}
            sfreq_subject = sf
        else:
            e4 = read_e4(sdir, subject)
            row["source"] = e4["source"]
            sf = e4["sfreq"]
            t_ref = e4["start"]["acc"]
            durs = {m: x.shape[1] / sf[m] for m, x in e4["signals"].items()}
            dur = min(durs.values())
            skew = max(e4["start"].values()) - min(e4["start"].values())
            if skew > 1.0:
                report.append(
                    f"{subject}: E4 files start up to {skew:.1f} s apart; aligned by start"
                )
            lab = [c for c in q.order if c in WESAD_CONDITIONS]
            first = min(q.start_s[c] for c in lab)
            last = max(q.end_s[c] for c in lab)
            est = estimate_e4_offset(e4["signals"]["acc"], sf["acc"], dur, last, first)
            row |= {
                "duration_s": dur,
                "offset_heuristic_s": est["offset_heuristic_s"],
                "tap_time_s": est["tap_time_s"],
                "tap_amplitude": est["tap_amplitude"],
                "n_tap_candidates": est["n_tap_candidates"],
            }
            if subject in offsets:
                off, method = float(offsets[subject]), "user"
            else:
                off, method = est["offset_s"], est["method"]
            row |= {
                "offset_s": off,
                "offset_method": method,
                "first_start_s": first,
                "last_end_s": last,
                "e4_after_last_end_s": dur - (off + last),
            }
            report.append(
                f"{subject}: E4 offset {off:.1f} s ({method}; end-heuristic "
                f"{est['offset_heuristic_s']:.1f} s"
                + (
                    f", double tap at {est['tap_time_s']:.1f} s"
                    if np.isfinite(est["tap_time_s"])
                    else ", no convincing double tap"
                )
                + ")"
            )
            for cond in conditions:
                if cond not in q.start_s:
                    raise WESADFormatError(
                        f"{_quest_path(sdir, subject)}: condition {cond!r} not in ORDER {q.order}"
                    )
                t0, t1 = q.start_s[cond] + off, q.end_s[cond] + off
                if t0 < 0 or t1 > dur:
                    raise WESADFormatError(
                        f"{subject}: condition {cond!r} (protocol {q.start_s[cond]:.0f}-"
                        f"{q.end_s[cond]:.0f} s, E4 {t0:.0f}-{t1:.0f} s with offset {off:.1f} s) "
                        f"lies outside the E4 recording (0-{dur:.0f} s, {row['source']}); "
                        f"pass offsets={{{subject!r}: ...}} to fix the clock offset"
                    )
                sigs = {
                    m: _slice(
                        x,
                        sf[m],
                        t0 - (e4["start"][m] - t_ref),
                        t1 - (e4["start"][m] - t_ref),
                        f"{subject} E4 {m!r} for {cond!r}",
                    )
                    for m, x in e4["signals"].items()
                }
                cut[cond] = (sigs, {"e4_start_s": t0, "e4_end_s": t1})
            sfreq_subject = sf
        info_rows.append(row | readme)
        modal_sets.append(set(sfreq_subject))
        for m, f in sfreq_subject.items():
            if m in sfreq_all and not np.isclose(sfreq_all[m], f):
                raise WESADFormatError(
                    f"{subject}: modality {m!r} at {f} Hz, other subjects at {sfreq_all[m]} Hz"
                )
            sfreq_all.setdefault(m, f)
        for cond in conditions:
            if cond not in q.panas:
                msg = f"{subject} {cond}: no PANAS row in {_quest_path(sdir, subject)}"
                if on_missing_rating == "raise":
                    raise WESADFormatError(msg + " (on_missing_rating='drop' drops such trials)")
                report.append(msg + "; trial dropped")
                continue
            panas = q.panas[cond]
            idx = _panas_index(panas)
            ratings = np.array([panas[idx[it]] for it in items])
            if np.isnan(ratings).any():
                missing = [n for n, r in zip(names, ratings) if np.isnan(r)]
                msg = (
                    f"{subject} {cond}: rating of {missing} missing in "
                    f"{_quest_path(sdir, subject)}:{q.lines[cond]}"
                )
                if on_missing_rating == "raise":
                    raise WESADFormatError(msg + " (on_missing_rating='drop' drops such trials)")
                report.append(msg + "; trial dropped")
                continue
            meta: dict[str, Any] = {
                "condition": _CONDITION_INFO[cond][0],
                "label_code": _CONDITION_INFO[cond][1],
                "protocol_start_s": q.start_s[cond],
                "protocol_end_s": q.end_s[cond],
                "panas": {name: float(panas[i]) for name, i in idx.items()},
                "ratings": ratings,
            }
            meta |= cut[cond][1]
            if cond in q.dim:
                meta["valence"], meta["arousal"] = (float(v) for v in q.dim[cond])
            if cond in q.stai:
                meta |= {f"stai_{k}": float(v) for k, v in zip(WESAD_STAI_ITEMS, q.stai[cond])}
            if cond == "TSST" and q.sssq is not None:
                meta |= {f"sssq_{k}": float(v) for k, v in zip(WESAD_SSSQ_ITEMS, q.sssq)}
            trials.append(
                Trial(
                    subject=subject,
                    trial=cond,
                    signals=cut[cond][0],
                    label=ratings / ratings.sum(),
                    meta=meta,
                )
            )
    common = set.intersection(*modal_sets)
    dropped = set.union(*modal_sets) - common
    if dropped:
        report.append(
            f"modalities {sorted(dropped)} are not available for every subject and were dropped"
        )
        for t in trials:
            t.signals = {m: x for m, x in t.signals.items() if m in common}
    sfreq = {m: sfreq_all[m] for m in sfreq_all if m in common}
    if not trials:
        raise ValueError(f"no trials loaded from {root} (subjects {subjects})")
    return Recordings(
        trials=trials,
        sfreq=sfreq,
        emotions=names,
        behavioural=tuple(m for m in sfreq if m in _BEHAVIOURAL),
        channel_names={m: (["x", "y", "z"] if m.endswith("acc") else [m]) for m in sfreq},
        report=report,
        info=pd.DataFrame(info_rows).set_index("subject"),
    )


_README_FIELDS = {
    "age": "age",
    "height (cm)": "height_cm",
    "weight (kg)": "weight_kg",
    "gender": "gender",
    "dominant hand": "dominant_hand",
    "did you drink coffee today?": "coffee_today",
    "did you drink coffee within the last hour?": "coffee_last_hour",
    "did you do any sports today?": "sport_today",
    "are you a smoker?": "smoker",
    "did you smoke within the last hour?": "smoked_last_hour",
    "do you feel ill today?": "ill_today",
}


def read_wesad_readme(path: str | Path) -> dict[str, Any]:
    """Parse a subject's ``SX_readme.txt`` (demographics, pre-requisites, notes).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict
        ``age``, ``height_cm``, ``weight_kg`` (floats), ``gender``, ``dominant_hand``,
        yes/no answers as booleans, and ``notes`` (the free-text notes joined by " | ").
        Missing fields are absent; an absent file gives an empty dict.
    """
    path = Path(path)
    if not path.is_file():
        return {}
    out: dict[str, Any] = {}
    notes: list[str] = []
    in_notes = False
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        text = line.strip()
        if not text:
            continue
        if text.startswith("###"):
            in_notes = "note" in text.lower()
            continue
        if in_notes:
            notes.append(text.lstrip("- "))
            continue
        for key, name in _README_FIELDS.items():
            if text.lower().startswith(key):
                value = text[len(key) :].lstrip(":").strip()
                if name in ("age", "height_cm", "weight_kg"):
                    try:
                        out[name] = float(value)
                    except ValueError:
                        out[name] = np.nan
                elif value.upper() in ("YES", "NO"):
                    out[name] = value.upper() == "YES"
                else:
                    out[name] = value
                break
    out["notes"] = " | ".join(notes)
    return out


def _quest_path(sdir: Path, subject: str) -> Path:
    """Path of a subject's questionnaire file."""
    return sdir / f"{subject}_quest.csv"


def _slice(x: np.ndarray, fs: float, t0: float, t1: float, where: str = "") -> np.ndarray:
    """Samples of ``x`` in [t0, t1) seconds; raises if the recording misses more than 1 s."""
    i0 = int(round(t0 * fs))
    n = int(round((t1 - t0) * fs))
    out = x[:, max(i0, 0) : i0 + n]
    if i0 < 0 or out.shape[1] < n - max(1.0, fs):
        raise WESADFormatError(
            f"{where}: the recording ({x.shape[1] / fs:.1f} s at {fs:g} Hz) does not cover "
            f"{t0:.1f}-{t1:.1f} s"
        )
    return np.ascontiguousarray(out, dtype=np.float64)


def _decimate(x: np.ndarray, q: int) -> np.ndarray:
    from scipy.signal import decimate

    return np.ascontiguousarray(decimate(x, q, axis=1, zero_phase=True), dtype=np.float64)


def _pickle_signals(data: dict, pkl: Path, chest: bool):
    try:
        wrist = data["signal"]["wrist"]
    except (KeyError, TypeError):
        raise WESADFormatError(f"{pkl}: no signal['wrist']") from None
    sigs, sf = {}, {}
    for key, m in (("BVP", "bvp"), ("EDA", "eda"), ("TEMP", "temp"), ("ACC", "acc")):
        if key not in wrist:
            raise WESADFormatError(f"{pkl}: signal['wrist'] has no {key!r}")
        sigs[m] = np.asarray(wrist[key], dtype=float).reshape(len(wrist[key]), -1).T
        sf[m] = _PICKLE_WRIST_RATES[m]
    if chest:
        ch = data["signal"].get("chest", {})
        for key, m in _CHEST_KEYS.items():
            if key in ch:
                sigs[m] = np.asarray(ch[key], dtype=float).reshape(len(ch[key]), -1).T
                sf[m] = _CHEST_RATE
    return sigs, sf
