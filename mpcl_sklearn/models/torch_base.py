"""Shared scikit-learn base of the PyTorch distribution regressors (skorch inside).

:class:`TorchDistributionRegressor` is a scikit-learn estimator that *owns* a skorch net built
in ``fit`` (``self.net_``); it does not subclass skorch (a skorch net fails most of
scikit-learn's estimator checks). It validates ``X`` and ``y`` (rows must be distributions, see
``normalize_y``), standardises the features (:class:`~mpcl_sklearn._scaling.Standardizer`,
``scaler_``), builds the network from its parameters and the data layout, and hands it to
:mod:`mpcl_sklearn.training`, where everything about fitting a torch network lives (the loss
with the module's auxiliary losses, batch feeding, learning-rate schedule, weight averaging,
early stopping, checkpoints, device, threads, subnormal floats). It also takes care of seeding
from ``random_state`` (only the generators of the fit's device, forked, so global state is left
alone), ``warm_start`` (a net built from the current parameters around the same network), and
pickling that stores the weights as plain numpy arrays (no torch pickles): a model fitted on a
GPU unpickles and predicts on a CPU-only machine, and ``skops.io`` can save it trusting only our
classes, numpy and scikit-learn types.

How to subclass
---------------
Write an ``__init__`` listing your own parameters and ``**training``, storing each of yours
unchanged (scikit-learn's rule) and handing the training parameters (:data:`TRAINING_PARAMS`) on
with ``super().__init__(**training)``; the base writes them into your ``__init__``'s signature
(keyword-only, so ``get_params`` and ``clone`` see them), with the defaults of
:data:`~mpcl_sklearn.models._parameters.TRAINING_DEFAULTS` changed by your class's
``_training_defaults`` dict. Deriving from a model (``class MyMPCL(MPCLDistributionRegressor)``
with ``__init__(self, extra=1, **training)``) works the same way: the parent model's own
parameters that you do not name are written into the signature too (keyword-only) and reach
its ``__init__`` through ``**training``. Declare what each of your parameters may
be in ``_constraints`` (see :mod:`mpcl_sklearn._param_validation`; ``fit`` checks them and the
base's before anything else, then calls ``_check_param_combinations()`` if you define one); put
the line
``{training_parameters}`` in the Parameters section of the class docstring (it is replaced by
the shared documentation, with your defaults). Then set ``_module_class`` to an ``nn.Module``
whose ``forward(X)`` maps a float32 tensor ``(batch, n_features)`` of standardised features to
*log-probabilities* ``(batch, n_outputs)``. Its constructor arguments are found by introspection
(:meth:`_module_arguments`): ``n_features`` and ``n_outputs``, every estimator parameter of the
same name, and what ``_data_arguments(n_features, n_outputs, column_layout)`` returns (arguments
computed from the data or from learned attributes). ``column_layout`` is a dict
``{(modality, scale): [column indices]}`` (see :meth:`_column_layout`; a plain array is one
modality ``("x", None)``). Optional hooks:

* ``module.auxiliary_loss()`` on the module, returning a scalar tensor computed during the last
  training forward pass (or ``None``): it is added to the KL loss in training;
* ``_prepare_fit(self, X, Y, groups)``: called before the module is built (``X`` standardised,
  ``groups`` the units of the early-stopping split), e.g. to store label statistics as learned
  attributes the module needs; ``_training_dataset(X, Y, rows)``: the training rows' dataset;
* ``_after_fit(self, X, Y)``: called after training, e.g. to expose learned matrices;
* ``_run_callbacks(self)``: skorch callbacks of the training run (e.g. a schedule);
* ``_column_layout(self, X)``: another way of grouping the columns into tokens.

The arguments the network was built with are kept as ``module_args_``: unpickling rebuilds the
same network whatever ``set_params`` changed since.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from scipy.special import softmax
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from skorch.utils import noop

from .._groups import validation_groups
from .._param_validation import validate_params
from .._scaling import Standardizer
from .._validation import as_real_array, check_sample_weight
from ..training.batches import FixedValidSplit, TensorBatchDataset, to_tensor, validation_split
from ..training.callbacks import RunSnapshot, affects_training, early_stopping
from ..training.checkpoint import TrainingCheckpoint, digest
from ..training.net import TrainingDivergedError, build_net
from ..training.run import SNAPSHOT, continue_from, prepare_run, train
from ..training.runtime import flush_denormals, resolve_device, seeded, torch_threads
from ._metadata import table_attrs, token_layout, warn_ungrouped_validation
from ._module_state import pickled_state, restore_network, restored_state
from ._parameters import (
    TRAINING_CONSTRAINTS,
    TRAINING_PARAMS,
    insert_training_docs,
    module_arguments,
    training_defaults,
    training_signature,
)
from .base import DistributionRegressorMixin

__all__ = ["TRAINING_PARAMS", "TorchDistributionRegressor"]

#: parameters that do not shape the trajectory of training (left out of checkpoint fingerprints;
#: ``random_state`` enters as the seed drawn from it, ``callbacks`` as those that can change
#: training)
_NOT_TRAJECTORY = frozenset(
    {"warm_start", "checkpoint_dir", "device", "verbose", "n_threads", "random_state", "callbacks"}
)


class TorchDistributionRegressor(DistributionRegressorMixin, BaseEstimator):
    """Base class for PyTorch emotion-distribution regressors trained through skorch.

    Not usable on its own: subclasses set ``_module_class`` (see the module docstring).

    Parameters
    ----------
    {training_parameters}

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained net (:class:`~mpcl_sklearn.training.net.DistributionNet`).
    history_ : skorch.History
        One row per epoch; the last epoch of each finished run is marked ``"run_done"``.
    module_args_ : dict
        The constructor arguments of the network.
    scaler_ : Standardizer
        The feature standardisation.
    emotions_ : ndarray of str or None
        The emotion names (``y``'s columns or ``X.attrs["emotions"]``), None when unknown.
    n_features_in_, feature_names_in_, n_outputs_
    """

    #: the network class (subclasses set it)
    _module_class: type[torch.nn.Module] | None = None
    #: whether the network reads the token layout (then named columns that fall back to a
    #: single token warn)
    _uses_layout: bool = False
    #: module arguments that count sub-modules built in a loop (bounded on load)
    _module_count_args: tuple[str, ...] = ()
    # groups reach fit under metadata routing without set_fit_request: the early-stopping
    # split then keeps subjects apart by default
    __metadata_request__fit = {"groups": True}

    #: the training parameters, declared once for every torch model
    _constraints = TRAINING_CONSTRAINTS

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in vars(cls):
            signature = training_signature(cls)
            if signature is not None:
                cls.__init__.__signature__ = signature
        insert_training_docs(cls)

    def __init__(self, **training):
        unknown = sorted(set(training) - set(TRAINING_PARAMS))
        if unknown:
            raise TypeError(
                f"{type(self).__name__}.__init__() got an unexpected keyword argument "
                f"{unknown[0]!r}"
            )
        defaults = training_defaults(type(self))
        for name in TRAINING_PARAMS:
            setattr(self, name, training.get(name, defaults[name]))

    # ---------------------------------------------------------------- hooks for subclasses
    def _data_arguments(self, n_features: int, n_outputs: int, column_layout: dict) -> dict:
        """Module arguments computed from the data or learned attributes (none here)."""
        return {}

    def _prepare_fit(self, X: np.ndarray, Y: np.ndarray, groups=None) -> None:
        """Hook called before the module is built (X standardised; ``groups``: the units the
        early-stopping split holds out whole, or None)."""

    def _training_dataset(self, X: torch.Tensor, Y: torch.Tensor, rows: np.ndarray):
        """The training dataset of ``rows`` (indices into the data given to
        :meth:`_prepare_fit`), ``X`` and ``Y`` being those rows as tensors."""
        return TensorBatchDataset(X, Y)

    def _after_fit(self, X: np.ndarray, Y: np.ndarray) -> None:
        """Hook called after training (X standardised)."""

    def _run_callbacks(self) -> list[tuple[str, Any]]:
        """skorch callbacks of a training run, before early stopping and checkpoints."""
        return []

    def _layout_metadata(self, column_layout: dict, attrs: dict) -> dict:
        """Fitted attributes read from the layout and ``X.attrs`` before the network is built
        (e.g. the behavioural modalities); set on the estimator by ``fit``."""
        return {}

    def _column_layout(self, X) -> dict:
        """Group the columns into tokens: ``{(modality, scale): [indices]}``; named columns
        that do not all follow the naming warn when the network reads the layout."""
        owner = type(self).__name__ if self._uses_layout else None
        return token_layout(getattr(self, "feature_names_in_", None), X.shape[1], owner)

    # ---------------------------------------------------------------- the network
    def _module_arguments(self, n_features: int, n_outputs: int, column_layout: dict) -> dict:
        """Constructor arguments of ``_module_class``, by introspection of its signature:
        ``n_features``/``n_outputs``, the estimator parameters of the same name, and
        :meth:`_data_arguments`."""
        return module_arguments(
            self._module_class,
            self.get_params(deep=False),
            n_features=int(n_features),
            n_outputs=int(n_outputs),
            **self._data_arguments(n_features, n_outputs, column_layout),
        )

    def _user_callbacks(self) -> list[tuple[str, Any]]:
        """The user's ``callbacks`` as ``(name, callback)`` pairs (deep copies)."""
        return [
            cb if isinstance(cb, tuple) else (f"user_{i}_{type(cb).__name__}", cb)
            for i, cb in enumerate(copy.deepcopy(list(self.callbacks or [])))
        ]

    def _make_net(self, device: torch.device, module: torch.nn.Module, fingerprint=None):
        """The skorch net of ``module`` with the current parameters: the run's callbacks,
        early stopping, the run snapshot, the checkpoint (when ``fingerprint`` is given) and
        the user's callbacks, in that order. ``net.user_callbacks_`` holds the user's
        callbacks' names and the digest of the ``callbacks`` parameter they came from."""
        sink = print if self.verbose else noop
        callbacks = list(self._run_callbacks())
        if self.early_stopping:
            callbacks.append(
                ("early_stopping", early_stopping(self.n_iter_no_change, self.tol, self.verbose))
            )
        callbacks.append((SNAPSHOT, RunSnapshot()))
        if fingerprint is not None:
            callbacks.append(
                ("checkpoint", TrainingCheckpoint(self.checkpoint_dir, fingerprint, sink=sink))
            )
        user = self._user_callbacks()
        net = build_net(
            module,
            device=device,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            optimizer=self.optimizer,
            weight_decay=self.weight_decay,
            max_grad_norm=self.max_grad_norm,
            verbose=self.verbose,
            callbacks=callbacks + user,
        )
        net.user_callbacks_ = ([name for name, _ in user], digest(list(self.callbacks or [])))
        return net

    def _fingerprint(
        self, X: np.ndarray, Y: np.ndarray, groups, module_args: dict, seed: int
    ) -> dict:
        """Digests of what makes a fit: data, network, training parameters (checkpoints)."""
        names = getattr(self, "feature_names_in_", None)
        data = {
            "X": X,
            "Y": Y,
            "feature_names": None if names is None else [str(n) for n in names],
            "groups": None if groups is None or not self.early_stopping else np.asarray(groups),
        }
        training = {
            k: v for k, v in self.get_params(deep=False).items() if k not in _NOT_TRAJECTORY
        }
        # the seed, not the generator object: RandomState(0) and RandomState(1) differ, and a
        # RandomState gives another seed at each fit; None draws a seed nobody can repeat
        training["seed"] = None if self.random_state is None else seed
        training["callbacks"] = [cb for cb in self.callbacks or [] if affects_training(cb)]
        return {
            "data": digest(data),
            "network": digest([self._module_class, module_args]),
            "training": digest(training),
        }

    # ---------------------------------------------------------------- helpers
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
        """Targets as distributions, following ``normalize_y`` (``"softmax"`` here, the rest in
        the base class)."""
        mode = self.normalize_y
        if not isinstance(mode, str):
            return super()._target_distributions(y)
        if mode != "softmax":
            raise ValueError(f"normalize_y must be False, True or 'softmax', got {mode!r}")
        Y = as_real_array(y, "y")
        Y = Y.reshape(len(Y), -1)
        if not np.isfinite(Y).all():
            raise ValueError("y contains NaN or inf")
        return softmax(Y, axis=1)

    def _standardize(self, X: np.ndarray) -> np.ndarray:
        """Standardised float32 features; rows beyond ``MAX_Z`` standard deviations are shrunk
        onto that magnitude (direction kept), so a huge test value never overflows float32 or
        the network's activations into a NaN prediction."""
        return self.scaler_.transform_bounded(X).astype(np.float32, copy=False)

    def _seed(self) -> int:
        rng = check_random_state(self.random_state)
        return int(rng.randint(0, 2**31 - 1))

    def _check_same_network(self, module_args: dict) -> None:
        """Refuse a warm start whose parameters would build another network."""
        old = self.module_args_
        changed = sorted(
            k
            for k in set(old) | set(module_args)
            if digest(old.get(k)) != digest(module_args.get(k))
        )
        if changed:
            what = ", ".join(f"{k}: {old.get(k)!r} -> {module_args.get(k)!r}" for k in changed)
            raise ValueError(
                "warm_start=True but parameters that shape the network changed since the last "
                f"fit ({what}); set warm_start=False to train a new network"
            )

    # ---------------------------------------------------------------- fit / predict
    def fit(self, X, y, groups=None):
        """Fit the network.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples, n_emotions)
            One emotion distribution per row (rows non-negative, summing to 1, unless
            ``normalize_y``).
        groups : array-like of shape (n_samples,) or a subject/trial table, optional
            Subject of each sample; only used to keep subjects apart in the early-stopping
            validation split (without it, ``early_stopping=True`` validates on random windows
            of the training subjects and warns). The package's protocols pass it; inside
            scikit-learn's ``cross_validate``/``GridSearchCV`` it arrives under metadata
            routing (``sklearn.set_config(enable_metadata_routing=True)``; the request
            ``set_fit_request(groups=True)`` is the default). The subject/trial(/time) table of
            :class:`~mpcl_sklearn.model_selection.SubjectDependentSplitter` (a DataFrame with
            columns ``subject``, ``trial``, optionally ``time``, or such an array) is accepted:
            its protocol trains within subjects, so whole trials are held out instead.

        Returns
        -------
        self
        """
        validate_params(self)  # before n_threads is used
        with torch_threads(getattr(self, "n_threads", 1)):
            return self._fit(X, y, groups=groups)

    def _fit(self, X, y, groups=None):
        device = resolve_device(self.device)
        reuse = self.warm_start and hasattr(self, "net_")
        prev = (self.n_features_in_, self.n_outputs_) if reuse else None
        prev_names = getattr(self, "feature_names_in_", None) if reuse else None
        attrs = table_attrs(X)
        X, Y = self._validate_fit_data(X, y)
        # 1-D subjects, or a SubjectDependentSplitter's subject/trial(/time) table (metadata
        # routing hands it to fit too): the units the early-stopping split holds out whole
        groups = validation_groups(groups, type(self).__name__)
        if self.early_stopping and groups is None:
            warn_ungrouped_validation(type(self).__name__)
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
        with seeded(seed, device):
            if not reuse:
                self.scaler_ = Standardizer().fit(X)
                self.column_layout_ = self._column_layout(X)
            Xs = self._standardize(X)
            # a warm start checks the network its current parameters would build (layout too)
            layout = self._column_layout(X) if reuse else self.column_layout_
            metadata = self._layout_metadata(layout, attrs)
            previous = {k: getattr(self, k, None) for k in metadata}
            self.__dict__.update(metadata)
            if not reuse:
                self._prepare_fit(Xs, Y, groups)
            module_args = self._module_arguments(self.n_features_in_, self.n_outputs_, layout)
            if reuse:
                try:
                    self._check_same_network(module_args)
                except ValueError:
                    self.__dict__.update(previous)
                    raise
            fingerprint = None
            if self.checkpoint_dir is not None:
                fingerprint = self._fingerprint(X, Y, groups, module_args, seed)

            if self.early_stopping:
                train_idx, valid_idx = validation_split(
                    len(Xs), groups, self.validation_fraction, seed
                )
            else:
                train_idx, valid_idx = np.arange(len(Xs)), None
            train_ds = self._training_dataset(
                to_tensor(Xs[train_idx], device), to_tensor(Y[train_idx], device), train_idx
            )

            if reuse:
                # the training is built from the current parameters, on the same network; the
                # run's state is carried over (training.run.continue_from)
                last_net = self.net_
                net = self._make_net(device, last_net.module_, fingerprint)
                net.initialize()
                names, key = net.user_callbacks_
                unchanged = getattr(last_net, "user_callbacks_", (None, None))[1] == key
                continue_from(net, last_net, keep=names if unchanged else ())
            else:
                self.module_args_ = module_args
                net = self._make_net(device, self._module_class(**module_args), fingerprint)
                net.initialize()
            if valid_idx is not None:
                net.train_split = FixedValidSplit(
                    TensorBatchDataset(
                        to_tensor(Xs[valid_idx], device), to_tensor(Y[valid_idx], device)
                    )
                )
            else:
                net.train_split = None
            net.batch_generator_ = torch.Generator().manual_seed(seed)

            epochs, checkpoint = prepare_run(net, warm_start=reuse, fingerprint=fingerprint)
            # publish the net before training so that Ctrl-C (caught by skorch) still leaves
            # a complete, usable estimator
            self.net_ = net
            self.device_ = str(device)
            self.history_ = net.history
            train(net, train_ds, epochs, checkpoint=checkpoint)
            net.module_.eval()
            self.history_ = net.history
            self._after_fit(Xs, Y)
        return self

    def _predict_log_proba_tensor(
        self, Xs: np.ndarray, batch_size: int = 8192, forward=None, axis: int = 0
    ) -> np.ndarray:
        """Log-probabilities of standardised ``Xs`` in batches: ``forward(batch)`` (default: the
        network's forward pass), concatenated along the rows' ``axis``."""
        module = self.net_.module_
        if module.training:  # eval() walks every submodule: not on every prediction
            module.eval()
        forward = module if forward is None else forward
        dev = torch.device(self.device_)
        out = []
        with torch.inference_mode():
            for start in range(0, len(Xs), batch_size):
                xb = torch.from_numpy(np.ascontiguousarray(Xs[start : start + batch_size]))
                out.append(forward(xb.to(dev)).float().cpu().numpy())
        return np.concatenate(out, axis=axis) if out else np.zeros((0, self.n_outputs_))

    def _predict_distribution(self, X: np.ndarray) -> np.ndarray:
        return self._network_distribution(self._standardize(X))

    def _network_distribution(self, Xs: np.ndarray) -> np.ndarray:
        """The network's distributions for standardised ``Xs`` (an error, never NaN, when its
        outputs are not finite)."""
        with torch_threads(getattr(self, "n_threads", 1)), flush_denormals():
            logp = self._predict_log_proba_tensor(Xs).astype(np.float64)
        bad = ~np.isfinite(logp).all(axis=1)
        if bad.any():  # never a silent NaN prediction
            raise TrainingDivergedError(
                f"{type(self).__name__}: the network's outputs are NaN or infinite for "
                f"{int(bad.sum())} of {len(bad)} rows: its weights are not finite or too large "
                "(a diverged training, or a damaged model file); refit, e.g. with a lower lr"
            )
        return softmax(logp, axis=1)

    def score(self, X, y, sample_weight=None) -> float:
        """R^2 between the (validated) target distributions and :meth:`predict`.

        With ``normalize_y=True`` the targets are rescaled to sum to 1 first, i.e. compared in
        the space the model is trained in. Use :func:`mpcl_sklearn.metrics.distribution_scorers`
        for the six distribution metrics.
        """
        from sklearn.metrics import r2_score

        Y = self._target_distributions(y)
        sample_weight = check_sample_weight(sample_weight, len(Y))
        return float(r2_score(Y, self.predict(X), sample_weight=sample_weight))

    # ---------------------------------------------------------------- pickling
    def __getstate__(self):
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__
        return pickled_state(dict(state))

    def __setstate__(self, state):
        state, module_state = restored_state(dict(state))
        self.__dict__.update(state)
        if module_state is not None:
            restore_network(self, module_state, state.get("history_", []))

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "net_")


TorchDistributionRegressor.__init__.__signature__ = training_signature(TorchDistributionRegressor)
insert_training_docs(TorchDistributionRegressor)
