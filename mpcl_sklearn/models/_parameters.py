"""The training parameters shared by the torch models, declared and documented once, and the
introspection that hands estimator parameters to a network's constructor."""

from __future__ import annotations

import inspect
import os
import re
import textwrap
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from skorch.callbacks import Callback

from .._param_validation import (
    Bool,
    Constraint,
    Float,
    InstanceOf,
    Int,
    MappingOf,
    Options,
    Satisfies,
    SequenceOf,
    Str,
    SubclassOf,
)
from ..training.net import OPTIMIZERS

__all__ = [
    "BEHAVIOURAL_MODALITIES",
    "DROPOUT",
    "MODALITIES",
    "TRAINING_CONSTRAINTS",
    "TRAINING_PARAMS",
    "constructor_parameters",
    "TRAINING_DEFAULTS",
    "insert_training_docs",
    "module_arguments",
    "training_defaults",
    "training_signature",
]


def _is_callback(value) -> bool:
    return isinstance(value, Callback) or (isinstance(value, type) and issubclass(value, Callback))


def _is_named_callback(value) -> bool:
    if isinstance(value, tuple):
        return len(value) == 2 and isinstance(value[0], str) and _is_callback(value[1])
    return _is_callback(value)


_DEVICE = re.compile(r"cpu|mps|cuda(:\d+)?")

#: what each training parameter of the torch models may be (the order of their signatures)
TRAINING_CONSTRAINTS: dict[str, Constraint | None] = {
    "lr": Float(0, None, "neither"),
    "max_epochs": Int(1),
    "batch_size": Int(1),
    "optimizer": Options(*OPTIMIZERS, ignore_case=True)
    | SubclassOf(torch.optim.Optimizer, "a torch.optim.Optimizer subclass"),
    "weight_decay": Float(0, None, "left"),
    "max_grad_norm": Float(0, None, "neither") | None,
    "early_stopping": Bool(),
    "validation_fraction": Float(0, 1, "neither"),
    "n_iter_no_change": Int(1),
    "tol": Float(0, None, "left"),
    "warm_start": Bool(),
    "checkpoint_dir": Str() | InstanceOf(os.PathLike, "a path (os.PathLike)") | None,
    "device": Satisfies(
        lambda v: isinstance(v, str) and _DEVICE.fullmatch(v) is not None,
        "one of 'cpu', 'cuda', 'cuda:<n>', 'mps'",
        invalid=("tpu", "cuda:x", "CPU", 0),
    )
    | InstanceOf(torch.device, "a torch.device"),
    "random_state": Int(0, 2**32 - 1)
    | InstanceOf(np.random.RandomState, "a numpy RandomState")
    | None,
    "verbose": Int(0) | Bool(),
    "callbacks": SequenceOf(
        Satisfies(
            _is_named_callback,
            "a skorch Callback (instance or class) or a (name, Callback) tuple",
            invalid=(print, ("name", object())),
        )
    )
    | None,
    "normalize_y": Bool() | Options("softmax"),
    "n_threads": Int(1) | None,
}

#: the training parameters every torch model takes (keyword-only, in this order)
TRAINING_PARAMS: tuple[str, ...] = tuple(TRAINING_CONSTRAINTS)

#: their defaults; a model changes some of them with its ``_training_defaults``
TRAINING_DEFAULTS: dict[str, Any] = {
    "lr": 3e-3,
    "max_epochs": 30,
    "batch_size": 128,
    "optimizer": "adamw",
    "weight_decay": 1e-4,
    "max_grad_norm": 5.0,
    "early_stopping": False,
    "validation_fraction": 0.1,
    "n_iter_no_change": 10,
    "tol": 1e-4,
    "warm_start": False,
    "checkpoint_dir": None,
    "device": "cpu",
    "random_state": None,
    "verbose": 0,
    "callbacks": None,
    "normalize_y": False,
    "n_threads": 1,
}

_COLUMN = Str() | Int(0)

#: ``modalities`` of MPCL and HeLo: ``{name: [column names or indices]}`` (which names and
#: indices exist is checked against the data by :func:`mpcl_sklearn._columns.explicit_modalities`)
MODALITIES = (
    MappingOf(
        Str() | Int(0),
        _COLUMN | SequenceOf(_COLUMN, non_empty=True),
        non_empty=True,
        description="a non-empty dict {modality name: column name, column index (int >= 0) or "
        "a non-empty list of them}",
    )
    | None
)

#: ``behavioural_modalities`` of MPCL and HeLo: ``"auto"`` (the data's ``attrs``), one name, names
BEHAVIOURAL_MODALITIES = Str() | SequenceOf(Str()) | None

#: a dropout probability
DROPOUT = Float(0, 1, "left")

#: the shared documentation of the training parameters, ``{default}`` filled in per class
_TRAINING_DOCS = """\
lr : float, default={lr}
    Learning rate.
max_epochs : int, default={max_epochs}
    Epochs of a training run: one ``fit``; with ``warm_start``, each further ``fit`` trains a
    new run of ``max_epochs`` epochs (or finishes an interrupted one).
batch_size : int, default={batch_size}
    Mini-batch size.
optimizer : {{"adamw", "adam", "sgd", "rmsprop"}} or torch optimizer class, default={optimizer}
weight_decay : float, default={weight_decay}
    Weight decay of the optimizer (decoupled for AdamW).
max_grad_norm : float or None, default={max_grad_norm}
    Gradient-norm clipping (skorch ``GradientNormClipping``); None turns it off.
early_stopping : bool, default={early_stopping}
    Hold out ``validation_fraction`` of the training data (whole subjects when ``groups``
    are passed to ``fit``) and stop when the validation KL has not improved by ``tol`` for
    ``n_iter_no_change`` epochs; the best weights are restored. Without ``groups`` the
    validation windows are drawn at random, from the same subjects and trials as the training
    windows (optimistic, an ``UngroupedValidationWarning`` says so). The package's protocols
    and the CLI pass the subjects; inside scikit-learn's ``cross_validate``/``GridSearchCV``,
    enable metadata routing (``sklearn.set_config(enable_metadata_routing=True)``; the model
    requests ``groups`` for ``fit`` by default, ``set_fit_request(groups=True)`` states it
    explicitly) and pass ``params={{"groups": groups}}`` (``cross_validate``) or
    ``fit(X, y, groups=groups)`` (``GridSearchCV``).
validation_fraction : float, default={validation_fraction}
n_iter_no_change : int, default={n_iter_no_change}
tol : float, default={tol}
warm_start : bool, default={warm_start}
    When True, ``fit`` continues training the existing network (same data layout and network
    parameters; a changed one is refused): an interrupted run is finished exactly (an epoch
    cut short is trained again in full), a finished one is followed by a new run. Every other
    parameter applies: each fit builds its training from the current ones (optimizer, lr,
    weight decay, clipping, early stopping, schedule, callbacks, checkpoint_dir, device,
    verbose, ...) and carries over the weights, the history, the optimizer's moments (when the
    optimizer class is unchanged), the run's weight average and early-stopping counters.
checkpoint_dir : str or None, default={checkpoint_dir}
    Directory where weights, optimizer, history, random state, weight average and
    early-stopping state are saved after every epoch, in a sub-directory per fit (fingerprint
    of the training data, of the parameters that shape the network and the training, of the
    seed drawn from ``random_state`` and of the callbacks that can change training). A later
    ``fit`` of the same data with the same parameters resumes from it; with ``random_state``
    set it then predicts as the uninterrupted fit would. With ``random_state=None`` every fit
    draws another seed: the resumed fit finishes the checkpoint's run, which no other fit
    reproduces. Checkpoints of other fits (other data, other CV folds) are never resumed (a
    ``CheckpointMismatchWarning`` says so).
device : str, default={device}
    ``"cpu"``, ``"cuda"``/``"cuda:<n>"`` or ``"mps"`` (Apple GPUs); ``fit`` raises a
    ``ValueError`` when the device is not available on this machine.
random_state : int, RandomState or None, default={random_state}
    Seeds weight initialisation, dropout, shuffling and the validation split.
verbose : int, default={verbose}
    0: silent; 1: skorch's epoch table; 2: also a progress bar per epoch.
callbacks : list of skorch callbacks or None, default={callbacks}
    Extra callbacks, run after the package's own; they are deep-copied at ``fit`` (a warm
    start with unchanged ``callbacks`` keeps the last fit's copies, with their state). Those
    that can change training are part of a checkpoint's fingerprint, by type and
    ``get_params()``; skorch's logging callbacks and callback classes that declare
    ``affects_training = False`` (e.g. one that only records or interrupts) are not.
normalize_y : bool or "softmax", default={normalize_y}
    False: target rows must be distributions (clear error otherwise). True: non-negative
    rows are rescaled to sum to 1. ``"softmax"``: rows are unnormalised scores (any real
    values, e.g. centred ratings) turned into distributions by a softmax. ``score`` compares
    predictions with the targets transformed the same way.
n_threads : int or None, default={n_threads}
    torch intra-op threads during ``fit`` and ``predict`` (restored afterwards). One thread
    is fastest for these small networks and avoids OpenMP spin-waiting on busy machines
    (measured 20-70x slower with 2 threads on 2 shared cores); None keeps torch's setting."""

_MARKER = re.compile(r"^( *)\{training_parameters\}$", re.MULTILINE)


def insert_training_docs(cls: type) -> None:
    """Replace the line ``{training_parameters}`` of ``cls.__doc__`` by the shared documentation
    of the training parameters, with the defaults of ``cls.__init__``."""
    if not cls.__doc__ or not _MARKER.search(cls.__doc__):
        return
    params = inspect.signature(cls.__init__).parameters
    text = _TRAINING_DOCS.format(
        **{name: repr(params[name].default) for name in TRAINING_PARAMS if name in params}
    )
    cls.__doc__ = _MARKER.sub(lambda m: textwrap.indent(text, m.group(1)), cls.__doc__, count=1)


def constructor_parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The keyword parameters of ``cls(...)``, following ``**kwargs`` into the base classes."""
    found: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass is object:
            continue
        more = False
        for p in list(inspect.signature(klass.__init__).parameters.values())[1:]:
            if p.kind is p.VAR_KEYWORD:
                more = True
            elif p.kind is not p.VAR_POSITIONAL:
                found.setdefault(p.name, p)
        if not more:
            break
    return found


def _like_default(value, default):
    """A numpy or Python number as the Python type of the module's default (plain values for
    ``module_args_`` and torch)."""
    if isinstance(default, bool):
        return bool(value) if isinstance(value, bool | np.bool_) else value
    if isinstance(value, bool | np.bool_):
        return value
    if isinstance(default, int) and isinstance(value, Integral):
        return int(value)
    if isinstance(default, float) and isinstance(value, Real):
        return float(value)
    return value


def module_arguments(module_class: type, params: Mapping[str, Any], **given) -> dict[str, Any]:
    """Constructor arguments of ``module_class`` by introspection of its signature: each
    parameter of the same name in ``params`` (numbers as the Python type of the default), then
    ``given`` (arguments computed from the data), for the names the constructor takes."""
    wanted = constructor_parameters(module_class)
    args = {n: _like_default(params[n], p.default) for n, p in wanted.items() if n in params}
    args.update({n: v for n, v in given.items() if n in wanted})
    return args


def training_defaults(cls: type) -> dict[str, Any]:
    """The training parameters' defaults of ``cls``: :data:`TRAINING_DEFAULTS` updated by the
    ``_training_defaults`` of ``cls`` and its bases (the most derived wins)."""
    defaults = dict(TRAINING_DEFAULTS)
    for klass in reversed(cls.__mro__):
        defaults.update(vars(klass).get("_training_defaults", {}))
    return defaults


def training_signature(cls: type) -> inspect.Signature | None:
    """The signature of ``cls.__init__`` with the parameters it hands on written out.

    A model writes only its own parameters and ``**training`` in its ``__init__``; scikit-learn
    reads the parameters of an estimator from the signature of ``__init__`` (``get_params``,
    ``clone``), so this signature lists the model's own ones, then (keyword-only) those of the
    model it derives from that it does not name itself (``**training`` hands them on to the
    parent's ``__init__``: ``class MyMPCL(MPCLDistributionRegressor)`` with
    ``__init__(self, extra=1, **training)`` keeps ``d_model`` and the rest), then every training
    parameter, keyword-only, with the model's defaults. None when ``cls.__init__`` takes no
    ``**training`` (its signature is then complete as written).
    """
    own = inspect.signature(cls.__init__)
    params = list(own.parameters.values())
    if not params or params[-1].kind is not inspect.Parameter.VAR_KEYWORD:
        return None
    params = params[:-1]
    named = {p.name for p in params}
    parent = next(k for k in cls.__mro__[1:] if "__init__" in vars(k))
    inherited = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        for p in list(inspect.signature(parent.__init__).parameters.values())[1:]
        if p.name not in named
        and p.name not in TRAINING_PARAMS
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    defaults = training_defaults(cls)
    training = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=defaults[name])
        for name in TRAINING_PARAMS
    ]
    return own.replace(parameters=params + inherited + training)
