"""Training of the torch models: divergence guard, warm start, checkpoints, Ctrl-C, device,
callbacks, exact resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback
from skorch.history import History
from torch import nn

from mpcl_sklearn.models import MPCLDistributionRegressor
from mpcl_sklearn.models.torch_base import TorchDistributionRegressor
from mpcl_sklearn.training.net import TrainingDivergedError
from mpcl_sklearn.training.runtime import denormals_flushed


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

    def __init__(self, **training):
        super().__init__(**training)

    _module_class = _Softmax


class PoisonWeights(Callback):
    """Sets a weight to NaN after the first batch (simulates a diverging run)."""

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            with torch.no_grad():
                next(net.module_.parameters()).fill_(float("nan"))


class InterruptAt(Callback):
    """Raises KeyboardInterrupt (as Ctrl-C would) at the end of an epoch."""

    affects_training = False  # not part of a checkpoint's fingerprint

    def __init__(self, epoch=2):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise KeyboardInterrupt


class CountEpochs(Callback):
    affects_training = False

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
    # one network (member_folds=1): its prediction is the network's own
    est = MPCLDistributionRegressor(**SMALL, max_epochs=2, warm_start=True, member_folds=1)
    est.fit(X, Y)
    first = est.predict(X)
    module = est.net_.module_
    est.fit(X, Y)
    assert est.net_.module_ is module  # the same network trained on (a new skorch net around it)
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


def test_device_errors(data):
    X, Y = data
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available.*device='cpu'"):
            MPCLDistributionRegressor(**SMALL, device="cuda").fit(X, Y)
    with pytest.raises(ValueError, match="'device' parameter of MPCLDistributionRegressor must be"):
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
            RecordFlush.states.append(denormals_flushed())


def test_flush_denormal_scoped_to_training_and_predict(data):
    """Flush-to-zero is on in the training loop only and restored after fit/predict, also after
    Ctrl-C and a diverged run; a caller's own setting is kept."""
    X, Y = data
    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU has no flush-to-zero flags")
    tiny = np.array([1e-310])

    def numpy_keeps_subnormals():
        return not denormals_flushed() and float(tiny[0] * 1.0) == 1e-310

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
        assert denormals_flushed()
    finally:
        torch.set_flush_denormal(False)
    assert numpy_keeps_subnormals()


# --------------------------------------------------------------------------------------------
# runs that resume exactly (issue 11, bug 1)


def _epochs_trained(est) -> int:
    return next(cb.seen for _, cb in est.net_.callbacks_ if isinstance(cb, CountEpochs))


def _model(name, **params):
    import mpcl_sklearn

    if name == "mpcl":  # MPCL's defaults: cosine schedule per batch, averaging the last half
        return mpcl_sklearn.MPCLDistributionRegressor(random_state=0, **params)
    return mpcl_sklearn.MLPDistributionRegressor(**{"random_state": 0, "max_epochs": 10, **params})


@pytest.mark.parametrize(("name", "k"), [("mpcl", 8), ("mpcl", 20), ("mlp", 4)])
def test_interrupted_fit_resumed_from_checkpoint_is_exact(data, tmp_path, name, k):
    """Interrupted after epoch k and resumed from its checkpoint (in the averaging window for
    k=20 of MPCL's 30 epochs, before it for k=8): the same predictions as the uninterrupted
    fit, the same losses, and a refit from the finished checkpoint trains nothing more."""
    X, Y = data
    whole = _model(name).fit(X, Y)
    interrupted = _model(name, checkpoint_dir=str(tmp_path), callbacks=[InterruptAt(k)])
    with pytest.warns(RuntimeWarning, match="interrupted"):
        interrupted.fit(X, Y)
    assert len(interrupted.history_) == k
    resumed = _model(name, checkpoint_dir=str(tmp_path), callbacks=[CountEpochs()]).fit(X, Y)
    assert _epochs_trained(resumed) == len(whole.history_) - k  # resumed, not retrained
    np.testing.assert_allclose(resumed.predict(X), whole.predict(X), rtol=0, atol=1e-6)
    assert resumed.history_[:, "train_loss"] == whole.history_[:, "train_loss"]
    again = _model(name, checkpoint_dir=str(tmp_path), callbacks=[CountEpochs()]).fit(X, Y)
    assert _epochs_trained(again) == 0
    assert len(again.history_) == len(whole.history_)
    np.testing.assert_allclose(again.predict(X), whole.predict(X), rtol=0, atol=1e-6)
    assert len(list(tmp_path.iterdir())) == 1  # one fit, one checkpoint


@pytest.mark.parametrize("name", ["mpcl", "mlp"])
def test_interrupted_fit_continued_with_warm_start_is_exact(data, name):
    X, Y = data
    whole = _model(name).fit(X, Y)
    est = _model(name, warm_start=True, callbacks=[InterruptAt(6)])
    with pytest.warns(RuntimeWarning, match="interrupted"):
        est.fit(X, Y)
    est.fit(X, Y)  # finishes the run
    assert len(est.history_) == len(whole.history_)
    np.testing.assert_allclose(est.predict(X), whole.predict(X), rtol=0, atol=1e-6)
    est.fit(X, Y)  # a finished run: a warm start trains a new one
    assert len(est.history_) == 2 * len(whole.history_)


def test_early_stopping_run_resumes_exactly(data, tmp_path):
    """Early stopping's patience count and best weights belong to the run: resumed or
    continued, the run stops at the same epoch and keeps the same best weights (skorch's own
    EarlyStopping restarts its patience and restores the best weights at the interruption)."""
    X, Y = data
    params = dict(max_epochs=60, early_stopping=True, n_iter_no_change=3, lr=1e-2)
    whole = _model("mlp", **params).fit(X, Y)
    n = len(whole.history_)
    assert n < 60  # it stopped early
    k = n - 2  # interrupted with misses counted and best weights held
    with pytest.warns(RuntimeWarning, match="interrupted"):
        _model("mlp", **params, checkpoint_dir=str(tmp_path), callbacks=[InterruptAt(k)]).fit(X, Y)
    resumed = _model("mlp", **params, checkpoint_dir=str(tmp_path)).fit(X, Y)
    continued = _model("mlp", **params, warm_start=True, callbacks=[InterruptAt(k)])
    with pytest.warns(RuntimeWarning, match="interrupted"):
        continued.fit(X, Y)
    continued.fit(X, Y)
    for est in (resumed, continued):
        assert len(est.history_) == n
        np.testing.assert_allclose(est.predict(X), whole.predict(X), rtol=0, atol=1e-6)


def test_skorch_lr_scheduler_resume_counts_epochs_as_steps(data):
    """Why the cosine schedule is our own callback: skorch's ``LRScheduler`` stepped per batch
    gives the same learning rates as ``CosineLR`` in one go, but a net that continues after an
    interruption restarts the torch scheduler at ``last_epoch = len(history) - 1`` (epochs,
    not batches). ``CosineLR`` continues where it stopped. If this test fails, skorch has
    fixed it and ``CosineLR`` could be replaced by its ``LRScheduler``."""
    from skorch import NeuralNet
    from skorch.callbacks import LRScheduler
    from torch.optim.lr_scheduler import LambdaLR

    from mpcl_sklearn.training.callbacks import CosineLR

    X, Y = (torch.as_tensor(a, dtype=torch.float32) for a in data)
    n_batches, epochs = 4, 6  # 240 rows in batches of 60
    total = n_batches * epochs

    class RecordLR(Callback):
        def on_batch_begin(self, net, training=False, **kwargs):
            if training:
                self.seen.append(net.optimizer_.param_groups[0]["lr"])

        def initialize(self):
            self.seen = []
            return self

    def lrs(schedule, interrupt_after=None):
        recorder = RecordLR()
        torch.manual_seed(0)
        net = NeuralNet(
            _Softmax(12, 5),
            criterion=torch.nn.KLDivLoss,
            criterion__reduction="batchmean",
            optimizer=torch.optim.SGD,
            lr=0.1,
            max_epochs=epochs,
            batch_size=60,
            train_split=None,
            callbacks=[("schedule", schedule), ("record", recorder)],
        )
        if interrupt_after is None:
            net.fit(X, Y)
        else:
            net.partial_fit(X, Y, epochs=interrupt_after)
            net.partial_fit(X, Y, epochs=epochs - interrupt_after)
        return np.array(recorder.seen)

    def cosine(step):
        return 0.5 * (1 + np.cos(np.pi * min(step / total, 1.0)))

    expected = 0.1 * np.array([cosine(t) for t in range(total)])
    skorch_schedule = LRScheduler(LambdaLR, lr_lambda=cosine, step_every="batch")
    np.testing.assert_allclose(lrs(skorch_schedule), expected, rtol=1e-12)
    np.testing.assert_allclose(lrs(CosineLR()), expected, rtol=1e-12)
    # interrupted after 3 epochs (12 batches) and continued
    np.testing.assert_allclose(lrs(CosineLR(), interrupt_after=3), expected, rtol=1e-12)
    resumed = lrs(LRScheduler(LambdaLR, lr_lambda=cosine, step_every="batch"), 3)
    assert not np.allclose(resumed[12:], expected[12:])
    # skorch restarts at step len(history) = 3 epochs, as if 3 batches had been trained
    np.testing.assert_allclose(resumed[12], 0.1 * cosine(3), rtol=1e-12)


# --------------------------------------------------------------------------------------------
# checkpoints that belong to one fit (issue 11, bug 2)


def test_checkpoint_of_other_data_or_network_is_not_resumed(data, tmp_path):
    from mpcl_sklearn.training.checkpoint import CheckpointMismatchWarning

    X, Y = data
    params = dict(SMALL, max_epochs=3)
    MPCLDistributionRegressor(**params, checkpoint_dir=str(tmp_path)).fit(X, Y)
    X2 = X[::-1].copy()  # the same rows in another order are other training data
    fresh = MPCLDistributionRegressor(**params).fit(X2, Y[::-1])
    with pytest.warns(CheckpointMismatchWarning, match="other training data"):
        other = MPCLDistributionRegressor(**params, checkpoint_dir=str(tmp_path)).fit(X2, Y[::-1])
    assert len(other.history_) == 3
    np.testing.assert_array_equal(other.predict(X), fresh.predict(X))
    with pytest.warns(CheckpointMismatchWarning, match="other network parameters"):
        wider = MPCLDistributionRegressor(**{**params, "d_model": 16}, checkpoint_dir=str(tmp_path))
        wider.fit(X, Y)
    assert len(wider.history_) == 3
    with pytest.warns(CheckpointMismatchWarning, match="other training parameters"):
        MPCLDistributionRegressor(**{**params, "lr": 1e-2}, checkpoint_dir=str(tmp_path)).fit(X, Y)
    assert len(list(tmp_path.iterdir())) == 4  # one sub-directory per fit


def test_damaged_or_old_checkpoint_is_not_resumed(data, tmp_path):
    from mpcl_sklearn.training.checkpoint import CheckpointMismatchWarning

    X, Y = data
    params = dict(SMALL, max_epochs=2, checkpoint_dir=str(tmp_path))
    first = MPCLDistributionRegressor(**params).fit(X, Y)
    (sub,) = tmp_path.iterdir()
    with open(sub / "params.pt", "r+b") as f:  # as if the process died while writing it
        f.truncate(100)
    with pytest.warns(CheckpointMismatchWarning, match="incomplete or damaged"):
        again = MPCLDistributionRegressor(**params).fit(X, Y)
    np.testing.assert_array_equal(again.predict(X), first.predict(X))  # trained afresh
    old = tmp_path / "old"
    old.mkdir()
    (old / "params.pt").write_bytes(b"written by 0.1.0")
    with pytest.warns(CheckpointMismatchWarning, match="without fingerprint"):
        MPCLDistributionRegressor(**{**params, "checkpoint_dir": str(old)}).fit(X, Y)


def test_loso_with_checkpoint_dir_trains_every_fold_from_scratch(data, tmp_path):
    """Each fold of a cross-validation has its own checkpoint: none starts from another fold's
    weights (which saw its test subject), and a rerun resumes each fold from its own."""
    from mpcl_sklearn.model_selection import subject_independent_evaluate
    from mpcl_sklearn.training.checkpoint import CheckpointMismatchWarning

    X, Y = data
    groups = np.repeat(np.arange(4), len(X) // 4)
    model = MPCLDistributionRegressor(**SMALL, max_epochs=3)
    plain = subject_independent_evaluate(model, X, Y, groups, cv="loso", return_predictions=True)
    with_ckpt = model.set_params(checkpoint_dir=str(tmp_path))
    with pytest.warns(CheckpointMismatchWarning, match="other CV folds"):
        first = subject_independent_evaluate(
            with_ckpt, X, Y, groups, cv="loso", return_predictions=True
        )
    np.testing.assert_array_equal(first.predictions, plain.predictions)
    subdirs = sorted(tmp_path.iterdir())
    assert len(subdirs) == 4
    for sub in subdirs:
        assert len(History.from_file(str(sub / "history.json"))) == 3
    rerun = subject_independent_evaluate(
        with_ckpt, X, Y, groups, cv="loso", return_predictions=True
    )
    np.testing.assert_array_equal(rerun.predictions, plain.predictions)


# --------------------------------------------------------------------------------------------
# structural parameters changed after a fit (issue 11, bug 3)


def test_warm_start_with_another_network_is_refused(data):
    X, Y = data
    est = MPCLDistributionRegressor(**SMALL, max_epochs=1, warm_start=True, member_folds=1)
    est.fit(X, Y)
    est.set_params(d_model=16)
    with pytest.raises(
        ValueError, match=r"warm_start=True but parameters that shape the network.*d_model: 8 -> 16"
    ):
        est.fit(X, Y)
    est.set_params(warm_start=False).fit(X, Y)  # a cold fit builds the new network
    assert est.module_args_["d_model"] == 16
    assert est.net_.module_.bank.prototypes.shape[-1] == 16
    # parameters that shape the network through the column layout are checked too
    two = {"eda": list(range(6)), "acc": list(range(6, 12))}
    est.set_params(warm_start=True, modalities=two)
    with pytest.raises(ValueError, match="token_groups"):
        est.fit(X, Y)
    import mpcl_sklearn

    helo = mpcl_sklearn.HeLoRegressor(
        d_model=8, n_heads=2, max_epochs=1, warm_start=True, modalities=two, random_state=0
    ).fit(X, Y)
    helo.set_params(behavioural_modalities=("eda",))
    with pytest.raises(ValueError, match="phys_columns"):
        helo.fit(X, Y)


@pytest.mark.parametrize(
    "name", ["MPCLDistributionRegressor", "MLPDistributionRegressor", "HeLoRegressor"]
)
def test_set_params_after_fit_then_pickle_or_save_round_trip(data, tmp_path, name):
    """The network rebuilt when loading is the fitted one, whatever set_params changed."""
    import pickle

    import mpcl_sklearn
    from mpcl_sklearn.io import load_model, save_model

    X, Y = data
    cls = getattr(mpcl_sklearn, name)
    est = cls(max_epochs=2, random_state=0).fit(X, Y)
    P = est.predict(X)
    structural = {"hidden_layer_sizes": (7,)} if name.startswith("MLP") else {"d_model": 16}
    est.set_params(**structural, dropout=0.3)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).predict(X), P)
    save_model(est, tmp_path / "model.skops")
    np.testing.assert_array_equal(load_model(tmp_path / "model.skops").predict(X), P)


# --------------------------------------------------------------------------------------------
# parameters shared once (issue 11, item 2 in part)


def test_training_parameters_declared_once():
    """TRAINING_PARAMS is the base's signature; every torch model takes them all and its
    docstring documents each with the model's own default."""
    import inspect

    import mpcl_sklearn
    from mpcl_sklearn.models.torch_base import TRAINING_PARAMS

    base = inspect.signature(TorchDistributionRegressor.__init__).parameters
    assert tuple(base)[1:] == TRAINING_PARAMS
    for name in ("MPCLDistributionRegressor", "MLPDistributionRegressor", "HeLoRegressor"):
        cls = getattr(mpcl_sklearn, name)
        params = inspect.signature(cls.__init__).parameters
        assert "{training_parameters}" not in cls.__doc__
        for p in TRAINING_PARAMS:
            assert f"    {p} : " in cls.__doc__, (name, p)
            assert (
                f"default={params[p].default!r}"
                in cls.__doc__.split(f"    {p} : ")[1].split("\n")[0]
            )
    assert "lr : float, default=0.003" in mpcl_sklearn.HeLoRegressor.__doc__


def test_training_parameters_written_once_in_the_source():
    """No model writes the training parameters out again: its ``__init__`` takes ``**training``,
    and the signature scikit-learn reads (``get_params``, ``clone``) lists them, keyword-only,
    with the model's own defaults."""
    import ast
    import inspect
    import textwrap

    from sklearn.base import clone

    import mpcl_sklearn
    from mpcl_sklearn.models.torch_base import TRAINING_PARAMS

    for name in ("MPCLDistributionRegressor", "MLPDistributionRegressor", "HeLoRegressor"):
        cls = getattr(mpcl_sklearn, name)
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls.__init__)))
        args = tree.body[0].args
        written = {a.arg for a in args.args + args.kwonlyargs}
        assert not written & set(TRAINING_PARAMS), name
        assert args.kwarg is not None and args.kwarg.arg == "training", name
        params = inspect.signature(cls.__init__).parameters
        assert list(params)[-len(TRAINING_PARAMS) :] == list(TRAINING_PARAMS)
        assert all(params[p].kind is inspect.Parameter.KEYWORD_ONLY for p in TRAINING_PARAMS)
        est = cls(lr=0.25)
        assert est.get_params()["lr"] == 0.25 and clone(est).lr == 0.25
    assert (
        inspect.signature(mpcl_sklearn.MPCLDistributionRegressor).parameters["lr"].default == 1e-3
    )
    assert (
        inspect.signature(mpcl_sklearn.MLPDistributionRegressor).parameters["max_epochs"].default
        == 50
    )
    with pytest.raises(TypeError, match="unexpected keyword argument 'lrr'"):
        mpcl_sklearn.MPCLDistributionRegressor(lrr=1.0)


def test_module_arguments_by_introspection(data):
    """The network is built from the parameters of the same name (none forwarded by hand)."""
    from mpcl_sklearn.models._parameters import constructor_parameters
    from mpcl_sklearn.nn import HeLoNet, MPCLNet

    X, Y = data
    est = MPCLDistributionRegressor(
        **SMALL, max_epochs=1, tau=0.2, n_memory=np.int64(3), member_folds=1
    )
    est.fit(X, Y)
    args = est.module_args_
    assert set(args) <= set(constructor_parameters(MPCLNet))
    assert args["tau"] == 0.2 and args["d_model"] == 8
    assert args["n_memory"] == 3 and type(args["n_memory"]) is int
    assert est.net_.module_.fusion.memory.shape == (3, 8)
    assert {"lambda_corr", "d_model", "phys_columns"} <= set(constructor_parameters(HeLoNet))


@pytest.mark.parametrize("name", ["MPCLDistributionRegressor", "MLPDistributionRegressor"])
def test_huge_and_tiny_features_train_like_ordinary_ones(name):
    """One standardiser for every model: features scaled by 1e200 or 1e-300 train to the same
    network as the ordinary ones (the torch models used to refuse the first and flatten the
    second); huge test rows saturate (finite predictions)."""
    import mpcl_sklearn

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 12))
    y = rng.dirichlet(np.ones(4), 120)
    model = getattr(mpcl_sklearn, name)(max_epochs=2, random_state=0).fit(X, y)
    for scale in (1e30, 1e100, 1e300):
        pred = model.predict(X * scale)
        assert np.isfinite(pred).all(), scale
        np.testing.assert_allclose(pred.sum(1), 1.0, atol=1e-5)
    for scale in (1e200, 1e-300):
        scaled = getattr(mpcl_sklearn, name)(max_epochs=2, random_state=0).fit(X * scale, y)
        np.testing.assert_allclose(scaled.predict(X * scale), model.predict(X), atol=1e-5)


def test_fresh_fit_never_resumes_a_warm_started_checkpoint(data, tmp_path):
    """A warm start trains on the weights of earlier runs: its checkpoints carry their keys
    (another sub-directory), so a fresh fit of the same data resumes only the first run."""
    X, Y = data
    params = dict(SMALL, max_epochs=2, checkpoint_dir=str(tmp_path))
    first = MPCLDistributionRegressor(**params).fit(X, Y)
    warm = MPCLDistributionRegressor(**params, warm_start=True).fit(X, Y).fit(X, Y)
    assert len(warm.history_) == 4
    assert len(list(tmp_path.iterdir())) == 2
    fresh = MPCLDistributionRegressor(**params, callbacks=[CountEpochs()]).fit(X, Y)
    assert _epochs_trained(fresh) == 0 and len(fresh.history_) == 2
    np.testing.assert_array_equal(fresh.predict(X), first.predict(X))


def test_checkpoint_of_last_epoch_without_the_final_save_still_ends_the_run(
    data, tmp_path, monkeypatch
):
    """Stopped after the last epoch's checkpoint but before the run's final save: a resumed fit
    trains nothing and still keeps the weight average, as the uninterrupted fit."""
    from mpcl_sklearn.training.checkpoint import TrainingCheckpoint

    X, Y = data
    params = dict(SMALL, max_epochs=4)
    whole = MPCLDistributionRegressor(**params).fit(X, Y)
    save = TrainingCheckpoint.save_model

    def epoch_saves_only(self, net):
        if not net.history[-1].get("run_done"):
            save(self, net)

    with monkeypatch.context() as patch:
        patch.setattr(TrainingCheckpoint, "save_model", epoch_saves_only)
        MPCLDistributionRegressor(**params, checkpoint_dir=str(tmp_path)).fit(X, Y)
    resumed = MPCLDistributionRegressor(
        **params, checkpoint_dir=str(tmp_path), callbacks=[CountEpochs()]
    )
    resumed.fit(X, Y)
    assert _epochs_trained(resumed) == 0
    np.testing.assert_allclose(resumed.predict(X), whole.predict(X), rtol=0, atol=1e-6)


# --------------------------------------------------------------------------------------------
# review of issue 11's restructuring


@pytest.mark.parametrize(
    "bad",
    [
        {"optimizer": "bogus"},
        {"verbose": "loud"},
        {"callbacks": [object()]},
        {"callbacks": "x"},
        {"max_grad_norm": -1.0},
        {"device": "tpu"},
        {"early_stopping": True, "n_iter_no_change": 0},
    ],
    ids=lambda p: ",".join(p),
)
def test_invalid_parameters_set_after_fit_never_make_files_unloadable(data, tmp_path, bad):
    """The prediction net of a loaded model is built from what was fitted (module arguments and
    weights), not from the live training parameters: pickles, deepcopies and model files of a
    fitted model always load and predict; the invalid value is refused at the next fit."""
    import copy
    import pickle

    import mpcl_sklearn
    from mpcl_sklearn.io import load_model, save_model

    X, Y = data
    est = mpcl_sklearn.MLPDistributionRegressor(max_epochs=1, random_state=0).fit(X, Y)
    P = est.predict(X)
    est.set_params(**bad)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).predict(X), P)
    np.testing.assert_array_equal(copy.deepcopy(est).predict(X), P)
    save_model(est, tmp_path / "model.skops")  # callbacks are saved as None (external)
    np.testing.assert_array_equal(load_model(tmp_path / "model.skops").predict(X), P)
    with pytest.raises((ValueError, TypeError), match=list(bad)[-1]):
        est.fit(X, Y)


@pytest.mark.parametrize("name", ["MPCLDistributionRegressor", "MLPDistributionRegressor"])
def test_divergence_in_the_last_step_is_an_error_not_nan_predictions(data, name):
    """The loss is checked before each step: a step that makes the network non-finite (here
    the only one of a huge learning rate) is caught after training."""
    import mpcl_sklearn

    X, Y = data
    cls = getattr(mpcl_sklearn, name)
    with pytest.raises(TrainingDivergedError, match="after the last optimiser step.*lower"):
        cls(lr=1e30, max_epochs=1, batch_size=256, random_state=0).fit(X, Y)
    # MPCL: the network fully weighted (a network the combination does not use is not run)
    own = {"shrinkage": None} if name == "MPCLDistributionRegressor" else {}
    est = cls(max_epochs=1, random_state=0, **own).fit(X, Y)
    with torch.no_grad():
        next(est.net_.module_.parameters()).fill_(float("inf"))
    with pytest.raises(TrainingDivergedError, match="outputs are NaN or infinite for 240 of 240"):
        est.predict(X)


def test_fit_seeds_only_the_generators_it_uses(data):
    """A CPU fit seeds torch's CPU generator inside a fork and nothing else: no CUDA seed is
    queued for later (torch.manual_seed queues one for every CUDA device even without CUDA),
    and the caller's CPU state is left alone."""
    import torch.cuda as tc

    tracker = getattr(tc, "_lazy_seed_tracker", None)
    X, Y = data
    torch.manual_seed(123)
    before_cpu = torch.get_rng_state().clone()
    before_queue = None if tracker is None else list(tracker.get_calls())
    LinearSoftmaxRegressor(max_epochs=1, random_state=0).fit(X, Y)
    assert torch.equal(torch.get_rng_state(), before_cpu)
    if tracker is not None:
        assert list(tracker.get_calls()) == before_queue
    if torch.cuda.is_available():  # the device generators a CPU fit never touches
        states = [torch.cuda.get_rng_state(i) for i in range(torch.cuda.device_count())]
        LinearSoftmaxRegressor(max_epochs=1, random_state=0).fit(X, Y)
        for i, state in enumerate(states):
            assert torch.equal(torch.cuda.get_rng_state(i), state)


def test_weight_decay_zero_is_zero_for_every_optimizer(data):
    """``weight_decay=0`` reaches the optimizer (AdamW's own default would be 1e-2)."""
    X, Y = data
    for optimizer in ("adamw", "adam", "sgd", "rmsprop", torch.optim.AdamW):
        est = LinearSoftmaxRegressor(max_epochs=1, weight_decay=0.0, optimizer=optimizer)
        est.fit(X, Y)
        assert est.net_.optimizer_.param_groups[0]["weight_decay"] == 0.0, optimizer
    est = LinearSoftmaxRegressor(max_epochs=1, weight_decay=0.25).fit(X, Y)
    assert est.net_.optimizer_.param_groups[0]["weight_decay"] == 0.25
