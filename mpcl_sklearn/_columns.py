"""Feature column naming: ``<modality>__<scale>__<feature>`` or ``<modality>__<feature>``.

The scale segment is a duration such as ``4s`` or ``0.5s`` (see :func:`format_scale`); a name
whose second segment is not a duration has no scale. Regressors group columns into one token per
(modality, scale) from these names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

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
