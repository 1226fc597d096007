"""One training run of a :class:`~mpcl_sklearn.training.net.DistributionNet`: how many epochs
are left, the training loop itself, and what marks the run finished."""

from __future__ import annotations

import warnings

from .callbacks import RUN_DONE, run_epochs, run_finished, set_random_state
from .checkpoint import TrainingCheckpoint
from .runtime import flush_denormals

__all__ = ["epochs_left", "prepare_run", "train"]


def epochs_left(net, *, warm_start: bool) -> tuple[int, bool]:
    """Epochs to train now, and whether they continue an unfinished run.

    An unfinished run (interrupted, or resumed from its checkpoint) is continued to
    ``max_epochs``. After a finished run, a warm start begins a new run of ``max_epochs``
    epochs; a fit resumed from a finished run's checkpoint trains none.
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


def prepare_run(net, *, warm_start: bool, fingerprint: dict | None):
    """Set an initialised ``net`` up for its next training; return the epochs to train and
    its checkpoint callback (or None).

    A fresh net resumes from its checkpoint when there is a sound one of the same fit. A
    warm-started net that continues an unfinished run gets the random state of the end of its
    last epoch back; otherwise (a new run) it keeps the fresh seed, and its checkpoints go to a
    new fingerprint that remembers the weights' lineage.
    """
    callbacks = dict(net.callbacks_)
    checkpoint = callbacks.get("checkpoint")
    if not isinstance(checkpoint, TrainingCheckpoint):
        checkpoint = None
    if warm_start:
        epochs, continuing = epochs_left(net, warm_start=True)
        snapshot = getattr(callbacks.get("random_state"), "state_", None)
        if continuing and snapshot is not None:
            set_random_state(net, snapshot)
        if checkpoint is not None and fingerprint is not None:
            if not (continuing and fingerprint == checkpoint.parts):
                checkpoint.continue_with(fingerprint)
    elif checkpoint is not None and checkpoint.restore(net):
        epochs, _ = epochs_left(net, warm_start=False)
    else:
        epochs = net.max_epochs
    return epochs, checkpoint


def train(net, dataset, epochs: int, *, checkpoint=None) -> bool:
    """Train ``net`` on ``dataset`` for ``epochs`` epochs with subnormals flushed; mark the run
    finished (and save the final checkpoint) or warn that it was interrupted. Returns whether
    the run is finished."""
    unmarked = len(net.history) and not net.history[-1].get(RUN_DONE)
    if epochs > 0 or unmarked:  # 0 epochs: only the end of the run (e.g. the weight average)
        # subnormal floats (e.g. Adam moments of tiny gradients) make CPU kernels ~50x slower:
        # flushed to zero for the training loop only
        with flush_denormals():
            net.partial_fit(dataset, None, epochs=epochs)
    finished = run_finished(net)
    if finished and not net.history[-1].get(RUN_DONE):
        net.history.record(RUN_DONE, True)
        if checkpoint is not None:
            checkpoint.save_model(net)  # the final weights (averaged or best)
    elif not finished:
        warnings.warn(
            f"training stopped after {run_epochs(net.history)} of {net.max_epochs} epochs "
            "(interrupted); the estimator holds the weights reached so far, and a fit with "
            "warm_start=True (or a new fit with the same checkpoint_dir) continues the run",
            RuntimeWarning,
            stacklevel=4,
        )
    return finished
