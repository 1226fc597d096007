"""Label-distribution baselines as scikit-learn estimators."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from numbers import Integral

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp, xlogy
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import KNeighborsRegressor
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import _check_sample_weight

from ._columns import group_columns
from .base import BaseDistributionRegressor

__all__ = [
    "MeanDistributionRegressor",
    "SABFGSRegressor",
    "AAKNNRegressor",
]


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


def _log_softmax(Z: np.ndarray) -> np.ndarray:
    return Z - logsumexp(Z, axis=1, keepdims=True)


class SABFGSRegressor(BaseDistributionRegressor):
    """Maximum-entropy label-distribution model fitted by L-BFGS (SA-BFGS, Geng 2016).

    The model is a softmax-linear map ``p(x) = softmax(x W + b)`` of the (internally
    standardised) features. It minimises the mean Kullback-Leibler divergence from the target
    distributions plus an L2 penalty on ``W`` (the bias is not penalised)::

        L(W, b) = 1/n sum_i KL(d_i || p(x_i)) + alpha / 2 ||W||_F^2

    with the analytic gradient ``dL/dW = X^T (P - D) / n + alpha W`` and
    ``dL/db = 1^T (P - D) / n``, minimised by :func:`scipy.optimize.minimize` (``L-BFGS-B``).
    The objective is convex, so the fit is deterministic (no ``random_state``).

    Parameters
    ----------
    alpha : float, default=1e-3
        L2 penalty on the weights (per sample, since the KL term is a mean).
    max_iter : int, default=500
        Maximum number of L-BFGS iterations.
    tol : float, default=1e-6
        Projected-gradient tolerance (``gtol`` of L-BFGS-B).
    standardize : bool, default=True
        Standardise the features (zero mean, unit variance on the training data) before the
        linear map.
    normalize_y : bool, default=False
        Rescale non-negative target rows to sum to 1 instead of rejecting them.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features_in_, n_outputs_)
        Weights on the standardised features.
    intercept_ : ndarray of shape (n_outputs_,)
    scaler_ : StandardScaler or None
    n_iter_ : int
        Number of L-BFGS iterations run (reported as at least 1, as scikit-learn expects, even
        when the starting point is already optimal, e.g. with a single output).
    loss_ : float
        Final value of the objective.
    n_features_in_ : int
    n_outputs_ : int

    References
    ----------
    X. Geng, "Label Distribution Learning", IEEE TKDE 28(7):1734-1748, 2016.
    """

    def __init__(
        self,
        alpha: float = 1e-3,
        max_iter: int = 500,
        tol: float = 1e-6,
        standardize: bool = True,
        normalize_y: bool = False,
    ):
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol
        self.standardize = standardize
        self.normalize_y = normalize_y

    @staticmethod
    def _objective(
        theta: np.ndarray, X: np.ndarray, D: np.ndarray, alpha: float, w: np.ndarray
    ) -> tuple[float, np.ndarray]:
        """Weighted mean KL + L2 and its gradient; ``theta`` is ``[W.ravel(), b]``.

        ``w`` holds per-sample weights summing to 1.
        """
        n_features, n_outputs = X.shape[1], D.shape[1]
        W = theta[: n_features * n_outputs].reshape(n_features, n_outputs)
        b = theta[n_features * n_outputs :]
        log_p = _log_softmax(X @ W + b)
        # KL(d || p) = sum d log d - sum d log p; the entropy term is constant but kept so that
        # the objective is the KL itself (xlogy gives 0 log 0 = 0).
        kl = np.sum(w * (np.sum(xlogy(D, D), axis=1) - np.sum(D * log_p, axis=1)))
        loss = kl + 0.5 * alpha * np.sum(W * W)
        R = w[:, None] * (np.exp(log_p) - D)
        grad_W = X.T @ R + alpha * W
        grad_b = R.sum(axis=0)
        return float(loss), np.concatenate([grad_W.ravel(), grad_b])

    def fit(self, X, y, sample_weight=None):
        """Fit the softmax-linear model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples, n_emotions)
            Target distributions (rows summing to 1, or non-negative with ``normalize_y=True``).
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        X, Y = self._validate_fit_data(X, y)
        w = _check_sample_weight(sample_weight, X, dtype=np.float64)
        if w.sum() <= 0:
            raise ValueError("sample_weight must not sum to zero")
        w = w / w.sum()
        if self.standardize:
            self.scaler_ = StandardScaler().fit(X, sample_weight=sample_weight)
            X = self.scaler_.transform(X)
        else:
            self.scaler_ = None
        n_features, n_outputs = X.shape[1], Y.shape[1]
        b0 = np.log(np.clip(w @ Y, 1e-12, None))
        theta0 = np.concatenate([np.zeros(n_features * n_outputs), b0 - b0.mean()])
        res = minimize(
            self._objective,
            theta0,
            args=(X, Y, float(self.alpha), w),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": int(self.max_iter), "gtol": float(self.tol)},
        )
        self.coef_ = res.x[: n_features * n_outputs].reshape(n_features, n_outputs).copy()
        self.intercept_ = res.x[n_features * n_outputs :].copy()
        self.n_iter_ = max(int(res.nit), 1)
        self.loss_ = float(res.fun)
        if not res.success and self.n_iter_ >= self.max_iter:
            warnings.warn(
                f"SABFGSRegressor did not converge in max_iter={self.max_iter} iterations; "
                "increase max_iter or alpha.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _predict_distribution(self, X):
        if self.scaler_ is not None:
            X = self.scaler_.transform(X)
        return np.exp(_log_softmax(X @ self.coef_ + self.intercept_))


class AAKNNRegressor(BaseDistributionRegressor):
    """Algorithm-adaptation k-nearest neighbours (AA-kNN, Geng 2016).

    The predicted distribution of a sample is the (optionally distance-weighted) average of the
    distributions of its ``n_neighbors`` nearest training samples, found by scikit-learn's
    :class:`~sklearn.neighbors.KNeighborsRegressor` on standardised features. An average of
    distributions is a distribution.

    Parameters
    ----------
    n_neighbors : int, default=10
        Number of neighbours; capped at the number of training samples.
    weights : {"uniform", "distance"}, default="uniform"
        ``"distance"`` weights neighbours by the inverse of their distance (an exact match then
        takes all the weight), as in scikit-learn.
    metric : str, default="minkowski"
        Any metric accepted by :class:`~sklearn.neighbors.NearestNeighbors`.
    p : float, default=2
        Power of the Minkowski metric (2: Euclidean).
    standardize : bool, default=True
        Standardise the features before the neighbour search.
    n_jobs : int or None, default=None
        Parallel jobs for the neighbour search.
    normalize_y : bool, default=False
        Rescale non-negative target rows to sum to 1 instead of rejecting them.

    Attributes
    ----------
    knn_ : KNeighborsRegressor
        The fitted neighbour model (holds the standardised training data).
    scaler_ : StandardScaler or None
    n_features_in_ : int
    n_outputs_ : int

    References
    ----------
    X. Geng, "Label Distribution Learning", IEEE TKDE 28(7):1734-1748, 2016.
    """

    def __init__(
        self,
        n_neighbors: int = 10,
        weights: str = "uniform",
        metric: str = "minkowski",
        p: float = 2,
        standardize: bool = True,
        n_jobs: int | None = None,
        normalize_y: bool = False,
    ):
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.metric = metric
        self.p = p
        self.standardize = standardize
        self.n_jobs = n_jobs
        self.normalize_y = normalize_y

    def fit(self, X, y):
        """Store the (standardised) training samples and their distributions.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples, n_emotions)

        Returns
        -------
        self
        """
        X, Y = self._validate_fit_data(X, y)
        if self.weights not in ("uniform", "distance"):
            raise ValueError(f"weights must be 'uniform' or 'distance', got {self.weights!r}")
        if int(self.n_neighbors) < 1:
            raise ValueError(f"n_neighbors must be >= 1, got {self.n_neighbors!r}")
        if self.standardize:
            self.scaler_ = StandardScaler().fit(X)
            X = self.scaler_.transform(X)
        else:
            self.scaler_ = None
        self.knn_ = KNeighborsRegressor(
            n_neighbors=min(int(self.n_neighbors), X.shape[0]),
            weights=self.weights,
            metric=self.metric,
            p=self.p,
            n_jobs=self.n_jobs,
        ).fit(X, Y)
        return self

    def _predict_distribution(self, X):
        if self.scaler_ is not None:
            X = self.scaler_.transform(X)
        return self.knn_.predict(X)


# ------------------------------------------------------------------------------------------------
# helpers of the neural baselines


def _resolve_modalities(
    modalities,
    feature_names,
    n_features: int,
) -> dict[str, list[int]]:
    """Column indices of each modality, in order.

    ``modalities`` maps a name to column indices or column names; without it, the columns are
    grouped by the ``<modality>__`` prefix of their names (all scales of a modality together,
    see :func:`mpcl_sklearn._columns.group_columns`). Without usable names, all columns form one
    modality called ``"x"``.
    """
    names = None if feature_names is None else [str(n) for n in feature_names]
    if modalities is not None:
        if not isinstance(modalities, Mapping) or not modalities:
            raise ValueError("modalities must be a non-empty dict {name: column indices or names}")
        lookup = {n: i for i, n in enumerate(names)} if names is not None else {}
        out: dict[str, list[int]] = {}
        for name, cols in modalities.items():
            idx = []
            for c in np.atleast_1d(np.asarray(cols, dtype=object)):
                if isinstance(c, str):
                    if c not in lookup:
                        raise ValueError(f"modality {name!r}: unknown column {c!r}")
                    idx.append(lookup[c])
                elif isinstance(c, Integral | np.integer) and 0 <= int(c) < n_features:
                    idx.append(int(c))
                else:
                    raise ValueError(
                        f"modality {name!r}: column {c!r} is not a name or an index < {n_features}"
                    )
            if not idx:
                raise ValueError(f"modality {name!r} has no columns")
            out[str(name)] = idx
        return out
    if names is not None:
        try:
            groups = group_columns(names)
        except ValueError:
            groups = None
        if groups is not None:
            out = {}
            for (modality, _scale), idx in groups.items():
                out.setdefault(modality, []).extend(idx)
            return out
    return {"x": list(range(n_features))}


def _label_correlation(Y: np.ndarray) -> np.ndarray:
    """Pearson correlation between the emotion columns of ``Y`` (constant columns: 0, diag 1)."""
    centred = Y - Y.mean(axis=0)
    norm = np.sqrt((centred**2).sum(axis=0))
    safe = np.where(norm > 1e-12, norm, 1.0)
    unit = centred / safe
    corr = unit.T @ unit
    corr[:, norm <= 1e-12] = 0.0
    corr[norm <= 1e-12, :] = 0.0
    np.fill_diagonal(corr, 1.0)
    return np.clip(corr, -1.0, 1.0)
