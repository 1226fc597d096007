"""Data assembly: load a dataset, cut it into windows and compute the feature table once."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..datasets.table import FeatureTable

__all__ = [
    "DATASET_BACKENDS",
    "DATASET_DEFAULTS",
    "ExperimentData",
    "prepare_dataset",
    "select_emotions",
]

#: The feature table's former name (it was defined here before it moved to
#: :mod:`mpcl_sklearn.datasets.table`, below the loaders that return it).
ExperimentData = FeatureTable

#: Default windowing per dataset: (window_s, step_s, frame scales in seconds).
DATASET_DEFAULTS = {
    "synthetic": (10.0, 5.0, (2.0, 10.0)),
    "wesad": (60.0, 30.0, (10.0, 30.0)),
}

#: Feature backend of each recorded dataset when none is given: WESAD's wrist signals get the
#: physiological features (EDA responses, heart rate and HRV, temperature slope, movement)
#: next to the fast statistics (docs/method.md, "Features"); the synthetic data's face and EEG
#: channels have no physiological kind, so it keeps the fast statistics.
DATASET_BACKENDS = {"synthetic": "fast", "wesad": "fast+physio"}


def prepare_dataset(
    dataset: str = "synthetic",
    path: str | Path | None = None,
    *,
    window_s: float | None = None,
    step_s: float | None = None,
    scales_s: Sequence[float] | None = None,
    feature_set: str = "default",
    backend: str | None = None,
    subjects: Sequence[str] | None = None,
    synthetic_params: dict | None = None,
    random_state: int | None = 0,
    n_jobs: int | None = None,
    progress: bool = False,
    subject_normalize: bool = False,
    emotions: str | Sequence[str] | None = None,
    table_options: dict | None = None,
) -> FeatureTable:
    """Load a dataset, cut it into windows and compute the feature table once.

    Windowing and feature extraction are computed per window and learn nothing from the data,
    so computing them before the cross-validation split cannot leak.

    Parameters
    ----------
    dataset : {"synthetic", "wesad", "dmer", "table", "ldl"}
        ``"synthetic"``: :func:`~mpcl_sklearn.datasets.make_mixed_emotion_recordings`.
        ``"wesad"``: :func:`~mpcl_sklearn.datasets.load_wesad` on ``path`` (wrist E4 signals,
        PANAS self-reports). ``"dmer"``: DMER's precomputed features
        (:func:`~mpcl_sklearn.datasets.load_dmer`). ``"table"``: your own feature table
        (:func:`~mpcl_sklearn.datasets.load_feature_table` on the file ``path``, with
        ``table_options``). ``"ldl"``: an LDL benchmark ``.mat`` file
        (:func:`~mpcl_sklearn.datasets.load_ldl` on ``path``; every row its own subject and
        trial, one modality ``features``). For ``"dmer"``, ``"table"`` and ``"ldl"`` the
        windowing and feature parameters do not apply.
    path : str or Path, optional
        Dataset folder (WESAD, DMER) or file (table).
    window_s, step_s, scales_s : optional
        Window length, window step and :class:`~mpcl_sklearn.windowing.SignalWindower` frame
        scales in seconds; defaults in :data:`DATASET_DEFAULTS`.
    feature_set, backend :
        Passed to :class:`~mpcl_sklearn.features.ModalityFeatureExtractor`; ``backend=None``:
        the dataset's default in :data:`DATASET_BACKENDS`.
    subjects : sequence of str, optional
        Subjects to load (WESAD, DMER, table).
    synthetic_params : dict, optional
        Extra arguments for the synthetic generator (``n_subjects``, ``trials_per_subject``,
        ``duration_s``, ...).
    random_state : int, optional
        Seed of the synthetic generator.
    n_jobs, progress :
        Passed to the feature extractor.
    subject_normalize : bool, default=False
        Z-score every feature within each subject
        (:func:`~mpcl_sklearn.preprocessing.subject_standardize`). This uses the unlabelled
        features of the test subjects too (transductive, no labels); the description says so.
    emotions : str or sequence of str, optional
        The emotions to keep, by name and in this order (at least 2; each row renormalised over
        them; see :func:`select_emotions`). ``"all"`` (or ``["all"]``) keeps every emotion of
        any dataset (WESAD: its 24 PANAS items); ``"dmer10"`` is WESAD's default label set
        (DMER's 10 items) and WESAD's only.
    table_options : dict, optional
        Keyword arguments of :func:`~mpcl_sklearn.datasets.load_feature_table`
        (``subject_column``, ``trial_column``, ``condition_column``, ``emotion_columns``,
        ``feature_columns``, ``drop_columns``, ``normalize``, ``behavioural``).

    Returns
    -------
    FeatureTable
    """
    from ..datasets import load_dmer, load_feature_table

    emotions = _label_set(emotions, dataset)
    if dataset == "ldl":
        if path is None:
            raise ValueError("dataset='ldl' needs path= (an LDL benchmark .mat file)")
        if subjects is not None:
            raise ValueError("subjects= does not apply to dataset='ldl' (rows are instances)")
        data = _ldl_table(path)
        data = data if emotions is None else select_emotions(data, emotions)
        return _subject_normalized(data) if subject_normalize else data
    if dataset in ("dmer", "table"):
        if path is None:
            what = "the DMER release folder" if dataset == "dmer" else "the table's file"
            raise ValueError(f"dataset={dataset!r} needs path= ({what})")
        if dataset == "dmer":
            data = load_dmer(path, subjects)
        else:
            data = load_feature_table(path, subjects=subjects, **(table_options or {}))
        data = data if emotions is None else select_emotions(data, emotions)
        return _subject_normalized(data) if subject_normalize else data
    if dataset not in DATASET_DEFAULTS:
        raise ValueError(
            f"unknown dataset {dataset!r}; choose from synthetic, wesad, dmer, table, ldl"
        )
    data = _windowed_features(
        dataset,
        path,
        window_s=window_s,
        step_s=step_s,
        scales_s=scales_s,
        feature_set=feature_set,
        backend=DATASET_BACKENDS[dataset] if backend is None else backend,
        subjects=subjects,
        synthetic_params=synthetic_params,
        random_state=random_state,
        n_jobs=n_jobs,
        progress=progress,
        emotions=emotions,
    )
    return _subject_normalized(data) if subject_normalize else data


def _windowed_features(
    dataset,
    path,
    *,
    window_s,
    step_s,
    scales_s,
    feature_set,
    backend,
    subjects,
    synthetic_params,
    random_state,
    n_jobs,
    progress,
    emotions,
) -> FeatureTable:
    """Recordings -> windows -> frames -> features, as one :class:`FeatureTable`."""
    from ..datasets import load_wesad, make_mixed_emotion_recordings
    from ..features import ModalityFeatureExtractor
    from ..windowing import SignalWindower, make_windows

    default_window, default_step, default_scales = DATASET_DEFAULTS[dataset]
    window_s = default_window if window_s is None else float(window_s)
    if step_s is None:
        step_s = default_step if window_s == default_window else window_s / 2
    if scales_s is None:
        scales_s = tuple(s for s in default_scales if s <= window_s) or (window_s,)
    if dataset == "synthetic":
        if subjects is not None:
            raise ValueError(
                "subjects= selects subjects of WESAD, DMER or a feature table; the synthetic "
                "data has n_subjects (synthetic_params) instead"
            )
        params = {"random_state": random_state, **(synthetic_params or {})}
        recordings = make_mixed_emotion_recordings(**params)
        source = "synthetic mixed-emotion recordings ({})".format(
            ", ".join(f"{k}={v}" for k, v in params.items())
        )
    else:
        if path is None:
            raise ValueError("dataset='wesad' needs path= (the folder holding S2 ... S17)")
        native = {} if emotions is None else {"emotions": emotions}
        recordings = load_wesad(path, subjects, **native)
        emotions = None  # selected by the loader
        source = f"WESAD wrist signals from {path}"
    X_sig, y, groups, trials = make_windows(
        recordings, window_s=window_s, step_s=step_s, return_trials=True
    )
    frames = SignalWindower(scales_s=scales_s).fit_transform(X_sig)
    extractor = ModalityFeatureExtractor(
        backend=backend, feature_set=feature_set, n_jobs=n_jobs, progress=progress
    ).set_output(transform="pandas")
    X = extractor.fit_transform(frames)
    report = list(recordings.report) + list(X_sig.attrs.get("report", []))
    times_s = _window_times(recordings, X_sig.index)
    conditions = None
    if dataset == "wesad":  # the loader's trial ids are WESAD's condition names
        conditions = np.asarray(X_sig.index.get_level_values("trial")).astype(str)
    n_subjects = len(np.unique(groups))
    description = (
        f"{source}; {n_subjects} subjects, {len(np.unique(trials))} trials, {len(X)} windows "
        f"of {window_s:g} s (step {step_s:g} s), frames {tuple(scales_s)} s, "
        f"{X.shape[1]} {backend}/{feature_set} features"
    )
    data = FeatureTable(
        X=X,
        y=np.asarray(y),
        groups=np.asarray(groups).astype(str),
        trials=np.asarray(trials).astype(str),
        emotions=list(X_sig.attrs.get("emotions", [])),
        behavioural=tuple(X_sig.attrs.get("behavioural", ())),
        description=description,
        report=report,
        conditions=conditions,
        times_s=times_s,
        window_s=window_s,
    )
    return data if emotions is None else select_emotions(data, emotions)


def _window_times(recordings, index) -> np.ndarray:
    """Start of every window in seconds since its subject's first trial began.

    A trial's onset is its ``meta["protocol_start_s"]`` when every trial has one (WESAD's
    protocol times); otherwise the trials of a subject are taken as recorded back to back in
    their order (the synthetic recordings).
    """
    onsets: dict[tuple[str, str], float] = {}
    if all("protocol_start_s" in t.meta for t in recordings.trials):
        for t in recordings.trials:
            onsets[(str(t.subject), str(t.trial))] = float(t.meta["protocol_start_s"])
    else:
        ends: dict[str, float] = {}
        for t in recordings.trials:
            start = ends.get(str(t.subject), 0.0)
            onsets[(str(t.subject), str(t.trial))] = start
            ends[str(t.subject)] = start + t.duration_s(recordings.sfreq)
    first: dict[str, float] = {}
    for (subject, _), onset in onsets.items():
        first[subject] = min(onset, first.get(subject, np.inf))
    subjects = index.get_level_values("subject").astype(str)
    trials = index.get_level_values("trial").astype(str)
    starts = np.asarray(index.get_level_values("start_s"), dtype=float)
    offset = [onsets[(s, t)] - first[s] for s, t in zip(subjects, trials, strict=True)]
    return starts + np.asarray(offset, dtype=float)


def _ldl_table(path) -> FeatureTable:
    """An LDL benchmark as a feature table: one modality ``features``, every row its own
    subject and trial (the instances are independent; use a plain k-fold protocol)."""
    import pandas as pd

    from ..datasets import load_ldl

    bunch = load_ldl(path)
    n = len(bunch.data)
    columns = [f"features__f{j:04d}" for j in range(bunch.data.shape[1])]
    X = pd.DataFrame(bunch.data, columns=columns)
    emotions = [str(e) for e in bunch.target_names]
    X.attrs = {"emotions": list(emotions), "behavioural": ()}
    ids = np.array([f"row{i:05d}" for i in range(n)])
    return FeatureTable(
        X=X,
        y=np.asarray(bunch.target, dtype=float),
        groups=ids,
        trials=ids.copy(),
        emotions=emotions,
        behavioural=(),
        description=(
            f"LDL benchmark {Path(path).name}: {n} instances, {X.shape[1]} features, "
            f"{len(emotions)} labels"
        ),
        report=list(bunch.report),
    )


def _label_set(emotions, dataset: str):
    """``emotions=`` with the label-set names resolved: ``"all"`` is None (every emotion)
    except for WESAD, whose loader takes ``"all"`` and ``"dmer10"`` itself."""
    if not isinstance(emotions, str) and isinstance(emotions, Sequence) and len(emotions) == 1:
        if emotions[0] in ("all", "dmer10"):
            emotions = emotions[0]
    if dataset == "wesad" or not isinstance(emotions, str):
        return emotions
    if emotions == "all":
        return None
    if emotions == "dmer10":
        raise ValueError(
            f"emotions='dmer10' is a label set of the WESAD loader; dataset={dataset!r} has its "
            "own emotions: name them, or 'all'"
        )
    return emotions


def select_emotions(data: FeatureTable, emotions: str | Sequence[str]) -> FeatureTable:
    """Keep the named emotions (in the given order), each row renormalised to sum to 1.

    Returns a new table that shares no array, list or ``attrs`` with ``data`` (also when the
    names are the data's own, in its order).

    Raises
    ------
    ValueError
        An unknown or repeated name, fewer than 2 names (with one emotion every distribution is
        ``[1.0]`` and every metric trivially perfect), or rows with probability 0 on every kept
        emotion.
    """
    names = [emotions] if isinstance(emotions, str) else [str(e) for e in emotions]
    have = [str(e) for e in data.emotions]
    unknown = [e for e in names if e not in have]
    if unknown or not names:
        hint = (
            " ('all' keeps every emotion; 'dmer10' is a label set of WESAD only)"
            if set(unknown) & {"all", "dmer10"}
            else ""
        )
        raise ValueError(f"unknown emotions {unknown or names}; this data has {have}{hint}")
    if len(set(names)) != len(names):
        raise ValueError(f"emotions are listed twice: {names}")
    if len(names) < 2:
        raise ValueError(
            f"need at least 2 emotions, got {names}: with one, every distribution is [1.0] and "
            "every metric is trivially perfect"
        )
    if names == have:
        return _copy_table(data)
    y = np.asarray(data.y, dtype=float)[:, [have.index(e) for e in names]]
    sums = y.sum(axis=1)
    if (sums <= 0).any():
        raise ValueError(
            f"{int((sums <= 0).sum())} rows have probability 0 on every one of {names}: choose "
            "more emotions"
        )
    copied = _copy_table(data)
    X = copied.X
    if hasattr(X, "attrs"):
        X.attrs["emotions"] = list(names)
    return replace(
        copied,
        y=y / sums[:, None],
        emotions=names,
        description=data.description + f"; emotions {', '.join(names)} (rows renormalised)",
        report=[
            *data.report,
            f"emotions: {', '.join(names)} of {', '.join(have)}; rows renormalised over them",
        ],
    )


def _copy_table(data: FeatureTable) -> FeatureTable:
    """A copy of ``data`` sharing no array, list or attrs with it."""
    X = data.X.copy() if hasattr(data.X, "copy") else np.array(data.X, copy=True)
    if hasattr(X, "attrs"):
        X.attrs = copy.deepcopy(dict(data.X.attrs))
    return replace(
        data,
        X=X,
        y=np.array(data.y, copy=True),
        groups=np.array(data.groups, copy=True),
        trials=np.array(data.trials, copy=True),
        emotions=list(data.emotions),
        behavioural=tuple(data.behavioural),
        report=list(data.report),
        conditions=None if data.conditions is None else np.array(data.conditions, copy=True),
        times_s=None if data.times_s is None else np.array(data.times_s, copy=True),
    )


def _subject_normalized(data: FeatureTable) -> FeatureTable:
    from ..preprocessing import subject_standardize

    return replace(
        data,
        X=subject_standardize(data.X, data.groups),
        description=data.description
        + "; features z-scored within each subject (transductive: uses the test subjects' "
        "unlabelled features)",
    )
