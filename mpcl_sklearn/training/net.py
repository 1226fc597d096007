"""The skorch net that trains every torch model of the package."""

from __future__ import annotations

import inspect

import torch
from skorch import NeuralNet
from skorch.callbacks import GradientNormClipping, ProgressBar

from .batches import TensorBatchDataset

__all__ = [
    "OPTIMIZERS",
    "DistributionNet",
    "TrainingDivergedError",
    "build_net",
    "optimizer_class",
    "prediction_net",
]

#: optimizer names accepted by the estimators' ``optimizer`` parameter
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adamw": torch.optim.AdamW,
    "adam": torch.optim.Adam,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}


class TrainingDivergedError(FloatingPointError):
    """Training diverged: the loss, the weights or the network's outputs became NaN or
    infinite."""


class DistributionNet(NeuralNet):
    """skorch net: ``KL(y || y_hat)`` plus the module's auxiliary loss, tensor-slice batches,
    and an error naming the remedies when the loss becomes NaN or infinite.

    The module's ``forward`` returns log-probabilities; ``module.auxiliary_loss()`` (optional)
    returns a scalar computed during the last training forward pass, or None. Training batches
    are shuffled with ``batch_generator_`` (a ``torch.Generator`` set before training).
    """

    def get_loss(self, y_pred, y_true, X=None, training=False):
        loss = super().get_loss(y_pred, y_true, X=X, training=training)
        if training:
            aux_fn = getattr(self.module_, "auxiliary_loss", None)
            aux = aux_fn() if aux_fn is not None else None
            if aux is not None:
                loss = loss + aux
        if not torch.isfinite(loss):
            epoch = len(self.history)
            raise TrainingDivergedError(
                f"the {'training' if training else 'validation'} loss became {loss.item()} in "
                f"epoch {epoch}: training diverged. Try a lower learning rate (lr={self.lr}), "
                "keep gradient clipping on (max_grad_norm, default 5.0) or lower it, check the "
                "features for extreme values, or use a smaller batch-independent loss weight."
            )
        return loss

    def get_iterator(self, dataset, training=False):
        if isinstance(dataset, TensorBatchDataset):
            gen = getattr(self, "batch_generator_", None)
            return dataset.batches(self.batch_size, training, gen)
        return super().get_iterator(dataset, training=training)


def optimizer_class(optimizer) -> type[torch.optim.Optimizer]:
    """A torch optimizer class from a name of :data:`OPTIMIZERS` or a class."""
    if isinstance(optimizer, str):
        try:
            return OPTIMIZERS[optimizer.lower()]
        except KeyError:
            raise ValueError(
                f"optimizer must be one of {sorted(OPTIMIZERS)} or a torch optimizer "
                f"class, got {optimizer!r}"
            ) from None
    if isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer):
        return optimizer
    raise TypeError(f"optimizer must be a name or a torch.optim.Optimizer class, got {optimizer!r}")


def build_net(
    module: torch.nn.Module,
    *,
    device: torch.device,
    lr: float,
    max_epochs: int,
    batch_size: int,
    optimizer,
    weight_decay: float,
    max_grad_norm: float | None,
    verbose: int,
    callbacks=(),
) -> DistributionNet:
    """A :class:`DistributionNet` for ``module`` (not initialised).

    Gradient-norm clipping comes first and a progress bar (``verbose >= 2``) second, then
    ``callbacks``: ``(name, callback)`` pairs in the order they run.
    """
    named = []
    if max_grad_norm is not None:
        named.append(("grad_clip", GradientNormClipping(max_grad_norm)))
    if verbose and verbose >= 2:
        named.append(("progress", ProgressBar()))
    named.extend(callbacks)
    opt_kwargs = {}
    opt_cls = optimizer_class(optimizer)
    # always, when the optimizer takes it: AdamW's own default is 1e-2, not 0
    if weight_decay or "weight_decay" in inspect.signature(opt_cls).parameters:
        opt_kwargs["optimizer__weight_decay"] = weight_decay
    if opt_cls in (torch.optim.Adam, torch.optim.AdamW) and device.type in ("cpu", "cuda"):
        # one fused kernel instead of a Python loop over the parameters (~1 ms per step)
        opt_kwargs["optimizer__fused"] = True
    return DistributionNet(
        module=module,
        criterion=torch.nn.KLDivLoss,
        criterion__reduction="batchmean",
        optimizer=opt_cls,
        lr=lr,
        max_epochs=max_epochs,
        batch_size=batch_size,
        train_split=None,
        callbacks=named,
        device=str(device),
        verbose=int(verbose or 0),
        **opt_kwargs,
    )


def prediction_net(module: torch.nn.Module, device: torch.device) -> DistributionNet:
    """An initialised :class:`DistributionNet` holding a trained ``module`` (a model loaded from
    a pickle or a model file), built from nothing but the module: no callbacks, placeholder
    training settings (AdamW, ``lr=1e-3``, no clipping). Whatever the estimator's parameters
    say, it is built (a ``set_params`` to an invalid value after the fit cannot make a saved
    model unloadable); a warm-start fit replaces it by a net built from the parameters."""
    net = build_net(
        module,
        device=device,
        lr=1e-3,
        max_epochs=1,
        batch_size=128,
        optimizer="adamw",
        weight_decay=0.0,
        max_grad_norm=None,
        verbose=0,
    )
    return net.initialize()
