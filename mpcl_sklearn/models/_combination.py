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

import itertools
import warnings

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from .._stats import clustered_standard_error
from ..metrics import _kl_rows, kl_divergence
from .shallow import SABFGSRegressor

__all__ = [
    "CONDITION_CS",
    "LINEAR_ALPHAS",
    "READOUT_FLOOR",
    "choose_condition_C",
    "choose_linear_alpha",
    "choose_readout_rank",
    "choose_shrinkage",
    "choose_weights",
    "condition_fit",
    "condition_predict",
    "convex_linear_fit",
    "label_directions",
    "linear_predict",
    "mixture_kl",
    "out_of_fold_mean",
    "out_of_fold_prior",
    "project_readout",
    "simplex_grid",
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


#: inverse penalties tried for the condition read-out (``LogisticRegression``'s ``C``, on
#: standardised features; chosen on WESAD's development folds, docs/method.md)
CONDITION_CS: tuple[float, ...] = (0.0001, 0.0003, 0.001, 0.003)


def condition_fit(X: np.ndarray, Y: np.ndarray, conditions: np.ndarray, classes, C: float):
    """The condition read-out on standardised ``X``: a multinomial logistic regression onto
    the rows' experimental ``conditions`` and each condition's mean label distribution.

    ``classes`` lists every condition the read-out knows (those absent from these rows are
    never predicted). Returns ``(coef (K, F), intercept (K,), means (K, C))``, K =
    ``len(classes)``; :func:`condition_predict` mixes ``means`` by the predicted condition
    probabilities.
    """
    classes = np.asarray(classes)
    K, F = len(classes), X.shape[1]
    coef, intercept = np.zeros((K, F)), np.full(K, -np.inf)
    means = np.zeros((K, Y.shape[1]))
    present = np.isin(classes, conditions)
    for k in np.flatnonzero(present):
        means[k] = Y[conditions == classes[k]].mean(axis=0)
    if present.sum() == 1:  # one condition: its mean
        intercept[present] = 0.0
        return coef, intercept, means
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = LogisticRegression(C=C, max_iter=1000).fit(X, conditions)
    at = np.searchsorted(classes, clf.classes_)
    if len(clf.classes_) == 2:  # one logit z for the second class: softmax(-z/2, z/2)
        w, b = clf.coef_[0] / 2, clf.intercept_[0] / 2
        coef[at], intercept[at] = np.stack([-w, w]), np.array([-b, b])
    else:
        coef[at], intercept[at] = clf.coef_, clf.intercept_
    return coef, intercept, means


def condition_predict(X: np.ndarray, coef, intercept, means) -> np.ndarray:
    """Mixture of the conditions' mean label distributions by their predicted probabilities,
    for one read-out (``coef`` (K, F)) or stacked ones (``(M, K, F)``: ``(M, n, C)``)."""
    Z = np.einsum("nf,...kf->...nk", X, coef) + intercept[..., None, :]
    P = np.exp(Z - Z.max(axis=-1, keepdims=True))
    P /= P.sum(axis=-1, keepdims=True)
    return np.einsum("...nk,...kc->...nc", P, means)


def choose_condition_C(
    X: np.ndarray, Y: np.ndarray, conditions: np.ndarray, masks: np.ndarray, Cs=CONDITION_CS
) -> tuple[float, dict, tuple]:
    """The ``C`` of the condition read-out with the lowest out-of-fold KL on the members'
    folds (``masks`` (n, M), as :func:`choose_linear_alpha`).

    Returns ``(C, {C: held-out KL}, (coef, intercept, means))`` with every member's read-out at
    the chosen ``C`` stacked on a leading axis (for the out-of-fold combination).
    """
    classes = np.unique(conditions)
    fits, scores = {}, {}
    for C in Cs:
        fits[C] = [condition_fit(X[m], Y[m], conditions[m], classes, C) for m in masks.T]
        stacked = tuple(np.stack(arrays) for arrays in zip(*fits[C], strict=True))
        rows, oof = out_of_fold_mean(condition_predict(X, *stacked), masks)
        scores[float(C)] = kl_divergence(Y[rows], oof)
    best = min(scores, key=scores.get)
    return best, scores, tuple(np.stack(a) for a in zip(*fits[best], strict=True))


def simplex_grid(n_parts: int, step: float) -> np.ndarray:
    """Every weight vector of ``n_parts`` non-negative multiples of ``step`` summing to 1, in
    lexicographic order of the leading weights (G, n_parts)."""
    m = round(1.0 / step)
    rows = [
        (*lead, m - sum(lead))
        for lead in itertools.product(range(m + 1), repeat=n_parts - 1)
        if sum(lead) <= m
    ]
    return np.asarray(rows, dtype=np.float64) / m


def choose_weights(Y: np.ndarray, parts: list[np.ndarray], step: float = 0.02) -> np.ndarray:
    """Convex weights of the predictions ``parts`` (each (n, C), or (C,) for a constant
    prediction) minimising the mean KL of their mixture ``sum_k w_k parts[k]`` to ``Y`` (the
    KL is convex in the weights). Two parts: exact (:func:`choose_shrinkage`); more: the
    best point of the grid of ``step`` on the simplex (the first in the grid's order on ties).
    """
    n_parts = len(parts)
    if n_parts == 1:
        return np.ones(1)
    if n_parts == 2:
        s = choose_shrinkage(Y, parts[0], parts[1])
        return np.array([1.0 - s, s])
    P = np.stack([np.broadcast_to(np.asarray(p, dtype=np.float64), Y.shape) for p in parts])
    grid = simplex_grid(n_parts, step)
    # KL(y || q) = sum y log y - sum y log q: only the second term depends on the weights
    cross = np.empty(len(grid))
    for start in range(0, len(grid), 256):
        W = grid[start : start + 256]
        Q = np.clip(np.einsum("gk,knc->gnc", W, P), 1e-12, None)
        cross[start : start + 256] = -np.einsum("nc,gnc->g", Y, np.log(Q)) / len(Y)
    return grid[int(np.argmin(cross))]


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
