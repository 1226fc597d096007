"""ModalityFeatureExtractor: features per modality and scale, pooled over frames."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._columns import SEP, format_scale
from .._param_validation import (
    Bool,
    InstanceOf,
    Int,
    InvalidParameterError,
    MappingOf,
    Options,
    Satisfies,
    SequenceOf,
    Str,
    validate_params,
)
from .._validation import check_sampling_rate
from ..window_table import MISSING_SFREQ, check_signal_frame
from . import fast as _fast
from .physio import KINDS
from .tsfresh_backend import open_distributor

_POOLS = {
    "mean": np.nanmean,
    "std": np.nanstd,
    "min": np.nanmin,
    "max": np.nanmax,
    "median": np.nanmedian,
}
_NAN_POLICIES = ("raise", "propagate", "interpolate")
_UNDEFINED = ("zero", "nan", "raise")
_BACKENDS = ("fast", "tsfresh", "physio", "fast+physio")


@dataclass(frozen=True)
class _Block:
    column: str  # column of X holding the cells
    modality: str
    scale: str  # scale label, e.g. "4s"
    sfreq: float
    n_frames: int
    n_channels: int
    frame_len: int
    framed: bool  # cells are (n_frames, C, T) (SignalWindower) or (C, T) (make_windows)


def _layout(X, modalities: Sequence[str] | None) -> list[_Block]:
    """Describe the (modality, scale) blocks of X; raises ValueError on bad input."""
    if not isinstance(X, pd.DataFrame):
        raise ValueError(
            "ModalityFeatureExtractor expects the DataFrame made by make_windows or "
            f"SignalWindower, got {type(X).__name__}"
        )
    frames = X.attrs.get("frames")
    if not frames:
        sfreq = check_signal_frame(X, modalities=modalities)
        blocks = []
        for m, f in sfreq.items():
            c, t = X[m].iloc[0].shape
            blocks.append(_Block(m, m, format_scale(t / f), f, 1, c, t, False))
        return blocks
    sfreq = X.attrs.get("sfreq")
    if not sfreq:
        raise ValueError(MISSING_SFREQ)
    if len(X) == 0:
        raise ValueError("X has no rows")
    cols = [c for c, info in frames.items() if modalities is None or info["modality"] in modalities]
    if modalities is not None:
        have = {frames[c]["modality"] for c in cols}
        missing = [m for m in modalities if m not in have]
        if missing:
            raise ValueError(f"modalities {missing} are missing from X (has {sorted(have)})")
    blocks = []
    for c in cols:
        if c not in X.columns:
            raise ValueError(f"framed column {c!r} is missing from X (has {list(X.columns)})")
        info = frames[c]
        m = info["modality"]
        if m not in sfreq:
            raise ValueError(f"unknown sampling rate of modality {m!r}: not in X.attrs['sfreq']")
        check_sampling_rate(sfreq[m], f"modality {m!r} in X.attrs['sfreq']")
        shape = None
        for i, cell in enumerate(X[c].to_numpy()):
            if not isinstance(cell, np.ndarray) or cell.ndim != 3 or cell.dtype.kind not in "biuf":
                raise ValueError(
                    f"cell at row {i} of {c!r} must be a 3-D array of real numbers (n_frames, "
                    f"n_channels, frame_len), got {type(cell).__name__} with shape "
                    f"{getattr(cell, 'shape', None)} and dtype {getattr(cell, 'dtype', None)}"
                )
            if shape is None:
                shape = cell.shape
            elif cell.shape[1] != shape[1]:
                raise ValueError(
                    f"{c!r}: channel count changes between rows ({shape[1]} in row 0, "
                    f"{cell.shape[1]} in row {i})"
                )
            elif cell.shape != shape:
                raise ValueError(
                    f"{c!r}: frame layout changes between rows ({shape} in row 0, "
                    f"{cell.shape} in row {i})"
                )
        scale_s = info.get("scale_s")
        if scale_s is not None and int(round(float(scale_s) * float(sfreq[m]))) != shape[2]:
            raise ValueError(
                f"{c!r}: frames of {shape[2]} samples, but {float(scale_s):g} s at the sampling "
                f"rate X.attrs['sfreq'][{m!r}] = {float(sfreq[m]):g} Hz is "
                f"{int(round(float(scale_s) * float(sfreq[m])))} samples: the rate (or "
                "X.attrs['frames']) is wrong"
            )
        blocks.append(_Block(c, m, info["scale"], float(sfreq[m]), *shape, True))
    return blocks


def _check_rates(blocks: list[_Block], fitted: list[_Block]) -> None:
    """Refuse a table sampled at other rates, or framed at other scales, than in ``fit``
    (16 samples at 8 Hz are not 16 samples at 4 Hz); the message names the rates."""
    problems = []
    for m in dict.fromkeys(b.modality for b in blocks):
        now = [b for b in blocks if b.modality == m]
        before = [b for b in fitted if b.modality == m]
        rates = [", ".join(sorted({f"{b.sfreq:g}" for b in bs})) for bs in (now, before)]
        scales = [[b.scale for b in bs] for bs in (now, before)]
        if before and rates[0] != rates[1]:
            problems.append(
                f"modality {m!r} is sampled at {rates[0]} Hz in X, {rates[1]} Hz in fit"
            )
        elif len(now) == len(before) and scales[0] != scales[1]:
            problems.append(f"the frames of {m!r} last {scales[0]} in X, {scales[1]} in fit")
    if problems:
        raise ValueError(
            "X's sampling rates or frame lengths differ from those seen in fit: "
            f"{'; '.join(problems)}. Resample the signals (or cut windows and frames of the same "
            "length in seconds) as for the data the extractor was fitted on, or fit it again"
        )


def _interpolate(block: np.ndarray) -> np.ndarray:
    """Linearly interpolate NaN/inf samples along the last axis (edges: nearest value)."""
    out = np.array(block, dtype=np.float64)
    flat = out.reshape(-1, out.shape[-1])
    t = np.arange(flat.shape[1])
    for row in np.flatnonzero(~np.isfinite(flat).all(axis=1)):
        good = np.isfinite(flat[row])
        if good.any():
            flat[row] = np.interp(t, t[good], flat[row][good])
        else:
            flat[row] = np.nan
    return out


def _live_distributor_hint(value) -> str | None:
    if not any(k.__name__ == "DistributorBaseClass" for k in type(value).__mro__):
        return None
    return (
        f"a live {type(value).__name__} holds a Dask client, which can be neither cloned nor "
        "pickled; pass its scheduler address ('tcp://host:8786') or a factory such as "
        "functools.partial(ClusterDaskDistributor, 'tcp://host:8786')"
    )


class ModalityFeatureExtractor(TransformerMixin, BaseEstimator):
    """Features per modality and temporal scale, computed per frame and pooled over frames.

    Parameters
    ----------
    backend : {"fast", "tsfresh", "physio", "fast+physio"}, default="fast"
        ``"fast"``: vectorised numpy/scipy re-implementation of tsfresh calculators (same names,
        same values). ``"tsfresh"``: ``tsfresh.extract_features`` (long format, one
        ``extract_features`` call per chunk). ``"physio"``: physiological features per modality
        kind (see :mod:`mpcl_sklearn.features.physio`). ``"fast+physio"``: both, the fast
        statistics then the physiological features of each (modality, scale).
    feature_set : str or dict, default="default"
        fast: ``"minimal"``, ``"default"``, ``"default+entropy"`` or a tsfresh settings dict
        restricted to :data:`~mpcl_sklearn.features.fast.SUPPORTED_CALCULATORS`.
        tsfresh: ``"minimal"``, ``"efficient"``, ``"comprehensive"``, the fast set names, or any
        settings dict. physio: ignored (use ``physio_kinds``).
    pooling : sequence of {"mean", "std", "min", "max", "median"}, default=("mean", "std")
        Statistics over the frames of a row (NaN-ignoring). A (modality, scale) with one
        frame per row is not pooled: its columns carry no pooling suffix.
    modalities : sequence of str, optional
        Modalities to use (default: all).
    physio_kinds : dict of str to str, optional
        physio backend: modality name -> kind (``"eeg"``, ``"eda"``, ``"ppg"``, ``"ecg"``,
        ``"resp"``, ``"temp"``, ``"acc"``). Default: inferred from the name (see
        :func:`~mpcl_sklearn.features.physio.infer_kind`).
    nan_policy : {"raise", "propagate", "interpolate"}, default="raise"
        Non-finite input samples: raise a ValueError naming the row and modality; let the
        features become undefined (then ``undefined`` applies); or interpolate linearly per
        channel and frame.
    undefined : {"zero", "nan", "raise"}, default="zero"
        Features undefined on a frame (constant signal, too short) are ignored when pooling;
        if still undefined (NaN or inf) after pooling: replace by 0, keep NaN, or raise a
        ValueError listing the columns.
    n_jobs : int, optional
        joblib workers over chunks of rows (None: sequential). Threads for the fast backend
        (numpy releases the GIL), processes for the others. Under joblib's Dask backend the
        chunks go to a ``dask.distributed`` cluster (see :mod:`mpcl_sklearn.distributed`).
    distributor : str or callable, optional
        tsfresh backend only: spread each chunk's ``tsfresh.extract_features`` call over a Dask
        cluster with tsfresh's own distributor instead of computing it here. A scheduler address
        (``"tcp://host:8786"``: a ``ClusterDaskDistributor`` is connected for each ``transform``)
        or a zero-argument callable returning a tsfresh distributor, e.g.
        ``functools.partial(LocalDaskDistributor, n_workers=4)``; it is closed when
        ``transform`` ends. Not a live distributor object (its Dask client cannot be cloned or
        pickled). ``fit`` (one row) always runs locally; the values are the same as without a
        distributor. Requires ``n_jobs`` None or 1; other backends raise a ValueError.
    chunk_size : int, default=1024
        Rows per chunk; bounds memory (the fast backend holds one chunk's frames at a time).
    progress : bool, default=False
        Show a tqdm progress bar over chunks.

    Attributes
    ----------
    feature_names_out_ : ndarray of str
        Output columns ``<modality>__<scale>__ch<i>__<feature>[__pool_<stat>]``.
    n_features_out_ : int

    Notes
    -----
    ``transform`` returns a pandas DataFrame (X's index, columns :attr:`feature_names_out_`)
    by default, so the next step of a Pipeline sees the ``<modality>__<scale>__`` names: a
    :class:`~mpcl_sklearn.models.MPCLDistributionRegressor` makes one token per modality and
    scale from them. ``set_output(transform="default")`` and ``"pandas"`` both give this
    DataFrame (the default output of this transformer is a DataFrame); use ``.to_numpy()`` for
    a bare array. Its ``attrs`` carry what the window table knew about the labels and the
    modalities: ``"emotions"`` (list of emotion names), ``"behavioural"`` (the behavioural
    modalities among those used) and ``"channel_names"`` (``{modality: [names]}``), each only
    when X has it. pandas keeps ``attrs`` through row indexing (``iloc``, ``take``, which
    ``cross_validate`` uses), so the models downstream read them.
    """

    _constraints = {
        "backend": Options(*_BACKENDS),
        # which names exist depends on the backend: checked by its settings resolver in fit
        "feature_set": Str() | InstanceOf(Mapping, "a dict of feature calculator settings"),
        "pooling": Options(*_POOLS) | SequenceOf(Options(*_POOLS), non_empty=True),
        "modalities": SequenceOf(Str(), non_empty=True) | None,
        "physio_kinds": MappingOf(Str(), Options(*KINDS)) | None,
        "nan_policy": Options(*_NAN_POLICIES),
        "undefined": Options(*_UNDEFINED),
        "n_jobs": Int(None, -1) | Int(1) | None,
        "chunk_size": Int(1),
        "progress": Bool(),
        "distributor": Str()
        | Satisfies(
            callable,
            "a zero-argument callable returning a tsfresh distributor",
            hint=_live_distributor_hint,
        )
        | None,
    }

    def __init__(
        self,
        backend: str = "fast",
        feature_set: str | Mapping[str, Any] = "default",
        pooling: Sequence[str] = ("mean", "std"),
        modalities: Sequence[str] | None = None,
        physio_kinds: Mapping[str, str] | None = None,
        nan_policy: str = "raise",
        undefined: str = "zero",
        n_jobs: int | None = None,
        chunk_size: int = 1024,
        progress: bool = False,
        distributor: str | Callable[[], Any] | None = None,
    ):
        self.backend = backend
        self.feature_set = feature_set
        self.pooling = pooling
        self.modalities = modalities
        self.physio_kinds = physio_kinds
        self.nan_policy = nan_policy
        self.undefined = undefined
        self.n_jobs = n_jobs
        self.chunk_size = chunk_size
        self.progress = progress
        self.distributor = distributor

    # ----------------------------------------------------------------------------------------
    def _check_param_combinations(self) -> None:
        distributor = getattr(self, "distributor", None)  # absent in models saved before it
        if distributor is None:
            return
        if self.backend != "tsfresh":
            raise InvalidParameterError(
                "The 'distributor' parameter of ModalityFeatureExtractor is only used by "
                f"backend='tsfresh' (tsfresh's Dask distributors), got backend={self.backend!r}; "
                "for the other backends use n_jobs under joblib's Dask backend "
                "(mpcl_sklearn.distributed.dask_backend)"
            )
        if self.n_jobs not in (None, 1):
            raise InvalidParameterError(
                f"The 'distributor' and 'n_jobs' parameters of ModalityFeatureExtractor both "
                f"parallelise the tsfresh backend (n_jobs={self.n_jobs!r}); with a distributor "
                "set n_jobs=None"
            )

    def _settings(self):
        if self.backend == "fast+physio":
            from .physio import resolve_kinds

            return _fast.resolve_settings(self.feature_set), resolve_kinds(self.physio_kinds)
        if self.backend == "fast":
            return _fast.resolve_settings(self.feature_set)
        if self.backend == "tsfresh":
            from .tsfresh_backend import resolve_tsfresh_settings

            return resolve_tsfresh_settings(self.feature_set)
        from .physio import resolve_kinds

        return resolve_kinds(self.physio_kinds)

    def _block_features(
        self, block: _Block, data: np.ndarray, settings, distributor=None
    ) -> tuple[np.ndarray, list]:
        """Features of frames ``data`` (N, C, T) -> values (N, K) and names (K,)."""
        if self.backend == "fast+physio":
            from .physio import physio_features

            fast, kinds = settings
            v_fast, n_fast = self._statistics(data, fast, "fast", distributor)
            v_phys, n_phys = physio_features(data, block.sfreq, block.modality, kinds)
            return np.hstack([v_fast, v_phys]), n_fast + list(n_phys)
        if self.backend == "physio":
            from .physio import physio_features

            return physio_features(data, block.sfreq, block.modality, settings)
        return self._statistics(data, settings, self.backend, distributor)

    @staticmethod
    def _statistics(data: np.ndarray, settings, backend: str, distributor=None):
        """The fast or tsfresh statistics of every channel of frames ``data`` (N, C, T)."""
        n, c, t = data.shape
        flat = data.reshape(n * c, t)
        if backend == "fast":
            values = _fast.compute_features(flat, settings)
            names = _fast.feature_names(settings)
        else:
            from .tsfresh_backend import tsfresh_features

            values, names = tsfresh_features(flat, settings, n_jobs=0, distributor=distributor)
        k = len(names)
        values = values.reshape(n, c * k)
        return values, [f"ch{ci}{SEP}{f}" for ci in range(c) for f in names]

    def _pools(self) -> list[str]:
        return [self.pooling] if isinstance(self.pooling, str) else list(self.pooling)

    def _extract_chunk(self, X_chunk: pd.DataFrame, blocks, settings, distributor=None):
        """Features of a chunk of rows -> (values (rows, n_out), names)."""
        pools = self._pools()
        outs, names = [], []
        n_rows = len(X_chunk)
        for b in blocks:
            cells = X_chunk[b.column].to_numpy()
            if b.framed:
                data = np.stack([np.asarray(a, dtype=np.float64) for a in cells])
            else:
                data = np.stack([np.asarray(a, dtype=np.float64) for a in cells])[:, None]
            # data: (rows, frames, C, T)
            if not np.isfinite(data).all():
                if self.nan_policy == "raise":
                    bad_rows = np.flatnonzero(~np.isfinite(data).reshape(n_rows, -1).all(axis=1))
                    where = [str(X_chunk.index[i]) for i in bad_rows[:5]]
                    raise ValueError(
                        f"modality {b.modality!r} has NaN or inf samples in rows {where}"
                        f"{' ...' if len(bad_rows) > 5 else ''}; clean them, or use "
                        "nan_policy='interpolate' or 'propagate'"
                    )
                if self.nan_policy == "interpolate":
                    data = _interpolate(data)
            frames = data.reshape(n_rows * b.n_frames, b.n_channels, b.frame_len)
            with np.errstate(all="ignore"):
                values, feat = self._block_features(b, frames, settings, distributor)
            values = np.where(np.isfinite(values), values, np.nan)
            prefix = f"{b.modality}{SEP}{b.scale}{SEP}"
            if b.n_frames == 1:
                outs.append(values)
                names.extend(prefix + f for f in feat)
            else:
                v = values.reshape(n_rows, b.n_frames, -1)
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore", RuntimeWarning)
                    pooled = [_POOLS[p](v, axis=1) for p in pools]
                # columns: feature-major, then pool
                outs.append(np.stack(pooled, axis=2).reshape(n_rows, -1))
                names.extend(f"{prefix}{f}{SEP}pool_{p}" for f in feat for p in pools)
        return np.hstack(outs), names

    # ----------------------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Check X and record the output columns (computed on the first row)."""
        validate_params(self)
        blocks = _layout(X, self.modalities)
        settings = self._settings()
        first = X.iloc[:1]
        _, names = self._extract_chunk(first, blocks, settings)
        self.blocks_ = blocks
        self.feature_names_out_ = np.asarray(names, dtype=object)
        self.n_features_out_ = len(names)
        return self

    def transform(self, X):
        """Compute the features of every row.

        Returns
        -------
        DataFrame of shape (n_rows, n_features_out_)
            Index of X, columns :attr:`feature_names_out_`, ``attrs`` as in the class Notes.
        """
        check_is_fitted(self, "blocks_")
        validate_params(self)
        blocks = _layout(X, self.modalities)
        _check_rates(blocks, self.blocks_)
        if [(b.column, b.n_frames, b.n_channels, b.frame_len) for b in blocks] != [
            (b.column, b.n_frames, b.n_channels, b.frame_len) for b in self.blocks_
        ]:
            raise ValueError(
                "X's modalities, scales or shapes differ from those seen in fit: "
                f"{[(b.column, b.n_frames, b.n_channels, b.frame_len) for b in blocks]} vs "
                f"{[(b.column, b.n_frames, b.n_channels, b.frame_len) for b in self.blocks_]}"
            )
        settings = self._settings()
        step = int(self.chunk_size)
        starts = list(range(0, len(X), step))
        chunks = (X.iloc[s : s + step] for s in starts)
        out = np.empty((len(X), self.n_features_out_), dtype=np.float64)
        with open_distributor(getattr(self, "distributor", None)) as distributor:
            if self.n_jobs in (None, 1):
                results = (self._extract_chunk(c, blocks, settings, distributor) for c in chunks)
            else:
                # numpy releases the GIL: threads suffice for the fast backend (no pickling)
                prefer = "threads" if self.backend == "fast" else "processes"
                results = Parallel(n_jobs=self.n_jobs, return_as="generator", prefer=prefer)(
                    delayed(self._extract_chunk)(c, blocks, settings) for c in chunks
                )
            if self.progress:
                from tqdm.auto import tqdm

                results = tqdm(results, total=len(starts), desc=f"features ({self.backend})")
            for s, (values, names) in zip(starts, results, strict=True):
                if list(names) != list(self.feature_names_out_):
                    raise ValueError(
                        f"the {self.backend} backend returned other features on rows {s}.. "
                        f"({len(names)}) than in fit ({self.n_features_out_})"
                    )
                out[s : s + len(values)] = values
        bad = ~np.isfinite(out)
        if bad.any():
            if self.undefined == "raise":
                cols = self.feature_names_out_[bad.any(axis=0)]
                raise ValueError(
                    f"{bad.sum()} undefined feature values (NaN/inf) in columns "
                    f"{list(cols[:10])}{' ...' if len(cols) > 10 else ''}"
                )
            if self.undefined == "zero":
                out[bad] = 0.0
            else:
                out[bad] = np.nan
        table = pd.DataFrame(out, index=X.index, columns=list(self.feature_names_out_), copy=False)
        table.attrs = self._output_attrs(X)
        return table

    def _output_attrs(self, X) -> dict:
        """Label and modality metadata of X's attrs that the feature table passes on."""
        used = {b.modality for b in self.blocks_}
        attrs = {}
        if X.attrs.get("emotions") is not None:
            attrs["emotions"] = [str(e) for e in X.attrs["emotions"]]
        if X.attrs.get("behavioural") is not None:
            attrs["behavioural"] = tuple(str(b) for b in X.attrs["behavioural"] if b in used)
        if X.attrs.get("channel_names"):
            attrs["channel_names"] = {
                m: list(v) for m, v in X.attrs["channel_names"].items() if m in used
            }
        return copy.deepcopy(attrs)

    def fit_transform(self, X, y=None, **fit_params):
        """Fit, then transform (the same as ``fit(X).transform(X)``)."""
        return self.fit(X, y).transform(X)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Output column names ``<modality>__<scale>__ch<i>__<feature>[__pool_<stat>]``."""
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.non_deterministic = False
        return tags
