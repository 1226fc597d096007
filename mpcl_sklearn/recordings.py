"""The recordings structure: continuous multimodal trials with one emotion distribution each.

Loaders (``load_wesad``, ``load_dmer_raw``, ``make_mixed_emotion_recordings``)
return a :class:`Recordings`; :func:`mpcl_sklearn.make_windows` cuts it into labelled windows.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._columns import SEP
from ._validation import (
    as_id_list,
    as_real_array,
    check_distinct_as_text,
    check_sampling_rate,
    is_id,
)

#: Default tolerance for "rows sum to 1".
SUM_TOL = 1e-6

#: Within one trial, the durations (``n_times / sfreq``) of the modalities may differ by at most
#: this many seconds plus one sample of each of the two modalities compared (their rounding).
#: Recordings of one session end at slightly different times; a larger difference means a wrong
#: sampling rate (a 32 Hz signal declared 4 Hz "lasts" 8 times longer) or a truncated signal.
DURATION_TOLERANCE_S = 1.0


@dataclass(repr=False)
class Trial:
    """One continuous trial (condition, clip) of one subject.

    Parameters
    ----------
    subject : str
        Subject identifier (used as the CV group).
    trial : str
        Trial identifier, unique within the subject.
    signals : dict of str to ndarray
        Modality name -> float array of shape ``(n_channels, n_times)`` at that modality's
        sampling rate (``Recordings.sfreq[modality]``). All modalities start at the same instant.
    label : ndarray of shape (n_emotions,)
        The trial's emotion distribution (non-negative, sums to 1).
    meta : dict
        Anything else known about the trial (condition name, valence, arousal, STAI, ...).
    """

    subject: str
    trial: str
    signals: dict[str, np.ndarray]
    label: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def duration_s(self, sfreq: Mapping[str, float]) -> float:
        """Length in seconds of the shortest modality of this trial."""
        return min(sig.shape[-1] / sfreq[m] for m, sig in self.signals.items())

    def __repr__(self) -> str:
        shapes = ", ".join(
            f"{m} {tuple(getattr(x, 'shape', ()))}" for m, x in dict(self.signals).items()
        )
        label = np.array2string(np.asarray(self.label), precision=3, threshold=12)
        meta = f"; meta {sorted(map(str, self.meta))}" if self.meta else ""
        return f"Trial({self.subject!r}, {self.trial!r}; signals {shapes}; label {label}{meta})"


def _copy_trial(t: Trial) -> Trial:
    """A trial that shares no array, list or dict with ``t``."""
    return Trial(
        subject=t.subject,
        trial=t.trial,
        signals={m: np.array(x, copy=True) for m, x in t.signals.items()},
        label=np.array(t.label, copy=True),
        meta=copy.deepcopy(t.meta),
    )


def check_durations(trial: Trial, sfreq: Mapping[str, float], where: str = "") -> None:
    """Refuse a trial whose modalities' durations differ beyond :data:`DURATION_TOLERANCE_S`.

    Raises
    ------
    ValueError
        Naming the shortest and the longest modality, their durations, samples and rates.
    """
    if len(trial.signals) < 2:
        return
    dur = {m: x.shape[-1] / sfreq[m] for m, x in trial.signals.items()}
    short, long = min(dur, key=dur.get), max(dur, key=dur.get)
    tol = DURATION_TOLERANCE_S + 1.0 / sfreq[short] + 1.0 / sfreq[long]
    if dur[long] - dur[short] > tol:
        n = {m: trial.signals[m].shape[-1] for m in (short, long)}
        where = where or f"trial {trial.trial!r} of subject {trial.subject!r}"
        raise ValueError(
            f"{where}: modality {long!r} lasts {dur[long]:.6g} s ({n[long]} samples at "
            f"{sfreq[long]:g} Hz) but {short!r} lasts {dur[short]:.6g} s ({n[short]} samples at "
            f"{sfreq[short]:g} Hz); within a trial the durations may differ by at most "
            f"{tol:.6g} s (DURATION_TOLERANCE_S plus one sample of each). Check the sampling "
            "rates in sfreq, or trim the longer signals"
        )


def _check_channel_names(channel_names, sfreq: Mapping[str, float]) -> dict[str, list[str]]:
    """``channel_names`` as ``{modality: [names]}``; a ValueError for an unknown modality, a
    string instead of a list, names that are not distinct strings."""
    if channel_names is None:
        return {}
    if not isinstance(channel_names, Mapping):
        raise ValueError(
            "channel_names must be a dict {modality: [channel names]}, got "
            f"{type(channel_names).__name__}"
        )
    unknown = [m for m in channel_names if m not in sfreq]
    if unknown:
        raise ValueError(
            f"channel_names names modalities {unknown} that are not in sfreq {list(sfreq)}"
        )
    out = {}
    for m, names in channel_names.items():
        if isinstance(names, str | bytes) or not isinstance(names, Sequence | np.ndarray):
            raise ValueError(f"channel_names[{m!r}] must be a list of channel names, got {names!r}")
        names = list(names)
        if not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
            raise ValueError(
                f"channel_names[{m!r}] must hold distinct non-empty strings, got {names!r}"
            )
        out[m] = names
    return out


@dataclass(repr=False)
class Recordings:
    """A set of trials sharing one modality layout and one emotion label space.

    Parameters
    ----------
    trials : list of Trial
    sfreq : dict of str to float
        Sampling rate in Hz of every modality.
    emotions : list of str
        Names of the emotions, in label order.
    behavioural : tuple of str
        Modalities that are behavioural (face, accelerometer); the others are physiological.
    channel_names : dict of str to list of str, optional
        Channel names per modality.
    report : list of str
        Human-readable notes on what the loader found and did (missing ratings, estimated clock
        offsets, dropped trials). Never silently empty when something was changed.
    info : pandas.DataFrame, optional
        Per-subject table (e.g. estimated clock offsets, demographics).
    """

    trials: list[Trial]
    sfreq: dict[str, float]
    emotions: list[str]
    behavioural: tuple[str, ...] = ()
    channel_names: dict[str, list[str]] = field(default_factory=dict)
    report: list[str] = field(default_factory=list)
    info: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        self.validate()

    def __repr__(self) -> str:
        first = self.trials[0].signals if self.trials else {}
        mods = ", ".join(
            f"{m} {f:g} Hz"
            + (f" x{first[m].shape[0]} ch" if hasattr(first.get(m), "shape") else "")
            for m, f in self.sfreq.items()
        )
        try:
            seconds = sum(t.duration_s(self.sfreq) for t in self.trials)
            total = f", {seconds / 60:.1f} min" if seconds < 7200 else f", {seconds / 3600:.1f} h"
        except (KeyError, ZeroDivisionError, TypeError, AttributeError, ValueError, IndexError):
            total = ""
        emotions = list(self.emotions)
        shown = emotions if len(emotions) <= 6 else [*emotions[:5], "..."]
        return (
            f"Recordings({len(self.trials)} trials of {len(self.subjects)} subjects{total}; "
            f"modalities {mods}; behavioural {tuple(self.behavioural)}; {len(emotions)} "
            f"emotions {shown}; {len(self.report)} report lines)"
        )

    def __len__(self) -> int:
        return len(self.trials)

    def __iter__(self) -> Iterator[Trial]:
        return iter(self.trials)

    @property
    def modalities(self) -> list[str]:
        """Modality names, in the order of ``sfreq``."""
        return list(self.sfreq)

    @property
    def subjects(self) -> list[str]:
        """Subject ids, in first-appearance order."""
        return list(dict.fromkeys(t.subject for t in self.trials))

    def subset(self, subjects: Sequence[str]) -> Recordings:
        """Return a copy holding the recordings of the given subjects only (a list; the copy
        shares no array with ``self``)."""
        keep = as_id_list(subjects, "subjects")
        if keep is None:
            raise TypeError("subjects must be a list of subject ids, got None")
        have = [str(s) for s in self.subjects]
        unknown = [s for s in keep if s not in have]
        if unknown:
            raise ValueError(f"Unknown subjects {unknown}; have {have}")
        return Recordings(
            trials=[_copy_trial(t) for t in self.trials if str(t.subject) in keep],
            sfreq=dict(self.sfreq),
            emotions=list(self.emotions),
            behavioural=tuple(self.behavioural),
            channel_names=copy.deepcopy(dict(self.channel_names)),
            report=list(self.report),
            info=None if self.info is None else self.info.copy(),
        )

    def validate(self) -> None:
        """Check the structure; raise ``ValueError`` naming the first problem found.

        Checked: sampling rates (positive, finite numbers), modality and emotion names
        (distinct strings, modality names without ``"__"``), subject and trial ids (strings or
        integers; two that differ but read the same as text, such as ``1`` and ``"1"``, are
        refused, since windows and groups use the text), signals (2-D arrays of real numbers),
        the durations of each trial's modalities (within :data:`DURATION_TOLERANCE_S`), the
        channel names (a list of distinct strings per known modality, one per channel of every
        trial) and the labels (distributions).
        """
        if not isinstance(self.sfreq, Mapping) or not self.sfreq:
            raise ValueError("Recordings.sfreq is empty: at least one modality is needed")
        for m, f in self.sfreq.items():
            if not isinstance(m, str) or not m or SEP in m:
                raise ValueError(
                    f"modality names must be non-empty strings without {SEP!r} (it separates "
                    f"the parts of feature names), got {m!r}"
                )
            check_sampling_rate(f, f"modality {m!r}")
        sfreq = {m: float(f) for m, f in self.sfreq.items()}
        if isinstance(self.behavioural, str):
            raise ValueError(
                f"behavioural must be a tuple of modality names, not the string "
                f"{self.behavioural!r}; pass ({self.behavioural!r},)"
            )
        behavioural = tuple(self.behavioural)
        unknown_beh = [b for b in behavioural if b not in sfreq]
        if unknown_beh:
            raise ValueError(f"behavioural modalities {unknown_beh} are not in sfreq {list(sfreq)}")
        channel_names = _check_channel_names(self.channel_names, sfreq)
        emotions = list(self.emotions)
        n_emotions = len(emotions)
        if n_emotions < 2:
            raise ValueError(f"need at least 2 emotions, got {self.emotions!r}")
        if not all(isinstance(e, str) for e in emotions) or len(set(emotions)) != n_emotions:
            raise ValueError(f"emotions must be distinct strings, got {emotions!r}")
        for t in self.trials:
            if not isinstance(t, Trial):
                raise ValueError(f"Recordings.trials must hold Trial objects, got {t!r}")
            for kind, v in (("subject", t.subject), ("trial", t.trial)):
                if not is_id(v):
                    raise ValueError(
                        f"{kind} ids must be strings or integers, got {v!r} ({type(v).__name__})"
                    )
        check_distinct_as_text([t.subject for t in self.trials], "subjects")
        seen: set[tuple[str, str]] = set()
        for t in self.trials:
            where = f"trial {t.trial!r} of subject {t.subject!r}"
            key = (str(t.subject), str(t.trial))
            if key in seen:
                raise ValueError(
                    f"duplicate {where} (trial ids are compared as text, unique per subject)"
                )
            seen.add(key)
            if not isinstance(t.signals, Mapping) or set(t.signals) != set(sfreq):
                raise ValueError(
                    f"{where} has modalities {sorted(map(str, t.signals))}, expected "
                    f"{sorted(sfreq)}"
                )
            for m, sig in t.signals.items():
                if not isinstance(sig, np.ndarray) or sig.ndim != 2:
                    raise ValueError(
                        f"{where}: signal {m!r} must be a 2-D array (n_channels, n_times), "
                        f"got {type(sig).__name__} with shape {getattr(sig, 'shape', None)}"
                    )
                if sig.dtype.kind not in "biuf":
                    raise ValueError(
                        f"{where}: signal {m!r} must hold real numbers, got dtype {sig.dtype}"
                        + (
                            " (complex: the imaginary part would be dropped; pass np.abs(x) or "
                            "x.real explicitly)"
                            if sig.dtype.kind == "c"
                            else ""
                        )
                    )
                if m in channel_names and sig.shape[0] != len(channel_names[m]):
                    raise ValueError(
                        f"{where}: signal {m!r} has {sig.shape[0]} channels but channel_names"
                        f"[{m!r}] names {len(channel_names[m])}: {channel_names[m]}"
                    )
            check_durations(t, sfreq, where)
            label = as_real_array(t.label, f"{where}: label", "a distribution of real numbers")
            if label.shape != (n_emotions,):
                raise ValueError(f"{where}: label shape {label.shape} != ({n_emotions},)")
            if not np.all(np.isfinite(label)) or np.any(label < 0):
                raise ValueError(f"{where}: label must be finite and non-negative, got {label}")
            if abs(label.sum() - 1.0) > SUM_TOL:
                raise ValueError(f"{where}: label sums to {label.sum():.12g}, not 1")

    def summary(self) -> pd.DataFrame:
        """One row per trial: subject, trial, duration in seconds, and the trial's meta."""
        rows = []
        for t in self.trials:
            rows.append(
                {"subject": t.subject, "trial": t.trial, "duration_s": t.duration_s(self.sfreq)}
                | {k: v for k, v in t.meta.items() if np.isscalar(v)}
            )
        return pd.DataFrame(rows)
