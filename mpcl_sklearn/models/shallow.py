"""The shallow label-distribution baselines: mean distribution, SA-BFGS and AA-kNN."""

from __future__ import annotations

import warnings
from itertools import chain

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax, xlogy
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import VALID_METRICS, KNeighborsRegressor
from sklearn.utils.validation import _check_sample_weight
from threadpoolctl import threadpool_limits

from .._param_validation import Bool, Float, Int, Options, Satisfies, validate_params
from .._scaling import Standardizer, row_directions
from .._validation import check_sample_weight
from .base import BaseDistributionRegressor

__all__ = ["AAKNNRegressor", "MeanDistributionRegressor", "SABFGSRegressor"]


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
    emotions_ : ndarray of str or None
        The emotion names (``y``'s columns or ``X.attrs["emotions"]``), None when unknown.
    """

    _constraints = {"normalize_y": Bool()}

    def __init__(self, normalize_y: bool = False):
        self.normalize_y = normalize_y

    def fit(self, X, y, sample_weight=None):
        """Store the (weighted) mean of the training distributions."""
        validate_params(self)
        X, Y = self._validate_fit_data(X, y)
        sample_weight = check_sample_weight(sample_weight, X.shape[0])
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        self.mean_ = np.average(Y, axis=0, weights=w)
        return self

    def _predict_distribution(self, X):
        return np.tile(self.mean_, (X.shape[0], 1))


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
    scaler_ : Standardizer or None
        The standardisation (the package's one, :class:`mpcl_sklearn._scaling.Standardizer`),
        computed without overflow for features of any finite magnitude.
    n_iter_ : int
        Number of L-BFGS iterations run (reported as at least 1, as scikit-learn expects, even
        when the starting point is already optimal, e.g. with a single output).
    loss_ : float
        Final value of the objective.
    n_features_in_ : int
    n_outputs_ : int
    emotions_ : ndarray of str or None
        The emotion names (``y``'s columns or ``X.attrs["emotions"]``), None when unknown.

    References
    ----------
    X. Geng, "Label Distribution Learning", IEEE TKDE 28(7):1734-1748, 2016.
    """

    _constraints = {
        "alpha": Float(0, None, "left"),
        "max_iter": Int(1),
        "tol": Float(0, None, "left"),
        "standardize": Bool(),
        "normalize_y": Bool(),
    }

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
        log_p = log_softmax(X @ W + b, axis=1)
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
        validate_params(self)
        X, Y = self._validate_fit_data(X, y)
        sample_weight = check_sample_weight(sample_weight, X.shape[0])
        w = _check_sample_weight(sample_weight, X, dtype=np.float64)
        if w.sum() <= 0:
            raise ValueError("sample_weight must not sum to zero")
        w = w / w.sum()
        if self.standardize:
            self.scaler_ = Standardizer().fit(X, sample_weight=sample_weight)
            X = self.scaler_.transform(X)
        else:
            self.scaler_ = None
        n_features, n_outputs = X.shape[1], Y.shape[1]
        b0 = np.log(np.clip(w @ Y, 1e-12, None))
        theta0 = np.concatenate([np.zeros(n_features * n_outputs), b0 - b0.mean()])
        # L-BFGS-B's updates are BLAS calls on short vectors: multi-threaded OpenBLAS
        # spin-waits on them and was 75x slower on a busy 2-core machine (n = 12,490).
        with threadpool_limits(limits=1, user_api="blas"):
            res = minimize(
                self._objective,
                theta0,
                args=(X, Y, float(self.alpha), w),
                jac=True,
                method="L-BFGS-B",
                options={"maxiter": int(self.max_iter), "gtol": float(self.tol)},
            )
        if not np.isfinite(res.x).all() or not np.isfinite(res.fun):
            raise ValueError(
                "SABFGSRegressor: the optimisation overflowed (non-finite weights or loss); the "
                f"feature values are too large (|x| up to {np.max(np.abs(X)):.3g}). Use "
                "standardize=True or rescale the features."
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
        Xs = X if self.scaler_ is None else self.scaler_.transform(X)
        with np.errstate(over="ignore", invalid="ignore"):
            Z = Xs @ self.coef_ + self.intercept_
            P = np.exp(log_softmax(Z, axis=1))
        bad = ~np.isfinite(P).all(axis=1)
        if bad.any():
            P[bad] = self._saturated_distribution(X[bad])
        return P

    def _saturated_distribution(self, X: np.ndarray) -> np.ndarray:
        """Predictions for rows whose logits overflow (features of enormous magnitude).

        Such a row is ``t * u`` with ``t`` huge; as ``t -> inf`` the softmax puts all mass on
        the emotions with the largest ``u @ W`` (ties shared according to the rest of the
        logits). ``u`` is the row's direction in the standardised space.
        """
        offset = self.intercept_
        if self.scaler_ is not None:
            offset = offset - (self.scaler_.mean_ / self.scaler_.scale_) @ self.coef_
            lead = self.scaler_.directions(X) @ self.coef_
        else:
            lead = row_directions(X, []) @ self.coef_
        top = lead >= lead.max(axis=1, keepdims=True) - 1e-9 * np.abs(lead).max(
            axis=1, keepdims=True
        )
        rest = np.where(top, offset, -np.inf)
        rest = np.exp(rest - rest.max(axis=1, keepdims=True))
        return rest / rest.sum(axis=1, keepdims=True)


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
        The fitted neighbour model (holds the standardised training data). It is not saved
        as such: pickles and model files hold its training arrays and parameters, and the
        neighbour index (KD-/ball tree) is rebuilt from them on load, so a file cannot supply
        tree arrays that index memory (see ``docs/reliability.md``).
    scaler_ : Standardizer or None
        The standardisation (the package's one, :class:`mpcl_sklearn._scaling.Standardizer`),
        computed without overflow for features of any finite magnitude.
    n_features_in_ : int
    n_outputs_ : int
    emotions_ : ndarray of str or None
        The emotion names (``y``'s columns or ``X.attrs["emotions"]``), None when unknown.

    References
    ----------
    X. Geng, "Label Distribution Learning", IEEE TKDE 28(7):1734-1748, 2016.
    """

    _constraints = {
        "n_neighbors": Int(1),
        "weights": Options("uniform", "distance"),
        "metric": Options(*sorted(set(chain.from_iterable(VALID_METRICS.values()))))
        | Satisfies(callable, "a callable"),
        "p": Float(0, None, "right"),
        "standardize": Bool(),
        "n_jobs": Int(None, -1) | Int(1) | None,
        "normalize_y": Bool(),
    }

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
        validate_params(self)
        X, Y = self._validate_fit_data(X, y)
        if self.standardize:
            self.scaler_ = Standardizer().fit(X)
            X = self.scaler_.transform(X)
        else:
            self.scaler_ = None
            X = np.array(X, copy=True)
        # the neighbour search keeps its training arrays: copies, not the caller's X and y
        # (validation returns them as they are when they are already float64), so that editing
        # them after fit cannot change the predictions
        Y = np.array(Y, copy=True)
        self.knn_ = KNeighborsRegressor(
            n_neighbors=min(int(self.n_neighbors), X.shape[0]),
            weights=self.weights,
            metric=self.metric,
            p=self.p,
            n_jobs=self.n_jobs,
        ).fit(X, Y)
        return self

    def __getstate__(self):
        state = dict(super().__getstate__())
        knn = state.pop("knn_", None)
        if knn is not None:
            # the training arrays and parameters, not the tree: its index arrays address memory
            # without bounds checks, so a crafted file could crash or read the process
            params = knn.get_params()
            params.pop("n_jobs")  # parallelism is this estimator's own n_jobs
            state["_knn_fit"] = {"params": params, "X": knn._fit_X, "y": knn._y}
        return state

    def __setstate__(self, state):
        state = dict(state)
        fitted = state.pop("_knn_fit", None)
        legacy = state.get("knn_")
        if fitted is None and isinstance(legacy, KNeighborsRegressor):
            # files of version 0.1.0 hold the fitted KNeighborsRegressor with its tree: only its
            # training arrays are kept
            params = legacy.get_params()
            params.pop("n_jobs")
            fitted = {"params": params, "X": legacy._fit_X, "y": legacy._y}
        super().__setstate__(state)
        if fitted is not None:
            X = np.asarray(fitted["X"], dtype=np.float64)
            y = np.asarray(fitted["y"], dtype=np.float64)
            if X.ndim != 2 or y.ndim != 2 or len(X) != len(y) or len(X) == 0:
                raise ValueError(
                    "AAKNNRegressor state: the stored training arrays are inconsistent "
                    f"(X {X.shape}, y {y.shape})"
                )
            knn = KNeighborsRegressor(**fitted["params"], n_jobs=self.n_jobs)
            self.knn_ = knn.fit(X, y)

    def _predict_distribution(self, X):
        if self.scaler_ is not None:
            # a query a million standard deviations out is saturated there (finite distances)
            X = self.scaler_.transform_bounded(X)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            P = self.knn_.predict(X)
        bad = ~np.isfinite(P).all(axis=1)
        if bad.any():
            # distance weights of infinitely distant neighbours are all 0 (0/0): they are
            # equally far, so they count equally
            _, ind = self.knn_.kneighbors(X[bad])
            P[bad] = self.knn_._y[ind].mean(axis=1)
        return P
