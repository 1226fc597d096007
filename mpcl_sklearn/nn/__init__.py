"""Every ``nn.Module`` of the package: MPCL's building blocks and MPCLNet (our formulation; see
docs/method.md), HeLo's network and the MLP."""

from .compression import AttentionPooling, HierarchicalCompression
from .cooccurrence import CooccurrenceRetrieval, label_cooccurrence_target
from .distillation import prototype_relation_distillation
from .ensemble import StackedEnsemble
from .fusion import MultiScaleMemoryFusion
from .helo import HeLoModule, HeLoNet
from .hopfield import HopfieldRetrieval, hopfield_retrieve
from .losses import cooccurrence_loss, prototype_diversity_loss
from .mlp import MLPNet
from .mpcl import MPCLNet, StackedMPCLNet
from .prototypes import PrototypeBank
from .tokens import TokenEncoder

__all__ = [
    "AttentionPooling",
    "CooccurrenceRetrieval",
    "HierarchicalCompression",
    "HeLoModule",
    "HeLoNet",
    "HopfieldRetrieval",
    "MLPNet",
    "MPCLNet",
    "MultiScaleMemoryFusion",
    "PrototypeBank",
    "StackedEnsemble",
    "StackedMPCLNet",
    "TokenEncoder",
    "cooccurrence_loss",
    "hopfield_retrieve",
    "label_cooccurrence_target",
    "prototype_diversity_loss",
    "prototype_relation_distillation",
]
