"""The recordings structure: continuous multimodal trials with one emotion distribution each.

Loaders (``load_wesad``, ``load_dmer_raw``, ``make_mixed_emotion_recordings``)
return a :class:`Recordings`; :func:`mpcl_sklearn.make_windows` cuts it into labelled windows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

#: Default tolerance for "rows sum to 1".
SUM_TOL = 1e-6


@dataclass
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


@dataclass
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
        """Return the recordings of the given subjects only."""
        keep = set(subjects)
        unknown = keep.difference(self.subjects)
        if unknown:
            raise ValueError(f"Unknown subjects {sorted(unknown)}; have {self.subjects}")
        return Recordings(
            trials=[t for t in self.trials if t.subject in keep],
            sfreq=dict(self.sfreq),
            emotions=list(self.emotions),
            behavioural=tuple(self.behavioural),
            channel_names=dict(self.channel_names),
            report=list(self.report),
            info=None if self.info is None else self.info.copy(),
        )

    def validate(self) -> None:
        """Check the structure; raise ``ValueError`` naming the first problem found."""
        if not self.sfreq:
            raise ValueError("Recordings.sfreq is empty: at least one modality is needed")
        for m, f in self.sfreq.items():
            if not np.isfinite(f) or f <= 0:
                raise ValueError(f"Sampling rate of modality {m!r} must be > 0, got {f!r}")
        unknown_beh = set(self.behavioural).difference(self.sfreq)
        if unknown_beh:
            raise ValueError(f"behavioural modalities {sorted(unknown_beh)} are not in sfreq")
        n_emotions = len(self.emotions)
        if n_emotions < 2:
            raise ValueError(f"need at least 2 emotions, got {self.emotions!r}")
        seen: set[tuple[str, str]] = set()
        for t in self.trials:
            where = f"trial {t.trial!r} of subject {t.subject!r}"
            key = (str(t.subject), str(t.trial))
            if key in seen:
                raise ValueError(f"duplicate {where}")
            seen.add(key)
            if set(t.signals) != set(self.sfreq):
                raise ValueError(
                    f"{where} has modalities {sorted(t.signals)}, expected {sorted(self.sfreq)}"
                )
            for m, sig in t.signals.items():
                if not isinstance(sig, np.ndarray) or sig.ndim != 2:
                    raise ValueError(
                        f"{where}: signal {m!r} must be a 2-D array (n_channels, n_times), "
                        f"got {type(sig).__name__} with shape {getattr(sig, 'shape', None)}"
                    )
            label = np.asarray(t.label, dtype=float)
            if label.shape != (n_emotions,):
                raise ValueError(f"{where}: label shape {label.shape} != ({n_emotions},)")
            if not np.all(np.isfinite(label)) or np.any(label < 0):
                raise ValueError(f"{where}: label must be finite and non-negative, got {label}")
            if abs(label.sum() - 1.0) > SUM_TOL:
                raise ValueError(f"{where}: label sums to {label.sum():.6g}, not 1")

    def summary(self) -> pd.DataFrame:
        """One row per trial: subject, trial, duration in seconds, and the trial's meta."""
        rows = []
        for t in self.trials:
            rows.append(
                {"subject": t.subject, "trial": t.trial, "duration_s": t.duration_s(self.sfreq)}
                | {k: v for k, v in t.meta.items() if np.isscalar(v)}
            )
        return pd.DataFrame(rows)
