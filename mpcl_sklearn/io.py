"""Safe model files: save and load fitted estimators with skops' secure format.

A fitted Pipeline saved with :mod:`pickle` or :mod:`joblib` is a *program*: loading it runs
whatever the file says (``pickle`` calls arbitrary functions named in the file, e.g.
``os.system``). Never unpickle a model file you did not produce yourself.

:func:`save_model` writes a `skops <https://skops.readthedocs.io>`_ file (a zip holding a JSON
schema and the numpy arrays). :func:`load_model` reads the file once and checks it as data
before skops builds anything from it:

* **limits**: the file and the uncompressed bytes it declares are at most ``max_bytes``; zip
  entries must be stored or deflated with a plausible ratio; ``schema.json`` is bounded in size
  and nesting; every array's ``.npy`` header must describe exactly the bytes of its entry;
* **types**: every type the file names is compared, as a string, with an exact allow-list: the
  classes this package's pipelines contain (our estimators and transformers, scikit-learn's
  ``Pipeline``, ``GridSearchCV``, ``GroupKFold`` and scorer, the metric functions our scorers
  call; ``StandardScaler`` and ``MaxAbsScaler`` of files written by 0.1.0), numpy arrays,
  dtypes and scalars, and inert builtin containers, plus what the caller passes as
  ``trusted``. Nothing named by the file is imported to decide;
* **parameters**: parameters that start workers or name external resources (a feature
  extractor's Dask ``distributor``, ``n_jobs``, the torch models' ``checkpoint_dir``,
  ``callbacks`` and ``n_threads`` beyond a bound, a Pipeline's cache ``memory``, ...) must hold
  their inert value; otherwise the file is refused unless ``reset_external=True``.

Only then are the accepted types handed to ``skops.io.load`` as ``trusted``. See
``docs/reliability.md`` ("Model files").
"""

from __future__ import annotations

import os
import secrets
import sys
import warnings
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import skops.io as sio
from skops.io.exceptions import UntrustedTypesFoundException

from ._model_allowlist import OPAQUE
from ._model_file_check import DEFAULT_MAX_BYTES, ModelFileRefused, check_model_bytes

__all__ = [
    "DEFAULT_MAX_BYTES",
    "ModelFileRefused",
    "UntrustedModelError",
    "UntrustedModelWarning",
    "load_model",
    "save_model",
    "untrusted_types",
]


class UntrustedModelError(ValueError):
    """A model file names types outside the allowlist, or sets parameters that start workers
    or reach outside the process; nothing was constructed.

    Attributes
    ----------
    types : list of str
        The fully qualified names of the refused types.
    parameters : list of str
        The refused parameters, as ``Class.parameter=value (why)``.
    """

    def __init__(self, path: str, types: list[str], parameters: Iterable[str] = ()):
        self.types = list(types)
        self.parameters = list(parameters)
        parts = []
        if self.types:
            parts.append(
                f"it references {len(self.types)} type(s) outside the allowlist of "
                f"mpcl_sklearn.io: {self.types}"
            )
        if self.parameters:
            parts.append(
                "it sets parameters that start workers or reach outside the process: "
                + "; ".join(self.parameters)
            )
        message = f"refusing to load {path!r}: {' and '.join(parts)}. Nothing was executed."
        if self.types:
            message += (
                " If you trust the file's author and these types, pass them explicitly: "
                f"load_model(path, trusted={self.types!r})."
            )
        if self.parameters:
            message += (
                " load_model(path, reset_external=True) resets such parameters to their inert "
                "value with a warning (then set them yourself if you want them)."
            )
        super().__init__(message)


class UntrustedModelWarning(UserWarning):
    """Emitted when :func:`load_model` trusts every type in a file or resets parameters."""


def _as_list(trusted: Iterable[str | type] | None) -> list[str]:
    if trusted is None:
        return []
    if isinstance(trusted, bool):
        raise TypeError(
            f"trusted={trusted!r} is not an option here: untrusted_types lists the types "
            "load_model refuses, so pass None (the allow-list) or a list of type names to "
            "accept as well; trusted=True (accept every type) is an option of load_model only"
        )
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


def _check_max_bytes(max_bytes: int) -> int:
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError(f"max_bytes must be a positive int, got {max_bytes!r}")
    return max_bytes


def _read(path: Path, max_bytes: int) -> bytes:
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {str(path)!r}")
    size = path.stat().st_size
    if size > max_bytes:
        raise ModelFileRefused(
            f"refusing {str(path)!r}: the file has {size} bytes, over max_bytes={max_bytes}; "
            "nothing was loaded. Pass a larger max_bytes if you expect a model this large."
        )
    with open(path, "rb") as fh:  # read(n) allocates n bytes first: the size, not the limit
        return fh.read(size + 1)  # one more: a file that grew is checked again


def untrusted_types(
    path: str | os.PathLike,
    trusted: Iterable[str | type] | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> list[str]:
    """List the types in a model file that :func:`load_model` would refuse.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save_model` (or ``skops.io.dump``).
    trusted : list of str or type, optional
        Extra names to accept, as in :func:`load_model`.
    max_bytes : int, default=DEFAULT_MAX_BYTES (1 GiB)
        Limits as in :func:`load_model`.

    Returns
    -------
    list of str
        Sorted fully qualified names; empty when the file's types are all accepted. Nothing in
        the file is imported, constructed or executed. Only types are listed: a file whose
        types are all accepted is still refused by :func:`load_model` when it sets a parameter
        that starts workers or names an external resource (the
        :class:`UntrustedModelError`'s ``parameters`` list them; ``reset_external=True``
        resets them).

    Raises
    ------
    ValueError
        When the file is not a skops model file or is over the limits.
    TypeError
        For a ``trusted`` that is not None or a list of names or types (``True`` included:
        it is an option of :func:`load_model` only).
    """
    path = Path(path)
    max_bytes = _check_max_bytes(max_bytes)
    checked = check_model_bytes(
        _read(path, max_bytes),
        label=repr(str(path)),
        trusted=frozenset(_as_list(trusted)),
        max_bytes=max_bytes,
    )
    return sorted(checked.refused)


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a new file next to ``path`` (mode 0666 minus the umask), then rename it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_model(estimator: Any, path: str | os.PathLike, *, compress: bool = True) -> Path:
    """Save a (fitted) estimator or Pipeline to a skops file.

    The file is written atomically (to a temporary file, then renamed), so an interrupted
    save never leaves a truncated model behind. Its permissions follow the umask, like any new
    file (``0644`` with the usual umask ``022``).

    Parameters that start workers or name external resources (see :func:`load_model`) are
    not saved: the file holds their inert value (e.g. ``distributor=None``, ``n_jobs=None``,
    ``checkpoint_dir=None``) and a warning lists them; the estimator itself is not changed.
    Set them again after loading.

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
        When parameters were not saved; when the saved file holds types outside
        :func:`load_model`'s allowlist (for instance a ``FunctionTransformer``): loading it
        then needs an explicit ``trusted=[...]``; when :func:`load_model` would refuse it for
        another reason (e.g. it is larger than ``DEFAULT_MAX_BYTES``).
    """
    path = Path(path)
    compression = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    try:
        data = sio.dumps(estimator, compression=compression)
    except Exception as exc:  # skops raises TypeError/UnsupportedTypeException/pickle errors
        raise TypeError(
            f"cannot save {type(estimator).__name__} with skops: {type(exc).__name__}: {exc}"
        ) from exc
    notes = []
    try:
        checked = check_model_bytes(data, label=str(path), max_bytes=sys.maxsize)
        if checked.findings:
            dropped = [f.describe() for f in checked.findings if f.rule.reset is not OPAQUE]
            if dropped:
                checked.reset_parameters()
                data = checked.to_bytes(compression)
                notes.append(
                    "these parameters were not saved (the file holds their inert value; set "
                    f"them again after loading): {'; '.join(dropped)}"
                )
                # what load_model will say about the file as written, not about the estimator:
                # a callback's types are gone with the callback
                checked = check_model_bytes(data, label=str(path), max_bytes=sys.maxsize)
    except ModelFileRefused as exc:
        notes.append(f"load_model will refuse it: {exc}")
    else:
        if checked.findings:
            kept = [f.describe() for f in checked.findings]
            notes.append(f"load_model will refuse it for: {'; '.join(kept)}")
        if checked.refused:
            notes.append(
                f"it references types outside mpcl_sklearn.io's allowlist: "
                f"{sorted(checked.refused)}; load_model will refuse it unless they are passed "
                "as trusted=[...]"
            )
        if checked.declared_bytes > DEFAULT_MAX_BYTES:
            notes.append(
                f"it declares {checked.declared_bytes} bytes: load it with "
                f"load_model(path, max_bytes={checked.declared_bytes})"
            )
    _write_atomically(path, data)
    for note in notes:
        warnings.warn(f"{path}: {note}", UserWarning, stacklevel=2)
    return path


def load_model(
    path: str | os.PathLike,
    trusted: bool | Iterable[str | type] | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    reset_external: bool = False,
) -> Any:
    """Load an estimator saved with :func:`save_model`, refusing anything unsafe.

    The file is checked as data first (see the module docstring and ``docs/reliability.md``);
    nothing from it is imported, allocated or built before it passes.

    Parameters
    ----------
    path : str or path-like
        The model file.
    trusted : None, list of str or type, or True, default=None
        ``None``: accept only the allowlist. A list: accept these fully qualified names (or
        types) as well; their parameters and arrays are not checked (for example a
        ``DecisionTreeRegressor`` whose tree arrays index memory without bounds checks: a
        crafted one crashes the process), so trust only types from authors you trust.
        ``True``: accept *every* type in the file, with an :class:`UntrustedModelWarning`
        listing those outside the allowlist; only for files whose author you trust as much as
        code you run. The limits and parameter checks apply in every case.
    max_bytes : int, default=DEFAULT_MAX_BYTES (1 GiB)
        Largest file, and largest total of uncompressed bytes (arrays and schema) it may
        declare. Loading needs up to about three times this much memory.
    reset_external : bool, default=False
        The file sets a parameter that starts workers or names an external resource (a Dask
        ``distributor``, ``n_jobs``, ``checkpoint_dir``, ``callbacks``, a Pipeline's
        ``memory``, ...): False refuses it; True replaces each by its inert value (``None``,
        or 1 torch thread) with an :class:`UntrustedModelWarning`. Set them yourself afterwards
        (``set_params``) if you want them.

    Returns
    -------
    object
        The loaded estimator.

    Raises
    ------
    UntrustedModelError
        (a ValueError) When the file references types outside the allowlist and ``trusted``,
        or sets such parameters; the message lists them. Nothing from the file is constructed.
    ValueError
        When the file is not a skops model file, exceeds the limits, or its content cannot be
        built into an estimator.
    TypeError
        For a ``trusted`` of the wrong type.
    FileNotFoundError
        When the file does not exist.
    """
    path = Path(path)
    label = str(path)
    if trusted is not True and isinstance(trusted, bool):
        raise TypeError("trusted=False is not an option: use None for the allowlist only")
    extra = [] if trusted is True else _as_list(trusted)
    max_bytes = _check_max_bytes(max_bytes)
    checked = check_model_bytes(
        _read(path, max_bytes),
        label=repr(label),
        trusted=frozenset(extra),
        max_bytes=max_bytes,
    )
    if checked.refused and trusted is not True:
        raise UntrustedModelError(label, sorted(checked.refused))
    if checked.findings:
        described = [f.describe() for f in checked.findings]
        if not reset_external:
            raise UntrustedModelError(label, [], described)
        stuck = checked.reset_parameters()
        if stuck:
            raise UntrustedModelError(label, [], [f.describe() for f in stuck])
        warnings.warn(
            f"{label}: reset to their inert values: {'; '.join(described)}",
            UntrustedModelWarning,
            stacklevel=2,
        )
    if checked.refused:  # trusted=True
        warnings.warn(
            f"loading {label!r} with trusted=True accepts every type it references, "
            f"including {sorted(checked.refused)}: this can run arbitrary code",
            UntrustedModelWarning,
            stacklevel=2,
        )
    try:
        checked.locate_our_classes()
    except ValueError as exc:
        raise ValueError(f"cannot load {label!r}: {exc}") from None
    payload = checked.to_bytes()
    accept = set(checked.names)
    if trusted is True:  # also what skops names besides types (methods, bit generators)
        accept.update(sio.get_untrusted_types(data=payload))
    try:
        return sio.loads(payload, trusted=sorted(accept))
    except UntrustedTypesFoundException:  # names skops reads besides the node types
        names = sorted(set(sio.get_untrusted_types(data=payload)) - accept)
        raise UntrustedModelError(label, names) from None
    except Exception as exc:  # a state our estimators (or skops) reject
        raise ValueError(
            f"cannot build the model in {label!r}: {type(exc).__name__}: {exc}"
        ) from exc
