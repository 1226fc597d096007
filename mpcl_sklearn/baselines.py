"""Label-distribution baselines as scikit-learn estimators."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from numbers import Integral

import numpy as np
import torch
from scipy.optimize import minimize
from scipy.special import logsumexp, xlogy
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import KNeighborsRegressor
from sklearn.utils.validation import _check_sample_weight
from threadpoolctl import threadpool_limits
from torch import nn

from ._columns import explicit_modalities
from ._scaling import bound_rows, fit_scaler, row_directions, scaled, scaler_divisors
from .base import BaseDistributionRegressor
from .nn.helo import HeLoModule
from .torch_estimator import TorchDistributionRegressor, training_params

__all__ = [
    "MeanDistributionRegressor",
    "SABFGSRegressor",
    "AAKNNRegressor",
    "MLPDistributionRegressor",
    "HeLoRegressor",
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
    scaler_ : Pipeline or None
        ``MaxAbsScaler`` then ``StandardScaler``: the standardisation, computed without
        overflow for features of any finite magnitude.
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
            self.scaler_ = fit_scaler(X, sample_weight=sample_weight)
            X = scaled(self.scaler_, X)
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
        Xs = scaled(self.scaler_, X)
        with np.errstate(over="ignore", invalid="ignore"):
            Z = Xs @ self.coef_ + self.intercept_
            P = np.exp(_log_softmax(Z))
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
            standard = self.scaler_[1]
            offset = offset - (standard.mean_ / standard.scale_) @ self.coef_
        lead = row_directions(X, scaler_divisors(self.scaler_)) @ self.coef_
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
    scaler_ : Pipeline or None
        ``MaxAbsScaler`` then ``StandardScaler``: the standardisation, computed without
        overflow for features of any finite magnitude.
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
            self.scaler_ = fit_scaler(X)
            X = scaled(self.scaler_, X)
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
            X = bound_rows(scaled(self.scaler_, X), X, scaler_divisors(self.scaler_))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            P = self.knn_.predict(X)
        bad = ~np.isfinite(P).all(axis=1)
        if bad.any():
            # distance weights of infinitely distant neighbours are all 0 (0/0): they are
            # equally far, so they count equally
            _, ind = self.knn_.kneighbors(X[bad])
            P[bad] = self.knn_._y[ind].mean(axis=1)
        return P


# ------------------------------------------------------------------------------------------------
# helpers of the neural baselines


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


# ------------------------------------------------------------------------------------------------
# neural baselines (PyTorch, trained through the package's skorch-backed base)

_BEHAVIOURAL_DEFAULT = ("acc", "face", "video")


_ACTIVATIONS = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
}


def _is_int(value, minimum: int) -> bool:
    """An integer (not a bool) of at least ``minimum``."""
    return (
        isinstance(value, Integral | np.integer)
        and not isinstance(value, bool | np.bool_)
        and value >= minimum
    )


def _hidden_sizes(hidden_layer_sizes) -> tuple[int, ...]:
    sizes = hidden_layer_sizes
    if isinstance(sizes, Integral | np.integer) and not isinstance(sizes, bool):
        sizes = (sizes,)
    try:
        sizes = tuple(sizes)
    except TypeError:
        raise ValueError(
            f"hidden_layer_sizes must be a sequence of positive ints, got {hidden_layer_sizes!r}"
        ) from None
    if not all(_is_int(h, 1) for h in sizes):
        raise ValueError(
            f"hidden_layer_sizes must be a sequence of positive ints, got {hidden_layer_sizes!r}"
        )
    return tuple(int(h) for h in sizes)


def _check_dropout(name: str, value) -> None:
    if not (np.isscalar(value) and 0.0 <= float(value) < 1.0):
        raise ValueError(f"{name} must be a float in [0, 1), got {value!r}")


class _MLPNet(nn.Module):
    """Linear -> activation -> dropout blocks, then a linear map to the emotion logits.

    ``forward`` returns log-probabilities.
    """

    def __init__(
        self,
        n_features: int,
        n_outputs: int,
        hidden: tuple[int, ...],
        activation: str,
        dropout: float,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for h in hidden:
            layers += [nn.Linear(width, h), _ACTIVATIONS[activation]()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, n_outputs))
        self.layers = nn.Sequential(*layers)

    def forward(self, X: torch.Tensor, **kwargs) -> torch.Tensor:
        return torch.log_softmax(self.layers(X), dim=-1)


class MLPDistributionRegressor(TorchDistributionRegressor):
    """Multilayer perceptron with a softmax head, trained on ``KL(y || y_hat)``.

    Features are standardised inside (mean/std of the training data), then fed through
    ``Linear -> activation -> dropout`` blocks of widths ``hidden_layer_sizes`` and a linear map
    to the logits of the emotions; the loss is the mean Kullback-Leibler divergence from the
    target distributions. Training (optimiser, seeding, device, early stopping, checkpoints,
    pickling) is that of :class:`mpcl_sklearn.torch_estimator.TorchDistributionRegressor`, as
    for MPCL. The network ignores the modality layout of the columns.

    The defaults suit tables of about 1k-20k rows and 10-1000 features (window features of
    physiological signals): two hidden layers, strong dropout (0.5) and AdamW's weight decay
    against overfitting to the training subjects, 50 epochs at ``lr=1e-3`` (on synthetic data
    with subject offsets, dropout 0.5 beat 0.2 and 0.3 on held-out subjects at 1k-5k rows).
    Features so large that their variance overflows (``|x| >~ 1e154``) are refused with a
    ``ValueError``; standardised test rows are shrunk to a largest magnitude of ``1e6``
    (direction kept).

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(128, 64)
        Widths of the hidden layers; ``()`` gives a softmax-linear model.
    activation : {"relu", "gelu", "tanh", "elu", "silu", "leaky_relu"}, default="relu"
    dropout : float, default=0.5
        Dropout after each hidden layer (training only).
    lr, max_epochs, batch_size, optimizer, weight_decay, max_grad_norm, early_stopping, \
validation_fraction, n_iter_no_change, tol, warm_start, checkpoint_dir, device, random_state, \
verbose, callbacks, normalize_y, n_threads
        See :class:`mpcl_sklearn.torch_estimator.TorchDistributionRegressor`. Defaults as there,
        except ``lr=1e-3``, ``max_epochs=50`` and ``weight_decay=1e-2``.

    Attributes
    ----------
    net_ : skorch.NeuralNet
    history_ : skorch.History
    x_mean_, x_scale_ : ndarray of shape (n_features_in_,)
        The standardisation.
    n_features_in_, feature_names_in_, n_outputs_
    """

    def __init__(
        self,
        hidden_layer_sizes=(128, 64),
        activation: str = "relu",
        dropout: float = 0.5,
        *,
        lr: float = 1e-3,
        max_epochs: int = 50,
        batch_size: int = 128,
        optimizer="adamw",
        weight_decay: float = 1e-2,
        max_grad_norm: float | None = 5.0,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        tol: float = 1e-4,
        warm_start: bool = False,
        checkpoint_dir: str | None = None,
        device: str = "cpu",
        random_state=None,
        verbose: int = 0,
        callbacks=None,
        normalize_y: bool | str = False,
        n_threads: int | None = 1,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        super().__init__(**training_params(locals()))

    def _check_params(self) -> None:
        super()._check_params()
        _hidden_sizes(self.hidden_layer_sizes)
        if self.activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(_ACTIVATIONS)}, got {self.activation!r}"
            )
        _check_dropout("dropout", self.dropout)

    def _build_module(self, n_features: int, n_outputs: int, column_layout: dict):
        return _MLPNet(
            n_features,
            n_outputs,
            _hidden_sizes(self.hidden_layer_sizes),
            self.activation,
            float(self.dropout),
        )


class _HeLoNet(HeLoModule):
    """:class:`HeLoModule` whose auxiliary loss is ``lambda_corr * correlation_loss()``."""

    def __init__(self, *args, lambda_corr: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.lambda_corr = float(lambda_corr)

    def auxiliary_loss(self):
        if self.lambda_corr == 0.0:
            return None
        return self.lambda_corr * self.correlation_loss()


class HeLoRegressor(TorchDistributionRegressor):
    """HeLo (Zheng et al., ACM MM 2025) as a scikit-learn emotion-distribution regressor.

    Physiological modalities fused by cross-attention, aligned with the behavioural tokens by a
    detached Gromov-Wasserstein (IPOT) transport plan, a shared transformer encoder, and
    label-correlation-driven cross-attention from a learned label embedding; the loss is
    ``KL(y || y_hat) + lambda_corr * MSE(R_hat, R)`` with ``R`` the correlation between the
    emotions of the training targets. The network is :class:`mpcl_sklearn.nn.helo.HeLoModule`
    (see ``docs/baselines.md`` for the architecture and how it departs from the released code:
    the label embedding is learned, DropKey and dropout act in training only so ``predict`` is
    deterministic, and every test sample is scored).

    Input layout: with a DataFrame whose columns are named ``<modality>__<feature>`` or
    ``<modality>__<scale>__<feature>``, each modality (all its scales together) is one encoder;
    ``modalities`` maps names to column lists (or indices) explicitly, every column in exactly
    one; anything else (a plain array, columns without the prefix) is one physiological modality
    ``"x"``. Modalities named in ``behavioural_modalities`` are behavioural, the others
    physiological, in column order (the first one provides the cross-attention queries). At
    least one physiological modality is needed.

    **Without a behavioural modality** (a chest-only WESAD table, a plain array) the optimal
    transport step is skipped: there is nothing to align with, and the encoder and the emotion
    projection see the physiological tokens only. With a single physiological modality the
    cross-attention is skipped. Features are standardised inside; features whose variance
    overflows (``|x| >~ 1e154``) are refused with a ``ValueError``; standardised test
    rows are shrunk to a largest magnitude of ``1e6`` (direction kept).

    Parameters
    ----------
    d_model : int, default=32
        Token width (the paper: 128).
    n_tokens : int, default=4
        Tokens per modality.
    n_heads : int, default=4
        Heads of the physiological cross-attention and of the transformer encoder; must divide
        ``d_model``.
    ffn_dim : int, default=64
        Feed-forward width of the transformer encoder.
    depth : int, default=1
        Number of shared transformer encoder layers.
    dropout : float, default=0.1
        Dropout in the encoder and the head (the paper: 0.5).
    attn_dropout : float, default=0.1
        Dropout on the cross-attention weights.
    dropkey : float, default=0.1
        DropKey ratio of the cross-attentions (the paper: 0.5); training only.
    hidden_size : int, default=64
        Width of the two hidden layers of the head (the paper: 128).
    use_ot : bool, default=True
        Optimal-transport alignment; False concatenates the physiological and behavioural
        tokens unaligned (the ablation). Without behavioural modalities it has no effect.
    ot_beta : float, default=0.1
        IPOT proximal step.
    ot_outer_iter, ot_inner_iter : int, default=5, 20
        Gromov-Wasserstein linearisations and IPOT steps per linearisation.
    ot_threshold : float, default=0.1
        Fraction of the intra-set cosine-distance range that is zeroed.
    lambda_corr : float, default=1.0
        Weight of the label-correlation loss.
    behavioural_modalities : tuple of str, default=("acc", "face", "video")
        Modalities treated as behavioural; the others are physiological.
    modalities : dict or None, default=None
        ``{name: [column names or indices]}``; every column must belong to exactly one.
    lr, max_epochs, batch_size, optimizer, weight_decay, max_grad_norm, early_stopping, \
validation_fraction, n_iter_no_change, tol, warm_start, checkpoint_dir, device, random_state, \
verbose, callbacks, normalize_y, n_threads
        See :class:`mpcl_sklearn.torch_estimator.TorchDistributionRegressor` (same defaults,
        as MPCL's).

    Attributes
    ----------
    net_ : skorch.NeuralNet
    history_ : skorch.History
    physiological_modalities_, behavioural_modalities_ : list of str
        The modalities of each kind found in the training data, in column order.
    label_correlation_ : ndarray of shape (n_emotions, n_emotions)
        Pearson correlation between the emotions of the training targets (the target ``R``).
    learned_label_correlation_ : ndarray of shape (n_emotions, n_emotions)
        The learned ``R_hat = N(E) N(E)^T`` of the label embedding after training.
    n_features_in_, feature_names_in_, n_outputs_

    References
    ----------
    Zheng et al., "Heterogeneous Multi-Modal Fusion with Label Correlation for Emotion
    Distribution Learning", ACM MM 2025 (arXiv 2507.06821).
    """

    def __init__(
        self,
        d_model: int = 32,
        n_tokens: int = 4,
        n_heads: int = 4,
        ffn_dim: int = 64,
        depth: int = 1,
        dropout: float = 0.1,
        attn_dropout: float = 0.1,
        dropkey: float = 0.1,
        hidden_size: int = 64,
        use_ot: bool = True,
        ot_beta: float = 0.1,
        ot_outer_iter: int = 5,
        ot_inner_iter: int = 20,
        ot_threshold: float = 0.1,
        lambda_corr: float = 1.0,
        behavioural_modalities: tuple[str, ...] = _BEHAVIOURAL_DEFAULT,
        modalities: Mapping | None = None,
        *,
        lr: float = 3e-3,
        max_epochs: int = 30,
        batch_size: int = 128,
        optimizer="adamw",
        weight_decay: float = 1e-4,
        max_grad_norm: float | None = 5.0,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        tol: float = 1e-4,
        warm_start: bool = False,
        checkpoint_dir: str | None = None,
        device: str = "cpu",
        random_state=None,
        verbose: int = 0,
        callbacks=None,
        normalize_y: bool | str = False,
        n_threads: int | None = 1,
    ):
        self.d_model = d_model
        self.n_tokens = n_tokens
        self.n_heads = n_heads
        self.ffn_dim = ffn_dim
        self.depth = depth
        self.dropout = dropout
        self.attn_dropout = attn_dropout
        self.dropkey = dropkey
        self.hidden_size = hidden_size
        self.use_ot = use_ot
        self.ot_beta = ot_beta
        self.ot_outer_iter = ot_outer_iter
        self.ot_inner_iter = ot_inner_iter
        self.ot_threshold = ot_threshold
        self.lambda_corr = lambda_corr
        self.behavioural_modalities = behavioural_modalities
        self.modalities = modalities
        super().__init__(**training_params(locals()))

    # ------------------------------------------------------------------ parameters and layout
    def _check_params(self) -> None:
        super()._check_params()
        for name in ("d_model", "n_tokens", "n_heads", "ffn_dim", "depth", "hidden_size"):
            value = getattr(self, name)
            if not _is_int(value, 1):
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        for name in ("ot_outer_iter", "ot_inner_iter"):
            value = getattr(self, name)
            if not _is_int(value, 0):
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")
        for name in ("dropout", "attn_dropout", "dropkey"):
            _check_dropout(name, getattr(self, name))
        if not (np.isscalar(self.ot_beta) and self.ot_beta > 0):
            raise ValueError(f"ot_beta must be a positive float, got {self.ot_beta!r}")
        if not (np.isscalar(self.lambda_corr) and self.lambda_corr >= 0):
            raise ValueError(f"lambda_corr must be a float >= 0, got {self.lambda_corr!r}")

    def _column_layout(self, X) -> dict:
        """One column group per modality (HeLo has no scales): the explicit ``modalities``, or
        the base's ``(modality, scale)`` groups merged over the scales."""
        if self.modalities is not None:
            names = getattr(self, "feature_names_in_", None)
            mods = explicit_modalities(self.modalities, names, X.shape[1])
        else:
            mods: dict[str, list[int]] = {}
            for (modality, _scale), idx in super()._column_layout(X).items():
                mods.setdefault(modality, []).extend(idx)
        return {(name, None): idx for name, idx in mods.items()}

    def _split_modalities(self) -> tuple[list[str], list[str]]:
        behavioural = self.behavioural_modalities or ()
        if isinstance(behavioural, str):
            behavioural = (behavioural,)
        behavioural = {str(b) for b in behavioural}
        mods = [m for m, _ in self.column_layout_]
        return [m for m in mods if m not in behavioural], [m for m in mods if m in behavioural]

    # ------------------------------------------------------------------ hooks
    def _prepare_fit(self, X: np.ndarray, Y: np.ndarray) -> None:
        phys, beh = self._split_modalities()
        if not phys:
            raise ValueError(
                f"HeLoRegressor needs at least one physiological modality; all modalities {beh} "
                f"are in behavioural_modalities={tuple(self.behavioural_modalities)!r}"
            )
        self.physiological_modalities_ = phys
        self.behavioural_modalities_ = beh
        self.label_correlation_ = _label_correlation(Y)

    def _build_module(self, n_features: int, n_outputs: int, column_layout: dict):
        # fitted attributes, not the parameters: unpickling rebuilds the same network
        phys, beh = self.physiological_modalities_, self.behavioural_modalities_
        return _HeLoNet(
            [column_layout[(m, None)] for m in phys],
            [column_layout[(m, None)] for m in beh],
            n_outputs,
            label_corr=self.label_correlation_,
            d_model=int(self.d_model),
            n_tokens=int(self.n_tokens),
            n_heads=int(self.n_heads),
            ffn_dim=int(self.ffn_dim),
            depth=int(self.depth),
            dropout=float(self.dropout),
            attn_dropout=float(self.attn_dropout),
            dropkey=float(self.dropkey),
            hidden_size=int(self.hidden_size),
            use_ot=bool(self.use_ot),
            ot_beta=float(self.ot_beta),
            ot_outer_iter=int(self.ot_outer_iter),
            ot_inner_iter=int(self.ot_inner_iter),
            ot_threshold=float(self.ot_threshold),
            lambda_corr=float(self.lambda_corr),
        )

    def _after_fit(self, X: np.ndarray, Y: np.ndarray) -> None:
        with torch.no_grad():
            R = self.net_.module_.label_correlation()
        self.learned_label_correlation_ = R.detach().double().cpu().numpy()
