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
* :mod:`.running` -- :func:`run_experiment`, :func:`run_ablation`;
* :mod:`.outputs` -- writing files: :func:`write_outputs` (CSV, markdown, JSON, figures).
"""

from ..datasets.table import FeatureTable
from .data import DATASET_DEFAULTS, ExperimentData, prepare_dataset
from .outputs import write_outputs
from .registry import ABLATIONS, MODEL_NAMES, ablation_variants, make_model
from .results import ExperimentResult
from .running import run_ablation, run_experiment

__all__ = [
    "ABLATIONS",
    "DATASET_DEFAULTS",
    "MODEL_NAMES",
    "ExperimentData",
    "ExperimentResult",
    "FeatureTable",
    "ablation_variants",
    "make_model",
    "prepare_dataset",
    "run_ablation",
    "run_experiment",
    "write_outputs",
]
