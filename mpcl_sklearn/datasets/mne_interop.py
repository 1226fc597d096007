"""Recordings from MNE-Python objects: continuous ``Raw`` data with annotated trials, or
``Epochs``.

MNE-Python (https://mne.tools) is an optional dependency (``pip install "mpcl-sklearn[mne]"``);
it is imported only when :func:`recordings_from_mne` is called.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._validation import as_real_array, is_id
from ..recordings import Recordings, Trial

__all__ = ["recordings_from_mne"]

#: MNE channel types that are not signals (triggers, system and head-position channels): left
#: out unless ``channel_types`` names them.
NON_SIGNAL_TYPES = ("stim", "syst", "chpi", "exci", "ias", "dipole", "gof", "ref_meg")


def _mne():
    try:
        import mne
    except ImportError as exc:  # pragma: no cover - only without the extra
        raise ImportError(
            "recordings_from_mne needs MNE-Python: pip install 'mpcl-sklearn[mne]'"
        ) from exc
    return mne


def recordings_from_mne(
    data,
    labels=None,
    *,
    emotions: Sequence[str] | None = None,
    subject: str | int | None = None,
    channel_types: Mapping[str, str] | None = None,
    behavioural: Sequence[str] = (),
    normalize: bool = True,
) -> Recordings:
    """Build :class:`~mpcl_sklearn.Recordings` from MNE ``Raw`` or ``Epochs``, in one call.

    Parameters
    ----------
    data : mne.io.Raw, mne.Epochs, or dict of subject id to either
        One subject's data, or several subjects' (same channel types, names and rate).
        ``Raw``: every annotation whose description has a row in ``labels`` is a trial
        (onset and duration from the annotation; other annotations, e.g. ``BAD_*``, are
        skipped and listed in ``report``). ``Epochs``: every epoch is a trial (its event
        name looks up the label, or ``labels=None`` reads ``epochs.metadata``). A name seen
        twice in one subject gives trials ``name``, ``name#2``, ...
    labels : DataFrame, dict, or None
        One row of emotion ratings or distributions per trial name: a DataFrame whose index
        holds the annotation descriptions / event names (or a MultiIndex
        ``(subject, name)`` for per-subject ratings) and whose columns are emotion names; or a
        dict ``{name: ratings}`` (then give ``emotions``). ``None``: ``Epochs`` only, the
        ``emotions`` columns of ``epochs.metadata``, one row per epoch.
    emotions : list of str, optional
        The label set by name: these columns of ``labels`` in this order (default: every
        column of a DataFrame). Required for a dict or ``labels=None``.
    subject : str or int, optional
        Subject id of a single ``data`` object (default: MNE's ``subject_info["his_id"]``,
        else ``"sub01"``). Not allowed with a dict.
    channel_types : dict of str to str, optional
        MNE channel type -> modality name, e.g. ``{"eeg": "eeg", "eog": "eeg", "gsr": "eda"}``
        (channels of types mapped to one name form one modality, in channel order); types not
        listed are left out. Default: every channel type is its own modality, named after the
        type, except the non-signal types (:data:`NON_SIGNAL_TYPES`). Bad channels
        (``info["bads"]``) are kept and listed in ``report``.
    behavioural : sequence of str, default=()
        The modalities (names after ``channel_types``) that are behavioural.
    normalize : bool, default=True
        Divide each label row by its sum (ratings -> distribution); False: rows must already
        sum to 1.

    Returns
    -------
    Recordings
        Sampling rate from ``info["sfreq"]`` (the same for every modality), signals in MNE's
        units (volts for EEG), channel names from ``info``; ``meta`` of each trial: ``name``
        and, for ``Raw``, ``onset_s`` and ``duration_s``, for ``Epochs``, ``epoch`` (its
        position) and ``event_sample`` (MNE's sample number of its event).

    Raises
    ------
    TypeError
        ``data`` is not an MNE ``Raw``/``Epochs`` (or a dict of them).
    ValueError
        No trial has a label, an annotation has no duration or lies outside the data, a
        label row is missing or invalid, or subjects differ in rate or channels; the message
        names the subject and trial.

    Examples
    --------
    >>> import mne, numpy as np, pandas as pd                       # doctest: +SKIP
    >>> info = mne.create_info(["Fz", "Cz", "ECG"], 256.0, ["eeg", "eeg", "ecg"])
    >>> raw = mne.io.RawArray(np.random.randn(3, 256 * 60), info)
    >>> raw.set_annotations(mne.Annotations([0, 30], [25, 25], ["clip1", "clip2"]))
    >>> ratings = pd.DataFrame({"joy": [4, 1], "fear": [1, 5]}, index=["clip1", "clip2"])
    >>> rec = recordings_from_mne(raw, ratings, subject="P01")
    """
    mne = _mne()
    if isinstance(data, Mapping):
        if subject is not None:
            raise ValueError("subject is given by the keys of the data dict; do not pass subject")
        items = list(data.items())
        if not items:
            raise ValueError("data is an empty dict: give {subject: Raw or Epochs}")
    else:
        items = [(subject if subject is not None else _subject_of(data), data)]
    for sub, inst in items:
        if not is_id(sub):
            raise TypeError(f"subject ids must be strings or integers, got {sub!r}")
        if not isinstance(inst, mne.io.BaseRaw | mne.BaseEpochs):
            raise TypeError(
                f"data of subject {sub!r} must be an mne.io.Raw or mne.Epochs, got "
                f"{type(inst).__name__}"
            )
    table = _label_table(labels, emotions, items, mne)
    names = [str(c) for c in table.columns] if table is not None else list(emotions or [])

    report: list[str] = []
    trials: list[Trial] = []
    sfreq: float | None = None
    layout: dict[str, list[str]] | None = None
    for sub, inst in items:
        rate = float(inst.info["sfreq"])
        if sfreq is not None and rate != sfreq:
            raise ValueError(
                f"subject {sub!r} is sampled at {rate:g} Hz, the others at {sfreq:g} Hz; "
                "resample first (inst.resample(...))"
            )
        sfreq = rate
        picks = _modalities(inst, channel_types)
        chans = {m: [inst.ch_names[i] for i in idx] for m, idx in picks.items()}
        if layout is not None and chans != layout:
            raise ValueError(
                f"subject {sub!r} has channels {chans}, the others {layout}: every subject "
                "needs the same channels per modality (pick or rename them first)"
            )
        layout = chans
        if inst.info["bads"]:
            report.append(f"subject {sub!r}: bad channels {list(inst.info['bads'])} kept")
        cut = _raw_trials if isinstance(inst, mne.io.BaseRaw) else _epoch_trials
        trials += cut(sub, inst, picks, table, names, labels is None, normalize, report)
    if not trials:
        index = [] if table is None else list(table.index[:10])
        raise ValueError(
            f"no trial has a label row (labels are indexed by {index}): " + "; ".join(report)
        )
    assert sfreq is not None and layout is not None
    return Recordings(
        trials=trials,
        sfreq={m: sfreq for m in layout},
        emotions=names,
        behavioural=behavioural if isinstance(behavioural, str) else tuple(behavioural),
        channel_names=layout,
        report=report,
    )


def _subject_of(inst) -> str:
    info = getattr(inst, "info", None)
    info = (info.get("subject_info") if isinstance(info, Mapping) else None) or {}
    his_id = info.get("his_id") if isinstance(info, Mapping) else None
    return str(his_id) if his_id else "sub01"


def _label_table(labels, emotions, items, mne) -> pd.DataFrame | None:
    """``labels`` as a DataFrame restricted to ``emotions`` (None: read from epochs.metadata)."""
    if emotions is not None:
        if isinstance(emotions, str) or not all(isinstance(e, str) for e in emotions):
            raise TypeError(f"emotions must be a list of names, got {emotions!r}")
        emotions = list(emotions)
    if labels is None:
        if emotions is None:
            raise ValueError("labels=None reads epochs.metadata: give the emotions columns")
        for sub, inst in items:
            meta = getattr(inst, "metadata", None)
            if not isinstance(inst, mne.BaseEpochs) or meta is None:
                raise ValueError(
                    f"labels=None needs Epochs with metadata, but subject {sub!r} has none"
                )
            missing = [e for e in emotions if e not in meta.columns]
            if missing:
                raise ValueError(f"epochs.metadata of subject {sub!r} lacks columns {missing}")
        return None
    if isinstance(labels, Mapping):
        if emotions is None:
            raise ValueError("labels given as a dict: give the emotion names (emotions=[...])")
        rows = {
            k: as_real_array(v, f"labels[{k!r}]", "a row of ratings") for k, v in labels.items()
        }
        bad = [k for k, v in rows.items() if v.shape != (len(emotions),)]
        if bad:
            raise ValueError(f"labels rows {bad} do not have one value per emotion {emotions}")
        keys = list(rows)
        index = (
            pd.MultiIndex.from_tuples(keys)
            if keys and all(isinstance(k, tuple) for k in keys)
            else pd.Index(keys)
        )
        return pd.DataFrame(np.vstack(list(rows.values())), index=index, columns=emotions)
    if not isinstance(labels, pd.DataFrame):
        raise TypeError(f"labels must be a DataFrame, a dict or None, got {type(labels).__name__}")
    cols = [str(c) for c in labels.columns]
    emotions = cols if emotions is None else emotions
    missing = [e for e in emotions if e not in cols]
    if missing:
        raise ValueError(f"labels has no columns {missing} (has {cols})")
    if labels.index.has_duplicates:
        raise ValueError(
            f"labels has duplicate rows {list(labels.index[labels.index.duplicated()])}"
        )
    table = labels.rename(columns=str)[emotions]
    as_real_array(table.to_numpy(), "labels", "a table of ratings")
    return table


def _modalities(inst, channel_types: Mapping[str, str] | None) -> dict[str, list[int]]:
    """Modality name -> channel indices, in channel order."""
    types = inst.get_channel_types()
    if channel_types is not None and not isinstance(channel_types, Mapping):
        raise TypeError(
            f"channel_types must be a dict {{mne type: modality}}, got {channel_types!r}"
        )
    picks: dict[str, list[int]] = {}
    for i, t in enumerate(types):
        if channel_types is None:
            name = None if t in NON_SIGNAL_TYPES else t
        else:
            name = channel_types.get(t)
        if name is not None:
            picks.setdefault(str(name), []).append(i)
    if channel_types is not None:
        absent = [t for t in channel_types if t not in types]
        if absent:
            raise ValueError(
                f"channel_types names types {absent} the data lacks (has {sorted(set(types))})"
            )
    if not picks:
        raise ValueError(f"no signal channels: the data has channel types {sorted(set(types))}")
    return picks


def _label_row(table, names, sub, name, where, normalize) -> np.ndarray | None:
    if table is None:
        return None
    if isinstance(table.index, pd.MultiIndex):
        key: Any = (sub, name)
        if key not in table.index:
            key = (str(sub), name)
    else:
        key = name
    if key not in table.index:
        return None
    return _distribution(table.loc[key, names].to_numpy(dtype=float), where, normalize)


def _distribution(row: np.ndarray, where: str, normalize: bool) -> np.ndarray:
    row = np.asarray(row, dtype=float)
    if normalize:
        if not np.all(np.isfinite(row)) or np.any(row < 0) or row.sum() <= 0:
            raise ValueError(
                f"{where}: label row {row.tolist()} must be finite, non-negative, with a "
                "positive sum"
            )
        return row / row.sum()
    return row


def _unique_names(names: list[str]) -> list[str]:
    """``name``, ``name#2``, ... for names seen more than once."""
    seen: Counter = Counter()
    out = []
    for n in names:
        seen[n] += 1
        out.append(n if seen[n] == 1 else f"{n}#{seen[n]}")
    return out


def _signals(block: np.ndarray, picks: dict[str, list[int]]) -> dict[str, np.ndarray]:
    return {m: np.ascontiguousarray(block[idx], dtype=np.float64) for m, idx in picks.items()}


def _annotation_starts(raw, onsets: list[float]) -> np.ndarray:
    """Index into ``raw``'s data (0 = its first sample) of each annotation onset of ``raw``.

    As :func:`mne.events_from_annotations` computes its sample numbers (then minus
    ``raw.first_samp``): with a measurement date, onsets count from ``orig_time``, which
    ``time_as_index`` relates to the first sample; without one (``orig_time`` None), onsets
    count from sample 0 of the acquisition, i.e. include ``raw.first_time``, so a cropped
    Raw's ``first_samp`` must be subtracted (``time_as_index`` alone would read them from the
    cropped data's first sample).
    """
    ann = raw.annotations
    idx = raw.time_as_index(onsets, use_rounding=True, origin=ann.orig_time)
    if ann.orig_time is not None:
        return np.asarray(idx, dtype=np.int64)
    return np.asarray(idx, dtype=np.int64) - int(raw.first_samp)


def _raw_trials(sub, raw, picks, table, names, _from_meta, normalize, report) -> list[Trial]:
    ann = raw.annotations
    keep, skipped = [], Counter()
    for onset, duration, desc in zip(ann.onset, ann.duration, ann.description):
        where = f"subject {sub!r}, annotation {desc!r} at {onset:g} s"
        label = _label_row(table, names, sub, str(desc), where, normalize)
        if label is None:
            skipped[str(desc)] += 1
            continue
        keep.append((float(onset), float(duration), str(desc), label, where))
    if skipped:
        report.append(f"subject {sub!r}: annotations without a label row skipped: {dict(skipped)}")
    ids = _unique_names([k[2] for k in keep])
    start_idx = _annotation_starts(raw, [k[0] for k in keep])
    all_idx = [i for idx in picks.values() for i in idx]
    pos = {m: [all_idx.index(i) for i in idx] for m, idx in picks.items()}
    trials = []
    for (onset, duration, desc, label, where), tid, a in zip(keep, ids, start_idx):
        n = int(round(duration * raw.info["sfreq"]))
        if n < 1:
            raise ValueError(
                f"{where} has no duration: trials need annotations with durations (or use "
                "mne.Epochs)"
            )
        if a < 0 or a + n > raw.n_times:
            raise ValueError(
                f"{where} lasting {duration:g} s lies outside the data (0-{raw.times[-1]:g} s)"
            )
        block = raw.get_data(picks=all_idx, start=int(a), stop=int(a) + n)
        meta = {"name": desc, "onset_s": onset, "duration_s": duration}
        trials.append(Trial(sub, tid, _signals(block, pos), label, meta))
    return trials


def _epoch_trials(sub, epochs, picks, table, names, from_meta, normalize, report) -> list[Trial]:
    code_to_name: dict[int, list[str]] = {}
    for name, code in epochs.event_id.items():
        code_to_name.setdefault(int(code), []).append(str(name))
    event_names = []
    for code in epochs.events[:, 2]:
        candidates = code_to_name.get(int(code), [str(code)])
        event_names.append("/".join(candidates))
    all_idx = [i for idx in picks.values() for i in idx]
    data = epochs.get_data(picks=all_idx)
    pos = {m: [all_idx.index(i) for i in idx] for m, idx in picks.items()}
    meta_rows = epochs.metadata.reset_index(drop=True) if from_meta else None
    ids = _unique_names(event_names)
    trials, skipped = [], Counter()
    for k, (name, tid) in enumerate(zip(event_names, ids)):
        where = f"subject {sub!r}, epoch {k} ({name!r})"
        if from_meta:
            label = _distribution(meta_rows.loc[k, names].to_numpy(dtype=float), where, normalize)
        else:
            label = _label_row(table, names, sub, name, where, normalize)
        if label is None:
            skipped[name] += 1
            continue
        meta = {"name": name, "epoch": k, "event_sample": int(epochs.events[k, 0])}
        trials.append(Trial(sub, tid, _signals(data[k], pos), label, meta))
    if skipped:
        report.append(f"subject {sub!r}: epochs without a label row skipped: {dict(skipped)}")
    return trials
