"""Per-subject feature normalisation: subject-wise z-scoring and the SubjectCalibrator step."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted, validate_data

from ._param_validation import Float, Int, Options, validate_params
from ._scaling import column_mean_std
from ._validation import as_real_array

__all__ = ["SubjectCalibrator", "subject_standardize"]


def subject_standardize(X, groups, *, min_scale: float = 1e-12):
    """Z-score every feature within each subject (subject-wise normalisation).

    Physiological baselines differ between people (resting heart rate, skin conductance level),
    so the same feature value means different things for different subjects. Standardising each
    subject's windows by that subject's own mean and standard deviation removes these offsets.
    It uses the *unlabelled* features of every subject, the test subjects included
    (transductive): no label is involved, but the test subject's data must be available as a
    batch. Report it as such.

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_samples, n_features)
    groups : array-like of shape (n_samples,)
        Subject of every row.
    min_scale : float, default=1e-12
        Standard deviations below this (a feature constant within a subject) count as 1, so the
        feature becomes 0 for that subject.

    Returns
    -------
    DataFrame or ndarray
        Same type, shape, index and columns as ``X`` (a DataFrame keeps a copy of its
        ``attrs``: emotion and modality names); a new array, ``X`` is not changed.

    Raises
    ------
    ValueError
        X not 2-D real numbers, NaN/inf in X, ``groups`` not one id per row, or two subject
        ids that differ but read the same as text (``1`` and ``"1"``).
    """
    groups = np.asarray(groups, dtype=object) if groups is not None else np.asarray(None)
    is_frame = isinstance(X, pd.DataFrame)
    A = as_real_array(X, "X", "a 2-D array of features")
    if A.ndim != 2:
        raise ValueError(f"X must be 2-D (samples x features), got shape {A.shape}")
    if groups.ndim != 1 or len(groups) != len(A):
        raise ValueError(
            f"groups has {groups.size if groups.ndim else 'no'} entries in shape {groups.shape} "
            f"but X has {len(A)} rows: give one subject id per row"
        )
    codes, uniques = pd.factorize(groups, use_na_sentinel=False)
    as_text = pd.Index([str(u) for u in uniques])
    if as_text.has_duplicates:
        dup = as_text[as_text.duplicated()][0]
        raise ValueError(
            f"groups holds subject ids that differ but read {dup!r} as text (e.g. 1 and '1'); "
            "use one id per subject"
        )
    if not np.isfinite(A).all():
        raise ValueError("X contains NaN or inf; impute the features before standardising")
    out = np.empty_like(A)
    for k, g in enumerate(uniques):
        rows = codes == k
        block = A[rows]
        mean, scale = column_mean_std(block, f"subject {g}")
        out[rows] = (block - mean) / np.where(scale > min_scale, scale, 1.0)
    if is_frame:
        frame = pd.DataFrame(out, index=X.index.copy(), columns=X.columns.copy())
        frame.attrs = copy.deepcopy(dict(X.attrs))
        return frame
    return out


# --------------------------------------------------------------------------------------------
# subject calibration as a Pipeline step
# --------------------------------------------------------------------------------------------

_CENTERS = ("median", "mean")
_SCALES = ("iqr", "std")
#: IQR of a standard normal: IQR / 1.349 estimates the standard deviation
_IQR_NORMAL = 1.3489795003921634


def _subject_statistics(block: np.ndarray, center: str, scale, where: str):
    """Per-feature centre and scale of one subject's calibration rows."""
    if center == "median":
        loc = np.median(block, axis=0)
    else:
        loc = column_mean_std(block, where)[0]
    if scale is None:
        spread = np.ones(block.shape[1])
    elif scale == "iqr":
        q75, q25 = np.percentile(block, [75, 25], axis=0)
        spread = (q75 - q25) / _IQR_NORMAL
    else:
        spread = column_mean_std(block, where)[1]
    return loc, spread


class SubjectCalibrator(TransformerMixin, BaseEstimator):
    """Normalise every subject's features by statistics of that subject's own rows.

    Physiological feature levels differ between people (resting heart rate, skin conductance,
    skin temperature), so cross-subject models see mostly *who* a window comes from. This step
    removes each subject's offset and spread, as is standard in cross-subject physiological
    emotion recognition. It learns nothing across subjects: the output rows of a subject depend
    only on that subject's own rows, so it cannot leak between training and test subjects.

    The subject of each row reaches the step as ``groups`` metadata (requested by default at
    ``fit`` and ``transform``): with ``sklearn.set_config(enable_metadata_routing=True)``,
    ``cross_validate(pipe, X, y, params={"groups": groups})``, ``GridSearchCV`` and
    ``Pipeline.fit/predict(..., groups=...)`` route it here. Without ``groups`` the step raises
    (it never falls back to scaling all subjects together).

    Modes
    -----
    ``"reference"``
        Each subject is normalised by its *calibration segment*: the rows marked True in the
        ``reference`` metadata (a boolean per row, routed like ``groups``), e.g. a resting
        baseline recorded when a wearable is set up (WESAD's baseline condition) or the first
        minutes of each subject's recording (``reference = times_s < 300``). Only the
        reference rows' *features* are used, never labels.
    ``"transductive"``
        Each subject is normalised by all of that subject's rows in the call (unlabelled
        features of the test subject included): it assumes a batch of the new subject's data is
        available before predicting. Report results obtained this way as transductive.

    Subjects seen in ``fit`` keep the statistics computed there (so test rows of a subject that
    was also in training, as in subject-dependent protocols, use that subject's training
    statistics). A subject new at ``transform`` gets statistics from its rows in that call:
    its reference rows, or all its rows (transductive); a new subject without enough such rows
    raises a ``ValueError`` naming it.

    Parameters
    ----------
    mode : {"reference", "transductive"}, default="reference"
    center : {"mean", "median"}, default="mean"
        Location subtracted per subject and feature.
    scale : {"std", "iqr"} or None, default="std"
        Spread divided out per subject and feature: the standard deviation, the interquartile
        range / 1.349 (robust; equals the standard deviation for normal data), or None (centre
        only). The defaults were measured best on WESAD (``docs/method.md``): with a resting
        reference, many window statistics have an almost-zero interquartile range, and the
        robust scale then blows other conditions' values up by orders of magnitude. A spread at
        or below ``min_scale`` (a feature constant in the calibration rows) counts as 1.
    min_rows : int, default=3
        Fewest calibration rows a subject needs.
    min_scale : float, default=1e-12
    clip : float or None, default=None
        Clip the normalised values to ``[-clip, clip]`` (a feature almost constant in the
        calibration segment can otherwise take huge values elsewhere).

    Attributes
    ----------
    subjects_ : ndarray
        Subjects seen in ``fit``.
    center_, scale_ : ndarray of shape (n_subjects, n_features_in_)
        Their statistics (rows in the order of ``subjects_``).
    n_features_in_, feature_names_in_
    """

    __metadata_request__fit = {"groups": True, "reference": True}
    __metadata_request__transform = {"groups": True, "reference": True}

    _constraints = {
        "mode": Options("reference", "transductive"),
        "center": Options(*_CENTERS),
        "scale": Options(*_SCALES) | None,
        "min_rows": Int(1),
        "min_scale": Float(0),
        "clip": Float(0, None, "neither") | None,
    }

    def __init__(
        self,
        mode: str = "reference",
        center: str = "mean",
        scale: str | None = "std",
        min_rows: int = 3,
        min_scale: float = 1e-12,
        clip: float | None = None,
    ):
        self.mode = mode
        self.center = center
        self.scale = scale
        self.min_rows = min_rows
        self.min_scale = min_scale
        self.clip = clip

    def _check_meta(self, n: int, groups, reference, method: str):
        if groups is None:
            raise ValueError(
                f"SubjectCalibrator.{method} needs groups= (the subject of every row). In a "
                "Pipeline or cross_validate, enable metadata routing "
                "(sklearn.set_config(enable_metadata_routing=True)) and pass groups, e.g. "
                "cross_validate(pipe, X, y, params={'groups': groups}); the calibrator never "
                "falls back to scaling all subjects together."
            )
        groups = np.asarray(groups)
        if groups.ndim != 1 or len(groups) != n:
            raise ValueError(f"groups must have one entry per row ({n}), got shape {groups.shape}")
        if reference is not None:
            reference = np.asarray(reference)
            if reference.shape != (n,):
                raise ValueError(
                    f"reference must have one entry per row ({n}), got shape {reference.shape}"
                )
            if reference.dtype != bool:
                if not np.isin(reference, (0, 1)).all():
                    raise ValueError("reference must be a boolean mask (True: calibration row)")
                reference = reference.astype(bool)
        return groups, reference

    def _calibration_rows(self, rows: np.ndarray, reference) -> np.ndarray:
        if self.mode == "transductive":
            return rows
        if reference is None:
            return rows[:0]
        return rows[reference[rows]]

    def _statistics(self, A, groups, reference, subjects, method: str):
        centers, scales = [], []
        for g in subjects:
            rows = self._calibration_rows(np.flatnonzero(groups == g), reference)
            if len(rows) < self.min_rows:
                what = "reference rows" if self.mode == "reference" else "rows"
                hint = (
                    " (pass reference=..., a boolean per row marking its calibration segment)"
                    if self.mode == "reference" and reference is None
                    else ""
                )
                raise ValueError(
                    f"SubjectCalibrator.{method}: subject {str(g)!r} has {len(rows)} {what}, fewer "
                    f"than min_rows={self.min_rows}{hint}"
                )
            loc, spread = _subject_statistics(A[rows], self.center, self.scale, f"subject {g}")
            centers.append(loc)
            scales.append(np.where(spread > self.min_scale, spread, 1.0))
        shape = (len(subjects), A.shape[1])
        return np.reshape(centers, shape), np.reshape(scales, shape)

    def _as_array(self, X, *, reset: bool) -> np.ndarray:
        A = validate_data(self, X, reset=reset, dtype=np.float64, ensure_all_finite=False)
        if not np.isfinite(A).all():
            bad = np.flatnonzero(~np.isfinite(A).all(axis=0))[:5].tolist()
            raise ValueError(
                f"X contains NaN or inf (columns {bad}...); impute the features before calibrating"
            )
        return A

    def fit(self, X, y=None, groups=None, reference=None):
        """Compute the statistics of every subject in ``X`` (from its own rows only).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : ignored
        groups : array-like of shape (n_samples,)
            Subject of every row.
        reference : array-like of bool, shape (n_samples,), optional
            Calibration rows (mode ``"reference"``).

        Returns
        -------
        self
        """
        validate_params(self)
        A = self._as_array(X, reset=True)
        groups, reference = self._check_meta(len(A), groups, reference, "fit")
        self.subjects_ = np.unique(groups)
        self.center_, self.scale_ = self._statistics(A, groups, reference, self.subjects_, "fit")
        return self

    def transform(self, X, groups=None, reference=None):
        """Normalise every row by its subject's statistics.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        groups : array-like of shape (n_samples,)
        reference : array-like of bool, shape (n_samples,), optional
            Needed for subjects not seen in ``fit`` (mode ``"reference"``).

        Returns
        -------
        ndarray or DataFrame of shape (n_samples, n_features)
            A DataFrame when ``X`` is one (its index, columns and ``attrs``, e.g. the emotion
            and behavioural-modality names the next step reads), else an array.
        """
        check_is_fitted(self)
        A = self._as_array(X, reset=False)
        groups, reference = self._check_meta(len(A), groups, reference, "transform")
        subjects, codes = np.unique(groups, return_inverse=True)
        known = np.isin(subjects, self.subjects_)
        center = np.empty((len(subjects), A.shape[1]))
        scale = np.empty_like(center)
        fitted = np.searchsorted(self.subjects_, subjects[known])  # subjects_ is sorted
        center[known], scale[known] = self.center_[fitted], self.scale_[fitted]
        if not known.all():  # new subjects: statistics of their own rows in this call
            center[~known], scale[~known] = self._statistics(
                A, groups, reference, subjects[~known], "transform"
            )
        out = (A - center[codes]) / scale[codes]
        if self.clip is not None:
            np.clip(out, -self.clip, self.clip, out=out)
        if isinstance(X, pd.DataFrame):
            frame = pd.DataFrame(out, index=X.index, columns=X.columns, copy=False)
            frame.attrs = copy.deepcopy(dict(X.attrs))
            return frame
        return out

    def fit_transform(self, X, y=None, groups=None, reference=None):
        """``fit`` then ``transform`` on the same rows (the metadata go to both)."""
        return self.fit(X, y, groups=groups, reference=reference).transform(
            X, groups=groups, reference=reference
        )

    def get_feature_names_out(self, input_features=None):
        """The input feature names (the step keeps the columns)."""
        check_is_fitted(self)
        return _check_feature_names_in(self, input_features)
