"""The labelled feature table: what a protocol needs, one row per labelled sample.

:class:`FeatureTable` is the second data record of the package, next to
:class:`~mpcl_sklearn.Recordings`: loaders of precomputed features (:func:`load_dmer`) return
one, and :func:`mpcl_sklearn.experiments.prepare_dataset` builds one from recordings (windows,
then features). It lives here, below both, so that no loader imports the experiment runner.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["FeatureTable"]


@dataclass
class FeatureTable:
    """A feature table ready for the protocols.

    Attributes
    ----------
    X : pandas.DataFrame
        Features, columns ``<modality>__<scale>__<feature>`` (or ``<modality>__<feature>``).
    y : ndarray of shape (n_samples, n_emotions)
        Emotion distributions, rows summing to 1.
    groups : ndarray of shape (n_samples,)
        Subject ids.
    trials : ndarray of shape (n_samples,)
        Trial ids (unique across subjects).
    emotions : list of str
    behavioural : tuple of str
        Behavioural modalities.
    description : str
        What was loaded and how it was windowed.
    report : list of str
        What the loader and the windowing reported.
    conditions : ndarray of shape (n_samples,) or None
        The experimental condition of every row when the data has conditions (WESAD: the
        trial's condition, ``Base``, ``TSST``, ...; a feature table: its ``condition_column``),
        else None.
    times_s : ndarray of shape (n_samples,) or None
        Start of every window in seconds since the start of its subject's first trial (for
        calibration on each subject's first minutes), when known, else None.
    window_s : float or None
        Window length in seconds, with ``times_s``.
    """

    X: pd.DataFrame
    y: np.ndarray
    groups: np.ndarray
    trials: np.ndarray
    emotions: list[str]
    behavioural: tuple[str, ...] = ()
    description: str = ""
    report: list[str] = field(default_factory=list)
    conditions: np.ndarray | None = None
    times_s: np.ndarray | None = None
    window_s: float | None = None
