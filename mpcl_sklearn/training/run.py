"""One training run of a :class:`~mpcl_sklearn.training.net.DistributionNet`: how many epochs
are left, what a warm start carries over to the net of the next fit, the training loop itself,
and what marks the run finished (or diverged)."""

from __future__ import annotations

import warnings

import torch

from .callbacks import (
    RUN_DONE,
    RunSnapshot,
    has_run_state,
    run_epochs,
    run_finished,
    set_random_state,
)
from .checkpoint import TrainingCheckpoint
from .net import TrainingDivergedError
from .runtime import flush_denormals

__all__ = ["check_finite", "continue_from", "epochs_left", "prepare_run", "train"]

#: name of the :class:`~mpcl_sklearn.training.callbacks.RunSnapshot` callback in a net
SNAPSHOT = "snapshot"


def epochs_left(net, *, warm_start: bool) -> tuple[int, bool]:
    """Epochs to train now, and whether they continue an unfinished run.

    An unfinished run (interrupted, or resumed from its checkpoint) is continued to
    ``max_epochs`` complete epochs. After a finished run, a warm start begins a new run of
    ``max_epochs`` epochs; a fit resumed from a finished run's checkpoint trains none.
    """
    history = net.history
    if not len(history):
        return net.max_epochs, False
    if not run_finished(net):
        return max(0, net.max_epochs - run_epochs(history)), True
    if not warm_start:
        return 0, False
    if not history[-1].get(RUN_DONE):
        history.record(RUN_DONE, True)
    return net.max_epochs, False


def continue_from(net, previous, *, keep=()) -> None:
    """Carry what a warm start continues from ``previous`` (the net of the last fit) over to
    ``net``: a net built and initialised with the current parameters on the same module.

    Carried over: the history, the optimizer's state (moments) when the optimizer class is the
    same (its hyper-parameters, e.g. ``lr`` and ``weight_decay``, are the current ones), the
    run state of the callbacks of the same name that have one (weight average, early-stopping
    counters, the snapshot of the last epoch), the checkpoint's identity (a new fingerprint
    extends it, see :func:`prepare_run`), and the callbacks named in ``keep`` themselves, with
    their state (a user's unchanged callbacks).
    """
    net.history = previous.history
    if type(net.optimizer_) is type(previous.optimizer_):
        current = [
            {k: v for k, v in g.items() if k != "params"} for g in net.optimizer_.param_groups
        ]
        net.optimizer_.load_state_dict(previous.optimizer_.state_dict())
        for group, settings in zip(net.optimizer_.param_groups, current, strict=True):
            group.update(settings)
    old = dict(previous.callbacks_)
    for i, (name, cb) in enumerate(net.callbacks_):
        before = old.get(name)
        if before is None or type(before) is not type(cb):
            continue
        if name in keep:
            net.callbacks_[i] = (name, before)
        elif has_run_state(cb):
            cb.load_training_state(net, before.training_state())
        elif isinstance(cb, RunSnapshot):
            cb.state_ = before.state_
        elif isinstance(cb, TrainingCheckpoint):
            cb.follow(before)
    checkpoint = dict(net.callbacks_).get("checkpoint")
    if isinstance(checkpoint, TrainingCheckpoint) and not isinstance(
        old.get("checkpoint"), TrainingCheckpoint
    ):
        checkpoint.follow_weights(net.module_)


def prepare_run(net, *, warm_start: bool, fingerprint: dict | None):
    """Set an initialised ``net`` up for its next training; return the epochs to train and
    its checkpoint callback (or None).

    A fresh net resumes from its checkpoint when there is a sound one of the same fit. A
    warm-started net (:func:`continue_from`) that continues an unfinished run gets the random
    state of the end of its last complete epoch back; otherwise (a new run) it keeps the fresh
    seed, and its checkpoints go to a new fingerprint that remembers the weights' lineage.
    """
    callbacks = dict(net.callbacks_)
    checkpoint = callbacks.get("checkpoint")
    if not isinstance(checkpoint, TrainingCheckpoint):
        checkpoint = None
    if warm_start:
        epochs, continuing = epochs_left(net, warm_start=True)
        snapshot = getattr(callbacks.get(SNAPSHOT), "state_", None)
        if continuing and snapshot is not None and snapshot["epochs"] == len(net.history):
            set_random_state(net, snapshot["random"])
        if checkpoint is not None and fingerprint is not None:
            if not (continuing and fingerprint == checkpoint.parts):
                checkpoint.continue_with(fingerprint)
    elif checkpoint is not None and checkpoint.restore(net):
        epochs, _ = epochs_left(net, warm_start=False)
    else:
        epochs = net.max_epochs
    return epochs, checkpoint


def check_finite(net, dataset, n_rows: int = 256) -> None:
    """Raise :class:`~mpcl_sklearn.training.net.TrainingDivergedError` unless the network's
    parameters and its outputs on ``n_rows`` evenly spaced training rows (``dataset.X``,
    evaluation mode) are finite: the loss is checked before each optimiser step, so a
    divergence in the last step (or weights too large for float32 activations) shows only
    here. (``predict`` checks every row it returns.)"""
    module = net.module_
    bad = [name for name, p in module.named_parameters() if not torch.isfinite(p).all()]
    rows = 0
    if not bad and len(dataset.X):
        take = torch.linspace(0, len(dataset.X) - 1, min(n_rows, len(dataset.X))).long()
        was_training = module.training
        module.eval()
        try:
            with torch.inference_mode(), flush_denormals():
                out = module(dataset.X[take.to(dataset.X.device)])
                rows = int((~torch.isfinite(out).all(dim=1)).sum())
        finally:
            module.train(was_training)
    if bad or rows:
        what = (
            f"its weights became NaN or infinite ({', '.join(bad[:3])}"
            f"{', ...' if len(bad) > 3 else ''})"
            if bad
            else f"its outputs on {rows} of {len(take)} training rows checked are NaN or "
            "infinite (weights too large)"
        )
        raise TrainingDivergedError(
            f"training diverged after the last optimiser step of epoch {len(net.history)}: "
            f"{what}. Try a lower learning rate (lr={net.lr}), keep gradient clipping on "
            "(max_grad_norm, default 5.0) or lower it, or check the features for extreme values."
        )


def train(net, dataset, epochs: int, *, checkpoint=None) -> bool:
    """Train ``net`` on ``dataset`` for ``epochs`` epochs with subnormals flushed; roll an
    epoch cut short back (:class:`~mpcl_sklearn.training.callbacks.RunSnapshot`); mark the run
    finished (and save the final checkpoint) or warn that it was interrupted; check that the
    network is finite (:func:`check_finite`). Returns whether the run is finished."""
    unmarked = len(net.history) and not net.history[-1].get(RUN_DONE)
    if epochs > 0 or unmarked:  # 0 epochs: only the end of the run (e.g. the weight average)
        snapshot = dict(net.callbacks_).get(SNAPSHOT)
        try:
            # subnormal floats (e.g. Adam moments of tiny gradients) make CPU kernels ~50x
            # slower: flushed to zero for the training loop only
            with flush_denormals():
                net.partial_fit(dataset, None, epochs=epochs)
        finally:
            if isinstance(snapshot, RunSnapshot):
                snapshot.restore(net)
    finished = run_finished(net)
    if finished and not net.history[-1].get(RUN_DONE):
        net.history.record(RUN_DONE, True)
        if checkpoint is not None:
            checkpoint.save_model(net)  # the final weights (averaged or best)
    elif not finished:
        warnings.warn(
            f"training stopped after {run_epochs(net.history)} of {net.max_epochs} epochs "
            "(interrupted); the estimator holds the weights of the end of the last complete "
            "epoch (an epoch cut short is discarded), and a fit with warm_start=True (or a new "
            "fit with the same checkpoint_dir) continues the run",
            RuntimeWarning,
            stacklevel=4,
        )
    check_finite(net, dataset)
    return finished
