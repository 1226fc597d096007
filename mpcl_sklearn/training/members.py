"""Cross-fitted members trained as one stacked network: their folds, batches, loss and clipping.

A regressor with ``member_folds=F`` and ``member_repeats=R`` trains ``K = F * R`` members of its
network at once (:class:`~mpcl_sklearn.nn.ensemble.StackedEnsemble`). For every repeat the
training groups (subjects; rows when no groups are given) are shuffled into ``F`` folds and
member ``(repeat, fold)`` trains on the rows outside its fold, like the models of an inner
cross-validation. So every training row is *out of fold* for ``R`` members, and their mean
prediction for it is an honest held-out prediction: on these the regressor chooses, inside the
training data, the linear read-out's penalty and the weights of network, linear read-out and
label prior in its prediction (``models._combination``).

This module holds the pieces the training loop needs: the fold masks, a dataset that gives each
member a batch of its own rows, the loss and the per-member gradient clipping.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from skorch.callbacks import Callback

from .batches import TensorBatchDataset

__all__ = ["MemberBatchDataset", "MemberGradClipping", "MemberKLDivLoss", "member_masks"]


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
