"""The ``"tsfresh"`` backend: ``tsfresh.extract_features`` on the frames, via long format."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

_PRESETS = ("minimal", "efficient", "comprehensive")


def resolve_tsfresh_settings(feature_set: str | Mapping[str, Any]) -> dict[str, Any]:
    """Settings dict for a preset name (minimal/efficient/comprehensive) or a custom dict.

    Names of the fast backend's sets (``"default"``, ``"default+entropy"``) are accepted too,
    so both backends can compute the same columns.
    """
    from tsfresh.feature_extraction import settings as ts

    if isinstance(feature_set, str):
        presets = {
            "minimal": ts.MinimalFCParameters,
            "efficient": ts.EfficientFCParameters,
            "comprehensive": ts.ComprehensiveFCParameters,
        }
        if feature_set in presets:
            return dict(presets[feature_set]())
        from .fast import FEATURE_SETS

        if feature_set in FEATURE_SETS:
            return dict(FEATURE_SETS[feature_set])
        raise ValueError(
            f"unknown tsfresh feature_set {feature_set!r}; use one of "
            f"{list(_PRESETS) + sorted(FEATURE_SETS)} or a settings dict"
        )
    if not isinstance(feature_set, Mapping):
        raise ValueError(f"feature_set must be a name or a dict, got {type(feature_set).__name__}")
    return dict(feature_set)


def tsfresh_features(
    x: np.ndarray, settings: Mapping[str, Any], *, n_jobs: int = 0
) -> tuple[np.ndarray, list[str]]:
    """Compute tsfresh features of every row of ``x`` (n_series, n_times).

    Returns the values ``(n_series, n_features)`` in input row order and the feature names
    (without the kind prefix), sorted as tsfresh sorts its columns.
    """
    from tsfresh import extract_features

    n_series, n_times = x.shape
    long = pd.DataFrame(
        {
            "id": np.repeat(np.arange(n_series), n_times),
            "time": np.tile(np.arange(n_times), n_series),
            "value": np.asarray(x, dtype=np.float64).ravel(),
        }
    )
    out = extract_features(
        long,
        column_id="id",
        column_sort="time",
        default_fc_parameters=dict(settings),
        n_jobs=n_jobs,
        disable_progressbar=True,
    )
    out = out.reindex(np.arange(n_series))  # tsfresh sorts the ids; restore input order
    names = [str(c).split("__", 1)[1] for c in out.columns]
    return out.to_numpy(dtype=np.float64), names
