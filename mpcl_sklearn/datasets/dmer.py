"""Loader for DMER (Yang et al., "A Multimodal Dataset for Mixed Emotion Recognition", 2024).

Two forms of the release are read (see ``docs/datasets.md`` for the layouts and the
assumptions made), each by its own function:

* :func:`load_dmer`: one MATLAB file per subject, ``<root>/<sub>.mat`` (or
  ``<root>/features/<sub>.mat``) with ``feas`` (N x 913: EEG 1-90, GSR 91-118, PPG 119-145,
  video 146-913), ``vids`` (the trial index 0-31 of every row) and ``dis_label`` (one 10-vector
  per trial, indexed by vid). Returned as a :class:`~mpcl_sklearn.datasets.FeatureTable`
  (columns ``eeg__...``, ``gsr__...``, ``ppg__...``, ``video__...``) that enters the regressor
  directly.
* :func:`load_dmer_raw`: ``<root>/<sub>/datas.mat`` with ``eeg_datas`` (19 x T: 18 channels and
  a vid row), ``gsr_datas`` (2 x T) and ``ppg_datas`` (2 x T) (signal rows then a vid row) and
  ``dis_label``. Returned as :class:`~mpcl_sklearn.Recordings`, one trial per vid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .._validation import as_id_list, check_sampling_rate
from ..recordings import Recordings, Trial
from .emotions import DMER_EMOTIONS, select_emotions
from .table import FeatureTable

#: Column ranges (0-based, end exclusive) of the 913 DMER features.
DMER_FEATURE_BLOCKS: dict[str, tuple[int, int]] = {
    "eeg": (0, 90),
    "gsr": (90, 118),
    "ppg": (118, 145),
    "video": (145, 913),
}
#: EEG differential-entropy bands, in column order within a channel.
DMER_EEG_BANDS: tuple[str, ...] = ("delta", "theta", "alpha", "beta", "gamma")
#: Sampling rates of the raw (``datas.mat``) form.
DMER_SFREQ: dict[str, float] = {"eeg": 300.0, "gsr": 4.0, "ppg": 100.0}
#: Trial classes by vid: 0-7 positive, 8-15 negative, 16-31 mixed.
DMER_N_CLIPS = 32
#: vid of the resting-state segment in ``datas.mat``.
DMER_REST_VID = 40


class DMERFormatError(ValueError):
    """A DMER file is missing a field or has an unexpected shape; the message names the file."""


def dmer_feature_names() -> list[str]:
    """Names of the 913 DMER feature columns.

    EEG columns are ``eeg__ch<k>_<band>`` (5 bands contiguous per channel, DMER's MATLAB
    reshape); the other blocks are numbered ``gsr__f01``..``gsr__f28``, ``ppg__f01``..``ppg__f27``
    and ``video__lbptop_<plane>_<bin>`` (XY, XT, YT planes, 256 bins each).
    """
    names = [f"eeg__ch{c + 1:02d}_{b}" for c in range(18) for b in DMER_EEG_BANDS]
    names += [f"gsr__f{i + 1:02d}" for i in range(28)]
    names += [f"ppg__f{i + 1:02d}" for i in range(27)]
    names += [f"video__lbptop_{p}_{i:03d}" for p in ("xy", "xt", "yt") for i in range(256)]
    return names


def dmer_vid_kind(vid: int) -> str:
    """DMER's clip class for a vid: 'positive' (0-7), 'negative' (8-15) or 'mixed' (16-31)."""
    return "positive" if vid < 8 else "negative" if vid < 16 else "mixed"


def _loadmat(path: Path, keys: Sequence[str]) -> dict[str, np.ndarray]:
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path))
    except NotImplementedError:
        raise DMERFormatError(
            f"{path}: MATLAB v7.3 (HDF5) file; re-save it with save(..., '-v7') or read it "
            "with h5py and pass the arrays"
        ) from None
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name
        raise DMERFormatError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from exc
    missing = [k for k in keys if k not in mat]
    if missing:
        have = sorted(k for k in mat if not k.startswith("__"))
        raise DMERFormatError(f"{path}: missing field(s) {missing}; file has {have}")
    return {k: np.asarray(mat[k]) for k in keys}


def _labels(dis_label: np.ndarray, path: Path, n_emotions: int, report: list[str]) -> np.ndarray:
    """``dis_label`` as (n_trials, n_emotions), rows normalised to sum to 1."""
    lab = np.asarray(dis_label, dtype=float)
    if lab.ndim != 2:
        raise DMERFormatError(f"{path}: dis_label must be 2-D, got shape {lab.shape}")
    if lab.shape[1] != n_emotions and lab.shape[0] == n_emotions:
        lab = lab.T
        report.append(f"{path}: dis_label stored as ({n_emotions}, n_trials); transposed")
    if lab.shape[1] != n_emotions:
        raise DMERFormatError(
            f"{path}: dis_label has shape {lab.shape}, expected (n_trials, {n_emotions})"
        )
    return lab


def _normalise_row(row: np.ndarray, path: Path, vid: int) -> np.ndarray:
    if not np.all(np.isfinite(row)) or np.any(row < 0) or row.sum() <= 0:
        raise DMERFormatError(
            f"{path}: dis_label for vid {vid} is {row.tolist()}: needs finite, non-negative "
            "values with a positive sum"
        )
    return row / row.sum()


def _discover(root: Path, form: str) -> list[str]:
    if form == "features":
        base = root / "features" if (root / "features").is_dir() else root
        subs = [p.stem for p in base.glob("*.mat")]
    else:
        subs = [p.name for p in root.iterdir() if (p / "datas.mat").is_file()]
    if not subs:
        what = "<sub>.mat files" if form == "features" else "<sub>/datas.mat files"
        raise FileNotFoundError(f"no DMER {what} found in {root}")
    return sorted(subs, key=lambda s: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)])


def load_dmer(
    path: str | Path,
    subjects: Sequence[str] | None = None,
    *,
    emotions: str | Sequence[str] = "dmer10",
) -> FeatureTable:
    """Load DMER's precomputed features (913 per row) as a feature table.

    Parameters
    ----------
    path : str or Path
        Folder holding ``<sub>.mat`` (or ``features/<sub>.mat``) files with ``feas``, ``vids``
        and ``dis_label``.
    subjects : sequence of str, optional
        File stems; all found by default. A list, also for one subject (``["12"]``): a string
        is refused, as it would read as subjects "1" and "2".
    emotions : {"dmer10", "all"} or list of str, default="dmer10"
        The label set, by name: ``"dmer10"`` (= ``"all"``): DMER's 10 PANAS items
        (:data:`DMER_EMOTIONS`, the ``dis_label`` columns in stored order); a list: some of
        them, in the order wanted (the chosen ratings are normalised to sum to 1), as
        :func:`load_wesad` and :func:`make_mixed_emotion_recordings` take it.

    Returns
    -------
    FeatureTable
        ``X`` (DataFrame, 913 columns named by :func:`dmer_feature_names`; row index
        ``<sub>:vidNN:<row>``; ``X.attrs`` holds ``"emotions"`` and ``"behavioural"``, which
        the models read), ``y`` (normalised ``dis_label[vid]`` per row), ``groups``
        (subject), ``trials`` (``<sub>:vidNN``), ``emotions``, ``behavioural=("video",)`` and
        ``report``. ``X, y, groups`` are what ``cross_validate`` takes.

    Raises
    ------
    FileNotFoundError
        A subject file is missing (named).
    DMERFormatError
        A field is missing or has the wrong shape (file named).

    See Also
    --------
    load_dmer_raw : the raw signals of the release as :class:`~mpcl_sklearn.Recordings`.
    """
    root, subjects, emotions = _check_call(path, subjects, emotions, "features")
    return _load_features(root, subjects, emotions)


def load_dmer_raw(
    path: str | Path,
    subjects: Sequence[str] | None = None,
    *,
    emotions: str | Sequence[str] = "dmer10",
    sfreq: Mapping[str, float] | None = None,
) -> Recordings:
    """Load DMER's raw signals (EEG, GSR, PPG) as recordings, one trial per clip.

    Parameters
    ----------
    path : str or Path
        Folder holding ``<sub>/datas.mat`` files with ``eeg_datas``, ``gsr_datas``,
        ``ppg_datas`` (signal rows then a vid row) and ``dis_label``.
    subjects : sequence of str, optional
        Folder names (a list); all found by default.
    emotions : {"dmer10", "all"} or list of str, default="dmer10"
        The label set, by name, as in :func:`load_dmer`.
    sfreq : dict, optional
        Sampling rates (positive numbers) of some of ``eeg``, ``gsr``, ``ppg``; default
        ``{"eeg": 300, "gsr": 4, "ppg": 100}``.

    Returns
    -------
    Recordings
        Modalities ``eeg`` (18 ch), ``gsr``, ``ppg`` and one trial per vid (id ``vidNN``;
        ``meta["kind"]`` positive/negative/mixed). The resting-state segment (vid 40) has no
        label and is skipped (reported).

    Raises
    ------
    FileNotFoundError, DMERFormatError
        As :func:`load_dmer`.
    """
    if sfreq is not None and not isinstance(sfreq, Mapping):
        raise TypeError(f"sfreq must be a dict {{modality: Hz}}, got {sfreq!r}")
    unknown = [m for m in (sfreq or {}) if m not in DMER_SFREQ]
    if unknown:
        raise ValueError(f"sfreq names unknown modalities {unknown}; DMER has {list(DMER_SFREQ)}")
    rates = dict(DMER_SFREQ) | {
        m: check_sampling_rate(f, f"modality {m!r} in sfreq") for m, f in (sfreq or {}).items()
    }
    root, subjects, emotions = _check_call(path, subjects, emotions, "raw")
    return _load_raw(root, subjects, emotions, rates)


def _check_call(
    path: str | Path, subjects: Sequence[str] | None, emotions, form: str
) -> tuple[Path, list[str], list[str]]:
    """The root folder, the subjects (found when not given) and the emotion names."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"DMER folder not found: {root}")
    emotions = select_emotions(
        emotions,
        DMER_EMOTIONS,
        dataset="DMER",
        presets={"dmer10": DMER_EMOTIONS, "all": DMER_EMOTIONS},
    )
    subjects = as_id_list(subjects, "subjects")
    return root, _discover(root, form) if subjects is None else subjects, emotions


def _select(lab: np.ndarray, emotions: list[str]) -> np.ndarray:
    """The ``dis_label`` columns of the chosen emotions, in their order."""
    return lab[:, [DMER_EMOTIONS.index(e) for e in emotions]]


def _feature_file(root: Path, sub: str) -> Path:
    for p in (root / f"{sub}.mat", root / "features" / f"{sub}.mat"):
        if p.is_file():
            return p
    raise FileNotFoundError(
        f"DMER feature file for subject {sub!r} not found: {root / (sub + '.mat')} "
        f"(nor {root / 'features' / (sub + '.mat')})"
    )


def _load_features(root: Path, subjects: list[str], emotions: list[str]) -> FeatureTable:
    names = dmer_feature_names()
    report: list[str] = []
    Xs, Ys, groups, trials, index = [], [], [], [], []
    for sub in subjects:
        p = _feature_file(root, sub)
        mat = _loadmat(p, ["feas", "vids", "dis_label"])
        feas = np.asarray(mat["feas"], dtype=float)
        if feas.ndim != 2 or feas.shape[1] != len(names):
            raise DMERFormatError(f"{p}: feas has shape {feas.shape}, expected (N, {len(names)})")
        vids = np.asarray(mat["vids"]).ravel()
        if vids.size != feas.shape[0]:
            raise DMERFormatError(
                f"{p}: vids has {vids.size} entries but feas has {feas.shape[0]} rows"
            )
        if not np.all(vids == np.round(vids)):
            raise DMERFormatError(f"{p}: vids must be integers, got {np.unique(vids)[:10]}")
        vids = vids.astype(int)
        lab = _select(_labels(mat["dis_label"], p, len(DMER_EMOTIONS), report), emotions)
        bad = np.unique(vids[(vids < 0) | (vids >= lab.shape[0])])
        if bad.size:
            raise DMERFormatError(
                f"{p}: vids {bad.tolist()} have no row in dis_label ({lab.shape[0]} rows)"
            )
        n_bad = int((~np.isfinite(feas)).any(axis=1).sum())
        if n_bad:
            report.append(f"{p}: {n_bad} of {feas.shape[0]} rows contain NaN/inf features (kept)")
        rows = {v: _normalise_row(lab[v], p, v) for v in np.unique(vids)}
        Xs.append(feas)
        Ys.append(np.array([rows[v] for v in vids]))
        groups += [sub] * len(vids)
        trials += [f"{sub}:vid{v:02d}" for v in vids]
        index += [f"{sub}:vid{v:02d}:{i}" for i, v in enumerate(vids)]
        report.append(f"{p}: {feas.shape[0]} rows, {len(rows)} trials")
    X = pd.DataFrame(np.vstack(Xs), columns=names, index=pd.Index(index, name="row"))
    X.attrs = {"emotions": list(emotions), "behavioural": ("video",)}
    y = np.vstack(Ys)
    return FeatureTable(
        X=X,
        y=y,
        groups=np.asarray(groups),
        trials=np.asarray(trials),
        emotions=emotions,
        behavioural=("video",),
        description=f"DMER precomputed features, {len(subjects)} subjects, {len(X)} rows",
        report=report,
    )


def _split_vid_rows(arr: np.ndarray, name: str, n_signal: int, p: Path):
    a = np.asarray(arr, dtype=float)
    if a.ndim != 2 or a.shape[0] != n_signal + 1:
        if a.ndim == 2 and a.shape[1] == n_signal + 1 and a.shape[0] != n_signal + 1:
            a = a.T
        else:
            raise DMERFormatError(
                f"{p}: {name} has shape {a.shape}, expected ({n_signal + 1}, T): "
                f"{n_signal} signal row(s) and a vid row"
            )
    vid = a[-1]
    if not np.all(np.isfinite(vid)) or not np.all(vid == np.round(vid)):
        raise DMERFormatError(f"{p}: the last row of {name} (vid) must hold integers")
    return a[:-1], vid.astype(int)


def _load_raw(
    root: Path, subjects: list[str], emotions: list[str], rates: dict[str, float]
) -> Recordings:
    report: list[str] = []
    trials: list[Trial] = []
    n_signal = {"eeg": 18, "gsr": 1, "ppg": 1}
    for sub in subjects:
        p = root / sub / "datas.mat"
        if not p.is_file():
            raise FileNotFoundError(f"DMER raw file for subject {sub!r} not found: {p}")
        mat = _loadmat(p, ["eeg_datas", "gsr_datas", "ppg_datas", "dis_label"])
        lab = _select(_labels(mat["dis_label"], p, len(DMER_EMOTIONS), report), emotions)
        parts = {m: _split_vid_rows(mat[f"{m}_datas"], f"{m}_datas", n_signal[m], p) for m in rates}
        vids_all = sorted(set().union(*(set(np.unique(v)) for _, v in parts.values())))
        skipped = [v for v in vids_all if not 0 <= v < lab.shape[0]]
        if skipped:
            note = " (resting state)" if DMER_REST_VID in skipped else ""
            report.append(f"{p}: samples with vid {skipped}{note} have no label; skipped")
        for v in (v for v in vids_all if 0 <= v < lab.shape[0]):
            sig: dict[str, np.ndarray] = {}
            missing = [m for m, (_, vid) in parts.items() if not np.any(vid == v)]
            if missing:
                raise DMERFormatError(f"{p}: vid {v} has no samples in {missing}")
            for m, (x, vid) in parts.items():
                idx = np.flatnonzero(vid == v)
                if idx[-1] - idx[0] + 1 != idx.size:
                    report.append(f"{p}: vid {v} is not contiguous in {m}_datas; samples joined")
                sig[m] = x[:, idx]
            # end-aligned common length (DMER aligns trials on their end)
            dur = min(s.shape[1] / rates[m] for m, s in sig.items())
            trimmed = {}
            for m, s in sig.items():
                n = int(np.floor(dur * rates[m] + 1e-9))
                if s.shape[1] - n > rates[m]:
                    trimmed[m] = round((s.shape[1] - n) / rates[m], 2)
                sig[m] = np.ascontiguousarray(s[:, s.shape[1] - n :], dtype=np.float64)
            if trimmed:
                report.append(
                    f"{p}: vid {v}: modalities end-aligned to {dur:.2f} s, trimmed (s) {trimmed}"
                )
            trials.append(
                Trial(
                    subject=sub,
                    trial=f"vid{v:02d}",
                    signals=sig,
                    label=_normalise_row(lab[v], p, v),
                    meta={"vid": v, "kind": dmer_vid_kind(v), "ratings": lab[v].copy()},
                )
            )
    if not trials:
        raise DMERFormatError(f"no labelled trials in {root} for subjects {subjects}")
    return Recordings(
        trials=trials,
        sfreq=dict(rates),
        emotions=emotions,
        behavioural=(),
        channel_names={
            "eeg": [f"ch{c + 1:02d}" for c in range(18)],
            "gsr": ["gsr"],
            "ppg": ["ppg"],
        },
        report=report,
    )
