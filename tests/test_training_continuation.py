"""Continuing training: an epoch cut short is trained again in full, a warm start applies the
current parameters, and a checkpoint's fingerprint tells fits apart (seed, callbacks)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback, LRScheduler
from torch.optim.lr_scheduler import StepLR

import mpcl_sklearn
from mpcl_sklearn.training.checkpoint import CheckpointMismatchWarning, digest


class InterruptInBatch(Callback):
    """Raises KeyboardInterrupt (as Ctrl-C would) after training batch ``batch`` of epoch
    ``epoch`` (1-based), once."""

    affects_training = False  # not part of a checkpoint's fingerprint

    def __init__(self, epoch, batch=1):
        self.epoch = epoch
        self.batch = batch
        self.fired = False

    def on_batch_end(self, net, training=False, **kwargs):
        row = net.history[-1]
        if training and not self.fired and len(net.history) == self.epoch:
            if len(row["batches"]) == self.batch:
                self.fired = True
                raise KeyboardInterrupt


class CountEpochs(Callback):
    affects_training = False

    def __init__(self):
        self.seen = 0

    def on_epoch_end(self, net, **kwargs):
        self.seen += 1


def _trained(est) -> int:
    return next(cb.seen for _, cb in est.net_.callbacks_ if isinstance(cb, CountEpochs))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 12))
    logits = X[:, :4] @ rng.normal(size=(4, 5))
    Y = np.exp(logits - logits.max(1, keepdims=True))
    return X, Y / Y.sum(1, keepdims=True)


def _model(name, **params):
    if name == "mpcl":  # MPCL's defaults: cosine schedule per batch, averaging the last half
        small = dict(d_model=8, prototypes_per_emotion=2, batch_size=64, max_epochs=4)
        return mpcl_sklearn.MPCLDistributionRegressor(random_state=0, **{**small, **params})
    base = dict(batch_size=64, max_epochs=4, random_state=0)
    return mpcl_sklearn.MLPDistributionRegressor(**{**base, **params})


# --------------------------------------------------------------------------------------------
# an epoch cut short (Ctrl-C in a batch)


@pytest.mark.parametrize("name", ["mpcl", "mlp"])
@pytest.mark.parametrize("epoch", [4, 2], ids=["last-epoch", "earlier-epoch"])
def test_epoch_cut_short_is_trained_again_in_full(data, tmp_path, name, epoch):
    """Ctrl-C in the second batch of the last (or an earlier) epoch: the estimator holds the
    end of the last complete epoch, and continuing with warm_start, or resuming from the
    checkpoint, finishes the run as the uninterrupted fit (the weight average included)."""
    X, Y = data
    whole = _model(name).fit(X, Y)
    expected = whole.predict(X)

    est = _model(name, warm_start=True, callbacks=[InterruptInBatch(epoch, batch=2)])
    with pytest.warns(RuntimeWarning, match=f"after {epoch - 1} of 4 epochs"):
        est.fit(X, Y)
    assert len(est.history_) == epoch - 1  # the epoch cut short is not kept
    assert all("train_loss" in row for row in est.history_)
    est.fit(X, Y)  # continues: the callback (unchanged, kept) does not fire again
    assert len(est.history_) == 4 and est.history_[-1]["run_done"]
    np.testing.assert_allclose(est.predict(X), expected, rtol=0, atol=1e-6)
    assert est.history_[:, "train_loss"] == whole.history_[:, "train_loss"]

    interrupted = _model(
        name, checkpoint_dir=str(tmp_path), callbacks=[InterruptInBatch(epoch, batch=2)]
    )
    with pytest.warns(RuntimeWarning, match="interrupted"):
        interrupted.fit(X, Y)
    resumed = _model(name, checkpoint_dir=str(tmp_path), callbacks=[CountEpochs()]).fit(X, Y)
    assert _trained(resumed) == 4 - (epoch - 1)
    np.testing.assert_allclose(resumed.predict(X), expected, rtol=0, atol=1e-6)

    # continued with the interrupting callback removed (a changed parameter)
    other = _model(name, warm_start=True, callbacks=[InterruptInBatch(epoch, batch=1)])
    with pytest.warns(RuntimeWarning, match="interrupted"):
        other.fit(X, Y)
    other.set_params(callbacks=None).fit(X, Y)
    np.testing.assert_allclose(other.predict(X), expected, rtol=0, atol=1e-6)


def test_interruption_inside_the_end_of_epoch_callbacks_rolls_back_too(data, monkeypatch):
    """Ctrl-C after the weight average took the last epoch in but before the epoch was
    snapshotted: the epoch is rolled back (average included) and trained again, exactly."""
    from mpcl_sklearn.training.callbacks import WeightAveraging

    X, Y = data
    expected = _model("mpcl").fit(X, Y).predict(X)
    update = WeightAveraging.on_epoch_end
    fired = []

    def update_then_interrupt(self, net, **kwargs):
        update(self, net, **kwargs)
        if not fired and len(net.history) == 4:
            fired.append(True)
            raise KeyboardInterrupt

    monkeypatch.setattr(WeightAveraging, "on_epoch_end", update_then_interrupt)
    est = _model("mpcl", warm_start=True)
    with pytest.warns(RuntimeWarning, match="after 3 of 4 epochs"):
        est.fit(X, Y)
    est.fit(X, Y)
    assert len(est.history_) == 4
    np.testing.assert_allclose(est.predict(X), expected, rtol=0, atol=1e-6)


def test_interrupted_run_of_early_stopping_and_divergence_roll_back(data):
    """The rollback restores the early-stopping counters too; an error inside an epoch leaves
    the estimator at the end of the last complete one."""
    X, Y = data
    params = dict(max_epochs=40, early_stopping=True, n_iter_no_change=3, lr=1e-2)
    whole = _model("mlp", **params).fit(X, Y)
    n = len(whole.history_)
    assert n < 40
    est = _model("mlp", **params, warm_start=True, callbacks=[InterruptInBatch(n - 1, 1)])
    with pytest.warns(RuntimeWarning, match="interrupted"):
        est.fit(X, Y)
    est.fit(X, Y)
    assert len(est.history_) == n
    np.testing.assert_allclose(est.predict(X), whole.predict(X), rtol=0, atol=1e-6)

    class Explode(Callback):
        def on_batch_end(self, net, training=False, **kwargs):
            if training and len(net.history) == 2:
                raise RuntimeError("boom")

    broken = _model("mlp", callbacks=[Explode()])
    with pytest.raises(RuntimeError, match="boom"):
        broken.fit(X, Y)
    assert len(broken.history_) == 1
    one = _model("mlp", max_epochs=1).fit(X, Y)
    np.testing.assert_array_equal(broken.predict(X), one.predict(X))


# --------------------------------------------------------------------------------------------
# a warm start applies the current parameters


def test_warm_start_applies_changed_training_parameters(data, capsys):
    X, Y = data
    est = _model("mlp", max_epochs=2, warm_start=True).fit(X, Y)
    assert isinstance(est.net_.optimizer_, torch.optim.AdamW)
    est.set_params(
        optimizer="sgd",
        weight_decay=0.5,
        max_grad_norm=None,
        early_stopping=True,
        n_iter_no_change=1,
        callbacks=[CountEpochs()],
        verbose=1,
        lr=0.05,
    )
    est.fit(X, Y, groups=np.repeat(np.arange(4), 60))
    net = est.net_
    assert isinstance(net.optimizer_, torch.optim.SGD)
    group = net.optimizer_.param_groups[0]
    assert group["weight_decay"] == 0.5 and group["lr"] == 0.05
    names = [n for n, _ in net.callbacks_]
    assert "grad_clip" not in names and "early_stopping" in names
    assert _trained(est) == len(est.history_) - 2
    assert "valid_loss" in est.history_[-1]
    assert "train_loss" in capsys.readouterr().out  # verbose=1 prints the epoch table

    # MPCL's own run parameters: the schedule off, no averaging, a checkpoint from now on
    mpcl = _model("mpcl", max_epochs=2, warm_start=True).fit(X, Y)
    assert {"lr_schedule", "weight_averaging"} <= set(dict(mpcl.net_.callbacks_))
    mpcl.set_params(lr_schedule=None, weight_averaging=0.0, max_epochs=1)
    mpcl.fit(X, Y)
    assert not {"lr_schedule", "weight_averaging"} & set(dict(mpcl.net_.callbacks_))
    assert len(mpcl.history_) == 3


def test_warm_start_keeps_the_optimizer_state_when_the_optimizer_is_unchanged(data):
    """Adam's moments carry over to the next run (same optimizer class), with the new lr and
    weight decay; another optimizer class starts afresh."""
    X, Y = data
    est = _model("mlp", max_epochs=2, warm_start=True).fit(X, Y)
    moments = {k: v["exp_avg"].clone() for k, v in est.net_.optimizer_.state.items()}
    assert moments
    est.set_params(max_epochs=1, lr=1e-9, weight_decay=0.0)
    state_before = est.net_.optimizer_.state_dict()["state"]
    steps_before = float(next(iter(state_before.values()))["step"])
    est.fit(X, Y)
    group = est.net_.optimizer_.param_groups[0]
    assert group["lr"] == 1e-9 and group["weight_decay"] == 0.0
    steps_after = float(next(iter(est.net_.optimizer_.state_dict()["state"].values()))["step"])
    assert steps_after == steps_before + 4  # 240 rows in batches of 64: 4 more steps


def test_checkpoint_dir_set_on_a_warm_start_writes_checkpoints_of_its_own(data, tmp_path):
    """A warm start from weights that were never checkpointed writes checkpoints identified by
    those weights: a fresh fit with the same parameters does not resume them."""
    X, Y = data
    est = _model("mlp", max_epochs=2, warm_start=True).fit(X, Y)
    est.set_params(checkpoint_dir=str(tmp_path)).fit(X, Y)
    assert len(est.history_) == 4
    (sub,) = tmp_path.iterdir()
    assert (sub / "manifest.json").exists()
    with pytest.warns(CheckpointMismatchWarning, match="another warm-start history"):
        fresh = _model("mlp", max_epochs=2, checkpoint_dir=str(tmp_path)).fit(X, Y)
    assert len(fresh.history_) == 2
    np.testing.assert_array_equal(
        fresh.predict(X), _model("mlp", max_epochs=2).fit(X, Y).predict(X)
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_warm_start_moves_the_network_to_another_device(data):
    """device changed on a warm start: the network, the optimizer's moments and the training
    data go to the new device."""
    X, Y = data
    est = _model("mlp", max_epochs=2, warm_start=True).fit(X, Y)
    est.set_params(device="cuda").fit(X, Y)
    assert est.device_.startswith("cuda")
    assert all(p.is_cuda for p in est.net_.module_.parameters())
    assert all(s["exp_avg"].is_cuda for s in est.net_.optimizer_.state.values())
    on_gpu = est.predict(X)
    assert np.isfinite(on_gpu).all()
    est.set_params(device="cpu", max_epochs=1).fit(X, Y)
    assert not any(p.is_cuda for p in est.net_.module_.parameters())
    assert len(est.history_) == 5


def test_structural_change_on_warm_start_is_still_refused(data):
    X, Y = data
    est = _model("mlp", max_epochs=1, warm_start=True).fit(X, Y)
    est.set_params(hidden_layer_sizes=(5,))
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        est.fit(X, Y)


# --------------------------------------------------------------------------------------------
# what a checkpoint's fingerprint holds


def test_fingerprint_holds_the_seed_of_a_random_state_object(data, tmp_path):
    X, Y = data
    mk = lambda rs, **p: _model("mlp", max_epochs=2, random_state=rs, **p)  # noqa: E731
    first = mk(np.random.RandomState(0), checkpoint_dir=str(tmp_path)).fit(X, Y)
    with pytest.warns(CheckpointMismatchWarning, match="other training parameters"):
        other = mk(np.random.RandomState(1), checkpoint_dir=str(tmp_path)).fit(X, Y)
    np.testing.assert_array_equal(
        other.predict(X), mk(np.random.RandomState(1)).fit(X, Y).predict(X)
    )
    assert not np.allclose(other.predict(X), first.predict(X))
    same = mk(np.random.RandomState(0), checkpoint_dir=str(tmp_path), callbacks=[CountEpochs()])
    same.fit(X, Y)
    assert _trained(same) == 0  # resumed: the same seed
    np.testing.assert_array_equal(same.predict(X), first.predict(X))


def test_fingerprint_holds_the_callbacks_that_change_training(data, tmp_path):
    X, Y = data
    schedule = ("sched", LRScheduler(StepLR, step_size=1, gamma=0.01))
    _model("mlp", max_epochs=3, checkpoint_dir=str(tmp_path)).fit(X, Y)
    with pytest.warns(CheckpointMismatchWarning, match="other training parameters"):
        added = _model("mlp", max_epochs=3, checkpoint_dir=str(tmp_path), callbacks=[schedule])
        added.fit(X, Y)
    reference = _model("mlp", max_epochs=3, callbacks=[schedule]).fit(X, Y)
    np.testing.assert_array_equal(added.predict(X), reference.predict(X))
    other = ("sched", LRScheduler(StepLR, step_size=1, gamma=0.5))
    with pytest.warns(CheckpointMismatchWarning):
        _model("mlp", max_epochs=3, checkpoint_dir=str(tmp_path), callbacks=[other]).fit(X, Y)
    # a callback that declares it does not change training is not part of it: resumed
    counted = _model("mlp", max_epochs=3, checkpoint_dir=str(tmp_path), callbacks=[CountEpochs()])
    counted.fit(X, Y)
    assert _trained(counted) == 0


def test_digest_tells_apart_what_it_used_to_encode_by_name():
    def f(x):
        return x + 1

    def g(x):
        return x + 2

    long_a = np.array(["s"] * 2000, dtype=object)
    long_b = long_a.copy()
    long_b[1000] = "t"  # repr abbreviates the middle of a long array
    pairs = [
        (np.random.RandomState(0), np.random.RandomState(1)),
        (long_a, long_b),
        ({1, 2}, {1, 3}),
        (f, g),
        (lambda x: x, lambda x: -x),
        (LRScheduler(StepLR, gamma=0.1), LRScheduler(StepLR, gamma=0.2)),
        (torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)),
        (1 + 2j, 1 + 3j),
        (b"ab", b"ac"),
    ]
    for a, b in pairs:
        assert digest(a) != digest(b), (a, b)
    assert digest(np.random.RandomState(5)) == digest(np.random.RandomState(5))
    assert digest({3, 1, 2}) == digest({1, 2, 3})
    cyclic = []
    cyclic.append(cyclic)
    assert len(digest(cyclic)) == 64
