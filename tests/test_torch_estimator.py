"""The shared torch base: divergence guard, warm start, checkpoints, Ctrl-C, device, callbacks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback
from torch import nn

from mpcl_sklearn.regressor import MPCLDistributionRegressor
from mpcl_sklearn.torch_estimator import (
    TorchDistributionRegressor,
    TrainingDivergedError,
    _denormals_flushed,
    training_params,
)


class _Softmax(nn.Module):
    def __init__(self, n_features, n_outputs):
        super().__init__()
        self.linear = nn.Linear(n_features, n_outputs)
        self.aux_calls = 0

    def forward(self, X):
        return torch.log_softmax(self.linear(X), dim=-1)

    def auxiliary_loss(self):
        self.aux_calls += 1
        return self.linear.weight.pow(2).sum() * 0.0


class LinearSoftmaxRegressor(TorchDistributionRegressor):
    """Minimal subclass, as documented in the module docstring."""

    def __init__(
        self,
        *,
        lr=3e-3,
        max_epochs=30,
        batch_size=128,
        optimizer="adamw",
        weight_decay=1e-4,
        max_grad_norm=5.0,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        warm_start=False,
        checkpoint_dir=None,
        device="cpu",
        random_state=None,
        verbose=0,
        callbacks=None,
        normalize_y=False,
        n_threads=1,
    ):
        super().__init__(**training_params(locals()))

    def _build_module(self, n_features, n_outputs, column_layout):
        return _Softmax(n_features, n_outputs)


class PoisonWeights(Callback):
    """Sets a weight to NaN after the first batch (simulates a diverging run)."""

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            with torch.no_grad():
                next(net.module_.parameters()).fill_(float("nan"))


class InterruptAt(Callback):
    """Raises KeyboardInterrupt (as Ctrl-C would) at the end of an epoch."""

    def __init__(self, epoch=2):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise KeyboardInterrupt


class CountEpochs(Callback):
    def __init__(self):
        self.seen = 0

    def on_epoch_end(self, net, **kwargs):
        self.seen += 1


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 12))
    logits = X[:, :4] @ rng.normal(size=(4, 5))
    Y = np.exp(logits - logits.max(1, keepdims=True))
    return X, Y / Y.sum(1, keepdims=True)


SMALL = dict(d_model=8, prototypes_per_emotion=2, batch_size=64, random_state=0)


def test_minimal_subclass_fits_and_uses_aux_loss(data):
    X, Y = data
    est = LinearSoftmaxRegressor(max_epochs=5, random_state=0).fit(X, Y)
    P = est.predict(X)
    np.testing.assert_allclose(P.sum(1), 1.0)
    assert est.net_.module_.aux_calls == 5 * 2  # one per training batch (240 rows, batches of 128)
    assert est.history_[-1, "train_loss"] < est.history_[0, "train_loss"]


def test_nan_loss_stops_with_clear_error(data):
    X, Y = data
    est = MPCLDistributionRegressor(**SMALL, max_epochs=3, callbacks=[PoisonWeights()])
    with pytest.raises(TrainingDivergedError, match="lower learning rate.*max_grad_norm"):
        est.fit(X, Y)
    assert issubclass(TrainingDivergedError, FloatingPointError)


def test_gradient_clipping_on_by_default(data):
    X, Y = data
    est = MPCLDistributionRegressor(**SMALL, max_epochs=1).fit(X, Y)
    assert "grad_clip" in dict(est.net_.callbacks_)
    off = MPCLDistributionRegressor(**SMALL, max_epochs=1, max_grad_norm=None).fit(X, Y)
    assert "grad_clip" not in dict(off.net_.callbacks_)


def test_warm_start_continues_training(data):
    X, Y = data
    est = MPCLDistributionRegressor(**SMALL, max_epochs=2, warm_start=True).fit(X, Y)
    first = est.predict(X)
    net = est.net_
    est.fit(X, Y)
    assert est.net_ is net
    assert len(est.history_) == 4
    assert not np.allclose(est.predict(X), first)
    cold = MPCLDistributionRegressor(**SMALL, max_epochs=2).fit(X, Y)
    cold.fit(X, Y)
    assert len(cold.history_) == 2
    with pytest.raises(ValueError, match="layout changed"):
        est.fit(X[:, :-1], Y)


def test_keyboard_interrupt_leaves_usable_estimator(data):
    X, Y = data
    est = MPCLDistributionRegressor(**SMALL, max_epochs=10, callbacks=[InterruptAt(2)])
    with pytest.warns(RuntimeWarning, match="interrupted"):
        est.fit(X, Y)
    assert len(est.history_) == 2
    P = est.predict(X)
    assert np.isfinite(P).all()
    np.testing.assert_allclose(P.sum(1), 1.0)
    assert est.cooccurrence_.shape == (5, 5)


def test_checkpoint_resume(data, tmp_path):
    X, Y = data
    ckpt = tmp_path / "run"
    interrupted = MPCLDistributionRegressor(
        **SMALL, max_epochs=5, checkpoint_dir=str(ckpt), callbacks=[InterruptAt(3)]
    )
    with pytest.warns(RuntimeWarning, match="interrupted"):
        interrupted.fit(X, Y)
    assert (ckpt / "params.pt").exists() and (ckpt / "history.json").exists()
    resumed = MPCLDistributionRegressor(**SMALL, max_epochs=5, checkpoint_dir=str(ckpt))
    resumed.fit(X, Y)
    assert len(resumed.history_) == 5  # 3 restored + 2 trained
    assert resumed.history_[:3, "train_loss"] == interrupted.history_[:, "train_loss"]
    # a finished run does not train again
    again = MPCLDistributionRegressor(**SMALL, max_epochs=5, checkpoint_dir=str(ckpt)).fit(X, Y)
    np.testing.assert_allclose(again.predict(X), resumed.predict(X), rtol=1e-6)


def test_device_errors(data):
    X, Y = data
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available.*device='cpu'"):
            MPCLDistributionRegressor(**SMALL, device="cuda").fit(X, Y)
    with pytest.raises(ValueError, match="device must be"):
        MPCLDistributionRegressor(**SMALL, device="tpu").fit(X, Y)


def test_callbacks_are_copied_and_verbose_controls_output(data, capsys):
    X, Y = data
    counter = CountEpochs()
    est = MPCLDistributionRegressor(**SMALL, max_epochs=2, callbacks=[counter]).fit(X, Y)
    assert counter.seen == 0  # the user's instance is left untouched
    used = [cb for _, cb in est.net_.callbacks_ if isinstance(cb, CountEpochs)]
    assert used and used[0].seen == 2
    assert capsys.readouterr().out == ""
    MPCLDistributionRegressor(**SMALL, max_epochs=2, verbose=1).fit(X, Y)
    assert "train_loss" in capsys.readouterr().out


def test_bad_parameters(data):
    X, Y = data
    for params, match in [
        ({"max_epochs": 0}, "max_epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"lr": -1.0}, "lr"),
        ({"optimizer": "lbfgs2"}, "optimizer"),
        ({"early_stopping": True, "validation_fraction": 1.5}, "validation_fraction"),
    ]:
        with pytest.raises(ValueError, match=match):
            MPCLDistributionRegressor(**{**SMALL, **params}).fit(X, Y)


def test_optimizer_class_and_threads_restored(data):
    X, Y = data
    before = torch.get_num_threads()
    est = MPCLDistributionRegressor(**SMALL, max_epochs=1, optimizer=torch.optim.SGD).fit(X, Y)
    assert isinstance(est.net_.optimizer_, torch.optim.SGD)
    assert torch.get_num_threads() == before


class RecordFlush(Callback):
    """Records, per training batch, whether subnormals are flushed (class-level: callbacks are
    copied by the estimator)."""

    states: list[bool] = []

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            RecordFlush.states.append(_denormals_flushed())


def test_flush_denormal_scoped_to_training_and_predict(data):
    """Flush-to-zero is on in the training loop only and restored after fit/predict, also after
    Ctrl-C and a diverged run; a caller's own setting is kept."""
    X, Y = data
    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU has no flush-to-zero flags")
    tiny = np.array([1e-310])

    def numpy_keeps_subnormals():
        return not _denormals_flushed() and float(tiny[0] * 1.0) == 1e-310

    RecordFlush.states.clear()
    est = LinearSoftmaxRegressor(max_epochs=2, callbacks=[RecordFlush()], random_state=0)
    est.fit(X, Y)
    assert RecordFlush.states and all(RecordFlush.states)
    assert numpy_keeps_subnormals()
    est.predict(X)
    assert numpy_keeps_subnormals()

    with pytest.warns(RuntimeWarning, match="interrupted"):
        LinearSoftmaxRegressor(max_epochs=4, callbacks=[InterruptAt(1)]).fit(X, Y)
    assert numpy_keeps_subnormals()
    with pytest.raises(TrainingDivergedError):
        MPCLDistributionRegressor(**SMALL, max_epochs=2, callbacks=[PoisonWeights()]).fit(X, Y)
    assert numpy_keeps_subnormals()

    torch.set_flush_denormal(True)  # the caller's choice survives fit and predict
    try:
        est.fit(X, Y).predict(X)
        assert _denormals_flushed()
    finally:
        torch.set_flush_denormal(False)
    assert numpy_keeps_subnormals()


@pytest.mark.parametrize("name", ["MPCLDistributionRegressor", "MLPDistributionRegressor"])
def test_huge_features_never_give_nan(name):
    """Huge test rows saturate (finite predictions); overflowing training data is refused."""
    import mpcl_sklearn

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 12))
    y = rng.dirichlet(np.ones(4), 120)
    model = getattr(mpcl_sklearn, name)(max_epochs=2, random_state=0).fit(X, y)
    for scale in (1e30, 1e100, 1e300):
        pred = model.predict(X * scale)
        assert np.isfinite(pred).all(), scale
        np.testing.assert_allclose(pred.sum(1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="too large to standardise"):
        getattr(mpcl_sklearn, name)(max_epochs=1).fit(X * 1e200, y)
