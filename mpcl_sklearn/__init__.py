"""mpcl_sklearn: mixed emotion recognition as emotion distribution learning, for scikit-learn.

The public names below are imported lazily, so ``import mpcl_sklearn`` stays light (no pandas
until the data model is used, no torch until a neural model is): the command line's ``--help``
imports neither.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "Recordings": "recordings",
    "Trial": "recordings",
    "make_windows": "windowing",
    "concat_windows": "windowing",
    "SignalWindower": "windowing",
    "ModalityFeatureExtractor": "features",
    "load_wesad": "datasets",
    "load_dmer": "datasets",
    "load_dmer_raw": "datasets",
    "load_feature_table": "datasets",
    "FeatureTable": "datasets",
    "load_ldl": "datasets",
    "make_mixed_emotion_recordings": "datasets",
    "recordings_from_mne": "datasets",
    "DMER_EMOTIONS": "datasets",
    "MPCLDistributionRegressor": "models.mpcl",
    "TorchDistributionRegressor": "models.torch_base",
    "TrainingDivergedError": "training.net",
    "MeanDistributionRegressor": "models.shallow",
    "SABFGSRegressor": "models.shallow",
    "AAKNNRegressor": "models.shallow",
    "MLPDistributionRegressor": "models.neural",
    "HeLoRegressor": "models.neural",
    "distribution_report": "metrics",
    "distribution_scorers": "metrics",
    "distribution_scoring": "metrics",
    "subject_independent_evaluate": "model_selection",
    "subject_dependent_evaluate": "model_selection",
    "SubjectDependentSplitter": "model_selection",
    "subject_standardize": "preprocessing",
    "SubjectCalibrator": "preprocessing",
    "save_model": "io",
    "load_model": "io",
    "dask_backend": "distributed",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
