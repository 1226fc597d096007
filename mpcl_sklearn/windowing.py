"""Cut recordings into labelled windows (:func:`make_windows`) and windows into frames
(:class:`SignalWindower`).

See ``docs/data_model.md`` for the data layout.
"""

from __future__ import annotations

import copy
import numbers
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from ._columns import SEP, format_scale
from ._param_validation import Float, SequenceOf, Str, validate_params
from ._validation import trial_id
from .recordings import Recordings
from .window_table import check_signal_frame, concat_windows

__all__ = ["make_windows", "SignalWindower", "check_signal_frame", "concat_windows", "trial_id"]


def _real(name: str, value) -> float:
    """A real number (not bool, not a string) as float; a ValueError naming ``name``."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    return float(value)


def _n_windows(n_times: dict[str, int], sfreq: dict[str, float], window_s, step_s) -> int:
    """Number of windows k = 0, 1, ... whose samples lie inside every modality's signal."""
    duration = min(n_times[m] / sfreq[m] for m in n_times)
    if duration + 1e-9 < window_s:
        return 0
    k = int(np.floor((duration - window_s) / step_s + 1e-9)) + 1
    # guard against rounding of start/length in samples
    while k > 0:
        start = (k - 1) * step_s
        ok = all(
            int(round(start * sfreq[m])) + int(round(window_s * sfreq[m])) <= n_times[m]
            for m in n_times
        )
        if ok:
            break
        k -= 1
    return k


def _first_trials(items: list[str], limit: int = 20) -> str:
    """The first ``limit`` of ``items`` joined by "; ", with the count when there are more."""
    more = f"; ... ({len(items)} trials in all)" if len(items) > limit else ""
    return "; ".join(items[:limit]) + more


def make_windows(
    recordings: Recordings,
    window_s: float,
    step_s: float | None = None,
    *,
    return_trials: bool = False,
    min_coverage: float = 1.0,
    modalities: Sequence[str] | None = None,
):
    """Cut continuous trials into time-aligned labelled windows.

    Parameters
    ----------
    recordings : Recordings
        Trials with one signal per modality (``(n_channels, n_times)`` at ``recordings.sfreq``)
        and one emotion distribution per trial.
    window_s : float
        Window length in seconds. Each modality's window has ``round(window_s * sfreq)`` samples.
    step_s : float, optional
        Distance between window starts in seconds (default: ``window_s``, no overlap); at
        least one sample of the slowest modality.
    return_trials : bool, default=False
        Also return the trial id of each window (:func:`trial_id`: ``"<subject>/<trial>"``).
    min_coverage : float in (0, 1], default=1.0
        Minimal fraction of finite (non-NaN) samples a window needs in every modality. Windows
        below it are dropped (a warning gives the count per trial, ``X.attrs["report"]`` lists
        them). Windows that are kept may still hold NaN when ``min_coverage < 1`` (see the
        extractor's ``nan_policy``).
    modalities : sequence of str, optional
        Modalities to keep (a list; default: all, in ``recordings.sfreq`` order).

    Returns
    -------
    X : pandas.DataFrame
        One row per window, one column per modality; each cell a read-only float64 array
        ``(n_channels, n_times)``, a view of a private copy of the trial (so the table shares
        no memory with ``recordings``, and overlapping windows share the copy; ``np.array(cell)``
        gives a writable one). Index: MultiIndex ``(subject, trial, start_s)`` (ids as text),
        in time order within each trial. ``X.attrs`` holds ``"sfreq"`` (dict),
        ``"behavioural"`` (tuple), ``"emotions"`` (list), ``"channel_names"`` (dict) and
        ``"report"`` (list of str: trials too short for one window, dropped windows). Combine
        tables with :func:`concat_windows` (``pd.concat`` drops ``attrs`` that differ).
    y : ndarray of shape (n_windows, n_emotions)
        The label of each window's trial (rows sum to 1).
    groups : ndarray of shape (n_windows,)
        Subject id of each window, as text.
    trials : ndarray of shape (n_windows,)
        Only with ``return_trials=True``: trial id of each window (:func:`trial_id`).

    Raises
    ------
    ValueError
        For invalid recordings (:meth:`Recordings.validate`: e.g. sampling rates, durations
        of a trial's modalities that disagree, complex signals, subject ids ``1`` and ``"1"``),
        a non-positive ``window_s``/``step_s``, a step shorter than one sample, an unknown
        modality, or when no window results at all.

    Warns
    -----
    UserWarning
        For each trial shorter than one window (named by subject and trial), and once for the
        windows dropped for NaN/inf samples (count per trial).
    """
    if not isinstance(recordings, Recordings):
        raise ValueError(
            f"make_windows expects a Recordings object, got {type(recordings).__name__}"
        )
    recordings.validate()  # the trials may have been edited since construction
    window_s = _real("window_s", window_s)
    step_s = window_s if step_s is None else _real("step_s", step_s)
    if not np.isfinite(window_s) or window_s <= 0:
        raise ValueError(f"window_s must be > 0, got {window_s!r}")
    if not np.isfinite(step_s) or step_s <= 0:
        raise ValueError(f"step_s must be > 0, got {step_s!r}")
    min_coverage = _real("min_coverage", min_coverage)
    if not 0 < min_coverage <= 1:
        raise ValueError(f"min_coverage must be in (0, 1], got {min_coverage!r}")
    if isinstance(modalities, str):
        raise ValueError(
            f"modalities must be a list of names, not the string {modalities!r}; pass "
            f"[{modalities!r}]"
        )
    mods = list(recordings.sfreq) if modalities is None else list(modalities)
    unknown = [m for m in mods if m not in recordings.sfreq]
    if unknown or not mods or len(set(mods)) != len(mods):
        raise ValueError(
            f"unknown modalities {unknown}; recordings have {list(recordings.sfreq)}"
            if unknown
            else "modalities is empty"
            if not mods
            else f"modalities lists a modality twice: {mods}"
        )
    sfreq = {m: float(recordings.sfreq[m]) for m in mods}
    length = {m: int(round(window_s * sfreq[m])) for m in mods}
    for m, n in length.items():
        if n < 1:
            raise ValueError(
                f"window_s={window_s} s is shorter than one sample of {m!r} at {sfreq[m]} Hz"
            )
    slowest = min(sfreq, key=sfreq.get)
    if step_s * sfreq[slowest] < 1 - 1e-9:
        raise ValueError(
            f"step_s={step_s:g} s is shorter than one sample of {slowest!r} at "
            f"{sfreq[slowest]:g} Hz ({1 / sfreq[slowest]:g} s): consecutive windows would "
            f"repeat the same samples; use step_s >= {1 / sfreq[slowest]:g}"
        )

    report: list[str] = []
    dropped_by_trial: list[str] = []
    too_short: list[tuple[float, str]] = []  # (duration, "trial 'T' of subject 'S'")
    cells: dict[str, list[np.ndarray]] = {m: [] for m in mods}
    index: list[tuple[str, str, float]] = []
    labels: list[np.ndarray] = []
    trial_ids: list[str] = []
    for trial in recordings.trials:
        n_times = {m: trial.signals[m].shape[-1] for m in mods}
        k = _n_windows(n_times, sfreq, window_s, step_s)
        if k == 0:
            duration = min(n_times[m] / sfreq[m] for m in mods)
            which = f"trial {trial.trial!r} of subject {trial.subject!r}"
            report.append(
                f"{which} lasts {duration:.3f} s, shorter than one {window_s:g} s window: "
                "no window taken"
            )
            too_short.append((duration, which))
            continue
        # one private read-only copy per trial and modality: the cells are views of it, so the
        # table neither aliases the caller's arrays nor multiplies memory by the overlap
        source = {}
        for m in mods:
            source[m] = np.array(trial.signals[m], dtype=np.float64, copy=True)
            source[m].flags.writeable = False
        dropped = 0
        label = np.array(trial.label, dtype=np.float64)
        for i in range(k):
            start = i * step_s
            pieces = {}
            for m in mods:
                a = int(round(start * sfreq[m]))
                pieces[m] = source[m][:, a : a + length[m]]
            if min_coverage < 1 or any(not np.isfinite(p).all() for p in pieces.values()):
                cover = min(np.isfinite(p).mean() if p.size else 0.0 for p in pieces.values())
                if cover < min_coverage:
                    dropped += 1
                    continue
            for m in mods:
                cells[m].append(pieces[m])
            index.append((str(trial.subject), str(trial.trial), round(start, 9)))
            labels.append(label)
            trial_ids.append(trial_id(trial.subject, trial.trial))
        if dropped:
            report.append(
                f"trial {trial.trial!r} of subject {trial.subject!r}: {dropped} of {k} windows "
                f"dropped (finite-sample coverage below min_coverage={min_coverage:g})"
            )
            dropped_by_trial.append(f"{trial.subject}/{trial.trial}: {dropped} of {k}")
    if too_short and index:
        shown = _first_trials([f"{which} ({duration:.3f} s)" for duration, which in too_short])
        warnings.warn(
            f"{len(too_short)} trial(s) shorter than one {window_s:g} s window, no window "
            f"taken: {shown}. X.attrs['report'] lists them",
            UserWarning,
            stacklevel=2,
        )
    if dropped_by_trial:
        warnings.warn(
            f"windows with NaN/inf samples dropped (coverage below min_coverage="
            f"{min_coverage:g}) in {len(dropped_by_trial)} trials: "
            f"{_first_trials(dropped_by_trial)}. Lower "
            "min_coverage to keep them (then see the extractor's nan_policy); X.attrs['report'] "
            "lists them",
            UserWarning,
            stacklevel=2,
        )
    if not index:
        if too_short and len(too_short) == len(recordings.trials):
            duration, which = max(too_short)
            why = f"every trial is shorter (the longest, {which}, lasts {duration:.3f} s)"
        else:  # every window dropped for missing samples (or no trial at all)
            why = _first_trials(report) if report else "the recordings hold no trial"
        raise ValueError(
            f"no window of {window_s:g} s could be cut from {len(recordings.trials)} trials: " + why
        )
    data = {}
    for m in mods:
        col = np.empty(len(index), dtype=object)
        for i, a in enumerate(cells[m]):
            col[i] = a
        data[m] = col
    mi = pd.MultiIndex.from_tuples(index, names=["subject", "trial", "start_s"])
    X = pd.DataFrame(data, index=mi, columns=mods)
    X.attrs["sfreq"] = dict(sfreq)
    X.attrs["behavioural"] = tuple(str(b) for b in recordings.behavioural if b in mods)
    X.attrs["emotions"] = [str(e) for e in recordings.emotions]
    X.attrs["channel_names"] = {
        m: [str(c) for c in recordings.channel_names[m]]
        for m in mods
        if m in recordings.channel_names
    }
    X.attrs["report"] = report
    y = np.vstack(labels)
    groups = np.asarray([s for s, _, _ in index], dtype=object)
    if return_trials:
        return X, y, groups, np.asarray(trial_ids, dtype=object)
    return X, y, groups


class SignalWindower(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Frame each window into sub-windows at one or more temporal scales.

    Row count is unchanged. Each modality is framed at its own sampling rate: a scale of
    ``s`` seconds gives frames of ``round(s * sfreq)`` samples, stepping by
    ``max(1, round(frame_len * (1 - overlap)))`` samples; frames that would run past the end
    of the window are not taken.

    Parameters
    ----------
    scales_s : sequence of float, default=(1.0, 4.0)
        Frame lengths in seconds.
    overlap : float in [0, 1), default=0.5
        Fraction of overlap between consecutive frames.
    modalities : sequence of str, optional
        Modalities to frame (default: every column of X).

    Notes
    -----
    Output: a DataFrame with X's index and one column per (modality, scale) named
    ``"<modality>__<scale>"`` (scale as :func:`mpcl_sklearn._columns.format_scale`, e.g.
    ``"bvp__4s"``). Each cell is a read-only float array ``(n_frames, n_channels, frame_len)``
    (a strided view of a private copy of the window: the output shares no memory with X).
    ``attrs`` keep (copies of) ``"sfreq"`` and the other attrs of X and add ``"frames"``:
    ``{column: {"modality": m, "scale": "4s", "scale_s": 4.0}}``.
    :class:`~mpcl_sklearn.features.ModalityFeatureExtractor` reads this.
    """

    _constraints = {
        "scales_s": Float(0, None, "neither")
        | SequenceOf(Float(0, None, "neither"), non_empty=True),
        "overlap": Float(0, 1, "left"),
        "modalities": SequenceOf(Str(), non_empty=True) | None,
    }

    def __init__(
        self,
        scales_s: Sequence[float] = (1.0, 4.0),
        overlap: float = 0.5,
        modalities: Sequence[str] | None = None,
    ):
        self.scales_s = scales_s
        self.overlap = overlap
        self.modalities = modalities

    def _scales(self) -> list[float]:
        """The validated ``scales_s`` as a list of floats."""
        validate_params(self)
        return np.atleast_1d(np.asarray(self.scales_s, dtype=float)).tolist()

    def fit(self, X, y=None):
        """Validate parameters and X; stateless (nothing is learned)."""
        validate_params(self)
        check_signal_frame(X, modalities=self.modalities)
        return self

    def _layout(self, X) -> list[tuple[str, str, float, int, int]]:
        scales = self._scales()
        sfreq = check_signal_frame(X, modalities=self.modalities)
        out = []
        for m, f in sfreq.items():
            n_times = X[m].iloc[0].shape[1]
            for s in scales:
                flen = int(round(s * f))
                if flen < 1:
                    raise ValueError(f"scale {s} s is shorter than one sample of {m!r} ({f} Hz)")
                if flen > n_times:
                    raise ValueError(
                        f"scale {s:g} s ({flen} samples of {m!r} at {f:g} Hz) is longer than the "
                        f"signal window ({n_times} samples = {n_times / f:g} s)"
                    )
                step = max(1, int(round(flen * (1 - float(self.overlap)))))
                out.append((m, format_scale(s), s, flen, step))
        return out

    def transform(self, X):
        """Frame every window; see the class Notes for the output format."""
        layout = self._layout(X)
        data = {}
        frames_info = {}
        # one private copy of every window (the frames are read-only views of it): the output
        # shares no memory with X, whose cells the caller may edit
        copies = {
            m: [np.array(cell, dtype=np.float64, copy=True) for cell in X[m].to_numpy()]
            for m in dict.fromkeys(m for m, *_ in layout)
        }
        for m, label, s, flen, step in layout:
            col_name = f"{m}{SEP}{label}"
            col = np.empty(len(X), dtype=object)
            for i, cell in enumerate(copies[m]):
                v = np.lib.stride_tricks.sliding_window_view(cell, flen, axis=1)[:, ::step]
                col[i] = v.transpose(1, 0, 2)  # (n_frames, C, flen), read-only
            data[col_name] = col
            frames_info[col_name] = {"modality": m, "scale": label, "scale_s": float(s)}
        out = pd.DataFrame(data, index=X.index)
        out.attrs.update(copy.deepcopy(dict(X.attrs)))
        out.attrs["frames"] = frames_info
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the output columns: ``"<modality>__<scale>"``."""
        scales = self._scales()
        mods = (
            list(self.modalities)
            if self.modalities is not None
            else list(input_features if input_features is not None else [])
        )
        return np.asarray(
            [f"{m}{SEP}{format_scale(s)}" for m in mods for s in scales], dtype=object
        )

    def set_output(self, *, transform: str | None = None) -> SignalWindower:
        """No-op (the output is always a DataFrame of frames); lets ``Pipeline.set_output`` run."""
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        return tags
