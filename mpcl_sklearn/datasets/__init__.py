"""Dataset loaders, the synthetic generator and the feature-table record.

Loaders of signals return :class:`mpcl_sklearn.Recordings` (:func:`load_wesad`,
:func:`load_dmer_raw`, :func:`make_mixed_emotion_recordings`, and
:func:`recordings_from_mne` for MNE-Python objects); the loader of DMER's precomputed features
returns a :class:`FeatureTable` (:func:`load_dmer`), as does the reader of your own feature table
(:func:`load_feature_table`, CSV or Parquet). None of them downloads anything. Every loader takes
the label set by name (``emotions=``).
"""

from .dmer import DMERFormatError, dmer_feature_names, load_dmer, load_dmer_raw
from .emotions import (
    DMER_EMOTIONS,
    DMER_TO_WESAD,
    NEGATIVE_EMOTIONS,
    POSITIVE_EMOTIONS,
    WESAD_PANAS_ITEMS,
)
from .feature_file import load_feature_table
from .ldl import LDLFormatError, load_ldl
from .mne_interop import recordings_from_mne
from .synthetic import make_mixed_emotion_recordings
from .table import FeatureTable
from .wesad import (
    WESAD_CONDITIONS,
    WESAD_SUBJECTS,
    WESADFormatError,
    estimate_e4_offset,
    load_wesad,
    read_wesad_quest,
)

__all__ = [
    "DMER_EMOTIONS",
    "DMER_TO_WESAD",
    "DMERFormatError",
    "FeatureTable",
    "LDLFormatError",
    "NEGATIVE_EMOTIONS",
    "POSITIVE_EMOTIONS",
    "WESADFormatError",
    "WESAD_CONDITIONS",
    "WESAD_PANAS_ITEMS",
    "WESAD_SUBJECTS",
    "dmer_feature_names",
    "estimate_e4_offset",
    "load_dmer",
    "load_dmer_raw",
    "load_feature_table",
    "load_ldl",
    "load_wesad",
    "make_mixed_emotion_recordings",
    "read_wesad_quest",
    "recordings_from_mne",
]
