"""What the user's table says, read where the estimators need it: emotion names, the token
layout of the feature columns, and which modalities are behavioural.

A feature table made by :class:`~mpcl_sklearn.features.ModalityFeatureExtractor` is a DataFrame
whose columns are named ``<modality>__<scale>__<feature>`` and whose ``attrs`` carry
``"emotions"`` (the emotion names) and ``"behavioural"`` (the behavioural modalities declared by
the recordings). Nothing here is silent: a named table that falls back to a single token, an
``attrs`` entry that does not fit ``y``, a behavioural name that matches no modality, each
warns and says what to do.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping

import numpy as np

from .._columns import group_columns, parse_feature_column

__all__ = [
    "DEFAULT_BEHAVIOURAL",
    "ModalityLayoutWarning",
    "UngroupedValidationWarning",
    "emotion_names",
    "resolve_behavioural",
    "table_attrs",
    "token_layout",
    "warn_ungrouped_validation",
]

#: Behavioural modalities of ``behavioural_modalities="auto"`` when X declares none.
DEFAULT_BEHAVIOURAL: tuple[str, ...] = ("acc", "face", "video")


class ModalityLayoutWarning(UserWarning):
    """The feature columns do not give the model the layout the user most likely meant: named
    columns fall back to a single token, or ``behavioural_modalities`` names a modality that is
    not in the data."""


class UngroupedValidationWarning(UserWarning):
    """Early stopping validates on windows drawn at random, from the same subjects and trials
    as the training windows (``fit`` got no ``groups``)."""


def table_attrs(X) -> dict:
    """``X.attrs`` of a DataFrame (a shallow copy), ``{}`` for anything else."""
    attrs = getattr(X, "attrs", None)
    return dict(attrs) if isinstance(attrs, Mapping) else {}


def _str_names(columns) -> list[str] | None:
    names = list(columns)
    return names if names and all(isinstance(n, str) for n in names) else None


def emotion_names(y, attrs: Mapping, n_outputs: int) -> np.ndarray | None:
    """The emotion names of ``y``'s columns: a DataFrame's string column names, else
    ``attrs["emotions"]`` (X's metadata) when it names ``n_outputs`` emotions; None when neither.

    Warns when ``attrs["emotions"]`` disagrees with ``y``'s columns or has the wrong length.
    """
    from_y = _str_names(y.columns) if hasattr(y, "columns") else None
    declared = attrs.get("emotions")
    if declared is not None and not isinstance(declared, str):
        try:
            declared = [str(e) for e in declared]
        except TypeError:
            declared = None
    elif isinstance(declared, str):
        declared = [declared]
    if from_y is not None:
        if declared is not None and list(declared) != from_y:
            warnings.warn(
                f"X.attrs['emotions'] ({declared}) differs from the columns of y ({from_y}); "
                "the names of y's columns are kept",
                UserWarning,
                stacklevel=4,
            )
        return np.asarray(from_y, dtype=object)
    if declared is None:
        return None
    if len(declared) != n_outputs:
        warnings.warn(
            f"X.attrs['emotions'] names {len(declared)} emotions but y has {n_outputs} columns; "
            "the names are ignored (pass y as a DataFrame with one column per emotion)",
            UserWarning,
            stacklevel=4,
        )
        return None
    return np.asarray(declared, dtype=object)


def token_layout(
    names, n_features: int, owner: str | None
) -> dict[tuple[str, str | None], list[int]]:
    """``{(modality, scale): [column indices]}`` from the column names.

    Without names (an array) all columns are the single token ``("x", None)``. Named columns
    that do not all follow ``<modality>__[<scale>__]<feature>`` fall back to that single token,
    with a :class:`ModalityLayoutWarning` naming the columns and how to pass ``modalities=``
    unless ``owner`` (the estimator's name in the message) is None.
    """
    if names is None:
        return {("x", None): list(range(n_features))}
    names = [str(n) for n in names]
    try:
        return {k: list(v) for k, v in group_columns(names).items()}
    except ValueError:
        if owner is None:
            return {("x", None): list(range(n_features))}
    bad = []
    for n in names:
        try:
            parse_feature_column(n)
        except ValueError:
            bad.append(n)
    shown = ", ".join(repr(b) for b in bad[:3]) + (", ..." if len(bad) > 3 else "")
    warnings.warn(
        f"{owner}: {len(bad)} of the {len(names)} columns of X are not named "
        f"'<modality>__<feature>' or '<modality>__<scale>__<feature>' ({shown}), so all columns "
        "form a single token: no fusion across modalities and no behavioural branch. Name the "
        "columns '<modality>__...', or pass modalities={'eda': [...], 'bvp': [...]} (column "
        "names or indices per modality).",
        ModalityLayoutWarning,
        stacklevel=5,
    )
    return {("x", None): list(range(n_features))}


def _as_names(value, parameter: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, Iterable) or isinstance(value, Mapping | bytes):
        raise TypeError(
            f"{parameter} must be 'auto', a modality name or a sequence of modality names, "
            f"got {value!r}"
        )
    names = tuple(value)
    bad = [v for v in names if not isinstance(v, str)]
    if bad:
        raise TypeError(f"{parameter} must hold modality names (str), got {bad[0]!r}")
    return names


def resolve_behavioural(
    value, attrs: Mapping, modalities: list[str], owner: str
) -> tuple[str, ...]:
    """The behavioural modality names of ``behavioural_modalities=value``.

    ``"auto"``: ``attrs["behavioural"]`` (declared by the recordings, carried by the feature
    table) when present, else :data:`DEFAULT_BEHAVIOURAL`. A single string is one name (not a
    sequence of characters); None is no behavioural modality. Names given explicitly that match
    no modality of ``modalities`` warn (:class:`ModalityLayoutWarning`): most likely a typo.
    """
    if isinstance(value, str) and value == "auto":
        declared = attrs.get("behavioural")
        if declared is None:
            return DEFAULT_BEHAVIOURAL
        return _as_names(declared, "X.attrs['behavioural']")
    names = _as_names(value, "behavioural_modalities")
    unknown = [n for n in names if n not in modalities]
    if unknown:
        warnings.warn(
            f"{owner}: behavioural_modalities names {unknown}, which match no modality of X "
            f"(its modalities: {modalities}); check the spelling. Those names are ignored.",
            ModalityLayoutWarning,
            stacklevel=5,
        )
    return names


def warn_ungrouped_validation(owner: str) -> None:
    """Warn that ``owner(early_stopping=True)`` got no groups (how to pass them)."""
    warnings.warn(
        f"{owner}(early_stopping=True) got no groups: the validation windows are drawn at "
        "random from the training subjects and trials, so the stopping epoch is chosen on data "
        "that shares subjects (and trials) with the training windows. Pass "
        "fit(X, y, groups=subjects); in cross_validate or GridSearchCV enable metadata routing, "
        "sklearn.set_config(enable_metadata_routing=True), and pass the groups "
        "(docs/protocols.md, 'Early stopping and groups').",
        UngroupedValidationWarning,
        stacklevel=4,
    )
