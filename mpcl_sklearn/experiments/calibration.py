"""Subject calibration in experiments: which rows calibrate each subject, and every model
behind a :class:`~mpcl_sklearn.preprocessing.SubjectCalibrator` step."""

from __future__ import annotations

import numpy as np

from ..datasets.table import FeatureTable

__all__ = ["CALIBRATION_MODES", "calibrated", "reference_rows"]

#: ``calibration=`` values of the runner (``"none"``: no calibrator step).
CALIBRATION_MODES = ("none", "reference", "transductive")


def reference_rows(
    data: FeatureTable,
    *,
    condition: str | None = None,
    minutes: float | None = None,
    min_rows: int = 1,
) -> np.ndarray:
    """The calibration rows of every subject: a boolean mask for
    :class:`~mpcl_sklearn.preprocessing.SubjectCalibrator` (mode ``"reference"``).

    Parameters
    ----------
    data : FeatureTable
    condition : str, optional
        Rows of this condition (``data.conditions``; WESAD: ``"Base"``, its resting baseline).
    minutes : float, optional
        Rows of windows that end within each subject's first ``minutes`` of recording
        (``data.times_s``; window length taken from the table's rows). Exactly one of
        ``condition`` and ``minutes``.
    min_rows : int, default=1
        Fewest reference rows every subject needs.

    Returns
    -------
    ndarray of bool, shape (n_samples,)

    Raises
    ------
    ValueError
        Neither or both given; the data has no conditions (or no window times); an unknown
        condition; a subject with fewer than ``min_rows`` reference rows.
    """
    if (condition is None) == (minutes is None):
        raise ValueError("give exactly one of condition= and minutes= for the reference rows")
    groups = np.asarray(data.groups).astype(str)
    if condition is not None:
        if data.conditions is None:
            raise ValueError(
                f"reference condition {condition!r}: this data has no conditions (WESAD has "
                "them, a feature table with condition_column / --condition-column); use the "
                "first minutes of each subject instead (--reference-minutes)"
            )
        conditions = np.asarray(data.conditions).astype(str)
        if condition not in set(conditions):
            raise ValueError(
                f"unknown reference condition {condition!r}; this data has "
                f"{sorted(set(conditions))}"
            )
        mask = conditions == condition
        what = f"condition {condition!r}"
    else:
        if not (np.isfinite(minutes) and minutes > 0):
            raise ValueError(f"reference minutes must be a positive number, got {minutes!r}")
        if data.times_s is None:
            raise ValueError(
                "reference minutes: this data has no window start times (WESAD and the "
                "synthetic recordings have them; feature tables and LDL sets do not)"
            )
        mask = _window_ends(data) <= 60.0 * minutes + 1e-9
        what = f"the first {minutes:g} minutes"
    counts = {g: int(mask[groups == g].sum()) for g in np.unique(groups)}
    short = {g: c for g, c in counts.items() if c < min_rows}
    if short:
        first = ", ".join(f"{g} ({c})" for g, c in list(short.items())[:5])
        raise ValueError(
            f"{len(short)} subject(s) have fewer than {min_rows} reference rows in {what}: {first}"
        )
    return mask


def _window_ends(data: FeatureTable) -> np.ndarray:
    """End time of every window (start plus the table's window length)."""
    return np.asarray(data.times_s, dtype=float) + float(data.window_s or 0.0)


def calibrated(estimator, mode: str):
    """``estimator`` behind a :class:`~mpcl_sklearn.preprocessing.SubjectCalibrator` step.

    Returns ``Pipeline([("calibrator", SubjectCalibrator(mode)), ("model", estimator)])``. The
    calibrator requests the subject of every row under the metadata name ``subjects`` (an
    alias of its ``groups``) and the calibration rows as ``reference``, at ``fit`` and
    ``transform``: so ``groups`` stays what the model requests (subjects across subjects, trial
    ids in the subject-dependent protocol, where the inner searches keep trials apart). It
    outputs a DataFrame with the input's column names (the models read their token layout
    from them). Build and use it with ``sklearn.config_context(enable_metadata_routing=True)``.

    A hyper-parameter search (``GridSearchCV``) stays inside the model step, behind the
    calibrator: the calibrator learns nothing across subjects (each subject's rows are
    normalised by that subject's own statistics, the same whether computed once for the
    training fold or again in each inner fold), so calibrating once before the search gives
    the inner folds exactly the features they would get with the calibrator inside it.

    Parameters
    ----------
    estimator : estimator
    mode : {"reference", "transductive"}

    Returns
    -------
    sklearn.pipeline.Pipeline
    """
    from sklearn.pipeline import Pipeline

    from ..preprocessing import SubjectCalibrator

    if mode not in CALIBRATION_MODES[1:]:
        raise ValueError(f"calibration mode must be 'reference' or 'transductive', got {mode!r}")
    step = SubjectCalibrator(mode=mode).set_output(transform="pandas")
    step.set_fit_request(groups="subjects", reference=mode == "reference")
    step.set_transform_request(groups="subjects", reference=mode == "reference")
    return Pipeline([("calibrator", step), ("model", estimator)])
