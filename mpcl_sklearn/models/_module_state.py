"""A torch estimator's network as plain arrays (pickling, model files), and the checks that a
stored state fits the network its stored arguments describe before any real memory is spent.

A model file is data written by someone else: its ``module_args_`` could ask for an enormous
network (``d_model=10**9``) that the stored weights then fail to fit. The network is therefore
first built on torch's ``meta`` device (shapes only, no memory), its parameter names and shapes
compared with the stored arrays, and only then built for real.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from skorch.history import History

from .._scaling import Standardizer
from ..training.net import prediction_net
from ..training.runtime import resolve_device

__all__ = [
    "check_stored_state",
    "module_state_arrays",
    "pickled_state",
    "restore_network",
    "restored_state",
]


def module_state_arrays(module: torch.nn.Module) -> dict[str, np.ndarray]:
    """The module's ``state_dict`` as numpy arrays on the CPU (copies)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def pickled_state(state: dict) -> dict:
    """An estimator's ``__dict__`` made picklable as plain data: the layout's tuple keys as
    lists, the skorch net replaced by its weights (``_module_state_``) and history rows."""
    layout = state.get("column_layout_")
    if isinstance(layout, dict):  # tuple keys: not representable in skops' JSON schema
        state["column_layout_"] = [[k[0], k[1], list(v)] for k, v in layout.items()]
    net = state.pop("net_", None)
    if net is not None:
        state["_module_state_"] = module_state_arrays(net.module_)
        state["history_"] = [dict(row) for row in net.history]
    return state


def restored_state(state: dict) -> tuple[dict, Mapping | None]:
    """The inverse of :func:`pickled_state` up to the network: the estimator's attributes (the
    layout as a dict, a 0.1.0 file's scaler as a ``Standardizer``) and the stored weights."""
    module_state = state.pop("_module_state_", None)
    layout = state.get("column_layout_")
    if isinstance(layout, list):
        state["column_layout_"] = {(m, sc): list(ix) for m, sc, ix in layout}
    if "x_mean_" in state and "scaler_" not in state:  # a file of mpcl_sklearn 0.1.0
        mean, scale = state.pop("x_mean_"), state.pop("x_scale_")
        state["scaler_"] = Standardizer.from_arrays(np.ones_like(mean), mean, scale)
    return state, module_state


def restore_network(estimator, module_state: Mapping, history: list) -> None:
    """Rebuild a torch estimator's skorch net from its stored weights (``__setstate__``).

    The device is the one of the fit when it is available here, else the CPU; the stored
    weights must fit the network the stored arguments describe (:func:`check_stored_state`,
    on the meta device) before the network is built for real and the weights are loaded. The
    net is built from what was fitted (``module_args_``, the weights) only, never from the
    estimator's training parameters, which ``set_params`` may have changed since
    (:func:`~mpcl_sklearn.training.net.prediction_net`).
    """
    device = str(estimator.__dict__.get("device_", "cpu"))
    try:  # a model trained on a GPU predicts on the CPU of a machine without one
        resolve_device(device)
    except (TypeError, ValueError):
        device = "cpu"
    estimator.device_ = device
    if "module_args_" not in estimator.__dict__:  # 0.1.0 files: the arguments of the fit
        estimator.module_args_ = estimator._module_arguments(
            estimator.n_features_in_, estimator.n_outputs_, estimator.column_layout_
        )
    check_stored_state(
        estimator._module_class,
        estimator.module_args_,
        module_state,
        estimator._module_count_args,
    )
    with torch.random.fork_rng(devices=[]):  # the initial weights are overwritten below
        module = estimator._module_class(**estimator.module_args_)
    tensors = {k: torch.from_numpy(np.array(v)) for k, v in module_state.items()}
    module.load_state_dict(tensors)
    net = prediction_net(module, torch.device(device))
    net.module_.eval()
    net.history = History(history)
    estimator.net_ = net
    estimator.history_ = net.history


def check_stored_state(
    module_class: type[torch.nn.Module],
    module_args: Mapping,
    state: Mapping[str, np.ndarray],
    count_args: Sequence[str] = (),
) -> None:
    """Refuse a stored state that does not fit ``module_class(**module_args)``.

    The module is built on the ``meta`` device (no memory is allocated) and every entry of its
    ``state_dict`` is compared, by name and shape, with ``state``. ``count_args`` name module
    arguments that count sub-modules built in a Python loop (e.g. a number of layers): each
    must not exceed the number of stored arrays, checked before the module is built.

    Raises
    ------
    ValueError
        Naming the first argument or array that does not fit.
    """
    for name in count_args:
        value = module_args.get(name)
        if isinstance(value, int | np.integer) and not 0 <= int(value) <= len(state):
            raise ValueError(
                f"the stored network argument {name}={value} cannot describe the {len(state)} "
                "stored arrays: the model file is corrupt or crafted"
            )
    try:
        with torch.device("meta"):
            module = module_class(**module_args)
    except (TypeError, ValueError, RuntimeError, OverflowError) as exc:
        raise ValueError(
            f"the stored network arguments do not build a {module_class.__name__}: {exc}"
        ) from exc
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    stored = {str(k): tuple(np.shape(v)) for k, v in state.items()}
    missing = [k for k in expected if k not in stored]
    unexpected = [k for k in stored if k not in expected]
    if missing or unexpected:
        raise ValueError(
            f"the stored weights do not fit the {module_class.__name__} their arguments describe "
            f"(missing {missing[:5]}, unexpected {unexpected[:5]}): the model file is corrupt or "
            "crafted"
        )
    for k, shape in expected.items():
        if stored[k] != shape:
            raise ValueError(
                f"the stored weight {k!r} has shape {stored[k]} but the {module_class.__name__} "
                f"its arguments describe needs {shape}: the model file is corrupt or crafted"
            )
