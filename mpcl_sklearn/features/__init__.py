"""Feature extraction per modality and temporal scale.

:class:`ModalityFeatureExtractor` with three backends: ``"fast"`` (:mod:`.fast`, vectorised
tsfresh calculators), ``"tsfresh"`` (:mod:`.tsfresh_backend`) and ``"physio"`` (:mod:`.physio`).
"""

from .extractor import ModalityFeatureExtractor
from .fast import FEATURE_SETS, SUPPORTED_CALCULATORS

__all__ = ["FEATURE_SETS", "SUPPORTED_CALCULATORS", "ModalityFeatureExtractor"]
