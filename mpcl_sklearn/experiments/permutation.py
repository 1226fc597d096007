"""The label-permutation control: labels shuffled between trials, so that the features no
longer carry them (every model should then do no better than the mean predictor)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..datasets.table import FeatureTable
from .data import _copy_table

__all__ = ["permute_trial_labels"]


def permute_trial_labels(data: FeatureTable, random_state: int | None = 0) -> FeatureTable:
    """A label-permutation control: every (subject, trial) gets the label of another one.

    The label vectors are permuted across (subject, trial) units, from any subject, so that the
    features no longer carry them: all windows of a trial get one donor trial's label (the
    donor's mean distribution when its windows' labels differ). The permutation is a random
    cycle over the units (Sattolo's algorithm), so no unit keeps its own label; with one unit
    this is impossible and raises. Features, subjects and trials are unchanged.

    Parameters
    ----------
    data : FeatureTable
    random_state : int, optional

    Returns
    -------
    FeatureTable
        A copy with permuted ``y``; its description and report say so.
    """
    import pandas as pd

    units = pd.MultiIndex.from_arrays(
        [np.asarray(data.groups).astype(str), np.asarray(data.trials).astype(str)]
    )
    codes, uniques = pd.factorize(units)
    n_units = len(uniques)
    if n_units < 2:
        raise ValueError("a label permutation needs at least 2 (subject, trial) units")
    y = np.asarray(data.y, dtype=float)
    sums = np.zeros((n_units, y.shape[1]))
    np.add.at(sums, codes, y)
    labels = sums / np.bincount(codes, minlength=n_units)[:, None]
    labels /= labels.sum(axis=1, keepdims=True)
    rng = np.random.default_rng(random_state)
    donor = np.arange(n_units)
    for i in range(n_units - 1, 0, -1):  # Sattolo: a uniformly random single cycle
        j = int(rng.integers(i))
        donor[i], donor[j] = donor[j], donor[i]
    copied = _copy_table(data)
    varied = int(sum(np.ptp(y[codes == k], axis=0).max() > 1e-12 for k in range(n_units)))
    note = (
        f"label-permutation control: the label vectors of the {n_units} (subject, trial) units "
        f"permuted across units (random_state={random_state}); no unit keeps its own label"
    )
    if varied:
        note += f"; {varied} unit(s) had varying window labels and donate their mean"
    return replace(
        copied,
        y=labels[donor][codes],
        description=data.description + "; LABELS PERMUTED (control)",
        report=[*data.report, note],
    )
