"""End-to-end experiments: data -> windows -> features -> every model under the same folds.

This is what ``mpcl-sklearn evaluate`` and ``mpcl-sklearn ablation`` run. Features are computed
once per dataset: windowing and feature extraction are per-window and learn nothing from the
data, so doing them before the split cannot leak. Everything that learns (standardisation,
hyper-parameter searches, the models) is fitted inside the training folds only.

One module per job, each building on the ones before it:

* :mod:`.data` -- data assembly: :func:`prepare_dataset` returns a
  :class:`~mpcl_sklearn.datasets.FeatureTable`;
* :mod:`.registry` -- the models and ablations an experiment can name: :data:`MODEL_NAMES`,
  :data:`ABLATIONS`, :func:`make_model`;
* :mod:`.results` -- the result tables: :class:`ExperimentResult`;
* :mod:`.calibration` -- subject calibration: :func:`reference_rows`, :func:`calibrated`;
* :mod:`.permutation` -- the label-permutation control: :func:`permute_trial_labels`;
* :mod:`.running` -- :func:`run_experiment`, :func:`run_ablation`, :func:`fit_final_mpcl`;
* :mod:`.outputs` -- writing files: :func:`write_outputs` (CSV, markdown, JSON, figures).

Importing this package is cheap (the command line's ``--help`` needs no scikit-learn, torch
or pandas): the names below are imported from their modules on first use.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "ABLATIONS": "registry",
    "CALIBRATION_MODES": "calibration",
    "PROTOCOLS": "running",
    "SCORE_ON": "running",
    "calibrated": "calibration",
    "fit_final_mpcl": "running",
    "permute_trial_labels": "permutation",
    "reference_rows": "calibration",
    "DATASET_BACKENDS": "data",
    "DATASET_DEFAULTS": "data",
    "MODEL_NAMES": "registry",
    "ExperimentData": "data",
    "ExperimentResult": "results",
    "FeatureTable": "data",
    "ablation_variants": "registry",
    "make_model": "registry",
    "prepare_dataset": "data",
    "run_ablation": "running",
    "run_experiment": "running",
    "select_emotions": "data",
    "write_outputs": "outputs",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
