"""Checkpoints that belong to one fit.

A checkpoint is identified by the *fingerprint* of the fit that writes it: digests of the
training data (values, sample order, column names, the subjects when they shape the
early-stopping split), of the network (module class and constructor arguments) and of the
parameters that shape the training trajectory (learning rate, batch size, epochs, schedule,
...; the seed drawn from ``random_state`` when it is not None; the user's callbacks that can
change training, by type and ``get_params()``). ``checkpoint_dir`` holds one sub-directory per
fingerprint, so the folds of a cross-validation never share or overwrite one, and a fit resumes
only from a checkpoint of the same data and parameters; finding only other fits' checkpoints, it
warns and trains from scratch.

With ``random_state=None`` every fit draws another seed, which is therefore not part of the
fingerprint: such a fit resumes a checkpoint of the same data and parameters, but no
uninterrupted fit is defined for it to reproduce.

Each sub-directory holds skorch's files (``params.pt``, ``optimizer.pt``, ``history.json``),
``training_state.pt`` (what skorch does not save: the random generators at the end of the epoch
and the state of the callbacks that have one, such as the weight average) and, written last,
``manifest.json`` with the fingerprint and a SHA-256 digest of every file: a checkpoint whose
files do not match their manifest (the process died while writing) is not resumed either.
"""

from __future__ import annotations

import functools
import hashlib
import json
import numbers
import os
import types
import warnings
from collections.abc import Mapping, Sequence, Set

import numpy as np
import pandas as pd
import torch
from skorch.callbacks import Checkpoint
from skorch.utils import noop

from .callbacks import has_run_state, random_state, set_random_state

__all__ = ["CheckpointMismatchWarning", "TrainingCheckpoint", "digest"]

_FORMAT = "mpcl_sklearn checkpoint 1"
_MANIFEST = "manifest.json"
_STATE = "training_state.pt"
_SKORCH_FILES = ("params.pt", "optimizer.pt", "history.json")


class CheckpointMismatchWarning(UserWarning):
    """``checkpoint_dir`` holds checkpoints, but none of this fit: it trains from scratch."""


def _feed(h, obj, seen: set[int]) -> None:
    """Feed a canonical encoding of ``obj``: numbers, strings, bytes, arrays, containers,
    classes, functions (code, defaults, closure), random generators (their state), objects with
    ``get_params`` (class and parameters) and other objects (class and attributes). An object
    met again inside itself is encoded as a reference."""
    if isinstance(obj, np.generic):
        obj = obj.item()
    if obj is None or isinstance(obj, (bool, int, float, complex, str)):
        h.update(f"{type(obj).__name__}:{obj!r};".encode())
        return
    if isinstance(obj, (bytes, bytearray)):
        h.update(f"bytes:{len(obj)};".encode())
        h.update(bytes(obj))
        return
    if isinstance(obj, numbers.Number):  # Fraction, Decimal, ...
        h.update(f"{type(obj).__qualname__}:{obj!r};".encode())
        return
    if isinstance(obj, type):
        h.update(f"class:{obj.__module__}.{obj.__qualname__};".encode())
        return
    if id(obj) in seen:
        h.update(b"ref;")
        return
    seen = seen | {id(obj)}
    if isinstance(obj, (np.ndarray, torch.Tensor)):
        a = obj.detach().cpu().numpy() if isinstance(obj, torch.Tensor) else obj
        a = np.ascontiguousarray(a)
        h.update(f"array:{a.dtype.str}:{a.shape};".encode())
        if a.dtype.kind == "O":  # every element (repr would abbreviate a long array)
            for item in a.reshape(-1):
                _feed(h, item, seen)
        else:
            h.update(a.view(np.uint8).reshape(-1))
    elif isinstance(obj, (pd.Series, pd.DataFrame, pd.Index)):
        labels = [list(obj.columns)] if isinstance(obj, pd.DataFrame) else []
        index = [] if isinstance(obj, pd.Index) else [obj.index.to_numpy()]
        _feed(h, [type(obj).__name__, *labels, *index, obj.to_numpy()], seen)
    elif isinstance(obj, Mapping):
        h.update(f"map:{len(obj)};".encode())
        for key in sorted(obj, key=repr):
            _feed(h, key, seen)
            _feed(h, obj[key], seen)
    elif isinstance(obj, Sequence):
        h.update(f"seq:{len(obj)};".encode())
        for item in obj:
            _feed(h, item, seen)
    elif isinstance(obj, Set):
        h.update(f"set:{len(obj)};".encode())
        for item in sorted(digest(item) for item in obj):
            h.update(item.encode())
    elif isinstance(obj, np.random.RandomState):
        _feed(h, ["RandomState", *obj.get_state(legacy=False).items()], seen)
    elif isinstance(obj, np.random.Generator):
        _feed(h, ["Generator", obj.bit_generator.state], seen)
    elif isinstance(obj, torch.Generator):
        _feed(h, ["torch.Generator", obj.get_state()], seen)
    elif isinstance(obj, functools.partial):
        _feed(h, ["partial", obj.func, obj.args, obj.keywords], seen)
    elif isinstance(obj, types.MethodType):
        _feed(h, ["method", obj.__func__, obj.__self__], seen)
    elif isinstance(obj, types.FunctionType):
        cells = [c.cell_contents for c in obj.__closure__ or () if _has_contents(c)]
        _feed(
            h,
            [
                "function",
                obj.__module__,
                obj.__qualname__,
                obj.__code__,
                obj.__defaults__,
                obj.__kwdefaults__,
                cells,
            ],
            seen,
        )
    elif isinstance(obj, types.CodeType):
        _feed(h, ["code", obj.co_code, obj.co_consts, obj.co_names], seen)
    elif isinstance(obj, (types.BuiltinFunctionType, types.ModuleType)):
        name = getattr(obj, "__qualname__", obj.__name__)
        h.update(f"builtin:{getattr(obj, '__module__', '')}.{name};".encode())
    elif isinstance(obj, os.PathLike):
        _feed(h, ["path", os.fspath(obj)], seen)
    else:
        cls = type(obj)
        h.update(f"object:{cls.__module__}.{cls.__qualname__};".encode())
        get_params = getattr(obj, "get_params", None)
        if callable(get_params):
            try:
                _feed(h, get_params(deep=False), seen)
                return
            except TypeError:
                pass
        if hasattr(obj, "__dict__"):
            _feed(h, vars(obj), seen)
        else:
            slots = [n for k in cls.__mro__ for n in getattr(k, "__slots__", ())]
            values = {n: getattr(obj, n) for n in slots if hasattr(obj, n)}
            _feed(h, values if values else repr(obj), seen)


def _has_contents(cell) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:  # an empty cell
        return False
    return True


def digest(obj) -> str:
    """SHA-256 (hex) of a canonical encoding of ``obj`` (see :func:`_feed`)."""
    h = hashlib.sha256()
    _feed(h, obj, set())
    return h.hexdigest()


def _file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_manifest(dirname: str) -> dict | None:
    try:
        with open(os.path.join(dirname, _MANIFEST), encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("format") == _FORMAT else None


class TrainingCheckpoint(Checkpoint):
    """skorch ``Checkpoint`` after every epoch, in a sub-directory of ``root`` named after the
    fit's fingerprint, plus the training state skorch does not save (see the module docstring).

    Parameters
    ----------
    root : str
        The estimator's ``checkpoint_dir``.
    parts : dict of str
        Digests of the fit: ``{"data": ..., "network": ..., "training": ...}``.
    lineage : sequence of str, default=()
        Keys of the checkpoints whose weights this fit continues (``warm_start``), or a digest
        of those weights when they were not checkpointed (:meth:`follow_weights`); part of the
        identity, so a fresh fit never resumes a warm-started one.
    sink : callable, default=noop
    """

    def __init__(self, root, parts, lineage=(), sink=noop):
        self.root = os.fspath(root)
        self.parts = dict(parts)
        self.lineage = list(lineage)
        self.key = digest([self.lineage, self.parts])[:16]
        super().__init__(
            monitor=None,
            dirname=os.path.join(self.root, self.key),
            f_criterion=None,
            sink=sink,
        )

    def initialize(self):
        """Nothing is created yet: the directory is made by the first save."""
        self._validate_filenames()
        return self

    def follow(self, previous: TrainingCheckpoint) -> None:
        """Take the identity of ``previous`` (the checkpoint of the net a warm start continues
        from), in this checkpoint's ``root``."""
        self.lineage = list(previous.lineage)
        self.parts = dict(previous.parts) if previous.parts is not None else None
        self.key = previous.key
        self.dirname = os.path.join(self.root, self.key)

    def follow_weights(self, module: torch.nn.Module) -> None:
        """Identify the weights a warm start continues from by their digest, when they were
        not checkpointed (a fit without ``checkpoint_dir``, or a loaded model)."""
        self.lineage = []
        self.parts = None
        self.key = "weights-" + digest(module.state_dict())[:16]
        self.dirname = os.path.join(self.root, self.key)

    def continue_with(self, parts) -> None:
        """Later checkpoints are of a warm-started fit with ``parts`` on the current weights."""
        self.lineage = [*self.lineage, self.key]
        self.parts = dict(parts)
        self.key = digest([self.lineage, self.parts])[:16]
        self.dirname = os.path.join(self.root, self.key)

    def _path(self, name: str) -> str:
        return os.path.join(self.dirname, name)

    # ------------------------------------------------------------------ saving
    def save_model(self, net):
        """skorch's files, then the training state, then the manifest (each replaced whole)."""
        os.makedirs(self.dirname, exist_ok=True)
        super().save_model(net)
        state = {"random_state": random_state(net), "callbacks": {}}
        for name, cb in net.callbacks_:
            if has_run_state(cb):
                state["callbacks"][name] = cb.training_state()
        tmp = self._path(_STATE + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self._path(_STATE))
        files = [f for f in (*_SKORCH_FILES, _STATE) if os.path.exists(self._path(f))]
        manifest = {
            "format": _FORMAT,
            "key": self.key,
            "fingerprint": self.parts,
            "lineage": self.lineage,
            "epochs": len(net.history),
            "files": {f: _file_digest(self._path(f)) for f in files},
        }
        tmp = self._path(_MANIFEST + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1)
        os.replace(tmp, self._path(_MANIFEST))

    # ------------------------------------------------------------------ resuming
    def restore(self, net) -> bool:
        """Load this fit's checkpoint into the initialised ``net`` if there is a sound one;
        otherwise warn when ``root`` holds other checkpoints, and return False."""
        manifest = _read_manifest(self.dirname)
        if manifest is None:
            self._warn_about_others()
            return False
        files = manifest.get("files", {})
        sound = (
            manifest.get("key") == self.key
            and manifest.get("fingerprint") == self.parts
            and all(f in files for f in ("params.pt", "history.json", _STATE))
            and all(
                os.path.exists(self._path(f)) and _file_digest(self._path(f)) == d
                for f, d in files.items()
            )
        )
        if not sound:
            warnings.warn(
                f"the checkpoint in {self.dirname!r} is incomplete or damaged (its files do not "
                "match its manifest, e.g. the process stopped while writing it); not resumed: "
                "training starts from scratch and overwrites it",
                CheckpointMismatchWarning,
                stacklevel=4,
            )
            return False
        net.load_params(
            f_params=self._path("params.pt"),
            f_optimizer=self._path("optimizer.pt") if "optimizer.pt" in files else None,
            f_history=self._path("history.json"),
        )
        state = torch.load(self._path(_STATE), map_location=net.device, weights_only=True)
        set_random_state(net, state["random_state"])
        callbacks = dict(net.callbacks_)
        for name, cb_state in state["callbacks"].items():
            if name in callbacks and has_run_state(callbacks[name]):
                callbacks[name].load_training_state(net, cb_state)
        return True

    def _warn_about_others(self) -> None:
        others = []
        if os.path.isdir(self.root):
            for name in sorted(os.listdir(self.root)):
                manifest = _read_manifest(os.path.join(self.root, name))
                if manifest is not None and name != self.key:
                    mtime = os.path.getmtime(os.path.join(self.root, name, _MANIFEST))
                    others.append((mtime, manifest))
        legacy = os.path.exists(os.path.join(self.root, "params.pt"))
        if not others and not legacy:
            return
        if others:
            latest = max(others, key=lambda m: m[0])[1].get("fingerprint", {})
            what = {
                "data": "training data",
                "network": "network parameters",
                "training": "training parameters",
            }
            differ = [what[k] for k in what if latest.get(k) != self.parts.get(k)]
            made = f"other {' and other '.join(differ)}" if differ else "another warm-start history"
            reason = (
                f"{len(others)} checkpoint(s) of other fits (e.g. other CV folds; the latest was "
                f"made with {made})"
            )
        else:
            reason = "a checkpoint without fingerprint (written by mpcl_sklearn 0.1.0)"
        warnings.warn(
            f"checkpoint_dir={self.root!r} holds {reason}: not resumed. This fit trains from "
            f"scratch; its checkpoints go to {self.dirname!r}.",
            CheckpointMismatchWarning,
            stacklevel=5,
        )
