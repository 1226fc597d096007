"""Parameter constraints declared once per class, and the one function that checks them.

Every estimator, transformer and splitter declares in its class body what each constructor
parameter may be, and calls :func:`validate_params` first thing in ``fit`` (in ``transform``
or ``split`` where there is no ``fit``)::

    class AAKNNRegressor(BaseDistributionRegressor):
        _constraints = {"n_neighbors": Int(1), "n_jobs": Int(None, -1) | Int(1) | None, ...}

        def fit(self, X, y):
            validate_params(self)

An invalid value raises scikit-learn's :class:`InvalidParameterError` (a ``ValueError`` and a
``TypeError``) before anything else happens, in scikit-learn's words: "The 'max_epochs'
parameter of MPCLDistributionRegressor must be an int in the range [1, inf). Got True (bool)
instead." Constraints: :class:`Int`, :class:`Float` (ranges; never a bool or NaN),
:class:`Bool`, :class:`Str`, :class:`Options`, :class:`InstanceOf`, :class:`SubclassOf`,
:class:`SequenceOf`, :class:`MappingOf` (the failing item is named), :class:`Satisfies` (any
predicate), ``None``; ``a | b`` joins alternatives.

Declarations merge along the class hierarchy (the 18 training parameters of the torch models
are declared once, ``TRAINING_CONSTRAINTS`` of ``models/_parameters.py``, on
``TorchDistributionRegressor``). Rules between parameters (``d_model`` divisible by
``n_heads``) are short explicit checks in a ``_check_param_combinations(self)`` method next to
the declaration, called after the one-parameter checks.

Why not scikit-learn's ``_parameter_constraints`` itself: its ``Interval(Integral, ...)``
accepts ``True``, it has no constraint for a sequence of positive ints, a mapping or a device
name, and its constraint classes are private and refuse subclasses. Our messages and error class
are its own, so its ``check_param_validation`` passes on our estimators
(``tests/test_parameters.py`` runs it on a translation of these declarations).

Adopting it in a new class (e.g. a ``SubjectCalibrator`` transformer): import the constraints
and :func:`validate_params`; declare ``_constraints`` with one entry per ``__init__``
parameter; call ``validate_params(self)`` at the start of ``fit`` (and of ``transform`` if it
works unfitted); add the class with small valid parameters to ``CLASSES`` in
``tests/test_parameters.py`` (a public class missing there fails it), which checks that the
declaration covers exactly the ``__init__`` parameters and that every invalid value of every
parameter is refused, by name, before any work.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from functools import cache
from numbers import Integral, Real
from typing import Any

import numpy as np

try:  # private in scikit-learn; the same contract (ValueError and TypeError) otherwise
    from sklearn.utils._param_validation import InvalidParameterError
except ImportError:  # pragma: no cover

    class InvalidParameterError(ValueError, TypeError):
        """A parameter of a class or function has an invalid type or value."""


__all__ = [
    "AnyOf",
    "Bool",
    "Constraint",
    "Float",
    "InstanceOf",
    "Int",
    "InvalidParameterError",
    "MappingOf",
    "Options",
    "Satisfies",
    "SequenceOf",
    "Str",
    "SubclassOf",
    "declared_constraints",
    "parameter_error",
    "validate_params",
]


class _Unknown:
    """A value of a type no parameter accepts (used in the invalid examples)."""

    def __repr__(self) -> str:
        return "<object of an unknown type>"


class Constraint:
    """What one parameter may be: a test, its description, and values it refuses.

    Join alternatives with ``|`` (``Int(1) | None``).
    """

    #: how the error message completes "must be ..."
    description: str = "valid"

    def is_satisfied_by(self, value: Any) -> bool:
        raise NotImplementedError

    def hint(self, value: Any) -> str | None:
        """Why ``value`` fails, beyond the description (e.g. which item), or None."""
        return None

    def invalid_examples(self) -> list:
        """Values this constraint refuses, near its edges (for the tests)."""
        return [v for v in self._near_misses() if not _satisfies(self, v)]

    def _near_misses(self) -> list:
        """Candidates for :meth:`invalid_examples` (those satisfying it are dropped)."""
        return [_Unknown()]

    def __or__(self, other: Constraint | None) -> AnyOf:
        return AnyOf(self, other)

    def __ror__(self, other: Constraint | None) -> AnyOf:
        return AnyOf(other, self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.description}>"


def _constraint(c: Constraint | None) -> Constraint:
    if c is None:
        return _NoneValue()
    if not isinstance(c, Constraint):
        raise TypeError(f"not a constraint: {c!r}")
    return c


def _satisfies(constraint: Constraint, value: Any) -> bool:
    """``constraint.is_satisfied_by(value)``; a value that breaks the test fails it."""
    try:
        return bool(constraint.is_satisfied_by(value))
    except Exception:  # a hostile __eq__, __len__, __iter__ ...
        return False


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool | np.bool_)


def _number(x: float) -> str:
    if x == math.inf:
        return "inf"
    if x == -math.inf:
        return "-inf"
    return repr(x)


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


class AnyOf(Constraint):
    """Any of several alternatives (made by ``a | b``)."""

    def __init__(self, *alternatives: Constraint | None):
        flat: list[Constraint] = []
        for a in map(_constraint, alternatives):
            flat.extend(a.alternatives if isinstance(a, AnyOf) else [a])
        self.alternatives = tuple(flat)
        self.description = _join([a.description for a in self.alternatives])

    def is_satisfied_by(self, value: Any) -> bool:
        return any(_satisfies(a, value) for a in self.alternatives)

    def hint(self, value: Any) -> str | None:
        return next((h for a in self.alternatives if (h := a.hint(value))), None)

    def _near_misses(self) -> list:
        return [v for a in self.alternatives for v in a._near_misses()]


class _NoneValue(Constraint):
    description = "None"

    def is_satisfied_by(self, value: Any) -> bool:
        return value is None


class Int(Constraint):
    """An integer (Python or numpy, never a bool) in ``[low, high]``; None is unbounded."""

    def __init__(self, low: int | None = None, high: int | None = None):
        self.low, self.high = low, high
        if low is None and high is None:
            self.description = "an int"
        else:
            left = "(-inf" if low is None else f"[{low}"
            right = "inf)" if high is None else f"{high}]"
            self.description = f"an int in the range {left}, {right}"

    def is_satisfied_by(self, value: Any) -> bool:
        if not isinstance(value, Integral | np.integer) or _is_bool(value):
            return False
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def _near_misses(self) -> list:
        inside = self.low if self.low is not None else (self.high if self.high is not None else 0)
        out = []
        if self.low is not None:
            out += [self.low - 1, np.int64(self.low - 1)]
        if self.high is not None:
            out.append(self.high + 1)
        return [*out, True, False, float(inside), inside + 0.5, str(inside), None, _Unknown()]


class Float(Constraint):
    """A real number (int or float, Python or numpy; never a bool or NaN) in a range.

    ``closed`` says which ends belong to the range: ``"both"``, ``"left"``, ``"right"`` or
    ``"neither"``. An end of None is infinite, and infinity itself belongs to the range only
    where that end is closed (``Float(0, None, "right")`` is ``(0, inf]``).
    """

    def __init__(self, low: float | None = None, high: float | None = None, closed="both"):
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"closed must be 'both', 'left', 'right' or 'neither': {closed!r}")
        self.low, self.high, self.closed = low, high, closed
        self._lo = -math.inf if low is None else float(low)
        self._hi = math.inf if high is None else float(high)
        self._left_in = closed in ("both", "left")
        self._right_in = closed in ("both", "right")
        left = "[" if self._left_in else "("
        right = "]" if self._right_in else ")"
        self.description = (
            f"a float in the range {left}{_number(self._lo)}, {_number(self._hi)}{right}"
        )

    def is_satisfied_by(self, value: Any) -> bool:
        if not isinstance(value, Real | np.integer | np.floating) or _is_bool(value):
            return False
        try:
            x = float(value)
        except OverflowError:  # an int beyond float: infinite in effect
            x = math.inf if value > 0 else -math.inf
        if math.isnan(x):
            return False
        above = x > self._lo or (self._left_in and x == self._lo)
        below = x < self._hi or (self._right_in and x == self._hi)
        return above and below

    def _near_misses(self) -> list:
        out = []
        for end, outward in ((self._lo, -math.inf), (self._hi, math.inf)):
            if math.isinf(end):
                out.append(end)  # refused unless that end is closed
            else:
                out += [end + (1.0 if outward > 0 else -1.0), math.nextafter(end, outward), end]
        return [*out, math.nan, np.float64(math.nan), True, "0.5", None, _Unknown()]


class Bool(Constraint):
    """``True`` or ``False`` (Python or numpy); not 0, 1 or a string."""

    description = "a bool"

    def is_satisfied_by(self, value: Any) -> bool:
        return _is_bool(value)

    def _near_misses(self) -> list:
        return [0, 1, "True", None, _Unknown()]


class Str(Constraint):
    """Any string."""

    description = "a str"

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, str)

    def _near_misses(self) -> list:
        return [1, None, b"bytes", _Unknown()]


class Options(Constraint):
    """One of a few strings (``ignore_case``: compared in lower case)."""

    def __init__(self, *options: str, ignore_case: bool = False):
        self.options = options
        self.ignore_case = ignore_case
        shown = ", ".join(repr(o) for o in options)
        case = " (any case)" if ignore_case else ""
        self.description = f"a str among {{{shown}}}{case}"

    def is_satisfied_by(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        return (value.lower() if self.ignore_case else value) in self.options

    def _near_misses(self) -> list:
        out = ["not " + " or ".join(self.options), "", 1, True, None, _Unknown()]
        if not self.ignore_case:
            out.append(self.options[0].upper())
        return out


class InstanceOf(Constraint):
    """An instance of a class, e.g. ``torch.device``."""

    def __init__(self, cls: type | tuple[type, ...], description: str):
        self.cls = cls
        self.description = description

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, self.cls)


class SubclassOf(Constraint):
    """A class deriving from ``cls``, e.g. a ``torch.optim.Optimizer`` class."""

    def __init__(self, cls: type, description: str):
        self.cls = cls
        self.description = description

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, type) and issubclass(value, self.cls)

    def _near_misses(self) -> list:
        return [object, int, _Unknown()]


class Satisfies(Constraint):
    """Anything ``predicate`` accepts (a rule no other constraint expresses)."""

    def __init__(self, predicate: Callable, description: str, *, invalid=(), hint=None):
        self.predicate = predicate
        self.description = description
        self._invalid = list(invalid)
        self._hint = hint

    def is_satisfied_by(self, value: Any) -> bool:
        return bool(self.predicate(value))

    def hint(self, value: Any) -> str | None:
        return None if self._hint is None else self._hint(value)

    def _near_misses(self) -> list:
        return [*self._invalid, _Unknown()]


def _more(constraint: Constraint, value: Any) -> str:
    """`` (hint)`` when the constraint says more about why ``value`` fails it."""
    hint = constraint.hint(value)
    return f" ({hint})" if hint else ""


def _is_sequence(value: Any) -> bool:
    """A list, tuple, range or array (numpy, pandas Index or Series) with at least one axis."""
    if isinstance(value, str | bytes):
        return False
    if isinstance(value, Sequence):
        return True
    return hasattr(value, "__array__") and getattr(value, "ndim", 0) >= 1


class SequenceOf(Constraint):
    """A list, tuple or array (not a string) whose every item satisfies ``item``."""

    def __init__(self, item: Constraint, *, non_empty: bool = False):
        self.item = _constraint(item)
        self.min_len = int(non_empty)
        size = "a non-empty" if non_empty else "a"
        self.description = f"{size} list, tuple or array of items that are each {item.description}"

    def is_satisfied_by(self, value: Any) -> bool:
        return (
            _is_sequence(value)
            and len(value) >= self.min_len
            and all(_satisfies(self.item, v) for v in value)
        )

    def hint(self, value: Any) -> str | None:
        if not _is_sequence(value):
            return None
        try:
            if len(value) < self.min_len:
                return "it is empty"
            for i, v in enumerate(value):
                if not _satisfies(self.item, v):
                    return (
                        f"item {i} ({_show(v)}) is not {self.item.description}{_more(self.item, v)}"
                    )
        except Exception:
            return None
        return None

    def _near_misses(self) -> list:
        bad_items = self.item.invalid_examples()
        out = [[v] for v in bad_items[:6]] + ["a string", {1, 2}, _Unknown()]
        if self.min_len:
            out += [(), []]
        return out


class MappingOf(Constraint):
    """A dict (any ``Mapping``) whose keys satisfy ``key`` and values satisfy ``value``."""

    def __init__(self, key: Constraint, value: Constraint, *, non_empty=False, description=""):
        self.key, self.value = _constraint(key), _constraint(value)
        self.min_len = int(non_empty)
        self.description = description or (
            f"a {'non-empty ' if non_empty else ''}dict mapping {self.key.description} to "
            f"{self.value.description}"
        )

    def is_satisfied_by(self, value: Any) -> bool:
        return (
            isinstance(value, Mapping)
            and len(value) >= self.min_len
            and all(_satisfies(self.key, k) and _satisfies(self.value, v) for k, v in value.items())
        )

    def hint(self, value: Any) -> str | None:
        if not isinstance(value, Mapping):
            return None
        try:
            if len(value) < self.min_len:
                return "it is empty"
            for k, v in value.items():
                if not _satisfies(self.key, k):
                    return f"key {_show(k)} is not {self.key.description}"
                if not _satisfies(self.value, v):
                    what = f"the value of {_show(k)} ({_show(v)})"
                    return f"{what} is not {self.value.description}{_more(self.value, v)}"
        except Exception:
            return None
        return None

    def _near_misses(self) -> list:
        keys = [k for k in self.key.invalid_examples() if isinstance(k, Hashable)]
        values = self.value.invalid_examples()
        good_key = "k" if _satisfies(self.key, "k") else 0
        out = [{good_key: v} for v in values[:3]] + [{k: None} for k in keys[:2]]
        out += [[("k", 0)], "a string", _Unknown()]
        if self.min_len:
            out.append({})
        return out


def _show(value: Any, limit: int = 80) -> str:
    """A short repr of ``value`` (never fails)."""
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__} object>"
    text = re.sub(r"\s+", " ", text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@cache
def declared_constraints(cls: type) -> dict[str, Constraint]:
    """The ``_constraints`` of ``cls`` and its base classes merged (a subclass's win)."""
    merged: dict[str, Constraint] = {}
    for klass in reversed(cls.__mro__):
        merged.update(vars(klass).get("_constraints", {}))
    return {name: _constraint(c) for name, c in merged.items()}


def parameter_error(owner: object, name: str, constraint: Constraint, value: Any):
    """The :class:`InvalidParameterError` for ``value`` of parameter ``name`` of ``owner``."""
    try:
        hint = constraint.hint(value)
    except Exception:  # a value that breaks the explanation still gets the message
        hint = None
    got = f"{_show(value)} ({type(value).__name__})"
    return InvalidParameterError(
        f"The {name!r} parameter of {type(owner).__name__} must be {constraint.description}. "
        f"Got {got} instead{': ' + hint if hint else ''}."
    )


_MISSING = object()


def validate_params(obj: object) -> None:
    """Check every declared parameter of ``obj``, then its ``_check_param_combinations()``.

    A parameter missing from ``obj`` (an object unpickled from a version without it) is
    skipped: the code that reads it supplies the default.

    Raises
    ------
    InvalidParameterError
        (a ``ValueError`` and a ``TypeError``) naming the first invalid parameter, what it must
        be and what it is.
    """
    for name, constraint in declared_constraints(type(obj)).items():
        value = getattr(obj, name, _MISSING)
        if value is not _MISSING and not _satisfies(constraint, value):
            raise parameter_error(obj, name, constraint, value)
    combinations = getattr(obj, "_check_param_combinations", None)
    if combinations is not None:
        combinations()
