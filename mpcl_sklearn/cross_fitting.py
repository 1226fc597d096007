"""Cross-fitted members trained as one stacked network, and shrinkage chosen out of fold.

A regressor with ``member_folds=F`` and ``member_repeats=R`` trains ``K = F * R`` members of its
network at once (:class:`~mpcl_sklearn.nn.ensemble.StackedEnsemble`). For every repeat the
training groups (subjects; rows when no groups are given) are shuffled into ``F`` folds and
member ``(repeat, fold)`` trains on the rows outside its fold, like the models of an inner
cross-validation. So every training row is *out of fold* for ``R`` members, and their mean
prediction for it is an honest held-out prediction: it is used to choose, inside the training
data, how much to shrink the ensemble's prediction toward the training label distribution
(:func:`choose_shrinkage`). The prediction is the members' mean, shrunk by that amount.

This module holds the pieces the training loop needs: the fold masks, a dataset that gives each
member a batch of its own rows, the loss and the per-member gradient clipping.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from skorch.callbacks import Callback

from .torch_estimator import TensorBatchDataset

__all__ = [
    "MemberBatchDataset",
    "MemberGradClipping",
    "MemberKLDivLoss",
    "choose_shrinkage",
    "member_masks",
    "mixture_kl",
    "out_of_fold_mean",
    "out_of_fold_prior",
]


def member_masks(
    n_samples: int, groups=None, *, n_folds: int = 3, n_repeats: int = 1, random_state=None
) -> np.ndarray:
    """Which rows each of the ``n_folds * n_repeats`` members trains on (bool, (n, K)).

    For each repeat the groups (rows when ``groups`` is None) are shuffled into ``n_folds``
    folds of near-equal size (``min(n_folds, n_groups)``); member ``(repeat, fold)`` trains on
    every row outside that fold. ``n_folds=1``: every member trains on every row.
    """
    if n_folds == 1:
        return np.ones((n_samples, int(n_repeats)), dtype=bool)
    rng = np.random.default_rng(random_state)
    if groups is None:
        codes = np.arange(n_samples)
    else:
        _, codes = np.unique(np.asarray(groups), return_inverse=True)
    n_units = int(codes.max()) + 1
    folds = min(int(n_folds), n_units)
    if folds < 2:
        raise ValueError(
            f"member_folds={n_folds} needs at least 2 groups (subjects) in the training data; "
            f"got {n_units}"
        )
    masks = []
    for _ in range(int(n_repeats)):
        fold_of_unit = np.empty(n_units, dtype=int)
        fold_of_unit[rng.permutation(n_units)] = np.arange(n_units) % folds
        fold = fold_of_unit[codes]
        masks.extend(fold != f for f in range(folds))
    return np.stack(masks, axis=1)


class MemberBatchDataset(TensorBatchDataset):
    """Training rows for stacked members: each member draws its batches from its own rows.

    In training a batch is ``(X, Y)`` of shapes ``(K, batch, n_features)`` and ``(K, batch,
    C)``: member ``k`` gets ``batch`` of its rows, in its own shuffled order. An epoch has as
    many batches as the member with the most rows needs; members with fewer rows start their
    (reshuffled) order again, so no member idles. Out of training (a validation pass), batches
    are plain ``(batch, n_features)`` slices of all rows.

    Parameters
    ----------
    X : Tensor of shape (n, n_features)
    y : Tensor of shape (n, C)
    masks : array of bool, shape (n, K)
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, masks: np.ndarray):
        super().__init__(X, y)
        self.rows = [
            torch.as_tensor(np.flatnonzero(masks[:, k]), device=X.device)
            for k in range(masks.shape[1])
        ]
        if any(len(r) == 0 for r in self.rows):
            raise ValueError("a member has no training rows")

    def __len__(self) -> int:
        return max(len(r) for r in self.rows)

    def batches(self, batch_size: int, training: bool, generator=None):
        if not training:
            return super().batches(batch_size, training, generator)
        return _MemberBatches(self, batch_size, generator)


class _MemberBatches:
    def __init__(self, dataset: MemberBatchDataset, batch_size: int, generator):
        self.dataset = dataset
        self.batch_size = batch_size
        self.generator = generator

    def __len__(self) -> int:
        return math.ceil(len(self.dataset) / self.batch_size)

    def __iter__(self):
        ds, bs = self.dataset, self.batch_size
        steps = len(self)
        orders = []
        for rows in ds.rows:
            need = steps * bs
            reps = math.ceil(need / len(rows))
            perm = torch.cat(
                [torch.randperm(len(rows), generator=self.generator) for _ in range(reps)]
            )
            orders.append(rows[perm.to(rows.device)][:need])
        order = torch.stack(orders)  # (K, steps * bs)
        for start in range(0, steps * bs, bs):
            idx = order[:, start : start + bs]
            yield ds.X[idx], ds.y[idx]


class MemberKLDivLoss(torch.nn.Module):
    """``KL(y || y_hat)`` for stacked members (sum over members of each one's batch mean).

    Member outputs ``(K, batch, C)`` with targets ``(K, batch, C)``: each member's gradient is
    that of its own fit. Outputs ``(batch, C)`` (a validation pass): the plain batch mean.
    """

    def __init__(self, reduction: str = "batchmean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, log_pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        kl = (torch.special.xlogy(target, target) - target * log_pred).sum(-1)
        return kl.mean(-1).sum() if kl.dim() == 2 else kl.mean()


class MemberGradClipping(Callback):
    """Gradient-norm clipping of each member separately (stacked parameters, member axis 0)."""

    def __init__(self, max_norm: float):
        self.max_norm = max_norm

    def on_grad_computed(self, net, named_parameters, **kwargs):
        grads = [p.grad for _, p in named_parameters if p.grad is not None]
        if not grads:
            return
        sq = sum(g.pow(2).reshape(g.shape[0], -1).sum(1) for g in grads)
        scale = (self.max_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(scale.view(-1, *([1] * (g.dim() - 1))))


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
    from scipy.optimize import minimize_scalar

    res = minimize_scalar(lambda s: mixture_kl(Y, P, prior, s), bounds=(0.0, 1.0), method="bounded")
    cands = {0.0: mixture_kl(Y, P, prior, 0.0), 1.0: mixture_kl(Y, P, prior, 1.0)}
    cands[float(res.x)] = float(res.fun)
    return min(cands, key=cands.get)


# --------------------------------------------------------------------------------------------
# the convex linear read-out: its penalty chosen on the members' folds, and its solution
# --------------------------------------------------------------------------------------------

#: penalties tried for the linear evidence when ``linear_alpha="auto"`` (SA-BFGS's grid)
LINEAR_ALPHAS: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)


def convex_linear_fit(X: np.ndarray, Y: np.ndarray, alpha: float):
    """The maximum-entropy (SA-BFGS) solution on standardised ``X``: ``(W (F, C), b (C,))``."""
    from .baselines import SABFGSRegressor

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
    from .metrics import kl_divergence

    scores = {}
    for alpha in alphas:
        losses, weights = [], []
        for k in range(masks.shape[1]):
            tr, te = masks[:, k], ~masks[:, k]
            if not te.any():
                continue
            W, b = convex_linear_fit(X[tr], Y[tr], alpha)
            Z = X[te] @ W + b
            P = np.exp(Z - Z.max(axis=1, keepdims=True))
            losses.append(kl_divergence(Y[te], P / P.sum(axis=1, keepdims=True)))
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
