"""Shared scikit-learn base for the PyTorch distribution regressors (skorch inside).

:class:`TorchDistributionRegressor` is a scikit-learn estimator that *owns* a skorch
:class:`~skorch.NeuralNet` built in ``fit`` (``self.net_``); it does not subclass skorch (a skorch
net fails most of scikit-learn's estimator checks). It takes care of everything that is not the
network itself:

* validation of ``X`` and ``y`` (rows must be distributions, see ``normalize_y``), feature
  standardisation fitted on the training data (``x_mean_``, ``x_scale_``);
* the loss: ``KL(y || y_hat)`` on the log-probabilities returned by the module, plus the
  module's auxiliary losses (see below), through skorch's ``get_loss``;
* fast batch feeding: batches are slices of two tensors (skorch's default per-sample ``Dataset``
  plus ``DataLoader`` collation is the bottleneck for small models);
* subnormal floats flushed to zero during the training loop and the forward passes of
  ``predict`` (``torch.set_flush_denormal``: subnormal Adam moments otherwise slow CPU training
  ~50x), and the calling thread's previous setting restored afterwards (the flags are CPU state
  that numpy obeys too, so they must not leak into the caller's code; see
  ``_flush_denormals``);
* seeding from ``random_state`` (torch and numpy, inside a forked RNG so global state is left
  alone; deterministic on CPU);
* ``device`` (``"cpu"``; ``"cuda"`` honoured when available, a clear error otherwise);
* an optional validation split with early stopping that keeps subjects apart when ``groups``
  are given (``fit(X, y, groups=...)``; with metadata routing, ``set_fit_request(groups=True)``);
* gradient clipping on by default (``max_grad_norm``), a clear error on a NaN/inf loss;
* ``warm_start``, checkpoints (``checkpoint_dir``: skorch ``Checkpoint`` every epoch, a later
  ``fit`` with the same directory resumes), Ctrl-C during ``fit`` leaves a usable estimator;
* pickling that stores the weights as plain numpy arrays (no torch pickles), so a model fitted on
  a GPU unpickles and predicts on a CPU-only machine, and ``skops.io`` can save it trusting only
  our classes, numpy and scikit-learn types.

How to subclass
---------------
Write an ``__init__`` listing *all* parameters explicitly (your own plus the base's,
:data:`TRAINING_PARAMS`), storing each of yours unchanged (scikit-learn's rule) and handing the
base's on with ``super().__init__(**training_params(locals()))``, and implement::

    def _build_module(self, n_features, n_outputs, column_layout) -> torch.nn.Module

returning a module whose ``forward(X)`` maps a float32 tensor ``(batch, n_features)`` of
standardised features to *log-probabilities* ``(batch, n_outputs)``. ``column_layout`` is a dict
``{(modality, scale): [column indices]}`` (see :meth:`_column_layout`; a plain array is one
modality ``("x", None)``). Optional hooks:

* ``module.auxiliary_loss()`` on the module, returning a scalar tensor computed during the last
  training forward pass (or ``None``): it is added to the KL loss in training;
* ``_prepare_fit(self, X, Y)``: called before the module is built (``X`` standardised), e.g. to
  store label statistics as learned attributes the module needs;
* ``_after_fit(self, X, Y)``: called after training, e.g. to expose learned matrices;
* ``_column_layout(self, X)``: another way of grouping the columns into tokens.

Everything ``_build_module`` reads must be a parameter or a learned attribute (it is called
again when unpickling).
"""

from __future__ import annotations

import copy
import inspect
import math
import os
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data
from skorch import NeuralNet
from skorch.callbacks import (
    Checkpoint,
    EarlyStopping,
    GradientNormClipping,
    ProgressBar,
)
from skorch.history import History
from skorch.utils import noop

from ._columns import group_columns
from ._scaling import bound_rows, column_mean_std
from ._validation import as_real_array, check_distributions, real_target_or_none
from .base import DistributionRegressorMixin

__all__ = [
    "TRAINING_PARAMS",
    "TorchDistributionRegressor",
    "TrainingDivergedError",
    "training_params",
]

_OPTIMIZERS = {
    "adamw": torch.optim.AdamW,
    "adam": torch.optim.Adam,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite."""


# --------------------------------------------------------------------------------------------
# fast batch feeding
# --------------------------------------------------------------------------------------------


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
        """The batch iterator skorch uses (shuffled in training)."""
        return _BatchIterator(self, batch_size, training, generator)


class _BatchIterator:
    """Iterate over ``(X[idx], y[idx])`` batches of a :class:`TensorBatchDataset`."""

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


class _FixedValidSplit:
    """skorch ``train_split`` returning a fixed validation dataset (picklable, no lambda)."""

    def __init__(self, valid_dataset):
        self.valid_dataset = valid_dataset

    def __call__(self, dataset, y=None, **kwargs):
        return dataset, self.valid_dataset


class _DistributionNet(NeuralNet):
    """skorch net: KL loss + the module's auxiliary loss, tensor-slice batches, NaN guard."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        loss = super().get_loss(y_pred, y_true, X=X, training=training)
        if training:
            aux_fn = getattr(self.module_, "auxiliary_loss", None)
            aux = aux_fn() if aux_fn is not None else None
            if aux is not None:
                loss = loss + aux
        if not torch.isfinite(loss):
            epoch = len(self.history)
            raise TrainingDivergedError(
                f"the {'training' if training else 'validation'} loss became {loss.item()} in "
                f"epoch {epoch}: training diverged. Try a lower learning rate (lr={self.lr}), "
                "keep gradient clipping on (max_grad_norm, default 5.0) or lower it, check the "
                "features for extreme values, or use a smaller batch-independent loss weight."
            )
        return loss

    def get_iterator(self, dataset, training=False):
        if isinstance(dataset, TensorBatchDataset):
            gen = getattr(self, "batch_generator_", None)
            return dataset.batches(self.batch_size, training, gen)
        return super().get_iterator(dataset, training=training)


# --------------------------------------------------------------------------------------------
# the estimator base
# --------------------------------------------------------------------------------------------


def _resolve_device(device) -> torch.device:
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda', got {device!r}")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available in this torch "
                f"build ({torch.__version__}) or on this machine; use device='cpu'"
            )
        return torch.device(device)
    if device in ("cpu", "mps"):
        return torch.device(device)
    raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:<n>', got {device!r}")


_SUBNORMAL = np.array([5e-324])  # the smallest positive float64, a subnormal
_ONE = np.ones(1)


def _denormals_flushed() -> bool:
    """Whether the calling thread flushes subnormal floats to zero now.

    ``torch.set_flush_denormal`` has no getter: it sets the CPU's flush-to-zero and
    denormals-are-zero flags (x86 MXCSR FTZ/DAZ, ARM FPCR FZ) of the calling thread, which govern
    numpy's arithmetic as much as torch's. With either flag on, ``5e-324 * 1.0`` is 0.
    """
    return bool((_SUBNORMAL * _ONE)[0] == 0.0)


@contextmanager
def _flush_denormals() -> Iterator[bool]:
    """Flush subnormal floats to zero inside the block, then restore the previous state.

    Yields whether flushing is on in the block (False where the CPU lacks the flags). Nothing is
    changed when the thread already flushes (a caller's own ``torch.set_flush_denormal(True)``
    stays on); otherwise flushing is switched off again on exit, also after an exception or
    Ctrl-C, so that numpy code after ``fit``/``predict`` sees subnormals as before.
    """
    if _denormals_flushed():
        yield True
        return
    switched = torch.set_flush_denormal(True)
    try:
        yield switched
    finally:
        if switched:
            torch.set_flush_denormal(False)


class _torch_threads:
    """Context manager: set torch's intra-op thread count, restore it on exit."""

    def __init__(self, n):
        self.n = n
        self.prev = None

    def __enter__(self):
        if self.n is not None:
            self.prev = torch.get_num_threads()
            if self.prev != self.n:
                torch.set_num_threads(int(self.n))
        return self

    def __exit__(self, *exc):
        if self.prev is not None and torch.get_num_threads() != self.prev:
            torch.set_num_threads(self.prev)
        return False


class TorchDistributionRegressor(DistributionRegressorMixin, BaseEstimator):
    """Base class for PyTorch emotion-distribution regressors trained through skorch.

    Not usable on its own: subclasses implement ``_build_module`` (see the module docstring).

    Parameters
    ----------
    lr : float, default=3e-3
        Learning rate.
    max_epochs : int, default=30
        Number of training epochs (per ``fit``; with ``warm_start`` per call).
    batch_size : int, default=128
        Mini-batch size.
    optimizer : {"adamw", "adam", "sgd", "rmsprop"} or torch optimizer class, default="adamw"
    weight_decay : float, default=1e-4
    max_grad_norm : float or None, default=5.0
        Gradient-norm clipping (skorch ``GradientNormClipping``); None turns it off.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (whole subjects when ``groups``
        are passed to ``fit``) and stop when the validation KL has not improved by ``tol`` for
        ``n_iter_no_change`` epochs; the best weights are restored.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    tol : float, default=1e-4
    warm_start : bool, default=False
        When True, ``fit`` continues training the existing network (same data layout).
    checkpoint_dir : str or None, default=None
        Directory where weights, optimizer and history are saved after every epoch (skorch
        ``Checkpoint``). When it already holds a checkpoint, ``fit`` resumes from it and trains
        the remaining ``max_epochs - epochs_done`` epochs.
    device : str, default="cpu"
        ``"cpu"`` or ``"cuda"``/``"cuda:<n>"`` (error when CUDA is unavailable).
    random_state : int, RandomState or None
        Seeds weight initialisation, shuffling and the validation split.
    verbose : int, default=0
        0: silent; 1: skorch's epoch table; 2: also a progress bar per epoch.
    callbacks : list of skorch callbacks or None
        Extra callbacks; they are deep-copied at ``fit``.
    normalize_y : bool or "softmax", default=False
        False: target rows must be distributions (clear error otherwise). True: non-negative
        rows are rescaled to sum to 1. ``"softmax"``: rows are unnormalised scores (any real
        values, e.g. centred ratings) turned into distributions by a softmax. ``score`` compares
        predictions with the targets transformed the same way.
    n_threads : int or None, default=1
        torch intra-op threads during ``fit`` and ``predict`` (restored afterwards). One thread
        is fastest for these small networks and avoids OpenMP spin-waiting on busy machines
        (measured 20-70x slower with 2 threads on 2 shared cores); None keeps torch's setting.
    """

    def __init__(
        self,
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
        self.lr = lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.max_grad_norm = max_grad_norm
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.warm_start = warm_start
        self.checkpoint_dir = checkpoint_dir
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.normalize_y = normalize_y
        self.n_threads = n_threads

    # ---------------------------------------------------------------- hooks for subclasses
    def _build_module(self, n_features: int, n_outputs: int, column_layout: dict):
        raise NotImplementedError("subclasses implement _build_module")

    def _prepare_fit(self, X: np.ndarray, Y: np.ndarray) -> None:
        """Hook called before the module is built (X standardised)."""

    def _after_fit(self, X: np.ndarray, Y: np.ndarray) -> None:
        """Hook called after training (X standardised)."""

    def _training_dataset(self, X: torch.Tensor, Y: torch.Tensor, rows: np.ndarray):
        """Hook: the training dataset of the rows ``rows`` (of the standardised data given to
        ``_prepare_fit``). Default: :class:`TensorBatchDataset` of ``X``, ``Y``."""
        return TensorBatchDataset(X, Y)

    def _criterion(self):
        """Hook: the criterion class (called with ``reduction="batchmean"``)."""
        return torch.nn.KLDivLoss

    def _column_layout(self, X) -> dict:
        """Group the columns into tokens: ``{(modality, scale): [indices]}``."""
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            return {("x", None): list(range(X.shape[1]))}
        try:
            return {k: list(v) for k, v in group_columns(list(names)).items()}
        except ValueError:
            return {("x", None): list(range(X.shape[1]))}

    # ---------------------------------------------------------------- helpers
    def _check_params(self) -> None:
        if not (isinstance(self.max_epochs, (int, np.integer)) and self.max_epochs >= 1):
            raise ValueError(f"max_epochs must be an int >= 1, got {self.max_epochs!r}")
        if not (isinstance(self.batch_size, (int, np.integer)) and self.batch_size >= 1):
            raise ValueError(f"batch_size must be an int >= 1, got {self.batch_size!r}")
        if not (np.isscalar(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive float, got {self.lr!r}")
        if self.early_stopping and not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(
                f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}"
            )
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise ValueError(f"max_grad_norm must be positive or None, got {self.max_grad_norm}")

    def _optimizer_class(self):
        opt = self.optimizer
        if isinstance(opt, str):
            try:
                return _OPTIMIZERS[opt.lower()]
            except KeyError:
                raise ValueError(
                    f"optimizer must be one of {sorted(_OPTIMIZERS)} or a torch optimizer "
                    f"class, got {opt!r}"
                ) from None
        if isinstance(opt, type) and issubclass(opt, torch.optim.Optimizer):
            return opt
        raise TypeError(f"optimizer must be a name or a torch.optim.Optimizer class, got {opt!r}")

    def _validate_predict_data(self, X, *, dtype=np.float64):
        """Fast path for a DataFrame with exactly the fitted columns (real-time prediction);
        everything else goes through scikit-learn's ``validate_data``."""
        names = getattr(self, "feature_names_in_", None)
        if (
            names is not None
            and hasattr(X, "columns")
            and hasattr(X, "dtypes")
            and getattr(X, "ndim", 0) == 2
            and len(X.columns) == len(names)
            and all(str(a) == str(b) for a, b in zip(X.columns, names, strict=True))
            and all(getattr(dt, "kind", "O") in "fiub" for dt in X.dtypes)
            and hasattr(self, "net_")
        ):
            A = np.asarray(X.to_numpy(dtype=dtype))
            if A.shape[0] == 0:
                raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required.")
            if not np.isfinite(A).all():
                kind = "NaN" if np.isnan(A).any() else "infinity"
                raise ValueError(f"Input X contains {kind}.")
            return A
        return super()._validate_predict_data(X, dtype=dtype)

    def _target_distributions(self, y) -> np.ndarray:
        """Targets as distributions, following ``normalize_y``."""
        mode = self.normalize_y
        Y = as_real_array(y, "y")
        Y = Y.reshape(len(Y), -1)
        if isinstance(mode, str):
            if mode != "softmax":
                raise ValueError(f"normalize_y must be False, True or 'softmax', got {mode!r}")
            if not np.isfinite(Y).all():
                raise ValueError("y contains NaN or inf")
            Z = np.exp(Y - Y.max(axis=1, keepdims=True))
            return Z / Z.sum(axis=1, keepdims=True)
        return check_distributions(Y, normalize=bool(mode))

    def _validate_fit_data(self, X, y, *, dtype=np.float64):
        if not isinstance(self.normalize_y, str):
            return super()._validate_fit_data(X, y, dtype=dtype)
        X, y = validate_data(
            self, X, real_target_or_none(y), multi_output=True, dtype=dtype, y_numeric=True
        )
        Y = self._target_distributions(y)
        self.n_outputs_ = Y.shape[1]
        return X, Y

    def _standardize(self, X: np.ndarray) -> np.ndarray:
        """Standardised float32 features; rows beyond ``MAX_Z`` standard deviations are shrunk
        onto that magnitude (direction kept), so a huge test value never overflows float32 or
        the network's activations into a NaN prediction."""
        with np.errstate(over="ignore", invalid="ignore"):
            Z = (X - self.x_mean_) / self.x_scale_
        return bound_rows(Z, X, [self.x_scale_]).astype(np.float32, copy=False)

    def _make_net(self, device: torch.device, *, extra_callbacks=()) -> _DistributionNet:
        callbacks = []
        if self.max_grad_norm is not None:
            callbacks.append(("grad_clip", GradientNormClipping(self.max_grad_norm)))
        if self.verbose and self.verbose >= 2:
            callbacks.append(("progress", ProgressBar()))
        callbacks.extend(extra_callbacks)
        for i, cb in enumerate(copy.deepcopy(list(self.callbacks or []))):
            name = cb[0] if isinstance(cb, tuple) else f"user_{i}_{type(cb).__name__}"
            callbacks.append(cb if isinstance(cb, tuple) else (name, cb))
        opt_kwargs = {}
        if self.weight_decay:
            opt_kwargs["optimizer__weight_decay"] = self.weight_decay
        opt_cls = self._optimizer_class()
        if opt_cls in (torch.optim.Adam, torch.optim.AdamW) and device.type in ("cpu", "cuda"):
            # one fused kernel instead of a Python loop over the parameters (~1 ms per step)
            opt_kwargs["optimizer__fused"] = True
        net = _DistributionNet(
            module=self._build_module(self.n_features_in_, self.n_outputs_, self.column_layout_),
            criterion=self._criterion(),
            criterion__reduction="batchmean",
            optimizer=opt_cls,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            train_split=None,
            callbacks=callbacks,
            device=str(device),
            verbose=int(self.verbose or 0),
            **opt_kwargs,
        )
        return net

    def _seed(self) -> int:
        rng = check_random_state(self.random_state)
        return int(rng.randint(0, 2**31 - 1))

    def _validation_split(self, n: int, groups, seed: int):
        frac = self.validation_fraction
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
            n_valid_groups = math.ceil(frac * n_groups)
            if n_valid_groups >= n_groups:
                raise ValueError(
                    f"validation_fraction={frac} of {n_groups} groups leaves no group for "
                    "training; use a smaller fraction or more subjects"
                )
            splitter = GroupShuffleSplit(n_splits=1, test_size=frac, random_state=seed)
            train, valid = next(splitter.split(np.zeros(n), groups=groups))
        else:
            n_valid = math.ceil(frac * n)
            if n < 2 or n_valid >= n:
                raise ValueError(
                    f"early_stopping needs enough samples for a validation split: "
                    f"validation_fraction={frac} of {n} samples leaves "
                    f"{n - n_valid} for training"
                )
            splitter = ShuffleSplit(n_splits=1, test_size=frac, random_state=seed)
            train, valid = next(splitter.split(np.zeros(n)))
        return train, valid

    def _to_tensor(self, A: np.ndarray, device) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(A, dtype=np.float32), device=device)

    # ---------------------------------------------------------------- fit / predict
    def fit(self, X, y, groups=None):
        """Fit the network.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples, n_emotions)
            One emotion distribution per row (rows non-negative, summing to 1, unless
            ``normalize_y``).
        groups : array-like of shape (n_samples,), optional
            Subject of each sample; only used to keep subjects apart in the early-stopping
            validation split. With metadata routing, request it with
            ``set_fit_request(groups=True)``.

        Returns
        -------
        self
        """
        with _torch_threads(getattr(self, "n_threads", 1)):
            return self._fit(X, y, groups=groups)

    def _fit(self, X, y, groups=None):
        self._check_params()
        device = _resolve_device(self.device)
        reuse = self.warm_start and hasattr(self, "net_")
        prev = (self.n_features_in_, self.n_outputs_) if reuse else None
        prev_names = getattr(self, "feature_names_in_", None) if reuse else None
        X, Y = self._validate_fit_data(X, y)
        if reuse:
            names = getattr(self, "feature_names_in_", None)
            same_names = (prev_names is None and names is None) or (
                prev_names is not None and names is not None and list(prev_names) == list(names)
            )
            if prev != (self.n_features_in_, self.n_outputs_) or not same_names:
                raise ValueError(
                    "warm_start=True but the data layout changed since the last fit "
                    f"(features/outputs {prev} -> {(self.n_features_in_, self.n_outputs_)}); "
                    "set warm_start=False to start afresh"
                )
        seed = self._seed()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if not reuse:
                mean, scale = column_mean_std(X, type(self).__name__)
                self.x_mean_ = mean
                self.x_scale_ = np.where(scale > 1e-12, scale, 1.0)
                self.column_layout_ = self._column_layout(X)
            Xs = self._standardize(X)
            if not reuse:
                self._prepare_fit(Xs, Y)

            if self.early_stopping:
                train_idx, valid_idx = self._validation_split(len(Xs), groups, seed)
            else:
                train_idx, valid_idx = np.arange(len(Xs)), None
            train_ds = self._training_dataset(
                self._to_tensor(Xs[train_idx], device),
                self._to_tensor(Y[train_idx], device),
                train_idx,
            )

            if reuse:
                net = self.net_
                net.set_params(lr=self.lr, batch_size=self.batch_size, max_epochs=self.max_epochs)
            else:
                extra = []
                if self.early_stopping:
                    extra.append(
                        (
                            "early_stopping",
                            EarlyStopping(
                                monitor="valid_loss",
                                patience=self.n_iter_no_change,
                                threshold=self.tol,
                                threshold_mode="abs",
                                load_best=True,
                                sink=print if self.verbose else noop,
                            ),
                        )
                    )
                checkpoint = None
                if self.checkpoint_dir is not None:
                    checkpoint = Checkpoint(
                        monitor=None,
                        dirname=os.fspath(self.checkpoint_dir),
                        f_criterion=None,
                        sink=print if self.verbose else noop,
                    )
                    extra.append(("checkpoint", checkpoint))
                net = self._make_net(device, extra_callbacks=extra)
                net.initialize()
            if valid_idx is not None:
                net.train_split = _FixedValidSplit(
                    TensorBatchDataset(
                        self._to_tensor(Xs[valid_idx], device),
                        self._to_tensor(Y[valid_idx], device),
                    )
                )
            else:
                net.train_split = None
            net.batch_generator_ = torch.Generator().manual_seed(seed)

            epochs = self.max_epochs
            if not reuse and self.checkpoint_dir is not None:
                epochs = self._maybe_resume(net, checkpoint)
            # publish the net before training so that Ctrl-C (caught by skorch) still leaves
            # a complete, usable estimator
            self.net_ = net
            self.device_ = str(device)
            self.history_ = net.history
            if epochs > 0:
                n_before = len(net.history)
                # subnormal floats (e.g. Adam moments of tiny gradients) make CPU kernels ~50x
                # slower: flushed to zero for the training loop only
                with _flush_denormals():
                    net.partial_fit(train_ds, None, epochs=epochs)
                done = len(net.history) - n_before
                stopped = (
                    any(isinstance(cb, EarlyStopping) for _, cb in net.callbacks_) and done < epochs
                )
                if done < epochs and not stopped:
                    warnings.warn(
                        f"training stopped after {done} of {epochs} epochs (interrupted); the "
                        "estimator holds the weights reached so far",
                        RuntimeWarning,
                        stacklevel=3,
                    )
            net.module_.eval()
            self.history_ = net.history
            self._after_fit(Xs, Y)
        return self

    def _maybe_resume(self, net, checkpoint) -> int:
        """Load a checkpoint if ``checkpoint_dir`` holds one; return the epochs left."""

        def path(name):
            return os.path.join(checkpoint.dirname, checkpoint.fn_prefix + name)

        f_params, f_history = path(checkpoint.f_params), path(checkpoint.f_history)
        if not (os.path.exists(f_params) and os.path.exists(f_history)):
            return self.max_epochs
        f_opt = path(checkpoint.f_optimizer) if checkpoint.f_optimizer else None
        net.load_params(
            f_params=f_params,
            f_optimizer=f_opt if f_opt and os.path.exists(f_opt) else None,
            f_history=f_history,
        )
        return max(0, self.max_epochs - len(net.history))

    def _predict_log_proba_tensor(self, Xs: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        module = self.net_.module_
        module.eval()
        dev = torch.device(self.device_)
        out = []
        with torch.inference_mode():
            for start in range(0, len(Xs), batch_size):
                xb = torch.from_numpy(Xs[start : start + batch_size]).to(dev)
                out.append(module(xb).float().cpu().numpy())
        return np.concatenate(out, axis=0) if out else np.zeros((0, self.n_outputs_))

    def _predict_distribution(self, X: np.ndarray) -> np.ndarray:
        Xs = self._standardize(X)
        with _torch_threads(getattr(self, "n_threads", 1)), _flush_denormals():
            logp = self._predict_log_proba_tensor(Xs).astype(np.float64)
        logp -= logp.max(axis=1, keepdims=True)
        P = np.exp(logp)
        return P / P.sum(axis=1, keepdims=True)

    def score(self, X, y, sample_weight=None) -> float:
        """R^2 between the (validated) target distributions and :meth:`predict`.

        With ``normalize_y=True`` the targets are rescaled to sum to 1 first, i.e. compared in
        the space the model is trained in. Use :func:`mpcl_sklearn.metrics.distribution_scorers`
        for the six distribution metrics.
        """
        from sklearn.metrics import r2_score

        Y = self._target_distributions(y)
        return float(r2_score(Y, self.predict(X), sample_weight=sample_weight))

    # ---------------------------------------------------------------- pickling
    def __getstate__(self):
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__
        state = dict(state)
        layout = state.get("column_layout_")
        if isinstance(layout, dict):  # tuple keys: not representable in skops' JSON schema
            state["column_layout_"] = [[k[0], k[1], list(v)] for k, v in layout.items()]
        net = state.pop("net_", None)
        if net is not None:
            state["_module_state_"] = {
                k: v.detach().cpu().numpy().copy() for k, v in net.module_.state_dict().items()
            }
            state["history_"] = [dict(row) for row in net.history]
        return state

    def __setstate__(self, state):
        state = dict(state)
        module_state = state.pop("_module_state_", None)
        layout = state.get("column_layout_")
        if isinstance(layout, list):
            state["column_layout_"] = {(m, sc): list(ix) for m, sc, ix in layout}
        self.__dict__.update(state)
        if module_state is None:
            return
        device = str(self.__dict__.get("device_", "cpu"))
        if device.startswith("cuda") and not torch.cuda.is_available():
            device = "cpu"
        self.device_ = device
        with torch.random.fork_rng(devices=[]):
            net = self._make_net(torch.device(device))
            net.initialize()
        tensors = {k: torch.from_numpy(np.array(v)) for k, v in module_state.items()}
        net.module_.load_state_dict(tensors)
        net.module_.to(device)
        net.module_.eval()
        net.history = History(state.get("history_", []))
        self.net_ = net
        self.history_ = net.history

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "net_")


#: the training parameters every :class:`TorchDistributionRegressor` takes (keyword-only)
TRAINING_PARAMS: tuple[str, ...] = tuple(
    inspect.signature(TorchDistributionRegressor.__init__).parameters
)[1:]


def training_params(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The shared training parameters, picked from a subclass ``__init__``'s ``locals()``.

    scikit-learn needs every parameter in the subclass's own signature; this hands the shared
    ones to :class:`TorchDistributionRegressor` without listing them a second time.
    """
    return {name: namespace[name] for name in TRAINING_PARAMS}
