"""Dataset loaders and the synthetic generator.

All loaders return :class:`mpcl_sklearn.Recordings` (or, for DMER's precomputed features, a
feature table); none of them downloads anything.
"""

from .dmer import DMERFormatError, dmer_feature_names, load_dmer
from .emotions import (
    DMER_EMOTIONS,
    DMER_TO_WESAD,
    NEGATIVE_EMOTIONS,
    POSITIVE_EMOTIONS,
    WESAD_PANAS_ITEMS,
)
from .ldl import LDLFormatError, load_ldl
from .synthetic import make_mixed_emotion_recordings
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
    "load_ldl",
    "load_wesad",
    "make_mixed_emotion_recordings",
    "read_wesad_quest",
]
