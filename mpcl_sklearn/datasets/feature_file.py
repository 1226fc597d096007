"""Your own feature table from a CSV or Parquet file: one row per window (or sample).

The layout (also what ``mpcl-sklearn evaluate --features FILE`` reads):

* a **subject** column (``subject_column``, default ``"subject"``): who the row belongs to;
* optionally a **trial** column (``trial_column``; by default the column ``"trial"`` when the
  table has one): the recording (clip, condition) the row belongs to, needed by the
  subject-dependent protocol; without it every subject is one trial. Subject and trial ids are
  read as text, as written (``"001"`` stays ``"001"``); missing ids are refused;
* optionally a **condition** column (``condition_column``; none by default): the experimental
  condition every subject goes through (a protocol phase, a stimulus: ``"baseline"``,
  ``"stress"``, ...; it may be the trial column). With it, MPCL's condition read-out learns
  from the training rows' conditions (test rows' conditions are never used), and a condition
  can calibrate each subject (``reference_rows(data, condition=...)``,
  ``--reference-condition``). Read as text; missing values are refused;
* the **emotion** columns: listed in ``emotion_columns``, or by convention every column named
  ``emotion__<name>`` (the emotion is then ``<name>``); their values are the emotion
  distribution of the row (non-negative; rows summing to 1, or rescaled with ``normalize``);
  at least 2 emotions;
* the **feature** columns: every other column (or those listed in ``feature_columns``), each
  numeric, finite and named ``<modality>__<feature>`` or ``<modality>__<scale>__<feature>``
  (as the package's feature extractor names them) so that MPCL and HeLo form one token per
  modality (and scale). A column named otherwise is refused, never used silently: it may be an
  id (a trial column under another name) or a label, which would leak into the features. Leave
  such columns out with ``drop_columns``, or rename them.

A first column without a header (``Unnamed: 0``, the row index ``DataFrame.to_csv`` writes by
default) is read as the row index and not used.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .._columns import SEP
from .._validation import as_id_list, check_distributions, trial_id
from .table import FeatureTable

__all__ = ["EMOTION_PREFIX", "load_feature_table"]

#: Columns named ``emotion__<name>`` are the emotion ``<name>`` (when ``emotion_columns`` is None).
EMOTION_PREFIX = "emotion__"

#: The trial column used when ``trial_column`` is None and the table has it.
DEFAULT_TRIAL_COLUMN = "trial"

#: Behavioural modalities assumed when ``behavioural`` is None (those present in the table).
_DEFAULT_BEHAVIOURAL = ("acc", "face", "video")

#: pandas' name for a CSV column whose header is empty (the index ``to_csv`` writes).
_UNNAMED = re.compile(r"^Unnamed: (\d+)$")

_HOW_TO_FIX_LABELS = "Normalise them, or pass normalize=True (--normalize-labels) for ratings."


def _header(path: Path, sep: str) -> list[str]:
    """The header row as written (pandas renames a repeated name ``x`` to ``x.1``)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            return next(csv.reader(fh, delimiter=sep))
    except (StopIteration, UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(
            f"feature table {path} cannot be read as CSV: {exc or 'the file is empty'}"
        ) from None


def _read(path: Path, text_columns: Sequence[str]) -> pd.DataFrame:
    """The table, ``text_columns`` (the ids) read as text where the format allows."""
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            return pd.read_parquet(path)
        except ImportError as exc:
            raise ImportError(
                f"reading the Parquet file {path} needs pyarrow (pip install pyarrow, or "
                "'mpcl-sklearn[parquet]'); or save the table as CSV"
            ) from exc
    if suffix in (".csv", ".tsv", ".txt"):
        sep = "\t" if suffix == ".tsv" else ","
        header = _header(path, sep)
        repeated = sorted({c for c in header if header.count(c) > 1})
        if repeated:
            raise ValueError(f"feature table {path}: columns {repeated} appear more than once")
        try:
            return pd.read_csv(path, sep=sep, dtype={c: str for c in text_columns if c in header})
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise ValueError(f"feature table {path} cannot be read as CSV: {exc}") from None
    raise ValueError(f"feature table {path}: unknown file type {suffix!r}; use .csv or .parquet")


def _names(value: str | Sequence[str] | None, what: str) -> list[str] | None:
    if value is None:
        return None
    names = [value] if isinstance(value, str) else [str(v) for v in value]
    if not names or any(not n for n in names):
        raise ValueError(f"{what} must be non-empty column names, got {value!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"{what} lists a column twice: {names}")
    return names


def _shown(names: Sequence[str], limit: int = 10) -> str:
    names = list(names)
    if len(names) <= limit:
        return repr(names)
    return repr(names[:limit])[:-1] + f", ... ({len(names)} in all)]"


def _is_feature_name(name: str) -> bool:
    """``<modality>__<feature>`` or ``<modality>__<scale>__<feature>``, no empty part."""
    parts = name.split(SEP)
    return len(parts) >= 2 and all(p.strip() for p in parts)


def _ids(table: pd.DataFrame, column: str, kind: str, path: Path) -> np.ndarray:
    """The ids of ``column`` as text; missing ids refused."""
    values = table[column]
    missing = np.flatnonzero(values.isna().to_numpy())
    if missing.size:
        rows = ", ".join(str(int(r)) for r in missing[:10])
        raise ValueError(
            f"feature table {path}: the {kind} column {column!r} has missing values (empty, NA "
            f"or nan) in rows {rows}{' ...' if missing.size > 10 else ''}: every row needs a "
            f"{kind} id"
        )
    return values.astype(str).to_numpy()


def _condition_report(conditions: np.ndarray, subjects: np.ndarray, column: str) -> list[str]:
    """What the condition column holds, and the conditions that only one subject has (they
    tell nothing about another subject)."""
    names = list(dict.fromkeys(conditions))  # in order of appearance
    lines = [f"conditions from column {column!r}: {_shown(names)}"]
    alone = [c for c in names if len(np.unique(subjects[conditions == c])) == 1]
    if alone and len(np.unique(subjects)) > 1:
        lines.append(
            f"conditions {_shown(alone)} occur in one subject only: a condition should be "
            "shared by subjects (a protocol phase, a stimulus), not a per-subject trial id"
        )
    return lines


def _feature_problems(X: pd.DataFrame, path: Path) -> None:
    """Feature columns must be numeric, without missing or infinite values."""
    not_numeric = [c for c in X.columns if X[c].dtype.kind not in "biuf"]
    if not_numeric:
        c = not_numeric[0]
        values = pd.to_numeric(X[c], errors="coerce")
        first = X[c][values.isna() & X[c].notna()]
        example = (
            f" (e.g. {first.iloc[0]!r} in row {first.index[0]}; decimal commas are not "
            "numbers in a CSV)"
            if len(first)
            else ""
        )
        raise ValueError(
            f"feature table {path}: feature columns {_shown(not_numeric)} are not numeric"
            f"{example}; drop them (drop_columns / --drop-columns), or name them as the "
            "subject, trial or emotion columns"
        )
    missing = [c for c in X.columns if X[c].isna().any()]
    if missing:
        raise ValueError(
            f"feature table {path}: feature columns {_shown(missing)} have missing values; "
            "impute or drop them first"
        )
    infinite = [c for c in X.columns if not np.isfinite(X[c].to_numpy(dtype=float)).all()]
    if infinite:
        raise ValueError(
            f"feature table {path}: feature columns {_shown(infinite)} have infinite values; "
            "replace or drop them first"
        )


def _choose_columns(
    columns: list[str],
    path: Path,
    *,
    subject_column: str,
    trial_column: str | None,
    condition_column: str | None,
    emotion_columns: list[str] | None,
    feature_columns: list[str] | None,
    drop_columns: list[str] | None,
    report: list[str],
) -> tuple[str | None, list[str], list[str], list[str]]:
    """``(trial column or None, emotion columns, emotions, feature columns)``."""
    shown = f"(columns: {_shown(columns)})"
    index_columns = []
    for i, c in enumerate(columns):
        match = _UNNAMED.match(c)
        if match and int(match.group(1)) == i and index_columns == columns[:i]:
            index_columns.append(c)
        elif match:
            raise ValueError(
                f"feature table {path}: column {i + 1} has no header (pandas calls it {c!r}); "
                "name it, or leave it out with drop_columns / --drop-columns"
            )
    if index_columns:
        report.append(
            f"columns {index_columns} have no header: read as the row index (written by "
            "DataFrame.to_csv), not used"
        )
    named = [c for c in columns if c not in index_columns]
    if subject_column not in named:
        raise ValueError(
            f"feature table {path}: no subject column {subject_column!r} {shown}; name it with "
            "subject_column / --subject-column"
        )
    if trial_column is None:
        trial_column = DEFAULT_TRIAL_COLUMN if DEFAULT_TRIAL_COLUMN in named else None
        if trial_column is None:
            report.append(
                f"no trial column {DEFAULT_TRIAL_COLUMN!r}: every subject is one trial (the "
                "subject-dependent split='trial' needs trials; name the column with "
                "trial_column / --trial-column)"
            )
    elif trial_column not in named:
        raise ValueError(
            f"feature table {path}: no trial column {trial_column!r} {shown}; name it with "
            "trial_column / --trial-column, or leave it out when the table has no trials"
        )
    ids = [subject_column] + ([trial_column] if trial_column is not None else [])
    if len(set(ids)) != len(ids):
        raise ValueError(f"the subject and the trial column are both {subject_column!r}")
    if condition_column is not None:
        if condition_column not in named:
            raise ValueError(
                f"feature table {path}: no condition column {condition_column!r} {shown}; name "
                "it with condition_column / --condition-column"
            )
        if condition_column == subject_column:
            raise ValueError(
                f"the subject and the condition column are both {subject_column!r}: a "
                "condition is shared by subjects, not one subject"
            )
        if condition_column not in ids:
            ids.append(condition_column)

    if emotion_columns is None:
        emotion_columns = [c for c in named if c.startswith(EMOTION_PREFIX)]
        if not emotion_columns:
            raise ValueError(
                f"feature table {path}: no emotion columns: name them "
                f"'{EMOTION_PREFIX}<emotion>' or list them with emotion_columns / "
                "--emotion-columns"
            )
        emotions = [c[len(EMOTION_PREFIX) :] for c in emotion_columns]
        empty = [c for c, e in zip(emotion_columns, emotions) if not e.strip()]
        if empty:
            raise ValueError(
                f"feature table {path}: emotion columns {empty} name no emotion; name them "
                f"'{EMOTION_PREFIX}<emotion>'"
            )
    else:
        missing = [c for c in emotion_columns if c not in named]
        if missing:
            raise ValueError(f"feature table {path}: emotion columns {missing} are missing")
        emotions = list(emotion_columns)
    if len(emotions) < 2:
        raise ValueError(
            f"feature table {path}: need at least 2 emotions, got {emotions}: with one, every "
            "distribution is [1.0] and every metric is trivially perfect"
        )
    if set(ids) & set(emotion_columns):
        raise ValueError(
            f"the subject/trial/condition columns {sorted(set(ids) & set(emotion_columns))} "
            "cannot be emotion columns"
        )

    taken = set(ids) | set(emotion_columns)
    if feature_columns is not None and drop_columns is not None:
        raise ValueError(
            "give feature_columns (the features) or drop_columns (the columns to leave out), "
            "not both"
        )
    for what, listed in (("feature_columns", feature_columns), ("drop_columns", drop_columns)):
        if listed is None:
            continue
        missing = [c for c in listed if c not in named]
        if missing:
            raise ValueError(f"feature table {path}: {what} {missing} are not columns {shown}")
        clash = [c for c in listed if c in taken]
        if clash:
            raise ValueError(
                f"{what} {clash} are the subject, trial, condition or emotion columns; they are "
                "never features"
            )
    rest = [c for c in named if c not in taken]
    if feature_columns is not None:
        features = list(feature_columns)
        left_out = [c for c in rest if c not in features]
    else:
        left_out = list(drop_columns or [])
        features = [c for c in rest if c not in left_out]
    if left_out:
        report.append(f"columns left out (not features): {_shown(left_out)}")
    labels = [c for c in features if c.startswith(EMOTION_PREFIX)]
    if labels:
        raise ValueError(
            f"feature table {path}: columns {_shown(labels)} are named like emotions but are not "
            "among emotion_columns: they would leak labels into the features. List them in "
            "emotion_columns, or leave them out with drop_columns / --drop-columns"
        )
    unnamed = [c for c in features if not _is_feature_name(c)]
    if unnamed:
        raise ValueError(
            f"feature table {path}: columns {_shown(unnamed)} are not named "
            "'<modality>__<feature>' (or '<modality>__<scale>__<feature>'). Every column "
            "that is not the subject, trial or an emotion column is a feature, so such a column "
            "could be an id or a label leaking into the features. If it is the trial id, pass "
            "trial_column / --trial-column; to leave columns out, pass drop_columns / "
            "--drop-columns (or list the features in feature_columns / --feature-columns); to "
            "use one as a feature, rename it '<modality>__<name>' (e.g. 'eda__mean')"
        )
    if not features:
        raise ValueError(f"feature table {path} has no feature columns {shown}")
    return trial_column, list(emotion_columns), emotions, features


def load_feature_table(
    path: str | Path,
    *,
    subject_column: str = "subject",
    trial_column: str | None = None,
    emotion_columns: Sequence[str] | None = None,
    feature_columns: Sequence[str] | None = None,
    drop_columns: Sequence[str] | None = None,
    normalize: bool = False,
    subjects: Sequence[str] | None = None,
    behavioural: Sequence[str] | None = None,
    condition_column: str | None = None,
) -> FeatureTable:
    """Read a feature table (CSV or Parquet) with subject, trial and emotion columns.

    Parameters
    ----------
    path : str or Path
        A ``.csv`` (``.tsv``) or ``.parquet`` file (Parquet needs pyarrow).
    subject_column : str, default="subject"
    trial_column : str or None, default=None
        The trial column, which must exist. None: the column ``"trial"`` when the table has
        one, else every subject is one trial (to ignore a ``"trial"`` column, put it in
        ``drop_columns``).
    emotion_columns : sequence of str, optional
        The emotion columns, in order (at least 2); default: the columns named
        ``emotion__<name>``.
    feature_columns : sequence of str, optional
        Exactly these columns are the features (the others are left out, as the report says);
        default: every column that is not an id, emotion or dropped column.
    drop_columns : sequence of str, optional
        Columns to leave out (notes, a condition code, another id); not with
        ``feature_columns``.
    normalize : bool, default=False
        Rescale each row of emotion values to sum to 1 (non-negative ratings); otherwise rows
        must already be distributions.
    subjects : list of str, optional
        Keep only these subjects (compared as text, as written in the file).
    behavioural : sequence of str, optional
        Behavioural modalities (column prefixes); default: those of ``acc``, ``face`` and
        ``video`` that the table has.
    condition_column : str or None, default=None
        The experimental condition of every row (shared across subjects; may be the trial
        column): it becomes ``conditions``, which trains MPCL's condition read-out and lets a
        condition calibrate each subject. None: the table has no conditions.

    Returns
    -------
    FeatureTable
        ``X`` (the feature columns, ``attrs["emotions"]`` and ``attrs["behavioural"]`` set),
        ``y``, ``groups`` (subject ids as text), ``trials`` (``trial_id(subject, trial)``,
        unambiguous), ``conditions`` (with ``condition_column``, as text; else None),
        ``emotions``, ``behavioural``, ``description`` and ``report``.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        A named column is missing or appears twice; fewer than 2 emotion columns (or one
        named ``emotion__``); a feature column is not named ``<modality>__...`` (listed, with
        how to leave it out), a column named like an emotion is not an emotion column, a
        feature is not numeric or has missing or infinite values; an id is missing; labels
        are not distributions; a subject is unknown.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"feature table {path} does not exist (or is not a file)")
    emotion_cols = _names(emotion_columns, "emotion_columns")
    feature_cols = _names(feature_columns, "feature_columns")
    drop_cols = _names(drop_columns, "drop_columns")
    wanted = as_id_list(subjects, "subjects")
    id_columns = [subject_column, trial_column or DEFAULT_TRIAL_COLUMN]
    if condition_column is not None:
        id_columns.append(condition_column)
    table = _read(path, id_columns)
    columns = [str(c) for c in table.columns]
    table.columns = columns
    report: list[str] = []
    trial_col, emotion_cols, emotions, feature_cols = _choose_columns(
        columns,
        path,
        subject_column=subject_column,
        trial_column=trial_column,
        condition_column=condition_column,
        emotion_columns=emotion_cols,
        feature_columns=feature_cols,
        drop_columns=drop_cols,
        report=report,
    )
    subject_ids = _ids(table, subject_column, "subject", path)
    trial_ids = None if trial_col is None else _ids(table, trial_col, "trial", path)
    conditions = (
        None if condition_column is None else _ids(table, condition_column, "condition", path)
    )
    if wanted is not None:
        unknown = sorted(set(wanted) - set(subject_ids))
        if unknown:
            raise ValueError(
                f"subjects {unknown} are not in the feature table {path} (its subjects: "
                f"{sorted(set(subject_ids))[:20]})"
            )
        keep = np.isin(subject_ids, wanted)
        table, subject_ids = table.loc[keep].reset_index(drop=True), subject_ids[keep]
        trial_ids = None if trial_ids is None else trial_ids[keep]
        conditions = None if conditions is None else conditions[keep]
    if len(table) == 0:
        raise ValueError(f"feature table {path} has no rows")
    X = table[feature_cols]
    _feature_problems(X, path)
    y = check_distributions(
        table[emotion_cols].to_numpy(),
        name="the emotion columns",
        normalize=normalize,
        hint=_HOW_TO_FIX_LABELS,
    )
    trials = (
        subject_ids.copy()
        if trial_ids is None
        else np.asarray([trial_id(s, t) for s, t in zip(subject_ids, trial_ids)])
    )
    present = list(dict.fromkeys(c.split(SEP)[0] for c in feature_cols))
    if behavioural is None:
        behavioural = tuple(m for m in present if m in _DEFAULT_BEHAVIOURAL)
    else:
        behavioural = tuple(_names(behavioural, "behavioural") or ())
        unknown = [b for b in behavioural if b not in present]
        if unknown:
            raise ValueError(
                f"behavioural modalities {unknown} are not among the table's modalities "
                f"{present} (feature columns named '<modality>__...')"
            )
    X = X.astype(np.float64)
    X.attrs["emotions"] = list(emotions)
    X.attrs["behavioural"] = list(behavioural)
    n_subjects = len(np.unique(subject_ids))
    description = (
        f"feature table {path.name}; {n_subjects} subjects, {len(np.unique(trials))} trials, "
        f"{len(X)} rows, {len(feature_cols)} features, {len(emotions)} emotions"
    )
    if normalize:
        report.append("emotion rows rescaled to sum to 1")
    if conditions is not None:
        report.extend(_condition_report(conditions, subject_ids, condition_column))
    return FeatureTable(
        X=X,
        y=y,
        groups=subject_ids,
        trials=trials,
        emotions=list(emotions),
        behavioural=behavioural,
        description=description,
        report=report,
        conditions=conditions,
    )
