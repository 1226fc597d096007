"""What a model file may contain: the exact type names :func:`mpcl_sklearn.io.load_model` trusts,
the names written by earlier versions, and the parameters that must not come from a file.

Names are compared as strings. Nothing named by a file is imported to decide: our own classes
are listed by name and imported only after a file has been accepted (:func:`locate`); the
scikit-learn and numpy entries are listed by their public import path and turned into the names
skops writes by importing those libraries themselves (never a module a file names).

To trust a new class of this package, add one line to :data:`OUR_CLASSES` (and, if it has
parameters that start workers or name external resources, a line to :data:`EXTERNAL_PARAMETERS`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

__all__ = [
    "EXTERNAL_PARAMETERS",
    "LEGACY_NAMES",
    "OUR_CLASSES",
    "ParameterRule",
    "allowed_names",
    "canonical",
    "locate",
]

#: Classes of this package found in its fitted pipelines (estimators, transformers, the records
#: they hold as fitted state, the inner splitter of ``experiments.make_model``'s searches).
OUR_CLASSES: tuple[str, ...] = (
    "mpcl_sklearn.models.mpcl.MPCLDistributionRegressor",
    "mpcl_sklearn.models.shallow.MeanDistributionRegressor",
    "mpcl_sklearn.models.shallow.SABFGSRegressor",
    "mpcl_sklearn.models.shallow.AAKNNRegressor",
    "mpcl_sklearn.models.neural.MLPDistributionRegressor",
    "mpcl_sklearn.models.neural.HeLoRegressor",
    "mpcl_sklearn.windowing.SignalWindower",
    "mpcl_sklearn.features.extractor.ModalityFeatureExtractor",
    "mpcl_sklearn.features.extractor._Block",
    "mpcl_sklearn.model_selection.InnerGroupKFold",
    "mpcl_sklearn._scaling.Standardizer",
    "mpcl_sklearn.preprocessing.SubjectCalibrator",
)

#: Names written by version 0.1.0 -> the current name of the same class.
LEGACY_NAMES: dict[str, str] = {
    "mpcl_sklearn.regressor.MPCLDistributionRegressor": (
        "mpcl_sklearn.models.mpcl.MPCLDistributionRegressor"
    ),
    "mpcl_sklearn.baselines.MeanDistributionRegressor": (
        "mpcl_sklearn.models.shallow.MeanDistributionRegressor"
    ),
    "mpcl_sklearn.baselines.SABFGSRegressor": "mpcl_sklearn.models.shallow.SABFGSRegressor",
    "mpcl_sklearn.baselines.AAKNNRegressor": "mpcl_sklearn.models.shallow.AAKNNRegressor",
    "mpcl_sklearn.baselines.MLPDistributionRegressor": (
        "mpcl_sklearn.models.neural.MLPDistributionRegressor"
    ),
    "mpcl_sklearn.baselines.HeLoRegressor": "mpcl_sklearn.models.neural.HeLoRegressor",
    "mpcl_sklearn.experiments._InnerGroupKFold": "mpcl_sklearn.model_selection.InnerGroupKFold",
}

#: Functions a file may name: the metrics behind :func:`mpcl_sklearn.metrics.distribution_scorers`
#: (held by the scorer of a saved ``GridSearchCV``). Pure functions of two arrays.
OUR_FUNCTIONS: tuple[str, ...] = tuple(
    f"mpcl_sklearn.metrics.{name}"
    for name in (
        "chebyshev",
        "clark",
        "canberra",
        "kl_divergence",
        "cosine_similarity",
        "intersection_similarity",
    )
)

#: scikit-learn classes in our pipelines, by public import path (module, attribute).
_SKLEARN_CLASSES: tuple[tuple[str, str], ...] = (
    ("sklearn.pipeline", "Pipeline"),
    # the models' scaler_ in files of 0.1.0: Pipeline(MaxAbsScaler, StandardScaler)
    ("sklearn.preprocessing", "StandardScaler"),
    ("sklearn.preprocessing", "MaxAbsScaler"),
    ("sklearn.model_selection", "GridSearchCV"),
    ("sklearn.model_selection", "GroupKFold"),
    ("sklearn.metrics._scorer", "_Scorer"),  # what make_scorer returns
)

_NUMPY_SCALARS: tuple[str, ...] = (
    "bool_",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "longdouble",
    "complex64",
    "complex128",
    "clongdouble",
    "str_",
    "bytes_",
)

_BUILTIN_KEY_TYPES = ("builtins.str", "builtins.int", "builtins.float", "builtins.bool")


def _skops_name(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__name__}"


@cache
def allowed_names() -> dict[str, frozenset[str]]:
    """Allowed type names per skops node kind (``__loader__``).

    Imports numpy and scikit-learn (never a module named by a file). Kinds absent from the
    result (methods, partials, operator functions, sklearn trees and losses, bytes, sparse
    matrices, generators, cross-references) are refused unless the caller trusts their type.
    """
    import numpy as np

    sklearn_classes = []
    for module, attr in _SKLEARN_CLASSES:
        try:
            sklearn_classes.append(_skops_name(getattr(importlib.import_module(module), attr)))
        except (ImportError, AttributeError):  # another scikit-learn version: not trusted
            continue
    scalars = {_skops_name(getattr(np, s)) for s in _NUMPY_SCALARS if hasattr(np, s)}
    ours = set(OUR_CLASSES) | set(LEGACY_NAMES)
    return {
        "ObjectNode": frozenset(ours | set(sklearn_classes)),
        "DictNode": frozenset({"builtins.dict"}),
        "ListNode": frozenset({"builtins.list"}),
        "TupleNode": frozenset({"builtins.tuple"}),
        "SetNode": frozenset({"builtins.set"}),
        "SliceNode": frozenset({"builtins.slice"}),
        "NdArrayNode": frozenset({_skops_name(np.ndarray)} | scalars),
        "DTypeNode": frozenset({"numpy.dtype"}),
        "MaskedArrayNode": frozenset({_skops_name(np.ma.MaskedArray)}),
        "RandomStateNode": frozenset({_skops_name(np.random.RandomState)}),
        "TypeNode": frozenset(set(_BUILTIN_KEY_TYPES) | scalars),
        "FunctionNode": frozenset(OUR_FUNCTIONS),
    }


def canonical(name: str) -> str:
    """The current name of a class of ours (legacy names mapped), other names unchanged."""
    return LEGACY_NAMES.get(name, name)


_ALIASES: dict[str, str] = {**LEGACY_NAMES, **{new: old for old, new in LEGACY_NAMES.items()}}


def locate(name: str) -> str:
    """Where the class of ours called ``name`` (current or legacy name) lives in this version.

    Called only for allowed names, after a file has been accepted: imports ``name``'s module
    and, if that fails, the module of its other name (legacy <-> current), and returns
    ``module.qualname`` of the class found, which must itself be a name of ours. So a file
    written by 0.1.0 loads whether or not the classes have moved since.
    """
    known = set(OUR_CLASSES) | set(LEGACY_NAMES)
    if name not in known:
        raise KeyError(name)
    for candidate in (name, _ALIASES.get(name)):
        if candidate is None:
            continue
        module, _, attr = candidate.rpartition(".")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            continue
        found = f"{cls.__module__}.{cls.__qualname__}"
        if found in known:
            return found
    raise ValueError(f"class {name} is not available in this version of mpcl_sklearn")


# ------------------------------------------------------------------------------------------
# parameters that must not come from a file

#: a value :func:`plain_value` could not turn into plain data (an object, an array, a function)
OPAQUE = object()


@dataclass(frozen=True)
class ParameterRule:
    """A parameter whose value from a file could start workers or reach outside the process.

    ``inert(value)`` says whether a (plain-data) value is harmless; ``reset`` is the value
    written instead by ``load_model(..., reset_external=True)`` and by ``save_model``
    (``OPAQUE``: cannot be reset, the file is refused); ``why`` explains the risk.
    """

    inert: Callable[[Any], bool]
    reset: Any
    why: str


def _is_none(v: Any) -> bool:
    return v is None


def _sequential(v: Any) -> bool:
    return v is None or (type(v) is int and v == 1)


def _no_callbacks(v: Any) -> bool:
    return v is None or v == []


#: more torch threads than this from a file is refused (OpenMP starts them all)
MAX_THREADS = 256


def _bounded_threads(v: Any) -> bool:
    return v is None or (type(v) is int and 1 <= v <= MAX_THREADS)


_EXTERNAL_GRID_NAMES = (
    "distributor",
    "n_jobs",
    "n_threads",
    "checkpoint_dir",
    "callbacks",
    "memory",
)


def _grid_is_inert(v: Any) -> bool:
    grids = v if isinstance(v, list) else [v]
    if not all(isinstance(g, dict) for g in grids):
        return False  # not plain data: refused
    return not any(str(key).rpartition("__")[2] in _EXTERNAL_GRID_NAMES for g in grids for key in g)


_DISTRIBUTOR = ParameterRule(
    _is_none,
    None,
    "a Dask scheduler address or factory: transform would connect to it, send it the data and "
    "unpickle what it returns",
)
_N_JOBS = ParameterRule(_sequential, None, "starts worker processes or threads")
_N_THREADS = ParameterRule(_bounded_threads, 1, f"torch threads: at most {MAX_THREADS} from a file")
_CHECKPOINT = ParameterRule(
    _is_none, None, "a directory fit reads weights from (torch.load) and writes to"
)
_CALLBACKS = ParameterRule(_no_callbacks, None, "code run during fit (and built on load)")
_TORCH = {"checkpoint_dir": _CHECKPOINT, "callbacks": _CALLBACKS, "n_threads": _N_THREADS}

#: Parameter rules per class (current names; legacy names map through :func:`canonical`). The
#: other parameters of the allowed classes are plain numbers, strings and flags validated by the
#: estimators (see docs/reliability.md, "Model files").
EXTERNAL_PARAMETERS: dict[str, dict[str, ParameterRule]] = {
    "mpcl_sklearn.features.extractor.ModalityFeatureExtractor": {
        "distributor": _DISTRIBUTOR,
        "n_jobs": _N_JOBS,
    },
    "mpcl_sklearn.models.shallow.AAKNNRegressor": {"n_jobs": _N_JOBS},
    "mpcl_sklearn.models.mpcl.MPCLDistributionRegressor": _TORCH,
    "mpcl_sklearn.models.neural.MLPDistributionRegressor": _TORCH,
    "mpcl_sklearn.models.neural.HeLoRegressor": _TORCH,
    "sklearn.pipeline.Pipeline": {
        "memory": ParameterRule(
            _is_none,
            None,
            "a joblib cache directory: fit would unpickle the files found there",
        )
    },
    "sklearn.model_selection.GridSearchCV": {
        "n_jobs": _N_JOBS,
        "param_grid": ParameterRule(
            _grid_is_inert,
            OPAQUE,
            "a grid that sets a worker or external-resource parameter when the search is refit",
        ),
    },
    "sklearn.metrics._scorer._Scorer": {
        "_response_method": ParameterRule(
            lambda v: v == "predict", "predict", "the name of the estimator method it calls"
        )
    },
}


@cache
def parameter_rules() -> dict[str, dict[str, ParameterRule]]:
    """:data:`EXTERNAL_PARAMETERS` keyed by the names found in files (sklearn names resolved)."""
    out = {}
    for name, rules in EXTERNAL_PARAMETERS.items():
        if name.startswith("sklearn."):
            module, _, attr = name.rpartition(".")
            try:
                name = _skops_name(getattr(importlib.import_module(module), attr))
            except (ImportError, AttributeError):
                continue
        out[name] = rules
    return out
