"""mpcl_sklearn: mixed emotion recognition as emotion distribution learning, for scikit-learn.

The public names below are imported lazily, so ``import mpcl_sklearn`` stays light (no torch
until a neural model is used).
"""

from __future__ import annotations

import importlib

from .recordings import Recordings, Trial

__version__ = "0.1.0"

_LAZY = {
    "make_windows": "windowing",
    "SignalWindower": "windowing",
    "ModalityFeatureExtractor": "features",
    "load_wesad": "datasets",
    "load_dmer": "datasets",
    "load_ldl": "datasets",
    "make_mixed_emotion_recordings": "datasets",
    "DMER_EMOTIONS": "datasets",
    "MPCLDistributionRegressor": "regressor",
    "TorchDistributionRegressor": "torch_estimator",
    "TrainingDivergedError": "torch_estimator",
    "MeanDistributionRegressor": "baselines",
    "SABFGSRegressor": "baselines",
    "AAKNNRegressor": "baselines",
    "MLPDistributionRegressor": "baselines",
    "HeLoRegressor": "baselines",
    "distribution_report": "metrics",
    "distribution_scorers": "metrics",
    "subject_independent_evaluate": "model_selection",
    "subject_dependent_evaluate": "model_selection",
    "SubjectDependentSplitter": "model_selection",
    "subject_standardize": "preprocessing",
    "SubjectCalibrator": "preprocessing",
    "save_model": "io",
    "load_model": "io",
    "dask_backend": "distributed",
}

__all__ = ["Recordings", "Trial", "__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
