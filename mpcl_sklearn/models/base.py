"""Common base for estimators that predict emotion distributions."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .._scaling import legacy_standardizer
from .._validation import (
    as_real_array,
    check_distributions,
    check_sample_weight,
    real_target_or_none,
)


class DistributionRegressorMixin(RegressorMixin):
    """Mixin for regressors whose ``predict`` returns one distribution per row.

    Subclasses implement ``fit`` and ``_predict_distribution(X)`` (X already validated) and
    may define a ``normalize_y`` parameter (default False: targets whose rows do not sum to 1
    are rejected; True: non-negative rows are rescaled).

    ``predict`` and ``predict_proba`` both return float64 rows that sum to 1; ``score`` is
    scikit-learn's R^2 (use :func:`mpcl_sklearn.metrics.distribution_scorers` for the six
    distribution metrics).
    """

    def _validate_fit_data(self, X, y, *, dtype=np.float64):
        """Validate X and y for ``fit``; sets ``n_features_in_`` (and ``feature_names_in_``)."""
        X, y = validate_data(
            self, X, real_target_or_none(y), multi_output=True, dtype=dtype, y_numeric=True
        )
        Y = check_distributions(
            np.asarray(y).reshape(len(y), -1),
            normalize=bool(getattr(self, "normalize_y", False)),
        )
        self.n_outputs_ = Y.shape[1]
        return X, Y

    def _validate_predict_data(self, X, *, dtype=np.float64):
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=dtype)

    def predict(self, X) -> np.ndarray:
        """Predict the emotion distribution of each sample.

        Returns
        -------
        ndarray of shape (n_samples, n_emotions), float64, rows summing to 1
        """
        X = self._validate_predict_data(X)
        P = np.asarray(self._predict_distribution(X), dtype=np.float64)
        P = np.clip(P, 0.0, None)
        P /= P.sum(axis=1, keepdims=True)
        return P

    def predict_proba(self, X) -> np.ndarray:
        """Same as :meth:`predict`: the predicted emotion distribution of each sample."""
        return self.predict(X)

    def score(self, X, y, sample_weight=None) -> float:
        """scikit-learn's R^2 of :meth:`predict` against ``y`` (real numbers only)."""
        y = as_real_array(y, "y")
        sample_weight = check_sample_weight(sample_weight, len(y) if y.ndim else None)
        return super().score(X, y, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        tags.target_tags.positive_only = True
        return tags


class BaseDistributionRegressor(DistributionRegressorMixin, BaseEstimator):
    """Base class: :class:`DistributionRegressorMixin` + scikit-learn's ``BaseEstimator``."""

    def __setstate__(self, state):
        if "scaler_" in state:  # model files of mpcl_sklearn 0.1.0 hold a Pipeline there
            state = {**state, "scaler_": legacy_standardizer(state["scaler_"])}
        super().__setstate__(state)
