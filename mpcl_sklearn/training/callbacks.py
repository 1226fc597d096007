"""Training callbacks that know where they are in a run.

A *run* is the ``max_epochs`` epochs one ``fit`` trains from scratch or, with ``warm_start``,
the next ``max_epochs``. The learning-rate schedule and the weight averaging take their position
(complete epochs and batches done in the run) from the net's history, so a run interrupted and
continued (``warm_start``) or resumed from its checkpoint goes on exactly where it stopped. An
epoch cut short (Ctrl-C in a batch) is rolled back to the end of the last complete epoch by
:class:`RunSnapshot`, so it is trained again in full. The last history row of a finished run is
marked ``"run_done": True``.
"""

from __future__ import annotations

import copy
import math

import torch
from skorch.callbacks import Callback, EarlyStopping
from skorch.utils import noop
from torch.optim.swa_utils import AveragedModel

__all__ = [
    "RUN_DONE",
    "CosineLR",
    "RunEarlyStopping",
    "RunSnapshot",
    "WeightAveraging",
    "affects_training",
    "early_stopping",
    "has_run_state",
    "random_state",
    "run_batches",
    "run_epochs",
    "run_finished",
    "run_start",
    "set_random_state",
    "stopped_early",
]

#: history key marking the last epoch of a finished run
RUN_DONE = "run_done"


def run_start(history) -> int:
    """Index of the first history row (epoch) of the current run."""
    for i in range(len(history) - 1, -1, -1):
        if history[i].get(RUN_DONE):
            return i + 1
    return 0


def epoch_complete(row) -> bool:
    """Whether a history row is of a complete epoch (an epoch cut short has no epoch loss)."""
    return "train_loss" in row


def run_epochs(history) -> int:
    """Complete epochs of the current run in ``history`` (an epoch cut short does not count)."""
    return sum(1 for row in list(history)[run_start(history) :] if epoch_complete(row))


def run_batches(history) -> int:
    """Training batches of the current run in ``history``."""
    rows = list(history)[run_start(history) :]
    return sum(1 for row in rows for b in row.get("batches", ()) if "train_loss" in b)


def run_finished(net) -> bool:
    """Whether the current run of ``net`` is finished: marked so, or its last epoch completed
    with ``max_epochs`` epochs in the run, or early stopping ended it."""
    history = net.history
    if not len(history):
        return False
    last = history[-1]
    if last.get(RUN_DONE):
        return True
    return epoch_complete(last) and (run_epochs(history) >= net.max_epochs or stopped_early(net))


class CosineLR(Callback):
    """Cosine decay of the learning rate per batch, from ``lr`` to ``lr * floor`` over the run.

    The run has ``max_epochs`` epochs of ``ceil(len(X) / batch_size)`` batches; batch ``t``
    (counted from the start of the run, read from the history at the start of every ``fit``)
    trains at ``lr * (floor + (1 - floor) * (1 + cos(pi * t / total)) / 2)``. The same values
    as skorch's ``LRScheduler(LambdaLR, step_every="batch")``, whose position after a resume is
    the number of epochs instead of batches (``tests/test_training.py`` shows it).
    """

    def __init__(self, floor: float = 0.0):
        self.floor = floor

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        n_batches = max(1, math.ceil(len(X) / net.batch_size)) if X is not None else 1
        self.total_ = max(1, n_batches * net.max_epochs)
        self.step_ = run_batches(net.history)

    def factor(self, step: int) -> float:
        """The learning rate of training batch ``step`` of the run, relative to ``lr``."""
        t = min(step / self.total_, 1.0)
        return self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * t))

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if not training:
            return
        lr = net.lr * self.factor(self.step_)
        for g in net.optimizer_.param_groups:
            g["lr"] = lr
        self.step_ += 1


def _uniform_average(averaged: torch.Tensor, current: torch.Tensor, n_averaged) -> torch.Tensor:
    """Running uniform mean: ``averaged * n / (n + 1) + current / (n + 1)``."""
    n = int(n_averaged)
    return averaged.mul(n / (n + 1)).add(current / (n + 1))


class WeightAveraging(Callback):
    """Stochastic weight averaging: the uniform average of the end-of-epoch weights of the last
    ``fraction`` of the run's epochs (epochs ``ceil((1 - fraction) * max_epochs)`` to
    ``max_epochs``, at least from epoch 1), kept when the run is finished.

    The average is a :class:`torch.optim.swa_utils.AveragedModel` of the parameters; it belongs
    to one run (a new run starts a new one), survives an interruption (``warm_start``
    continues it) and is saved with the checkpoint (:meth:`training_state`). An interrupted
    run leaves the last weights in the network.
    """

    def __init__(self, fraction: float = 0.5):
        self.fraction = fraction

    def initialize(self):
        self.averaged_ = None
        self.run_start_ = None
        return self

    def first_epoch(self, max_epochs: int) -> int:
        """The first epoch (1-based, in the run) whose weights enter the average."""
        return max(1, math.ceil(max_epochs * (1 - self.fraction)))

    def on_train_begin(self, net, **kwargs):
        start = run_start(net.history)
        if self.run_start_ != start:
            self.averaged_, self.run_start_ = None, start

    def on_epoch_end(self, net, **kwargs):
        if run_epochs(net.history) < self.first_epoch(net.max_epochs):
            return
        if self.averaged_ is None:
            self.averaged_ = AveragedModel(net.module_, avg_fn=_uniform_average)
        self.averaged_.update_parameters(net.module_)

    def on_train_end(self, net, **kwargs):
        if run_finished(net) and self.averaged_ is not None and int(self.averaged_.n_averaged) > 1:
            with torch.no_grad():
                for p, avg in zip(
                    net.module_.parameters(), self.averaged_.module.parameters(), strict=True
                ):
                    p.copy_(avg)

    def training_state(self) -> dict:
        """What a checkpoint saves: the run's start and the averaged parameters."""
        averaged = None if self.averaged_ is None else self.averaged_.state_dict()
        return {"run_start": self.run_start_, "averaged": averaged}

    def load_training_state(self, net, state: dict) -> None:
        """Restore :meth:`training_state` (before ``on_train_begin`` of the resumed run)."""
        self.run_start_ = state["run_start"]
        self.averaged_ = None
        if state["averaged"] is not None:
            self.averaged_ = AveragedModel(net.module_, avg_fn=_uniform_average)
            self.averaged_.load_state_dict(state["averaged"])


def random_state(net) -> dict[str, torch.Tensor]:
    """The random generators a training epoch draws from: torch's CPU generator (dropout,
    initialisation), the batch-shuffling generator and, on CUDA or MPS, the device's
    generator."""
    state = {"torch": torch.get_rng_state()}
    gen = getattr(net, "batch_generator_", None)
    if gen is not None:
        state["batches"] = gen.get_state()
    device = torch.device(net.device)
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    elif device.type == "mps":
        state["mps"] = torch.mps.get_rng_state()
    return state


def set_random_state(net, state: dict[str, torch.Tensor]) -> None:
    """Restore :func:`random_state` (the device part only on a net of that device type)."""
    torch.set_rng_state(state["torch"].cpu())
    gen = getattr(net, "batch_generator_", None)
    if gen is not None and "batches" in state:
        gen.set_state(state["batches"].cpu())
    device = torch.device(net.device)
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)
    elif device.type == "mps" and "mps" in state:
        torch.mps.set_rng_state(state["mps"].cpu())


def has_run_state(callback) -> bool:
    """Whether a callback keeps state of the run that a checkpoint, a rollback or a warm start
    carries over (``training_state()`` and ``load_training_state(net, state)``)."""
    return hasattr(callback, "training_state") and hasattr(callback, "load_training_state")


def _copied(obj):
    """A copy of a (nested) state: tensors cloned, containers rebuilt, other objects deep-copied
    (``copy.deepcopy`` of a tensor is ~300x slower than ``clone``)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return type(obj)((k, _copied(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_copied(v) for v in obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return copy.deepcopy(obj)


class RunSnapshot(Callback):
    """The training state at the end of the last complete epoch (or at the start of the fit):
    the number of history rows, the network's and the optimizer's state, :func:`random_state`
    and the run state of the callbacks that have one (``training_state``), in ``state_``.

    An epoch cut short (Ctrl-C in a batch, or in the end-of-epoch callbacks that run before
    this one) is rolled back to it by :meth:`restore`: its row is dropped, and the weights,
    optimizer, random generators and callbacks are as they were before it, so that a continued
    run trains it again, in full, exactly as the uninterrupted run did. The snapshot is taken in
    memory (a copy of the weights and optimizer moments per epoch). The state of callbacks
    without ``training_state`` (e.g. a user's) is not rolled back.
    """

    def initialize(self):
        self.state_ = None
        return self

    def on_train_begin(self, net, **kwargs):
        self.take(net)

    def on_epoch_end(self, net, **kwargs):
        self.take(net)

    def take(self, net) -> None:
        """Snapshot the state of ``net`` now."""
        self.state_ = {
            "epochs": len(net.history),
            "random": random_state(net),
            "module": _copied(net.module_.state_dict()),
            "optimizer": _copied(net.optimizer_.state_dict()),
            "callbacks": {
                name: _copied(cb.training_state())
                for name, cb in net.callbacks_
                if has_run_state(cb)
            },
        }

    def restore(self, net) -> bool:
        """Roll ``net`` back to the snapshot when its history has rows after it (an epoch cut
        short); return whether it did."""
        state = self.state_
        if state is None or len(net.history) <= state["epochs"]:
            return False
        del net.history[state["epochs"] :]
        net.module_.load_state_dict(state["module"])
        net.optimizer_.load_state_dict(_copied(state["optimizer"]))
        set_random_state(net, state["random"])
        callbacks = dict(net.callbacks_)
        for name, cb_state in state["callbacks"].items():
            if name in callbacks:
                callbacks[name].load_training_state(net, _copied(cb_state))
        return True


def affects_training(callback) -> bool:
    """Whether a user's callback can change what a fit learns (then it is part of a checkpoint's
    fingerprint). skorch's logging callbacks (``skorch.callbacks.logging``: ``PrintLog``,
    ``ProgressBar``, ``EpochTimer``, ``TensorBoard``, ...) do not; a callback class declares
    that it does not with the class attribute ``affects_training = False`` (e.g. one that only
    records or interrupts)."""
    cb = callback[1] if isinstance(callback, tuple) else callback
    cls = cb if isinstance(cb, type) else type(cb)
    if cls.__module__ == "skorch.callbacks.logging":
        return False
    return bool(getattr(cb, "affects_training", True))


class RunEarlyStopping(EarlyStopping):
    """skorch's ``EarlyStopping`` that belongs to a run: its patience count, threshold and best
    weights carry over when an interrupted run continues (``warm_start``, or a checkpoint:
    :meth:`training_state`), and the best weights are restored when the run ends, not when it
    is interrupted."""

    def initialize(self):
        self.run_start_ = None
        return super().initialize()

    def on_train_begin(self, net, **kwargs):
        start = run_start(net.history)
        if self.run_start_ == start and run_epochs(net.history) > 0:
            return  # the run continues
        super().on_train_begin(net, **kwargs)
        self.run_start_ = start

    def on_epoch_end(self, net, **kwargs):
        super().on_epoch_end(net, **kwargs)
        if self.misses_ > self.patience:  # a warm start lowered the patience (skorch tests ==)
            raise KeyboardInterrupt

    def on_train_end(self, net, **kwargs):
        if run_finished(net):
            super().on_train_end(net, **kwargs)

    def training_state(self) -> dict:
        """What a checkpoint saves: the run's start and the early-stopping counters."""
        return {
            "run_start": self.run_start_,
            "misses": self.misses_,
            "threshold": float(self.dynamic_threshold_),
            "best_epoch": self.best_epoch_,
            "best_weights": getattr(self, "best_model_weights_", None),
        }

    def load_training_state(self, net, state: dict) -> None:
        """Restore :meth:`training_state` (before ``on_train_begin`` of the resumed run)."""
        self.run_start_ = state["run_start"]
        self.misses_ = state["misses"]
        self.dynamic_threshold_ = state["threshold"]
        self.best_epoch_ = state["best_epoch"]
        self.best_model_weights_ = state["best_weights"]


def early_stopping(patience: int, tol: float, verbose: int) -> RunEarlyStopping:
    """Early stopping on the validation loss, best weights restored at the end of the run."""
    return RunEarlyStopping(
        monitor="valid_loss",
        patience=patience,
        threshold=tol,
        threshold_mode="abs",
        load_best=True,
        sink=print if verbose else noop,
    )


def stopped_early(net) -> bool:
    """Whether an ``EarlyStopping`` callback of ``net`` ended the last training."""
    return any(
        isinstance(cb, EarlyStopping) and getattr(cb, "misses_", 0) >= cb.patience
        for _, cb in getattr(net, "callbacks_", [])
    )
