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

from .._scaling import Standardizer

__all__ = ["check_stored_state", "module_state_arrays", "pickled_state", "restored_state"]


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
