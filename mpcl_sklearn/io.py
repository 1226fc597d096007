"""Safe model files: save and load fitted estimators with skops' secure format.

A fitted Pipeline saved with :mod:`pickle` or :mod:`joblib` is a *program*: loading it runs
whatever the file says (``pickle`` calls arbitrary functions named in the file, e.g.
``os.system``). Never unpickle a model file you did not produce yourself.

:func:`save_model` writes a `skops <https://skops.readthedocs.io>`_ file (a zip holding a JSON
schema and the numpy arrays). :func:`load_model` reads the schema first and refuses to build
anything whose type is not on an allowlist:

* the types skops trusts by default (scikit-learn estimators, numpy arrays and dtypes, ...);
* classes defined in :mod:`mpcl_sklearn` itself (our estimators, transformers and their small
  helper records), except subclasses of skorch's ``NeuralNet``, whose ``__setstate__`` unpickles
  a byte blob and would re-open the pickle hole;
* other classes defined in scikit-learn, numpy scalar types and ufuncs, scipy sparse
  containers, and a few inert builtins/collections types.

Everything else (functions such as ``builtins.eval`` or ``os.system``, classes from other
packages) is refused with an :class:`UntrustedModelError` that lists the offending types, before
any object is constructed. See ``docs/reliability.md``.
"""

from __future__ import annotations

import importlib
import inspect
import os
import tempfile
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio

__all__ = [
    "UntrustedModelError",
    "UntrustedModelWarning",
    "load_model",
    "save_model",
    "untrusted_types",
]

#: Inert builtins / stdlib containers that carry data only.
_SAFE_NAMES = frozenset(
    {
        "builtins.bool",
        "builtins.bytearray",
        "builtins.bytes",
        "builtins.complex",
        "builtins.dict",
        "builtins.float",
        "builtins.frozenset",
        "builtins.int",
        "builtins.list",
        "builtins.NoneType",
        "builtins.range",
        "builtins.set",
        "builtins.slice",
        "builtins.str",
        "builtins.tuple",
        "collections.Counter",
        "collections.OrderedDict",
        "collections.defaultdict",
        "collections.deque",
    }
)

_SCIPY_SPARSE_PREFIX = "scipy.sparse."


class UntrustedModelError(ValueError):
    """A model file references types outside the allowlist; nothing was constructed.

    Attributes
    ----------
    types : list of str
        The fully qualified names of the refused types.
    """

    def __init__(self, path: str, types: list[str]):
        self.types = list(types)
        super().__init__(
            f"refusing to load {path!r}: it references {len(types)} type(s) outside the "
            f"allowlist of mpcl_sklearn.io: {self.types}. Nothing was executed. If you trust "
            "the file's author and these types, pass them explicitly: "
            f"load_model(path, trusted={self.types!r})."
        )


class UntrustedModelWarning(UserWarning):
    """Emitted when :func:`load_model` is told to trust every type in a file."""


def _resolve(name: str) -> Any | None:
    """Import the object named ``module.qualname`` if its module is importable, else None."""
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _defined_in(obj: Any, package: str) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module == package or module.startswith(package + ".")


def _is_skorch_net(cls: type) -> bool:
    for base in inspect.getmro(cls):
        if base.__name__ == "NeuralNet" and _defined_in(base, "skorch"):
            return True
    return False


def _allowed(name: str) -> bool:
    """Whether the type or function ``name`` (as reported by skops) is on the allowlist.

    Only modules of trusted packages are ever imported to decide: for any other name the
    answer is "no" without importing anything.
    """
    if name in _SAFE_NAMES:
        return True
    root = name.split(".", 1)[0]
    if root not in {"mpcl_sklearn", "sklearn", "numpy", "scipy"}:
        return False
    if root == "scipy" and not name.startswith(_SCIPY_SPARSE_PREFIX):
        return False
    obj = _resolve(name)
    if obj is None:
        return False
    if root == "numpy":
        if isinstance(obj, np.ufunc):  # pure element-wise maths
            return True
        return isinstance(obj, type) and (
            issubclass(obj, (np.generic, np.ndarray, np.dtype)) or _defined_in(obj, "numpy.random")
        )
    if not isinstance(obj, type):  # functions are refused: they run at predict time
        return False
    if not _defined_in(obj, root):  # e.g. a re-export of a foreign class
        return False
    if root == "mpcl_sklearn":
        return not _is_skorch_net(obj)
    return True  # a class defined in sklearn or scipy.sparse


def _as_list(trusted: Iterable[str | type] | None) -> list[str]:
    if trusted is None:
        return []
    if isinstance(trusted, (str, bytes)):
        raise TypeError(
            f"trusted must be None, True or a list of type names, got the string {trusted!r}; "
            "wrap it in a list"
        )
    out = []
    for t in trusted:
        if isinstance(t, type):
            out.append(f"{t.__module__}.{t.__qualname__}")
        elif isinstance(t, str):
            out.append(t)
        else:
            raise TypeError(f"trusted entries must be type names or types, got {t!r}")
    return out


def untrusted_types(
    path: str | os.PathLike, trusted: Iterable[str | type] | None = None
) -> list[str]:
    """List the types in a model file that :func:`load_model` would refuse.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save_model` (or ``skops.io.dump``).
    trusted : list of str or type, optional
        Extra names to accept, as in :func:`load_model`.

    Returns
    -------
    list of str
        Sorted fully qualified names; empty when the file loads with these settings. Nothing in
        the file is constructed or executed.
    """
    extra = set(_as_list(trusted))
    names = sio.get_untrusted_types(file=Path(path))
    return sorted(n for n in names if n not in extra and not _allowed(n))


def save_model(estimator: Any, path: str | os.PathLike, *, compress: bool = True) -> Path:
    """Save a (fitted) estimator or Pipeline to a skops file.

    The file is written atomically (to a temporary file, then renamed), so an interrupted
    save never leaves a truncated model behind.

    Parameters
    ----------
    estimator : object
        Usually a fitted estimator or Pipeline.
    path : str or path-like
        Destination, conventionally with the ``.skops`` suffix.
    compress : bool, default=True
        Deflate the arrays inside the zip.

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    TypeError
        When skops cannot represent part of the object (the message names it).

    Warns
    -----
    UserWarning
        When the saved file holds types outside :func:`load_model`'s allowlist (for instance
        a lambda or a function in a ``FunctionTransformer``): loading it then needs an explicit
        ``trusted=[...]``.
    """
    import zipfile

    path = Path(path)
    try:
        data = sio.dumps(estimator, compression=zipfile.ZIP_DEFLATED if compress else 0)
    except Exception as exc:  # skops raises TypeError/UnsupportedTypeException/pickle errors
        raise TypeError(
            f"cannot save {type(estimator).__name__} with skops: {type(exc).__name__}: {exc}"
        ) from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    extra = sorted(n for n in sio.get_untrusted_types(data=data) if not _allowed(n))
    if extra:
        warnings.warn(
            f"{path} references types outside mpcl_sklearn.io's allowlist: {extra}; "
            "load_model will refuse it unless they are passed as trusted=[...]",
            UserWarning,
            stacklevel=2,
        )
    return path


def load_model(
    path: str | os.PathLike,
    trusted: bool | Iterable[str | type] | None = None,
) -> Any:
    """Load an estimator saved with :func:`save_model`, refusing untrusted types.

    Parameters
    ----------
    path : str or path-like
        The model file.
    trusted : None, list of str or type, or True, default=None
        ``None``: accept only the allowlist (see the module docstring). A list: accept these
        fully qualified names (or types) as well. ``True``: accept *every* type in the file,
        with an :class:`UntrustedModelWarning` listing them; only for files whose author you
        trust as much as code you run.

    Returns
    -------
    object
        The loaded estimator.

    Raises
    ------
    UntrustedModelError
        (a ValueError) When the file references types outside the allowlist and ``trusted``;
        the message lists them. Nothing from the file is constructed in that case.
    ValueError
        When the file is not a skops model file.
    TypeError
        For a ``trusted`` of the wrong type.
    FileNotFoundError
        When the file does not exist.
    """
    import zipfile

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {str(path)!r}")
    if trusted is not True and trusted is not None and isinstance(trusted, bool):
        raise TypeError("trusted=False is not an option: use None for the allowlist only")
    try:
        names = sio.get_untrusted_types(file=path)
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ValueError(f"{str(path)!r} is not a skops model file: {exc}") from exc
    if trusted is True:
        if names:
            warnings.warn(
                f"loading {str(path)!r} with trusted=True accepts every type it references, "
                f"including {sorted(names)}: this can run arbitrary code",
                UntrustedModelWarning,
                stacklevel=2,
            )
        accept = list(names)
    else:
        extra = _as_list(trusted)
        refused = sorted(n for n in names if n not in set(extra) and not _allowed(n))
        if refused:
            raise UntrustedModelError(str(path), refused)
        accept = sorted(set(names))
    return sio.load(path, trusted=accept)
