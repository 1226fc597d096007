"""The estimators: a shared base, the shallow baselines (mean, SA-BFGS, AA-kNN), the neural
baselines (MLP, HeLo) and MPCL. They build their networks from :mod:`mpcl_sklearn.nn` and train
them through :mod:`mpcl_sklearn.training`."""

from ._metadata import ModalityLayoutWarning, UngroupedValidationWarning
from .base import BaseDistributionRegressor, DistributionRegressorMixin
from .mpcl import MPCLDistributionRegressor
from .neural import HeLoRegressor, MLPDistributionRegressor
from .shallow import AAKNNRegressor, MeanDistributionRegressor, SABFGSRegressor
from .torch_base import TorchDistributionRegressor

__all__ = [
    "AAKNNRegressor",
    "BaseDistributionRegressor",
    "DistributionRegressorMixin",
    "HeLoRegressor",
    "MLPDistributionRegressor",
    "MPCLDistributionRegressor",
    "MeanDistributionRegressor",
    "ModalityLayoutWarning",
    "SABFGSRegressor",
    "TorchDistributionRegressor",
    "UngroupedValidationWarning",
]
