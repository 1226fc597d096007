"""Batch feeding: whole batches sliced from two tensors, and the fixed validation split.

skorch's default per-sample ``Dataset`` plus ``DataLoader`` collation is the bottleneck for
small networks; here a batch is one indexing of the feature and target tensors.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit

__all__ = [
    "BatchIterator",
    "FixedValidSplit",
    "TensorBatchDataset",
    "to_tensor",
    "validation_split",
]


class TensorBatchDataset(torch.utils.data.Dataset):
    """Two tensors served as whole batches (slices), not sample by sample.

    Parameters
    ----------
    X : Tensor of shape (n_samples, n_features)
    y : Tensor of shape (n_samples, n_outputs) or None
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor | None = None):
        self.X = X
        self.y = y

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i], (self.y[i] if self.y is not None else torch.zeros(0))

    def batches(self, batch_size: int, training: bool, generator=None):
        """The batch iterator the net uses (shuffled with ``generator`` in training)."""
        return BatchIterator(self, batch_size, training, generator)


class BatchIterator:
    """Iterate over ``(X[idx], y[idx])`` batches of a :class:`TensorBatchDataset`; shuffled
    with ``generator`` when ``shuffle`` (the training batches)."""

    def __init__(self, dataset, batch_size, shuffle, generator):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator

    def __len__(self) -> int:
        return math.ceil(len(self.dataset) / self.batch_size)

    def __iter__(self):
        X, y = self.dataset.X, self.dataset.y
        n = len(X)
        bs = self.batch_size
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).to(X.device)
            for start in range(0, n, bs):
                idx = order[start : start + bs]
                yield X[idx], y[idx]
        else:
            for start in range(0, n, bs):
                yield X[start : start + bs], y[start : start + bs]


class FixedValidSplit:
    """skorch ``train_split`` returning a fixed validation dataset (picklable, no lambda)."""

    def __init__(self, valid_dataset):
        self.valid_dataset = valid_dataset

    def __call__(self, dataset, y=None, **kwargs):
        return dataset, self.valid_dataset


def to_tensor(A: np.ndarray, device) -> torch.Tensor:
    """A float32 tensor of ``A`` on ``device``."""
    return torch.as_tensor(np.ascontiguousarray(A, dtype=np.float32), device=device)


def validation_split(n: int, groups, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation indices for early stopping: ``fraction`` of the samples, or of the
    groups (subjects, kept whole) when ``groups`` are given; clear errors when too few."""
    if groups is not None:
        groups = np.asarray(groups)
        if len(groups) != n:
            raise ValueError(f"groups has {len(groups)} entries but X has {n} rows")
        n_groups = len(np.unique(groups))
        if n_groups < 2:
            raise ValueError(
                f"early_stopping with groups needs at least 2 groups (subjects) to hold "
                f"some out for validation; got {n_groups}"
            )
        n_valid_groups = math.ceil(fraction * n_groups)
        if n_valid_groups >= n_groups:
            raise ValueError(
                f"validation_fraction={fraction} of {n_groups} groups leaves no group for "
                "training; use a smaller fraction or more subjects"
            )
        splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        train, valid = next(splitter.split(np.zeros(n), groups=groups))
    else:
        n_valid = math.ceil(fraction * n)
        if n < 2 or n_valid >= n:
            raise ValueError(
                f"early_stopping needs enough samples for a validation split: "
                f"validation_fraction={fraction} of {n} samples leaves "
                f"{n - n_valid} for training"
            )
        splitter = ShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        train, valid = next(splitter.split(np.zeros(n)))
    return train, valid
