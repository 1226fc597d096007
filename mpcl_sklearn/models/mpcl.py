"""MPCLDistributionRegressor: our MPCL network as a scikit-learn emotion-distribution regressor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from .._columns import explicit_modalities, parse_feature_column
from .._param_validation import Bool, Float, Int, Options, SequenceOf
from ..nn.cooccurrence import label_cooccurrence_target
from ..nn.mpcl import MPCLNet
from ..training.callbacks import CosineLR, WeightAveraging
from ._metadata import resolve_behavioural
from ._parameters import BEHAVIOURAL_MODALITIES, DROPOUT, MODALITIES
from .torch_base import TorchDistributionRegressor

__all__ = ["MPCLDistributionRegressor"]


class MPCLDistributionRegressor(TorchDistributionRegressor):
    """Memory-guided prototypical co-occurrence learning for emotion distributions.

    Our formulation of MPCL (the paper's equations are not public; see ``docs/method.md``):
    tokens per (modality, scale), multi-scale Hopfield memory fusion, emotion-specific
    prototype banks, prototype relation distillation, co-occurrence memory retrieval and
    hierarchical semantic compression, trained with ``KL(y || y_hat)`` plus the auxiliary losses.
    The network is a :class:`mpcl_sklearn.nn.MPCLNet` inside a skorch net (``net_``).

    Input layout: with a DataFrame whose columns are named ``<modality>__<scale>__<feature>`` or
    ``<modality>__<feature>`` (what :class:`~mpcl_sklearn.features.ModalityFeatureExtractor`
    returns), every (modality, scale) is one token; ``modalities`` maps names to column lists
    (or indices) explicitly; anything else is one modality, in which case there is a single
    branch and the distillation is inactive: a plain array silently, named columns that do not
    all follow the naming with a :class:`~mpcl_sklearn.models.ModalityLayoutWarning`. Features
    are standardised inside (mean/std of the training data).

    Metadata of the feature table: ``X.attrs["emotions"]`` (or the columns of a ``y``
    DataFrame) become ``emotions_`` (see ``set_output(predict="pandas")`` for named
    predictions), ``X.attrs["behavioural"]`` the behavioural modalities when
    ``behavioural_modalities="auto"``.

    Early stopping: pass ``groups`` (the subjects) to ``fit`` so that the validation split
    keeps subjects apart; the package's protocols do, and so does scikit-learn under metadata
    routing (see ``early_stopping`` below and ``docs/protocols.md``).

    The training defaults ``lr=1e-3`` and ``weight_decay=1.0`` (decoupled, AdamW), the cosine
    schedule and the weight averaging were chosen on development data (``docs/method.md``,
    "Defaults and how they were chosen").

    Parameters
    ----------
    d_model : int, default=32
        Token width.
    prototypes_per_emotion : int, default=4
        K, prototypes per emotion in each bank.
    betas : tuple of float, default=(0.5, 2.0, 8.0)
        Inverse temperatures of the memory fusion.
    n_memory : int, default=8
        Learned stored patterns in each fusion memory.
    tau : float, default=0.1
        Temperature of the prototype affinities.
    cooccurrence_beta : float, default=1.0
        Inverse temperature of the co-occurrence retrieval.
    dropout : float, default=0.1
    lambda_distill, lambda_cooc, lambda_diversity : float, default=0.1, 0.1, 0.01
        Weights of the distillation, co-occurrence and prototype-diversity losses.
    distill_temperature : float, default=2.0
    use_memory_fusion, use_prototype_distillation, use_cooccurrence_retrieval, \
use_hierarchical_compression : bool, default=True
        Ablation switches: False removes the component (its parameters and loss).
    behavioural_modalities : "auto", str, sequence of str or None, default="auto"
        Modalities treated as behavioural; the others are physiological. ``"auto"``: those
        declared by the recordings (``X.attrs["behavioural"]``, carried by the feature table),
        else ``("acc", "face", "video")``. A single string is one modality name; None: none.
        Names that match no modality of X warn
        (:class:`~mpcl_sklearn.models.ModalityLayoutWarning`).
    modalities : dict or None, default=None
        ``{name: [column names or indices]}``; every column must belong to exactly one.
    affect_groups : sequence of sequences of int, or None
        Emotion indices of each affect group (e.g. positive / negative valence); None learns
        ``n_affect_groups`` soft groups.
    n_affect_groups : int, default=2
    input_dropout : float, default=0.2
        Dropout on the standardised features entering the token encoder (training only).
    token_dropout : float, default=0.2
        Probability of zeroing a whole (modality, scale) token in training (never all of a
        sample's tokens).
    use_linear_evidence : bool, default=True
        Add a ridge-penalised linear read-out of the features to the logits (``docs/method.md``
        §6); False removes it.
    linear_alpha : float, default=1.0
        Its L2 penalty ``alpha / 2 * ||V||^2`` (same scale as SA-BFGS's ``alpha``).
    lr_schedule : {"cosine", None}, default="cosine"
        Cosine decay of the learning rate per batch over the ``max_epochs`` epochs of a run
        (:class:`~mpcl_sklearn.training.callbacks.CosineLR`).
    weight_averaging : float, default=0.5
        Average the weights at the end of the last ``weight_averaging`` fraction of the epochs
        of a run (stochastic weight averaging, uniform;
        :class:`~mpcl_sklearn.training.callbacks.WeightAveraging`) and keep the average; 0 keeps
        the last weights. Ignored with ``early_stopping`` (the best epoch is kept instead).
    {training_parameters}

    Attributes
    ----------
    net_ : skorch.NeuralNet
    history_ : skorch.History
    module_args_ : dict
        The constructor arguments of the :class:`~mpcl_sklearn.nn.MPCLNet`.
    scaler_ : Standardizer
        The feature standardisation.
    cooccurrence_ : ndarray of shape (n_emotions, n_emotions)
        Learned emotion co-occurrence (rows sum to 1), averaged over the training samples.
    cooccurrence_target_ : ndarray of shape (n_emotions, n_emotions)
        Its regularisation target, from the correlation of the training distributions.
    tokens_ : list of (modality, scale)
        The token layout.
    behavioural_modalities_ : list of str
        The modalities of the data treated as behavioural, in column order.
    emotions_ : ndarray of str or None
        The emotion names (``y``'s columns or ``X.attrs["emotions"]``), None when unknown.
    n_features_in_, feature_names_in_, n_outputs_
    """

    _module_class = MPCLNet
    _uses_layout = True

    #: MPCL's own training defaults, chosen on development data (docs/method.md)
    _training_defaults = {"lr": 1e-3, "weight_decay": 1.0}

    _constraints = {
        "d_model": Int(1),
        "prototypes_per_emotion": Int(1),
        "betas": SequenceOf(Float(0, None, "neither"), non_empty=True),
        "n_memory": Int(0),
        "tau": Float(0, None, "neither"),
        "cooccurrence_beta": Float(0, None, "left"),
        "dropout": DROPOUT,
        "lambda_distill": Float(0, None, "left"),
        "lambda_cooc": Float(0, None, "left"),
        "lambda_diversity": Float(0, None, "left"),
        "distill_temperature": Float(0, None, "neither"),
        "use_memory_fusion": Bool(),
        "use_prototype_distillation": Bool(),
        "use_cooccurrence_retrieval": Bool(),
        "use_hierarchical_compression": Bool(),
        "behavioural_modalities": BEHAVIOURAL_MODALITIES,
        "modalities": MODALITIES,
        # emotion indices; that they exist in y is checked when y is known (_affect_membership)
        "affect_groups": SequenceOf(SequenceOf(Int(0), non_empty=True), non_empty=True) | None,
        "n_affect_groups": Int(1),
        "input_dropout": DROPOUT,
        "token_dropout": DROPOUT,
        "use_linear_evidence": Bool(),
        "linear_alpha": Float(0, None, "left"),
        "lr_schedule": Options("cosine") | None,
        "weight_averaging": Float(0, 1),
    }

    def __init__(
        self,
        d_model: int = 32,
        prototypes_per_emotion: int = 4,
        betas: tuple[float, ...] = (0.5, 2.0, 8.0),
        n_memory: int = 8,
        tau: float = 0.1,
        cooccurrence_beta: float = 1.0,
        dropout: float = 0.1,
        lambda_distill: float = 0.1,
        lambda_cooc: float = 0.1,
        lambda_diversity: float = 0.01,
        distill_temperature: float = 2.0,
        use_memory_fusion: bool = True,
        use_prototype_distillation: bool = True,
        use_cooccurrence_retrieval: bool = True,
        use_hierarchical_compression: bool = True,
        behavioural_modalities: str | Sequence[str] | None = "auto",
        modalities: Mapping | None = None,
        affect_groups: Sequence[Sequence[int]] | None = None,
        n_affect_groups: int = 2,
        input_dropout: float = 0.2,
        token_dropout: float = 0.2,
        use_linear_evidence: bool = True,
        linear_alpha: float = 1.0,
        lr_schedule: str | None = "cosine",
        weight_averaging: float = 0.5,
        **training,
    ):
        self.d_model = d_model
        self.prototypes_per_emotion = prototypes_per_emotion
        self.betas = betas
        self.n_memory = n_memory
        self.tau = tau
        self.cooccurrence_beta = cooccurrence_beta
        self.dropout = dropout
        self.lambda_distill = lambda_distill
        self.lambda_cooc = lambda_cooc
        self.lambda_diversity = lambda_diversity
        self.distill_temperature = distill_temperature
        self.use_memory_fusion = use_memory_fusion
        self.use_prototype_distillation = use_prototype_distillation
        self.use_cooccurrence_retrieval = use_cooccurrence_retrieval
        self.use_hierarchical_compression = use_hierarchical_compression
        self.behavioural_modalities = behavioural_modalities
        self.modalities = modalities
        self.affect_groups = affect_groups
        self.n_affect_groups = n_affect_groups
        self.input_dropout = input_dropout
        self.token_dropout = token_dropout
        self.use_linear_evidence = use_linear_evidence
        self.linear_alpha = linear_alpha
        self.lr_schedule = lr_schedule
        self.weight_averaging = weight_averaging
        super().__init__(**training)

    # ------------------------------------------------------------------ layout
    def _column_layout(self, X) -> dict:
        if self.modalities is None:
            return super()._column_layout(X)
        names = getattr(self, "feature_names_in_", None)
        layout: dict = {}
        for mod, idx in explicit_modalities(self.modalities, names, X.shape[1]).items():
            by_scale: dict = {}
            for i in idx:
                scale = None
                if names is not None:
                    try:
                        scale = parse_feature_column(str(names[i]))[1]
                    except ValueError:
                        scale = None
                by_scale.setdefault(scale, []).append(i)
            for scale, ii in by_scale.items():
                layout[(mod, scale)] = ii
        return layout

    def _affect_membership(self, n_outputs: int):
        if self.affect_groups is None:
            return None
        groups = [list(g) for g in self.affect_groups]
        M = np.zeros((n_outputs, len(groups)), dtype=np.float32)
        for g, members in enumerate(groups):
            for c in members:
                if not 0 <= int(c) < n_outputs:
                    raise ValueError(
                        f"affect group {g} names emotion {c}, but y has {n_outputs} emotions"
                    )
                M[int(c), g] = 1.0
        return M

    # ------------------------------------------------------------------ hooks
    def _run_callbacks(self):
        callbacks = []
        if self.lr_schedule == "cosine":
            callbacks.append(("lr_schedule", CosineLR()))
        if self.weight_averaging and not self.early_stopping:
            callbacks.append(("weight_averaging", WeightAveraging(float(self.weight_averaging))))
        return callbacks

    def _layout_metadata(self, column_layout: dict, attrs: dict) -> dict:
        modalities = list(dict.fromkeys(m for m, _ in column_layout))
        names = resolve_behavioural(
            self.behavioural_modalities, attrs, modalities, type(self).__name__
        )
        return {"behavioural_modalities_": [m for m in modalities if m in names]}

    def _prepare_fit(self, X: np.ndarray, Y: np.ndarray) -> None:
        self.cooccurrence_target_ = label_cooccurrence_target(Y)
        self.label_prior_ = Y.mean(axis=0)
        self.tokens_ = list(self.column_layout_)
        self._affect_membership(Y.shape[1])  # validate early

    def _data_arguments(self, n_features: int, n_outputs: int, column_layout: dict) -> dict:
        behavioural = getattr(self, "behavioural_modalities_", None)
        if behavioural is None:  # a model file of 0.1.0: its parameter held the names
            behavioural = self.behavioural_modalities or ()
        behavioural = set(behavioural)
        keys = list(column_layout)
        return {
            "n_emotions": n_outputs,
            "token_groups": [list(column_layout[k]) for k in keys],
            "behavioural": [k[0] in behavioural for k in keys],
            "betas": tuple(self.betas),
            "affect_groups": self._affect_membership(n_outputs),
            "cooccurrence_target": self.cooccurrence_target_,
            "label_prior": getattr(self, "label_prior_", None),
        }

    def _after_fit(self, X: np.ndarray, Y: np.ndarray) -> None:
        module = self.net_.module_
        module.eval()
        rng = np.random.default_rng(0)
        take = rng.choice(len(X), size=min(len(X), 4096), replace=False)
        with torch.inference_mode():
            xt = torch.from_numpy(np.ascontiguousarray(X[np.sort(take)])).to(self.device_)
            M = module.cooccurrence_matrix(xt).double().cpu().numpy()
        self.cooccurrence_ = M / M.sum(axis=1, keepdims=True)
