"""The multilayer perceptron of :class:`~mpcl_sklearn.models.MLPDistributionRegressor`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["ACTIVATIONS", "MLPNet"]

#: activation names accepted by :class:`MLPNet`
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
}


class MLPNet(nn.Module):
    """Linear -> activation -> dropout blocks, then a linear map to the emotion logits.

    ``forward`` returns log-probabilities. It has no auxiliary loss.

    Parameters
    ----------
    n_features : int
    n_outputs : int
    hidden_layer_sizes : sequence of int, default=(128, 64)
        Widths of the hidden layers; ``()`` gives a softmax-linear model.
    activation : str, default="relu"
        A key of :data:`ACTIVATIONS`.
    dropout : float, default=0.5
        Dropout after each hidden layer (none when 0).
    """

    def __init__(
        self,
        n_features: int,
        n_outputs: int,
        hidden_layer_sizes: Sequence[int] = (128, 64),
        activation: str = "relu",
        dropout: float = 0.5,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for h in hidden_layer_sizes:
            layers += [nn.Linear(width, h), ACTIVATIONS[activation]()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, n_outputs))
        self.layers = nn.Sequential(*layers)

    def forward(self, X: torch.Tensor, **kwargs) -> torch.Tensor:
        """Log-probabilities (batch, n_outputs); extra keyword arguments are ignored."""
        return torch.log_softmax(self.layers(X), dim=-1)
