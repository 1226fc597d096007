"""A WESAD subject's self-reports: ``SX_quest.csv`` (protocol times, PANAS, STAI, SAM, SSSQ)
and ``SX_readme.txt`` (demographics), and the choice of PANAS items used as emotion labels.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..emotions import (
    DMER_EMOTIONS,
    DMER_TO_WESAD,
    WESAD_PANAS_ITEMS,
    WESAD_PANAS_ITEMS_TSST,
    WESAD_SSSQ_ITEMS,
    WESAD_STAI_ITEMS,
)
from .release import WESAD_CONDITIONS, WESADFormatError


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
    rows = _tag_rows(path)
    q = _protocol(path, rows)
    _add_questionnaires(path, rows, q)
    return q


#: ``# TAG`` -> its rows as (1-based line number, cells after the tag).
_TagRows = dict[str, list[tuple[int, list[str]]]]


def _tag_rows(path: Path) -> _TagRows:
    """The ``# TAG;...`` rows of the file, grouped by upper-cased tag."""
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    rows: _TagRows = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip().startswith("#"):
            continue
        cells = line.strip().lstrip("#").split(";")
        tag = cells[0].strip().upper()
        rows.setdefault(tag, []).append((lineno, cells[1:]))
    for tag in ("ORDER", "START", "END"):
        if tag not in rows:
            raise WESADFormatError(f"{path}: no '# {tag}' row")
    return rows


def _tokens(rows: _TagRows, tag: str) -> tuple[int, list[str]]:
    """Line number and stripped cells of the first ``tag`` row, trailing empty cells dropped."""
    lineno, cells = rows[tag][0]
    vals = [c.strip() for c in cells]
    while vals and vals[-1] == "":
        vals.pop()
    return lineno, vals


def _protocol(path: Path, rows: _TagRows) -> WesadQuest:
    """Subject, ``# ORDER`` and the START/END times of every condition."""
    has_subj = "SUBJ" in rows and _tokens(rows, "SUBJ")[1]
    subj = _tokens(rows, "SUBJ")[1][0] if has_subj else path.parent.name
    l_order, order = _tokens(rows, "ORDER")
    l_start, start = _tokens(rows, "START")
    l_end, end = _tokens(rows, "END")
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
    return WesadQuest(subject=subj, order=order, start_s=start_s, end_s=end_s)


def _add_questionnaires(path: Path, rows: _TagRows, q: WesadQuest) -> None:
    """Fill ``q``'s PANAS, STAI, SAM (``DIM``) and SSSQ rows and its notes."""
    labelled = [c for c in q.order if c in WESAD_CONDITIONS]
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


def resolve_emotions(emotions: str | Sequence[str]) -> tuple[list[str], list[str]]:
    """Return (label names, WESAD item names) for the ``emotions`` argument."""
    if isinstance(emotions, set | frozenset | Mapping):
        raise TypeError(
            f"emotions must be a list of names in label order, got a {type(emotions).__name__} "
            "(no order)"
        )
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


def panas_index(cond_row: np.ndarray) -> dict[str, int]:
    """PANAS item name -> position in a row of 24 items (26 after TSST)."""
    items = WESAD_PANAS_ITEMS_TSST if cond_row.size == len(WESAD_PANAS_ITEMS_TSST) else None
    return {name: i for i, name in enumerate(items or WESAD_PANAS_ITEMS)}


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


def quest_path(subject_dir: Path, subject: str) -> Path:
    """Path of a subject's questionnaire file."""
    return subject_dir / f"{subject}_quest.csv"
