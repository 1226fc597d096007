"""The neural baselines: a multilayer perceptron and HeLo (Zheng et al., ACM MM 2025)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral

import numpy as np
import torch

from .._columns import explicit_modalities
from .._param_validation import Bool, Float, Int, InvalidParameterError, Options, SequenceOf
from .._stats import pearson_correlation
from ..nn.helo import HeLoNet
from ..nn.mlp import ACTIVATIONS, MLPNet
from ._metadata import resolve_behavioural
from ._parameters import BEHAVIOURAL_MODALITIES, DROPOUT, MODALITIES
from .torch_base import TorchDistributionRegressor

__all__ = ["HeLoRegressor", "MLPDistributionRegressor"]


def _hidden_sizes(hidden_layer_sizes) -> tuple[int, ...]:
    """``hidden_layer_sizes`` (validated) as a tuple of Python ints."""
    sizes = hidden_layer_sizes
    if isinstance(sizes, Integral | np.integer):
        sizes = (sizes,)
    return tuple(int(h) for h in sizes)


class MLPDistributionRegressor(TorchDistributionRegressor):
    """Multilayer perceptron with a softmax head, trained on ``KL(y || y_hat)``.

    Features are standardised inside (mean/std of the training data), then fed through
    ``Linear -> activation -> dropout`` blocks of widths ``hidden_layer_sizes`` and a linear map
    to the logits of the emotions (:class:`mpcl_sklearn.nn.MLPNet`); the loss is the mean
    Kullback-Leibler divergence from the target distributions. Training (optimiser, seeding,
    device, early stopping, checkpoints, pickling) is that of
    :class:`~mpcl_sklearn.models.TorchDistributionRegressor`, as for MPCL. The network ignores
    the modality layout of the columns.

    The defaults suit tables of about 1k-20k rows and 10-1000 features (window features of
    physiological signals): two hidden layers, strong dropout (0.5) and AdamW's weight decay
    against overfitting to the training subjects, 50 epochs at ``lr=1e-3`` (on synthetic data
    with subject offsets, dropout 0.5 beat 0.2 and 0.3 on held-out subjects at 1k-5k rows).
    Features of any finite magnitude are standardised without overflow; standardised test rows
    are shrunk to a largest magnitude of ``1e6`` (direction kept).

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(128, 64)
        Widths of the hidden layers; ``()`` gives a softmax-linear model.
    activation : {"relu", "gelu", "tanh", "elu", "silu", "leaky_relu"}, default="relu"
    dropout : float, default=0.5
        Dropout after each hidden layer (training only).
    {training_parameters}

    Attributes
    ----------
    net_ : skorch.NeuralNet
    history_ : skorch.History
    module_args_ : dict
        The constructor arguments of the :class:`~mpcl_sklearn.nn.MLPNet`.
    scaler_ : Standardizer
        The standardisation.
    emotions_ : ndarray of str or None
        The emotion names (``y``'s columns or ``X.attrs["emotions"]``), None when unknown.
    n_features_in_, feature_names_in_, n_outputs_
    """

    _module_class = MLPNet

    _training_defaults = {"lr": 1e-3, "max_epochs": 50, "weight_decay": 1e-2}

    _constraints = {
        "hidden_layer_sizes": Int(1) | SequenceOf(Int(1)),
        "activation": Options(*ACTIVATIONS),
        "dropout": DROPOUT,
    }

    def __init__(
        self,
        hidden_layer_sizes=(128, 64),
        activation: str = "relu",
        dropout: float = 0.5,
        **training,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        super().__init__(**training)

    def _data_arguments(self, n_features: int, n_outputs: int, column_layout: dict) -> dict:
        return {"hidden_layer_sizes": _hidden_sizes(self.hidden_layer_sizes)}


class HeLoRegressor(TorchDistributionRegressor):
    """HeLo (Zheng et al., ACM MM 2025) as a scikit-learn emotion-distribution regressor.

    Physiological modalities fused by cross-attention, aligned with the behavioural tokens by a
    detached Gromov-Wasserstein (IPOT) transport plan, a shared transformer encoder, and
    label-correlation-driven cross-attention from a learned label embedding; the loss is
    ``KL(y || y_hat) + lambda_corr * MSE(R_hat, R)`` with ``R`` the correlation between the
    emotions of the training targets. The network is :class:`mpcl_sklearn.nn.HeLoNet`
    (see ``docs/baselines.md`` for the architecture and how it departs from the released code:
    the label embedding is learned, DropKey and dropout act in training only so ``predict`` is
    deterministic, and every test sample is scored).

    Input layout: with a DataFrame whose columns are named ``<modality>__<feature>`` or
    ``<modality>__<scale>__<feature>``, each modality (all its scales together) is one encoder;
    ``modalities`` maps names to column lists (or indices) explicitly, every column in exactly
    one; anything else (a plain array, columns without the prefix) is one physiological modality
    ``"x"`` (named columns that do not all follow the naming warn,
    :class:`~mpcl_sklearn.models.ModalityLayoutWarning`). Modalities named in
    ``behavioural_modalities`` are behavioural, the others physiological, in column order (the
    first one provides the cross-attention queries). At least one physiological modality is
    needed. ``X.attrs["emotions"]`` and ``X.attrs["behavioural"]`` of the package's feature
    table are read as for :class:`~mpcl_sklearn.models.MPCLDistributionRegressor`.

    **Without a behavioural modality** (a chest-only WESAD table, a plain array) the optimal
    transport step is skipped: there is nothing to align with, and the encoder and the emotion
    projection see the physiological tokens only. With a single physiological modality the
    cross-attention is skipped. Features of any finite magnitude are standardised inside
    without overflow; standardised test rows are shrunk to a largest magnitude of ``1e6``
    (direction kept).

    Parameters
    ----------
    d_model : int, default=32
        Token width (the paper: 128).
    n_tokens : int, default=4
        Tokens per modality.
    n_heads : int, default=4
        Heads of the physiological cross-attention and of the transformer encoder; must divide
        ``d_model``.
    ffn_dim : int, default=64
        Feed-forward width of the transformer encoder.
    depth : int, default=1
        Number of shared transformer encoder layers.
    dropout : float, default=0.1
        Dropout in the encoder and the head (the paper: 0.5).
    attn_dropout : float, default=0.1
        Dropout on the cross-attention weights.
    dropkey : float, default=0.1
        DropKey ratio of the cross-attentions (the paper: 0.5); training only.
    hidden_size : int, default=64
        Width of the two hidden layers of the head (the paper: 128).
    use_ot : bool, default=True
        Optimal-transport alignment; False concatenates the physiological and behavioural
        tokens unaligned (the ablation). Without behavioural modalities it has no effect.
    ot_beta : float, default=0.1
        IPOT proximal step.
    ot_outer_iter, ot_inner_iter : int, default=5, 20
        Gromov-Wasserstein linearisations and IPOT steps per linearisation.
    ot_threshold : float, default=0.1
        Fraction of the intra-set cosine-distance range that is zeroed.
    lambda_corr : float, default=1.0
        Weight of the label-correlation loss.
    behavioural_modalities : "auto", str, sequence of str or None, default="auto"
        Modalities treated as behavioural; the others are physiological. ``"auto"``: those
        declared by the recordings (``X.attrs["behavioural"]``), else
        ``("acc", "face", "video")``. A single string is one modality name; None: none. Names
        that match no modality of X warn.
    modalities : dict or None, default=None
        ``{name: [column names or indices]}``; every column must belong to exactly one.
    {training_parameters}

    Attributes
    ----------
    net_ : skorch.NeuralNet
    history_ : skorch.History
    module_args_ : dict
        The constructor arguments of the :class:`~mpcl_sklearn.nn.HeLoNet`.
    scaler_ : Standardizer
        The standardisation.
    physiological_modalities_, behavioural_modalities_ : list of str
        The modalities of each kind found in the training data, in column order.
    label_correlation_ : ndarray of shape (n_emotions, n_emotions)
        Pearson correlation between the emotions of the training targets (the target ``R``).
    learned_label_correlation_ : ndarray of shape (n_emotions, n_emotions)
        The learned ``R_hat = N(E) N(E)^T`` of the label embedding after training.
    emotions_ : ndarray of str or None
        The emotion names (``y``'s columns or ``X.attrs["emotions"]``), None when unknown.
    n_features_in_, feature_names_in_, n_outputs_

    References
    ----------
    Zheng et al., "Heterogeneous Multi-Modal Fusion with Label Correlation for Emotion
    Distribution Learning", ACM MM 2025 (arXiv 2507.06821).
    """

    _module_class = HeLoNet
    _uses_layout = True
    _module_count_args = ("depth",)

    _constraints = {
        "d_model": Int(1),
        "n_tokens": Int(1),
        "n_heads": Int(1),
        "ffn_dim": Int(1),
        "depth": Int(1),
        "dropout": DROPOUT,
        "attn_dropout": DROPOUT,
        "dropkey": DROPOUT,
        "hidden_size": Int(1),
        "use_ot": Bool(),
        "ot_beta": Float(0, None, "neither"),
        "ot_outer_iter": Int(0),
        "ot_inner_iter": Int(0),
        "ot_threshold": Float(0, 1),
        "lambda_corr": Float(0, None, "left"),
        "behavioural_modalities": BEHAVIOURAL_MODALITIES,
        "modalities": MODALITIES,
    }

    def _check_param_combinations(self) -> None:
        if self.d_model % self.n_heads:
            raise InvalidParameterError(
                f"The 'd_model' parameter of {type(self).__name__} must be divisible by "
                f"'n_heads' (the attention heads split the token width). Got d_model="
                f"{self.d_model} and n_heads={self.n_heads} instead."
            )

    def __init__(
        self,
        d_model: int = 32,
        n_tokens: int = 4,
        n_heads: int = 4,
        ffn_dim: int = 64,
        depth: int = 1,
        dropout: float = 0.1,
        attn_dropout: float = 0.1,
        dropkey: float = 0.1,
        hidden_size: int = 64,
        use_ot: bool = True,
        ot_beta: float = 0.1,
        ot_outer_iter: int = 5,
        ot_inner_iter: int = 20,
        ot_threshold: float = 0.1,
        lambda_corr: float = 1.0,
        behavioural_modalities: str | Sequence[str] | None = "auto",
        modalities: Mapping | None = None,
        **training,
    ):
        self.d_model = d_model
        self.n_tokens = n_tokens
        self.n_heads = n_heads
        self.ffn_dim = ffn_dim
        self.depth = depth
        self.dropout = dropout
        self.attn_dropout = attn_dropout
        self.dropkey = dropkey
        self.hidden_size = hidden_size
        self.use_ot = use_ot
        self.ot_beta = ot_beta
        self.ot_outer_iter = ot_outer_iter
        self.ot_inner_iter = ot_inner_iter
        self.ot_threshold = ot_threshold
        self.lambda_corr = lambda_corr
        self.behavioural_modalities = behavioural_modalities
        self.modalities = modalities
        super().__init__(**training)

    # ------------------------------------------------------------------ parameters and layout
    def _column_layout(self, X) -> dict:
        """One column group per modality (HeLo has no scales): the explicit ``modalities``, or
        the base's ``(modality, scale)`` groups merged over the scales."""
        if self.modalities is not None:
            names = getattr(self, "feature_names_in_", None)
            mods = explicit_modalities(self.modalities, names, X.shape[1])
        else:
            mods: dict[str, list[int]] = {}
            for (modality, _scale), idx in super()._column_layout(X).items():
                mods.setdefault(modality, []).extend(idx)
        return {(name, None): idx for name, idx in mods.items()}

    def _split_modalities(self, column_layout: dict) -> tuple[list[str], list[str]]:
        behavioural = getattr(self, "behavioural_modalities_", None)
        if behavioural is None:  # a model file of 0.1.0: its parameter held the names
            behavioural = self.behavioural_modalities or ()
            behavioural = (behavioural,) if isinstance(behavioural, str) else behavioural
        behavioural = {str(b) for b in behavioural}
        mods = [m for m, _ in column_layout]
        return [m for m in mods if m not in behavioural], [m for m in mods if m in behavioural]

    # ------------------------------------------------------------------ hooks
    def _layout_metadata(self, column_layout: dict, attrs: dict) -> dict:
        modalities = [m for m, _ in column_layout]
        names = resolve_behavioural(
            self.behavioural_modalities, attrs, modalities, type(self).__name__
        )
        phys = [m for m in modalities if m not in names]
        beh = [m for m in modalities if m in names]
        if not phys:
            raise ValueError(
                f"HeLoRegressor needs at least one physiological modality; all modalities {beh} "
                f"are behavioural (behavioural_modalities={self.behavioural_modalities!r})"
            )
        return {"physiological_modalities_": phys, "behavioural_modalities_": beh}

    def _prepare_fit(self, X: np.ndarray, Y: np.ndarray, groups=None) -> None:
        self.label_correlation_ = pearson_correlation(Y)

    def _data_arguments(self, n_features: int, n_outputs: int, column_layout: dict) -> dict:
        phys, beh = self._split_modalities(column_layout)
        return {
            "phys_columns": [column_layout[(m, None)] for m in phys],
            "beh_columns": [column_layout[(m, None)] for m in beh],
            "label_corr": self.label_correlation_,
        }

    def _after_fit(self, X: np.ndarray, Y: np.ndarray) -> None:
        with torch.no_grad():
            R = self.net_.module_.label_correlation()
        self.learned_label_correlation_ = R.detach().double().cpu().numpy()
