"""Dataset loaders and the synthetic generator.

All loaders return :class:`mpcl_sklearn.Recordings` (or, for DMER's precomputed features, a
feature table); none of them downloads anything.
"""

from .emotions import DMER_EMOTIONS, DMER_TO_WESAD, WESAD_PANAS_ITEMS
from .synthetic import make_mixed_emotion_recordings

__all__ = [
    "DMER_EMOTIONS",
    "DMER_TO_WESAD",
    "WESAD_PANAS_ITEMS",
    "make_mixed_emotion_recordings",
]
