"""PyTorch building blocks of MPCL (our formulation; see docs/method.md) and of HeLo."""

from .compression import AttentionPooling, HierarchicalCompression
from .cooccurrence import CooccurrenceRetrieval, label_cooccurrence_target
from .distillation import prototype_relation_distillation
from .fusion import MultiScaleMemoryFusion
from .hopfield import HopfieldRetrieval, hopfield_retrieve
from .losses import cooccurrence_loss, distribution_kl, prototype_diversity_loss
from .mpcl import MPCLNet
from .prototypes import PrototypeBank
from .tokens import TokenEncoder

__all__ = [
    "AttentionPooling",
    "CooccurrenceRetrieval",
    "HierarchicalCompression",
    "HopfieldRetrieval",
    "MPCLNet",
    "MultiScaleMemoryFusion",
    "PrototypeBank",
    "TokenEncoder",
    "cooccurrence_loss",
    "distribution_kl",
    "hopfield_retrieve",
    "label_cooccurrence_target",
    "prototype_diversity_loss",
    "prototype_relation_distillation",
]
