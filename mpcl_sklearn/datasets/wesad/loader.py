"""The WESAD loader: questionnaire, signals and clock offsets of every subject, cut into one
trial per condition.

Each of the five protocol conditions (Base, TSST, Fun, Medi 1, Medi 2) of each subject becomes
one trial, labelled with the subject's own PANAS ratings given after that condition, normalised
to a distribution. Signals come from the E4 wrist export (:mod:`.e4`) or, when present, from the
synchronised pickle ``SX/SX.pkl`` (:mod:`.unpickler`, which adds the RespiBAN chest channels).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..._validation import as_id_list
from ...recordings import Recordings, Trial
from ..emotions import WESAD_SSSQ_ITEMS, WESAD_STAI_ITEMS
from .e4 import estimate_e4_offset, read_e4
from .questionnaire import (
    WesadQuest,
    panas_index,
    quest_path,
    read_wesad_quest,
    read_wesad_readme,
    resolve_emotions,
)
from .release import CONDITION_INFO, WESAD_CONDITIONS, WESADFormatError
from .unpickler import CHEST_RATE, label_runs, load_wesad_pickle, pickle_signals

_BEHAVIOURAL = ("acc", "chest_acc")

#: Condition -> (signals by modality, extra trial meta) of one subject.
_Cuts = dict[str, tuple[dict[str, np.ndarray], dict[str, float]]]


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
        Subject ids (``["S2", ...]``, a list also for one); by default every ``S<number>``
        folder found.
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
    opts = _Options.check(emotions, conditions, source, chest, chest_decimate, on_missing_rating)
    subjects = _find_subjects(root, subjects)
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
        q = read_wesad_quest(quest_path(sdir, subject))
        report.extend(q.notes)
        row, sfreq_subject, cuts = _read_subject(sdir, subject, q, opts, offsets, report)
        info_rows.append(row)
        modal_sets.append(set(sfreq_subject))
        _check_rates(subject, sfreq_subject, sfreq_all)
        trials += _subject_trials(sdir, subject, q, cuts, opts, report)
    sfreq = _keep_common_modalities(trials, modal_sets, sfreq_all, report)
    if not trials:
        raise ValueError(f"no trials loaded from {root} (subjects {subjects})")
    return Recordings(
        trials=trials,
        sfreq=sfreq,
        emotions=opts.names,
        behavioural=tuple(m for m in sfreq if m in _BEHAVIOURAL),
        channel_names={m: (["x", "y", "z"] if m.endswith("acc") else [m]) for m in sfreq},
        report=report,
        info=pd.DataFrame(info_rows).set_index("subject"),
    )


@dataclass(frozen=True)
class _Options:
    """The checked options of one :func:`load_wesad` call."""

    names: list[str]
    items: list[str]
    conditions: list[str]
    source: str
    chest: bool
    chest_decimate: int
    on_missing_rating: str

    @classmethod
    def check(cls, emotions, conditions, source, chest, chest_decimate, on_missing_rating):
        if source not in ("auto", "e4", "pickle"):
            raise ValueError(f"source must be 'auto', 'e4' or 'pickle', got {source!r}")
        if int(chest_decimate) != chest_decimate or chest_decimate < 1:
            raise ValueError(f"chest_decimate must be a positive integer, got {chest_decimate!r}")
        if on_missing_rating not in ("raise", "drop"):
            raise ValueError(
                f"on_missing_rating must be 'raise' or 'drop', got {on_missing_rating!r}"
            )
        conditions = list(conditions)
        bad = [c for c in conditions if c not in WESAD_CONDITIONS]
        if bad or not conditions:
            raise ValueError(f"unknown conditions {bad}; valid: {list(WESAD_CONDITIONS)}")
        names, items = resolve_emotions(emotions)
        return cls(names, items, conditions, source, chest, int(chest_decimate), on_missing_rating)


def _find_subjects(root: Path, subjects: Sequence[str] | None) -> list[str]:
    """The subjects asked for, or every ``S<number>`` folder of ``root`` in numeric order."""
    subjects = as_id_list(subjects, "subjects")
    if subjects is None:
        subjects = sorted(
            (p.name for p in root.iterdir() if p.is_dir() and re.fullmatch(r"S\d+", p.name)),
            key=lambda s: int(s[1:]),
        )
        if not subjects:
            raise FileNotFoundError(f"no subject folders S<number> in {root}")
    return subjects


def _read_subject(
    sdir: Path,
    subject: str,
    q: WesadQuest,
    opts: _Options,
    offsets: Mapping[str, float],
    report: list[str],
) -> tuple[dict[str, Any], dict[str, float], _Cuts]:
    """One subject's ``info`` row, sampling rates and signals cut per condition."""
    pkl = sdir / f"{subject}.pkl"
    use_pickle = opts.source == "pickle" or (opts.source == "auto" and pkl.is_file())
    if opts.source == "pickle" and not pkl.is_file():
        raise FileNotFoundError(f"{subject}: source='pickle' but {pkl} does not exist")
    row: dict[str, Any] = {"subject": subject}
    readme = read_wesad_readme(sdir / f"{subject}_readme.txt")
    if not readme:
        report.append(f"{subject}: no {subject}_readme.txt (demographics unknown)")
    if use_pickle:
        sfreq, cuts = _cut_pickle(sdir, subject, pkl, q, opts, row, report)
    else:
        sfreq, cuts = _cut_e4(sdir, subject, q, opts, offsets, row, report)
    return row | readme, sfreq, cuts


def _cut_pickle(
    sdir: Path,
    subject: str,
    pkl: Path,
    q: WesadQuest,
    opts: _Options,
    row: dict[str, Any],
    report: list[str],
) -> tuple[dict[str, float], _Cuts]:
    """Signals of the synchronised pickle, cut at the stretches of each condition's label code."""
    data = load_wesad_pickle(pkl)
    row["source"] = str(pkl)
    sig_all, sf = pickle_signals(data, pkl, opts.chest)
    label = np.asarray(data["label"]).ravel()
    del data
    dur = label.size / CHEST_RATE
    row |= {"duration_s": dur, "offset_s": 0.0, "offset_method": "pickle (synchronised)"}
    medi = sorted((c for c in q.order if c in ("Medi 1", "Medi 2")), key=q.start_s.get)
    cuts: _Cuts = {}
    for cond in opts.conditions:
        if cond not in q.start_s:
            raise WESADFormatError(f"{quest_path(sdir, subject)}: condition {cond!r} not in ORDER")
        code = CONDITION_INFO[cond][1]
        runs = label_runs(label, code)
        runs = [r for r in runs if (r[1] - r[0]) / CHEST_RATE >= 10.0]
        k = medi.index(cond) if cond in medi else 0
        if len(runs) <= k:
            raise WESADFormatError(
                f"{pkl}: no stretch of label {code} ({cond}) of 10 s or more in 'label'"
            )
        t0, t1 = runs[k][0] / CHEST_RATE, runs[k][1] / CHEST_RATE
        qs, qe = q.start_s[cond], q.end_s[cond]
        if abs(t0 - qs) > 90 or abs(t1 - qe) > 90:
            report.append(
                f"{subject} {cond}: pickle label stretch {t0:.0f}-{t1:.0f} s differs from "
                f"quest START/END {qs:.0f}-{qe:.0f} s by more than 90 s; using the labels"
            )
        sigs = {
            m: _slice(x, sf[m], t0, t1, f"{pkl} {m!r} for {cond!r}") for m, x in sig_all.items()
        }
        if opts.chest_decimate > 1:
            sigs = {
                m: _decimate(x, opts.chest_decimate) if m.startswith("chest_") else x
                for m, x in sigs.items()
            }
        cuts[cond] = (sigs, {})
    if opts.chest_decimate > 1:
        sf = {m: f / opts.chest_decimate if m.startswith("chest_") else f for m, f in sf.items()}
    return sf, cuts


def _cut_e4(
    sdir: Path,
    subject: str,
    q: WesadQuest,
    opts: _Options,
    offsets: Mapping[str, float],
    row: dict[str, Any],
    report: list[str],
) -> tuple[dict[str, float], _Cuts]:
    """Signals of the E4 export, cut at each condition's protocol times plus the clock offset."""
    e4 = read_e4(sdir, subject)
    row["source"] = e4["source"]
    sf = e4["sfreq"]
    t_ref = e4["start"]["acc"]
    dur = min(x.shape[1] / sf[m] for m, x in e4["signals"].items())
    skew = max(e4["start"].values()) - min(e4["start"].values())
    if skew > 1.0:
        report.append(f"{subject}: E4 files start up to {skew:.1f} s apart; aligned by start")
    off = _e4_offset(subject, q, e4, dur, offsets, row, report)
    cuts: _Cuts = {}
    for cond in opts.conditions:
        if cond not in q.start_s:
            raise WESADFormatError(
                f"{quest_path(sdir, subject)}: condition {cond!r} not in ORDER {q.order}"
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
        cuts[cond] = (sigs, {"e4_start_s": t0, "e4_end_s": t1})
    return sf, cuts


def _e4_offset(
    subject: str,
    q: WesadQuest,
    e4: dict[str, Any],
    dur: float,
    offsets: Mapping[str, float],
    row: dict[str, Any],
    report: list[str],
) -> float:
    """The E4 clock offset used (the user's, else the estimate), recorded in ``row``."""
    lab = [c for c in q.order if c in WESAD_CONDITIONS]
    first = min(q.start_s[c] for c in lab)
    last = max(q.end_s[c] for c in lab)
    est = estimate_e4_offset(e4["signals"]["acc"], e4["sfreq"]["acc"], dur, last, first)
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
    tap = (
        f", double tap at {est['tap_time_s']:.1f} s"
        if np.isfinite(est["tap_time_s"])
        else ", no convincing double tap"
    )
    report.append(
        f"{subject}: E4 offset {off:.1f} s ({method}; end-heuristic "
        f"{est['offset_heuristic_s']:.1f} s{tap})"
    )
    return off


def _check_rates(subject: str, sfreq: dict[str, float], sfreq_all: dict[str, float]) -> None:
    """Every modality must have one rate across subjects; records new ones in ``sfreq_all``."""
    for m, f in sfreq.items():
        if m in sfreq_all and not np.isclose(sfreq_all[m], f):
            raise WESADFormatError(
                f"{subject}: modality {m!r} at {f} Hz, other subjects at {sfreq_all[m]} Hz"
            )
        sfreq_all.setdefault(m, f)


def _subject_trials(
    sdir: Path,
    subject: str,
    q: WesadQuest,
    cuts: _Cuts,
    opts: _Options,
    report: list[str],
) -> list[Trial]:
    """One trial per condition with a complete PANAS rating of the chosen emotions."""
    trials = []
    for cond in opts.conditions:
        if cond not in q.panas:
            msg = f"{subject} {cond}: no PANAS row in {quest_path(sdir, subject)}"
            if opts.on_missing_rating == "raise":
                raise WESADFormatError(msg + " (on_missing_rating='drop' drops such trials)")
            report.append(msg + "; trial dropped")
            continue
        panas = q.panas[cond]
        idx = panas_index(panas)
        ratings = np.array([panas[idx[it]] for it in opts.items])
        if np.isnan(ratings).any():
            missing = [n for n, r in zip(opts.names, ratings) if np.isnan(r)]
            msg = (
                f"{subject} {cond}: rating of {missing} missing in "
                f"{quest_path(sdir, subject)}:{q.lines[cond]}"
            )
            if opts.on_missing_rating == "raise":
                raise WESADFormatError(msg + " (on_missing_rating='drop' drops such trials)")
            report.append(msg + "; trial dropped")
            continue
        signals, extra = cuts[cond]
        meta = _trial_meta(q, cond, idx, ratings, extra)
        trials.append(
            Trial(
                subject=subject,
                trial=cond,
                signals=signals,
                label=ratings / ratings.sum(),
                meta=meta,
            )
        )
    return trials


def _trial_meta(
    q: WesadQuest, cond: str, idx: dict[str, int], ratings: np.ndarray, extra: dict[str, float]
) -> dict[str, Any]:
    """``Trial.meta``: what the questionnaire says about one condition, plus ``extra``."""
    panas = q.panas[cond]
    meta: dict[str, Any] = {
        "condition": CONDITION_INFO[cond][0],
        "label_code": CONDITION_INFO[cond][1],
        "protocol_start_s": q.start_s[cond],
        "protocol_end_s": q.end_s[cond],
        "panas": {name: float(panas[i]) for name, i in idx.items()},
        "ratings": ratings,
    }
    meta |= extra
    if cond in q.dim:
        meta["valence"], meta["arousal"] = (float(v) for v in q.dim[cond])
    if cond in q.stai:
        meta |= {f"stai_{k}": float(v) for k, v in zip(WESAD_STAI_ITEMS, q.stai[cond])}
    if cond == "TSST" and q.sssq is not None:
        meta |= {f"sssq_{k}": float(v) for k, v in zip(WESAD_SSSQ_ITEMS, q.sssq)}
    return meta


def _keep_common_modalities(
    trials: list[Trial],
    modal_sets: list[set[str]],
    sfreq_all: dict[str, float],
    report: list[str],
) -> dict[str, float]:
    """Drop modalities some subjects lack (reported); the rates of the ones kept."""
    common = set.intersection(*modal_sets)
    dropped = set.union(*modal_sets) - common
    if dropped:
        report.append(
            f"modalities {sorted(dropped)} are not available for every subject and were dropped"
        )
        for t in trials:
            t.signals = {m: x for m, x in t.signals.items() if m in common}
    return {m: sfreq_all[m] for m in sfreq_all if m in common}


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
