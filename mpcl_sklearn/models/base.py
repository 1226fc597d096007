"""Common base for estimators that predict emotion distributions."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .._scaling import legacy_standardizer
from .._validation import (
    as_real_array,
    check_distributions,
    check_sample_weight,
    real_target_or_none,
)
from ._metadata import emotion_names, table_attrs

_PREDICT_OUTPUTS = ("default", "pandas")


class DistributionRegressorMixin(RegressorMixin):
    """Mixin for regressors whose ``predict`` returns one distribution per row.

    Subclasses implement ``fit`` and ``_predict_distribution(X)`` (X already validated) and
    may define a ``normalize_y`` parameter (default False: targets whose rows do not sum to 1
    are rejected; True: non-negative rows are rescaled).

    ``predict`` and ``predict_proba`` both return float64 rows that sum to 1 (a DataFrame with
    one column per emotion after ``set_output(predict="pandas")``); ``score`` is scikit-learn's
    R^2 (use :func:`mpcl_sklearn.metrics.distribution_scorers` for the six distribution
    metrics).

    ``fit`` keeps the emotion names in ``emotions_``: the columns of a ``y`` DataFrame, else
    ``X.attrs["emotions"]`` (set by the package's feature extractor), else None.
    """

    def _validate_fit_data(self, X, y, *, dtype=np.float64):
        """Validate X and y for ``fit``; sets ``n_features_in_`` (and ``feature_names_in_``),
        ``n_outputs_`` and ``emotions_``."""
        attrs = table_attrs(X)
        X, y_valid = validate_data(
            self, X, real_target_or_none(y), multi_output=True, dtype=dtype, y_numeric=True
        )
        Y = self._target_distributions(y_valid)
        self._set_output_names(y, attrs, Y.shape[1])
        return X, Y

    def _target_distributions(self, y) -> np.ndarray:
        """The targets as 2-D distributions: rows must sum to 1, or (``normalize_y=True``)
        non-negative rows are rescaled. Subclasses with other target transforms override it."""
        Y = as_real_array(y, "y")
        return check_distributions(
            Y.reshape(len(Y), -1), normalize=bool(getattr(self, "normalize_y", False))
        )

    def _set_output_names(self, y, attrs, n_outputs: int) -> None:
        """``n_outputs_`` and ``emotions_`` (names from ``y``'s columns or X's attrs)."""
        self.n_outputs_ = n_outputs
        self.emotions_ = emotion_names(y, attrs, n_outputs)

    def set_output(self, *, predict: str | None = None):
        """Choose the type ``predict`` and ``predict_proba`` return.

        scikit-learn's ``set_output`` configures ``transform`` only; this is its counterpart
        for the predictions of a regressor. ``predict`` keeps returning a numpy array by
        default (what scorers, protocols and ``cross_validate`` expect); ``"pandas"`` returns a
        DataFrame with one column per emotion (``emotions_``, or ``emotion_0``, ... when the
        names are unknown) and X's index when X is a DataFrame. The setting survives
        ``clone`` (as ``set_output``'s does). In a Pipeline, set it on the last step:
        ``pipe[-1].set_output(predict="pandas")``.

        Parameters
        ----------
        predict : {"default", "pandas"} or None
            None leaves the setting unchanged.

        Returns
        -------
        self
        """
        if predict is None:
            return self
        if predict not in _PREDICT_OUTPUTS:
            raise ValueError(f"predict must be one of {_PREDICT_OUTPUTS} or None, got {predict!r}")
        config = dict(getattr(self, "_sklearn_output_config", {}) or {})
        config["predict"] = predict
        self._sklearn_output_config = config
        return self

    def _named_predictions(self, P: np.ndarray, X):
        """``P`` as configured by :meth:`set_output`."""
        config = getattr(self, "_sklearn_output_config", None) or {}
        if config.get("predict", "default") != "pandas":
            return P
        names = getattr(self, "emotions_", None)
        if names is None:
            names = [f"emotion_{i}" for i in range(P.shape[1])]
        index = X.index if isinstance(X, pd.DataFrame) and len(X.index) == len(P) else None
        return pd.DataFrame(P, columns=[str(n) for n in names], index=index)

    def _validate_predict_data(self, X, *, dtype=np.float64):
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=dtype)

    def predict(self, X):
        """Predict the emotion distribution of each sample.

        Returns
        -------
        ndarray of shape (n_samples, n_emotions), float64, rows summing to 1
            A DataFrame with the emotion names as columns after
            ``set_output(predict="pandas")``.
        """
        Xv = self._validate_predict_data(X)
        P = np.asarray(self._predict_distribution(Xv), dtype=np.float64)
        P = np.clip(P, 0.0, None)
        P /= P.sum(axis=1, keepdims=True)
        return self._named_predictions(P, X)

    def predict_proba(self, X):
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
