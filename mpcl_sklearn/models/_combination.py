"""How a cross-fitted model's parts are combined: choices made on out-of-fold predictions.

The members of :class:`~mpcl_sklearn.models.MPCLDistributionRegressor` (see
:mod:`mpcl_sklearn.training.members`) each hold some training rows out, so their predictions for
those rows are honest held-out predictions. On them the penalty of the convex linear read-out
(:func:`choose_linear_alpha`) and the convex weights of the network, the linear read-out and
the label prior (:func:`choose_weights`) are chosen, inside the training data, and then the
rank of the read-out (:func:`choose_readout_rank`): how many principal directions of the
training labels the combined prediction keeps.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from .._stats import clustered_standard_error
from ..metrics import _kl_rows, kl_divergence
from .shallow import SABFGSRegressor

__all__ = [
    "LINEAR_ALPHAS",
    "READOUT_FLOOR",
    "choose_linear_alpha",
    "choose_readout_rank",
    "choose_shrinkage",
    "choose_weights",
    "convex_linear_fit",
    "label_directions",
    "linear_predict",
    "mixture_kl",
    "out_of_fold_mean",
    "out_of_fold_prior",
    "project_readout",
]


def out_of_fold_mean(P: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the members' predictions ``P`` (K, n, C) over the members that did *not* train
    on each row; returns ``(rows that have such a member, their mean predictions)``."""
    held_out = (~masks).T[:, :, None]  # (K, n, 1)
    counts = held_out.sum(0)[:, 0]
    rows = counts > 0
    oof = (P * held_out).sum(0)[rows] / counts[rows, None]
    return rows, oof


def out_of_fold_prior(Y: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`out_of_fold_mean` for the label prior: every member predicts the mean label
    distribution of *its own* training rows, so a held-out row's labels never enter the prior
    it is scored against."""
    priors = np.stack([Y[m].mean(axis=0) for m in masks.T])  # (K, C)
    return out_of_fold_mean(np.broadcast_to(priors[:, None], (len(priors), *Y.shape)), masks)


def mixture_kl(Y: np.ndarray, P: np.ndarray, prior: np.ndarray, s: float) -> float:
    """Mean ``KL(y || (1 - s) p + s prior)`` (0 log 0 = 0); ``prior`` of shape (C,) or like
    ``P``."""
    Q = np.clip((1 - s) * P + s * prior, 1e-12, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(Y > 0, Y * (np.log(np.where(Y > 0, Y, 1.0)) - np.log(Q)), 0.0)
    return float(np.mean(terms.sum(axis=1)))


def choose_shrinkage(Y: np.ndarray, P: np.ndarray, prior: np.ndarray) -> float:
    """The ``s`` in [0, 1] minimising ``mixture_kl`` (convex in ``s``: bounded Brent search,
    with both end points checked)."""
    res = minimize_scalar(lambda s: mixture_kl(Y, P, prior, s), bounds=(0.0, 1.0), method="bounded")
    cands = {0.0: mixture_kl(Y, P, prior, 0.0), 1.0: mixture_kl(Y, P, prior, 1.0)}
    cands[float(res.x)] = float(res.fun)
    return min(cands, key=cands.get)


#: penalties tried for the linear evidence when ``linear_alpha="auto"`` (SA-BFGS's grid)
LINEAR_ALPHAS: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)


def convex_linear_fit(X: np.ndarray, Y: np.ndarray, alpha: float):
    """The maximum-entropy (SA-BFGS) solution on standardised ``X``: ``(W (F, C), b (C,))``."""
    model = SABFGSRegressor(alpha=alpha, standardize=False).fit(X, Y)
    return model.coef_, model.intercept_


def choose_linear_alpha(
    X: np.ndarray, Y: np.ndarray, masks: np.ndarray, alphas=LINEAR_ALPHAS
) -> tuple[float, dict]:
    """The penalty with the lowest out-of-fold KL of the convex linear model.

    Every column of ``masks`` is one training set (its complement the held-out rows); the
    held-out KL is averaged over all held-out rows of all columns. Returns ``(alpha, {alpha:
    held-out KL})``.
    """
    scores = {}
    for alpha in alphas:
        losses, weights = [], []
        for k in range(masks.shape[1]):
            tr, te = masks[:, k], ~masks[:, k]
            if not te.any():
                continue
            W, b = convex_linear_fit(X[tr], Y[tr], alpha)
            losses.append(kl_divergence(Y[te], linear_predict(X[te], W, b)))
            weights.append(te.sum())
        scores[float(alpha)] = float(np.average(losses, weights=weights))
    return min(scores, key=scores.get), scores


def linear_predict(X: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``softmax(X W + b)`` for one linear model ``W (F, C)`` or stacked ones ``(K, F, C)``."""
    Z = np.einsum("nf,...fc->...nc", X, W) + b[..., None, :]
    P = np.exp(Z - Z.max(axis=-1, keepdims=True))
    return P / P.sum(axis=-1, keepdims=True)


def choose_weights(Y: np.ndarray, parts: list[np.ndarray], step: float = 0.02) -> np.ndarray:
    """Convex weights (on a grid of ``step``) of the predictions ``parts`` minimising the mean
    KL of their mixture to ``Y`` (the KL is convex in the weights)."""
    n_parts = len(parts)
    grid = np.arange(0.0, 1.0 + step / 2, step)
    if n_parts == 1:
        return np.ones(1)
    if n_parts == 2:
        s = choose_shrinkage(Y, parts[0], parts[1])
        return np.array([1.0 - s, s])
    if n_parts != 3:
        raise ValueError("choose_weights combines 2 or 3 predictions")
    best, best_w = np.inf, None
    for a in grid:
        for b in grid[grid <= 1.0 - a + 1e-12]:
            w = np.array([a, b, max(0.0, 1.0 - a - b)])
            kl = mixture_kl(Y, w[0] * parts[0] + w[1] * parts[1], parts[2], w[2])
            if kl < best - 1e-15:
                best, best_w = kl, w
    return best_w


#: probability floor of a projected prediction (a projection can leave the simplex); the
#: prediction is clipped to it and renormalised
READOUT_FLOOR = 1e-6


def label_directions(Y: np.ndarray) -> np.ndarray:
    """Principal directions of the label distributions ``Y`` (n, C): the eigenvectors of
    their covariance as columns (C, C), by decreasing variance."""
    Y = np.asarray(Y, dtype=np.float64)
    if len(Y) < 2:
        return np.eye(Y.shape[1])
    values, vectors = np.linalg.eigh(np.cov(Y.T).reshape(Y.shape[1], Y.shape[1]))
    return vectors[:, np.argsort(values, kind="stable")[::-1]]


def project_readout(P: np.ndarray, prior: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """``prior + (P - prior) basis basis^T``, clipped to :data:`READOUT_FLOOR` and
    renormalised: the prediction's deviation from the label prior kept in the span of
    ``basis`` (C, k) only."""
    Q = prior + (P - prior) @ basis @ basis.T
    Q = np.clip(Q, READOUT_FLOOR, None)
    return Q / Q.sum(axis=-1, keepdims=True)


def choose_readout_rank(
    Y: np.ndarray,
    P: np.ndarray,
    rows: np.ndarray,
    masks: np.ndarray,
    groups: np.ndarray | None = None,
    n_standard_errors: float = 2.0,
) -> tuple[int, dict]:
    """The number ``k`` of the training labels' principal directions kept in the read-out,
    chosen on out-of-fold predictions.

    ``P`` holds the out-of-fold predictions of the training rows selected by ``rows`` (as
    returned by :func:`out_of_fold_mean`); ``masks`` (n, K) the members' training rows. A row
    is projected with the directions and the label mean of each member that held it out (its
    own labels enter neither), averaged over those members. ``k = C`` keeps the prediction
    unchanged (as does ``C - 1`` when the labels span the simplex's plane, so it is not
    tried). The ``k`` of the lowest out-of-fold KL is kept only if its gain over ``k = C``
    exceeds ``n_standard_errors`` standard errors of the per-row difference, clustered by
    ``groups`` (the subjects; None: rows): a projection that does not clearly help is not
    made. Returns ``(k, {k: out-of-fold KL})``.
    """
    n, C = len(masks), Y.shape[1]
    full = np.zeros((n, C))
    full[rows] = P
    members = [(label_directions(Y[m]), Y[m].mean(axis=0)) for m in masks.T]
    losses = {C: _kl_rows(Y[rows], P)}
    for k in range(1, C - 1):  # k = C - 1 spans the plane of the simplex: P itself
        projected = np.stack([project_readout(full, q, U[:, :k]) for U, q in members])
        losses[k] = _kl_rows(Y[rows], out_of_fold_mean(projected, masks)[1])
    scores = {k: float(losses[k].mean()) for k in sorted(losses)}
    best = min(scores, key=lambda k: (scores[k], -k))
    clusters = None if groups is None else np.asarray(groups)[rows]
    se = clustered_standard_error(losses[C] - losses[best], clusters)
    return (best if scores[C] - scores[best] > n_standard_errors * se else C), scores
