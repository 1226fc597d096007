"""Label-distribution baselines as scikit-learn estimators."""

from __future__ import annotations

import numpy as np

from .base import BaseDistributionRegressor


class MeanDistributionRegressor(BaseDistributionRegressor):
    """Predict the mean training distribution for every sample (the reference baseline).

    Parameters
    ----------
    normalize_y : bool, default=False
        Rescale non-negative target rows to sum to 1 instead of rejecting them.

    Attributes
    ----------
    mean_ : ndarray of shape (n_emotions,)
        The mean training distribution.
    n_features_in_ : int
    n_outputs_ : int
    """

    def __init__(self, normalize_y: bool = False):
        self.normalize_y = normalize_y

    def fit(self, X, y, sample_weight=None):
        """Store the (weighted) mean of the training distributions."""
        X, Y = self._validate_fit_data(X, y)
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        self.mean_ = np.average(Y, axis=0, weights=w)
        return self

    def _predict_distribution(self, X):
        return np.tile(self.mean_, (X.shape[0], 1))
