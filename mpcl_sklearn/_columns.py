"""Feature column naming: ``<modality>__<scale>__<feature>`` or ``<modality>__<feature>``.

The scale segment is a duration such as ``4s`` or ``0.5s`` (see :func:`format_scale`); a name
whose second segment is not a duration has no scale. Regressors group columns into one token per
(modality, scale) from these names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from numbers import Integral

import numpy as np

SEP = "__"
_SCALE_RE = re.compile(r"^\d+(\.\d+)?s$")


def format_scale(seconds: float) -> str:
    """Format a frame length in seconds as a scale label: 4.0 -> '4s', 0.5 -> '0.5s'."""
    text = f"{float(seconds):.6g}"
    if "e" in text:
        raise ValueError(f"scale {seconds!r} s cannot be written as a plain duration")
    return text + "s"


def is_scale(segment: str) -> bool:
    """Whether a name segment is a scale label such as '4s'."""
    return bool(_SCALE_RE.match(segment))


def parse_feature_column(name: str) -> tuple[str, str | None, str]:
    """Split a feature column name into ``(modality, scale or None, feature)``.

    A name without ``__`` belongs to no modality and raises ``ValueError``.
    """
    parts = str(name).split(SEP)
    if len(parts) < 2 or not parts[0]:
        raise ValueError(
            f"column {name!r} does not start with '<modality>__'; name columns "
            "'<modality>__<feature>' or pass modalities={...} explicitly"
        )
    if len(parts) >= 3 and is_scale(parts[1]):
        return parts[0], parts[1], SEP.join(parts[2:])
    return parts[0], None, SEP.join(parts[1:])


def group_columns(names: Iterable[str]) -> dict[tuple[str, str | None], list[int]]:
    """Column indices per (modality, scale) token, in first-appearance order."""
    groups: dict[tuple[str, str | None], list[int]] = {}
    for i, name in enumerate(names):
        modality, scale, _ = parse_feature_column(name)
        groups.setdefault((modality, scale), []).append(i)
    return groups


def explicit_modalities(
    modalities: Mapping, feature_names: Sequence[str] | None, n_features: int
) -> dict[str, list[int]]:
    """Column indices of each modality of a user's ``{name: [column names or indices]}``.

    Every column must belong to exactly one modality; names need ``feature_names`` (a fitted
    DataFrame's columns).

    Raises
    ------
    TypeError
        If ``modalities`` is not a non-empty mapping, or a column is neither a name nor an int.
    ValueError
        For an unknown name, an index out of range, an empty modality, two modality names
        that are equal as strings, a column listed twice or a column in none.
    """
    if not isinstance(modalities, Mapping) or not modalities:
        raise TypeError(
            "modalities must be a non-empty dict {name: [column names or indices]}, got "
            f"{type(modalities).__name__}"
        )
    names = None if feature_names is None else [str(n) for n in feature_names]
    position = {n: i for i, n in enumerate(names)} if names is not None else {}
    out: dict[str, list[int]] = {}
    owner: dict[int, str] = {}
    for mod, cols in modalities.items():
        if str(mod) in out:
            raise ValueError(f"modalities {mod!r} and {str(mod)!r} have the same name")
        idx = []
        for c in np.atleast_1d(np.asarray(cols, dtype=object)):
            if isinstance(c, Integral | np.integer) and not isinstance(c, bool | np.bool_):
                if not 0 <= int(c) < n_features:
                    raise ValueError(
                        f"modality {mod!r}: column index {c} out of range (X has {n_features})"
                    )
                idx.append(int(c))
            elif isinstance(c, str):
                if c not in position:
                    raise ValueError(
                        f"modality {mod!r}: unknown column {c!r}, it is not among the feature "
                        "names" + ("" if names is not None else " (X has no column names)")
                    )
                idx.append(position[c])
            else:
                raise TypeError(f"modality {mod!r}: columns must be names or ints, got {c!r}")
        if not idx:
            raise ValueError(f"modality {mod!r} has no columns")
        for i in idx:
            if i in owner and owner[i] == str(mod):
                raise ValueError(f"column {i} is listed twice in modality {mod!r}")
            if i in owner:
                raise ValueError(f"column {i} is in modalities {owner[i]!r} and {mod!r}")
            owner[i] = str(mod)
        out[str(mod)] = idx
    missing = sorted(set(range(n_features)) - set(owner))
    if missing:
        shown = [names[i] if names is not None else i for i in missing[:10]]
        raise ValueError(
            f"{len(missing)} columns belong to no modality in `modalities`: {shown}; drop them "
            "before the regressor (e.g. with a ColumnTransformer) or list them"
        )
    return out
