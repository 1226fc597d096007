"""Your own feature table from a CSV or Parquet file: one row per window (or sample).

The layout (also what ``mpcl-sklearn evaluate --features FILE`` reads):

* a **subject** column (``subject_column``, default ``"subject"``): who the row belongs to;
* optionally a **trial** column (``trial_column``, default ``"trial"``): the recording (clip,
  condition) the row belongs to, needed by the subject-dependent protocol; without it every
  subject is one trial;
* the **emotion** columns: listed in ``emotion_columns``, or by convention every column named
  ``emotion__<name>`` (the emotion is then ``<name>``); their values are the emotion
  distribution of the row (non-negative; rows summing to 1, or rescaled with ``normalize``);
* every other column is a **feature** and must be numeric. Name them
  ``<modality>__<feature>`` or ``<modality>__<scale>__<feature>`` (as the package's feature
  extractor does) so that MPCL and HeLo form one token per modality (and scale).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .._columns import parse_feature_column
from .._validation import check_distributions
from .table import FeatureTable

__all__ = ["EMOTION_PREFIX", "load_feature_table"]

#: Columns named ``emotion__<name>`` are the emotion ``<name>`` (when ``emotion_columns`` is None).
EMOTION_PREFIX = "emotion__"

#: Behavioural modalities assumed when ``behavioural`` is None (those present in the table).
_DEFAULT_BEHAVIOURAL = ("acc", "face", "video")


def _read(path: Path) -> pd.DataFrame:
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
        try:
            return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise ValueError(f"feature table {path} cannot be read as CSV: {exc}") from None
    raise ValueError(f"feature table {path}: unknown file type {suffix!r}; use .csv or .parquet")


def _names(value: str | Sequence[str] | None, what: str) -> list[str] | None:
    if value is None:
        return None
    names = [value] if isinstance(value, str) else [str(v) for v in value]
    if not names or any(not n for n in names):
        raise ValueError(f"{what} must be non-empty column names, got {value!r}")
    return names


def load_feature_table(
    path: str | Path,
    *,
    subject_column: str = "subject",
    trial_column: str | None = "trial",
    emotion_columns: Sequence[str] | None = None,
    normalize: bool = False,
    subjects: Sequence[str] | None = None,
    behavioural: Sequence[str] | None = None,
) -> FeatureTable:
    """Read a feature table (CSV or Parquet) with subject, trial and emotion columns.

    Parameters
    ----------
    path : str or Path
        A ``.csv`` (``.tsv``) or ``.parquet`` file (Parquet needs pyarrow).
    subject_column : str, default="subject"
    trial_column : str or None, default="trial"
        Used when the table has it; None ignores any trial column.
    emotion_columns : sequence of str, optional
        The emotion columns, in order; default: the columns named ``emotion__<name>``.
    normalize : bool, default=False
        Rescale each row of emotion values to sum to 1 (non-negative ratings); otherwise rows
        must already be distributions.
    subjects : sequence of str, optional
        Keep only these subjects (compared as strings).
    behavioural : sequence of str, optional
        Behavioural modalities (column prefixes); default: those of ``acc``, ``face`` and
        ``video`` that the table has.

    Returns
    -------
    FeatureTable
        ``X`` (the feature columns, ``attrs["emotions"]`` and ``attrs["behavioural"]`` set),
        ``y``, ``groups`` (subject ids as strings), ``trials`` (``<subject>/<trial>``),
        ``emotions``, ``behavioural``, ``description`` and ``report``.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        A named column is missing, no emotion column is found, a feature column is not
        numeric or has missing values, labels are not distributions, a subject is unknown.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"feature table {path} does not exist (or is not a file)")
    table = _read(path)
    columns = [str(c) for c in table.columns]
    table.columns = columns
    if subject_column not in columns:
        raise ValueError(
            f"feature table {path}: no subject column {subject_column!r} (columns: "
            f"{columns[:10]}{' ...' if len(columns) > 10 else ''}); name it with "
            "subject_column / --subject-column"
        )
    emotion_cols = _names(emotion_columns, "emotion_columns")
    if emotion_cols is None:
        emotion_cols = [c for c in columns if c.startswith(EMOTION_PREFIX)]
        if not emotion_cols:
            raise ValueError(
                f"feature table {path}: no emotion columns: name them "
                f"'{EMOTION_PREFIX}<emotion>' or list them with emotion_columns / "
                "--emotion-columns"
            )
        emotions = [c[len(EMOTION_PREFIX) :] for c in emotion_cols]
    else:
        missing = [c for c in emotion_cols if c not in columns]
        if missing:
            raise ValueError(f"feature table {path}: emotion columns {missing} are missing")
        emotions = list(emotion_cols)
    if len(set(emotion_cols)) != len(emotion_cols):
        raise ValueError(f"emotion columns are listed twice: {emotion_cols}")
    has_trial = trial_column is not None and trial_column in columns
    report = []
    if not has_trial:
        report.append(
            f"no trial column {trial_column!r}: every subject is one trial (the "
            "subject-dependent split='trial' needs trials)"
        )
    ids = {subject_column} | ({trial_column} if has_trial else set())
    if ids & set(emotion_cols):
        raise ValueError(
            f"the subject/trial columns {sorted(ids & set(emotion_cols))} cannot be emotion columns"
        )
    if table[subject_column].isna().any():
        raise ValueError(f"feature table {path}: the subject column has missing values")
    subject_ids = table[subject_column].astype(str).to_numpy()
    if subjects is not None:
        wanted = [str(s) for s in ([subjects] if isinstance(subjects, str) else subjects)]
        unknown = sorted(set(wanted) - set(subject_ids))
        if unknown or not wanted:
            raise ValueError(
                f"subjects {unknown or wanted} are not in the feature table {path} (its "
                f"subjects: {sorted(set(subject_ids))[:20]})"
            )
        keep = np.isin(subject_ids, wanted)
        table, subject_ids = table.loc[keep].reset_index(drop=True), subject_ids[keep]
    if len(table) == 0:
        raise ValueError(f"feature table {path} has no rows")
    feature_cols = [c for c in columns if c not in ids and c not in emotion_cols]
    if not feature_cols:
        raise ValueError(f"feature table {path} has no feature columns")
    X = table[feature_cols]
    not_numeric = [c for c in feature_cols if X[c].dtype.kind not in "biuf"]
    if not_numeric:
        raise ValueError(
            f"feature table {path}: columns {not_numeric[:10]} are not numeric; drop them, or "
            "name them as the subject, trial or emotion columns"
        )
    missing_values = [c for c in feature_cols if X[c].isna().any()]
    if missing_values:
        raise ValueError(
            f"feature table {path}: feature columns {missing_values[:10]} have missing values; "
            "impute or drop them first"
        )
    y = check_distributions(
        table[emotion_cols].to_numpy(), name="the emotion columns", normalize=normalize
    )
    trials = (
        subject_ids
        if not has_trial
        else np.asarray([f"{s}/{t}" for s, t in zip(subject_ids, table[trial_column].astype(str))])
    )
    modalities = []
    for c in feature_cols:
        try:
            modalities.append(parse_feature_column(c)[0])
        except ValueError:
            modalities.append(None)
    present = list(dict.fromkeys(m for m in modalities if m is not None))
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
    X = X.copy()
    X.attrs["emotions"] = list(emotions)
    X.attrs["behavioural"] = list(behavioural)
    n_subjects = len(np.unique(subject_ids))
    description = (
        f"feature table {path.name}; {n_subjects} subjects, {len(np.unique(trials))} trials, "
        f"{len(X)} rows, {len(feature_cols)} features, {len(emotions)} emotions"
    )
    if normalize:
        report.append("emotion rows rescaled to sum to 1")
    return FeatureTable(
        X=X,
        y=y,
        groups=subject_ids,
        trials=trials,
        emotions=list(emotions),
        behavioural=behavioural,
        description=description,
        report=report,
    )
