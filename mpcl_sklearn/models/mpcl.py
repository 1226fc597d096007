"""MPCLDistributionRegressor: our MPCL network as a scikit-learn emotion-distribution regressor."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from scipy.special import softmax

from .._columns import explicit_modalities, parse_feature_column
from .._param_validation import Bool, Float, Int, Options, Satisfies, SequenceOf
from .._validation import check_group_ids
from ..metrics import kl_divergence
from ..nn.cooccurrence import label_cooccurrence_target
from ..nn.mpcl import MPCLNet, StackedMPCLNet
from ..training.callbacks import CosineLR, WeightAveraging
from ..training.members import (
    MemberBatchDataset,
    MemberGradClipping,
    MemberKLDivLoss,
    member_masks,
)
from ._combination import (
    choose_condition_C,
    choose_linear_alpha,
    choose_readout_rank,
    choose_weights,
    condition_fit,
    condition_predict,
    convex_linear_fit,
    label_directions,
    linear_predict,
    out_of_fold_mean,
    out_of_fold_prior,
    project_readout,
)
from ._metadata import resolve_behavioural
from ._parameters import BEHAVIOURAL_MODALITIES, DROPOUT, MODALITIES
from .torch_base import TorchDistributionRegressor

__all__ = ["MPCLDistributionRegressor"]

#: what ``shrinkage="auto"`` may mix into the members' prediction
SHRINKAGE_TARGETS = ("prior", "linear", "conditions")


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
    linear_alpha : float or "auto", default="auto"
        Its L2 penalty ``alpha / 2 * ||V||^2`` (same scale as SA-BFGS's ``alpha``). ``"auto"``:
        chosen from (0.01, 0.1, 1, 10) by the held-out KL of the convex linear model on the
        members' folds (or 3 group folds with a single member), inside the training data.
    cooccurrence_prior : bool, default=True
        Initialise a learned bias of the co-occurrence retrieval at the log of the label
        co-occurrence target (``docs/method.md`` §4).
    member_folds, member_repeats : int, default=3, 1
        Train ``member_folds * member_repeats`` members at once, as one stacked network
        (``torch.func.vmap``): for each repeat the training subjects (``groups`` passed to
        ``fit``; rows otherwise) are split into ``member_folds`` folds and each member trains
        on all folds but one, so every training row is held out by ``member_repeats`` members.
        The prediction is the members' mean. ``member_folds=1``: every member sees every row
        (a seed ensemble). A warm start on the same rows continues every member on its own rows
        and keeps the combination chosen by the first fit.
    shrinkage : "auto", float in [0, 1] or None, default="auto"
        Mix the members' mean prediction ``p`` with simpler predictors fitted on the same data:
        ``w_net p + w_lin p_lin + w_prior prior``. ``"auto"``: the weights (on the simplex, step
        0.02) minimise the KL of the out-of-fold predictions on the training rows -- each
        member's own prediction, each member's own convex linear fit and each member's own
        training mean, for the rows that member did not train on; ``p_lin`` is then the convex
        linear model refitted on all rows. With no held-out rows (``member_folds=1``) nothing is
        mixed. A number ``s`` fixes ``(1 - s) p + s prior``; None is 0.
    shrinkage_targets : tuple of {"prior", "linear", "conditions"}, \
default=("prior", "linear", "conditions")
        What ``shrinkage="auto"`` may mix in: the training label distribution, the convex
        linear read-out (the linear evidence fitted alone, by L-BFGS, at ``linear_alpha_``;
        only with ``use_linear_evidence``) and the condition read-out (only when ``fit`` gets
        ``conditions``): a multinomial logistic regression from the features onto the training
        rows' experimental conditions, predicting the mixture of the conditions' mean label
        distributions by their probabilities, its ``C`` chosen like ``linear_alpha="auto"``
        from (0.0001, 0.0003, 0.001, 0.003) (``docs/method.md``, "Condition read-out").
    readout_rank : "auto", int >= 1 or None, default="auto"
        Keep the combined prediction's deviation from the label prior only along the ``k``
        leading principal directions of the training label distributions (the emotions'
        co-occurrence structure); the result is clipped to 1e-6 and renormalised. ``"auto"``:
        ``k`` (``n_emotions``: no projection) by the KL of the out-of-fold predictions that
        choose ``shrinkage="auto"``, each row projected with the directions of the members
        that held it out, kept only if its gain exceeds two standard errors (clustered by
        ``groups``); nothing is projected without held-out rows. An int fixes ``k``
        (at most ``n_emotions``); None never projects (``docs/method.md``, "Read-out rank").
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
        The constructor arguments of the network: a :class:`~mpcl_sklearn.nn.MPCLNet`, or with
        several members a :class:`~mpcl_sklearn.nn.StackedMPCLNet` (``n_members`` of them).
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
    n_members_ : int
        Members trained (1: a single network).
    shrinkage_ : float
        The mixing weight of the training label distribution in the prediction.
    combination_weights_ : dict
        ``{"network": w_net, "linear": w_lin, "conditions": w_cond, "prior": w_prior}`` (sum
        1).
    linear_coef_, linear_intercept_ : ndarray
        The convex linear read-out mixed in (when ``w_lin`` can be non-zero).
    oof_kl_ : float
        Mean KL of the members' out-of-fold predictions (only with held-out rows).
    readout_rank_ : int
        The principal directions of the labels the prediction keeps (``n_outputs_``: all,
        nothing is projected).
    readout_rank_scores_ : dict
        Out-of-fold KL of the combined prediction per rank (``readout_rank="auto"`` with
        held-out rows).
    readout_basis_ : ndarray of shape (n_emotions, readout_rank_) or None
        The directions kept (None when nothing is projected).
    conditions_ : ndarray of str or None
        The training rows' experimental conditions known to the condition read-out (None
        without ``conditions``).
    condition_coef_, condition_intercept_, condition_means_ : ndarray
        The condition read-out mixed in (with ``conditions_``): logits ``X W^T + b`` of the
        conditions and their mean label distributions (n_conditions, n_emotions).
    condition_C_ : float
        Its inverse penalty, chosen out of fold; ``condition_C_scores_`` the held-out KL per
        ``C``.
    linear_alpha_ : float
        The linear evidence's penalty used.
    linear_alpha_scores_ : dict
        Held-out KL of the convex linear model per penalty (``linear_alpha="auto"``).
    n_features_in_, feature_names_in_, n_outputs_
    """

    _module_class = MPCLNet
    _uses_layout = True
    # the experimental conditions reach fit under metadata routing too (they are used only
    # when given)
    __metadata_request__fit = {"groups": True, "conditions": True}

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
        "linear_alpha": Options("auto") | Float(0, None, "left"),
        "lr_schedule": Options("cosine") | None,
        "weight_averaging": Float(0, 1),
        "cooccurrence_prior": Bool(),
        "member_folds": Int(1),
        "member_repeats": Int(1),
        "shrinkage": Options("auto") | Float(0, 1) | None,
        "shrinkage_targets": Satisfies(
            lambda v: (
                isinstance(v, tuple | list)
                and len(v) > 0
                and len(set(v)) == len(v)
                and all(isinstance(t, str) and t in SHRINKAGE_TARGETS for t in v)
            ),
            f"a non-empty tuple of distinct names from {SHRINKAGE_TARGETS}",
            invalid=[(), ("prior", "prior"), ("linear", "other"), "prior"],
        ),
        "readout_rank": Options("auto") | Int(1) | None,
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
        linear_alpha: float | str = "auto",
        lr_schedule: str | None = "cosine",
        weight_averaging: float = 0.5,
        cooccurrence_prior: bool = True,
        member_folds: int = 3,
        member_repeats: int = 1,
        shrinkage: float | str | None = "auto",
        shrinkage_targets: tuple[str, ...] = SHRINKAGE_TARGETS,
        readout_rank: int | str | None = "auto",
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
        self.cooccurrence_prior = cooccurrence_prior
        self.member_folds = member_folds
        self.member_repeats = member_repeats
        self.shrinkage = shrinkage
        self.shrinkage_targets = shrinkage_targets
        self.readout_rank = readout_rank
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
    #: parameters added after models were first saved, with the values that reproduce how those
    #: models were built (a pickled model without them unpickles unchanged)
    _LEGACY_PARAMS = {
        "cooccurrence_prior": False,
        "member_folds": 1,
        "member_repeats": 1,
        "shrinkage": None,
        "shrinkage_targets": ("prior",),
        "readout_rank": None,
    }

    def __setstate__(self, state):
        state = dict(state)
        for name, value in self._LEGACY_PARAMS.items():
            state.setdefault(name, value)
        super().__setstate__(state)

    @property
    def _n_members(self) -> int:
        return int(getattr(self, "n_members_", 1))

    #: members are built one after another (bounded by the stored arrays on load)
    _module_count_args = ("n_members",)

    @property
    def _module_class(self) -> type[torch.nn.Module]:  # type: ignore[override]
        """The network: one :class:`MPCLNet`, or the members stacked as one network."""
        return StackedMPCLNet if self._n_members > 1 else MPCLNet

    def _run_callbacks(self):
        callbacks = []
        if self.lr_schedule == "cosine":
            callbacks.append(("lr_schedule", CosineLR()))
        if self.weight_averaging and not self.early_stopping:
            callbacks.append(("weight_averaging", WeightAveraging(float(self.weight_averaging))))
        return callbacks

    def _make_net(self, device, module, fingerprint=None):
        net = super()._make_net(device, module, fingerprint)
        if isinstance(module, StackedMPCLNet):  # each member's own loss and gradient norm
            net.criterion = MemberKLDivLoss
            net.callbacks = [
                (name, MemberGradClipping(cb.gradient_clip_value) if name == "grad_clip" else cb)
                for name, cb in net.callbacks
            ]
        return net

    def _training_dataset(self, X: torch.Tensor, Y: torch.Tensor, rows: np.ndarray):
        masks = getattr(self, "_member_masks", None)
        if self._n_members > 1 and masks is not None:  # fit() dropped masks of other rows
            return MemberBatchDataset(X, Y, masks[rows])
        return super()._training_dataset(X, Y, rows)

    def _layout_metadata(self, column_layout: dict, attrs: dict) -> dict:
        modalities = list(dict.fromkeys(m for m, _ in column_layout))
        names = resolve_behavioural(
            self.behavioural_modalities, attrs, modalities, type(self).__name__
        )
        return {"behavioural_modalities_": [m for m in modalities if m in names]}

    def fit(self, X, y, groups=None, conditions=None):
        """Fit the network (or its cross-fitted members).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples, n_emotions)
        groups : array-like of shape (n_samples,) or a subject/trial table, optional
            Subject of each row. With ``member_folds >= 2`` the members' folds keep subjects
            apart (strongly recommended for windowed recordings: otherwise the out-of-fold
            predictions that choose the combination share trials with the training rows), and
            the early-stopping split does too. It reaches ``fit`` under metadata routing
            (requested by default).
        conditions : array-like of shape (n_samples,), optional
            The experimental condition (stimulus, task) of each training row, with names shared
            by the subjects (WESAD: ``Base``, ``TSST``, ``Fun``, ...). Only the training rows
            need them: they train the condition read-out that the validated combination may
            mix in (``shrinkage_targets``); ``predict`` never needs them. Requested by default
            under metadata routing. Ignored without ``"conditions"`` in ``shrinkage_targets``.

        Returns
        -------
        self
        """
        masks = getattr(self, "_member_masks", None)
        if masks is not None and (not self.warm_start or len(masks) != len(X)):
            self._member_masks = None  # a warm start on the same rows keeps the members' rows
        self._fit_conditions = self._check_conditions(conditions, X)
        try:
            return super().fit(X, y, groups=groups)
        finally:
            self._prepared = False
            self._linear_folds = None
            self._condition_folds = None
            self._oof_combined = None
            self._fit_groups = None
            self._fit_conditions = None

    @staticmethod
    def _check_conditions(conditions, X) -> np.ndarray | None:
        """The rows' conditions as text, or None; refused when ill-formed."""
        if conditions is None:
            return None
        if np.ndim(conditions) != 1:
            raise ValueError(
                "conditions must be a 1-D sequence (the experimental condition of each row), "
                f"got shape {np.shape(conditions)}"
            )
        if len(conditions) != len(X):
            raise ValueError(f"conditions has {len(conditions)} entries, X has {len(X)} rows")
        return np.asarray(check_group_ids(conditions, "conditions")).astype(str)

    def _prepare_fit(self, X: np.ndarray, Y: np.ndarray, groups=None) -> None:
        self.cooccurrence_target_ = label_cooccurrence_target(Y)
        self.label_prior_ = Y.mean(axis=0)
        if isinstance(self.readout_rank, int | np.integer) and self.readout_rank > Y.shape[1]:
            raise ValueError(
                f"readout_rank={self.readout_rank} exceeds the number of emotions in y "
                f"({Y.shape[1]})"
            )
        self.tokens_ = list(self.column_layout_)
        self._affect_membership(Y.shape[1])  # validate early
        self._prepared = True
        n_members = int(self.member_folds) * int(self.member_repeats)
        self._member_masks = None
        if n_members > 1 and self.member_folds > 1 and groups is not None:
            if len(np.unique(np.asarray(groups))) < 2:
                warnings.warn(
                    "groups has a single value: the members' folds split the rows instead "
                    "(neighbouring windows of one recording then fall on both sides of a fold)",
                    UserWarning,
                    stacklevel=4,
                )
                groups = None
        n_units = len(X) if groups is None else len(np.unique(np.asarray(groups)))
        folds = int(self.member_folds)
        if folds > 1 and n_units < 2:
            warnings.warn(
                f"member_folds={folds} needs at least 2 training rows or groups, got {n_units}: "
                "the members train on all rows and nothing is chosen out of fold",
                UserWarning,
                stacklevel=4,
            )
            folds = 1
            n_members = int(self.member_repeats)
        if n_members > 1:
            masks = member_masks(
                len(X),
                groups,
                n_folds=folds,
                n_repeats=self.member_repeats,
                random_state=int(torch.randint(0, 2**31 - 1, ()).item()),
            )
            self._member_masks = masks
            n_members = masks.shape[1]
        self.n_members_ = n_members
        self._fit_groups = None if groups is None else np.asarray(groups)
        self._fit_linear_path(X, Y, groups)
        self._fit_condition_path(X, Y)

    def _fit_linear_path(self, X: np.ndarray, Y: np.ndarray, groups) -> None:
        """Choose ``linear_alpha="auto"`` on held-out folds, and fit the convex linear read-out
        on every member's rows (for the out-of-fold combination) and on all rows."""
        alpha = self.linear_alpha
        masks = self._member_masks
        stack = self._stacks_linear()
        if not self.use_linear_evidence or (alpha != "auto" and not stack):
            self.linear_alpha_ = 1.0 if alpha == "auto" else float(alpha)
            return
        Xd = np.asarray(X, dtype=np.float64)
        if alpha == "auto":
            folds = masks
            if folds is None or folds.all():
                several = groups is not None and len(np.unique(groups)) >= 2
                folds = None
                if several or len(X) >= 2:
                    folds = member_masks(
                        len(X),
                        groups if several else None,
                        n_folds=3,
                        random_state=int(torch.randint(0, 2**31 - 1, ()).item()),
                    )
            if folds is None:  # a single row: nothing to hold out
                alpha, self.linear_alpha_scores_ = 1.0, {}
            else:
                alpha, self.linear_alpha_scores_ = choose_linear_alpha(Xd, Y, folds)
        self.linear_alpha_ = float(alpha)
        if stack:
            sets = [np.ones(len(X), bool)] if masks is None else list(masks.T)
            fits = [convex_linear_fit(Xd[m], Y[m], self.linear_alpha_) for m in sets]
            # out of fold: each member's own fit; in the prediction: one fit on all rows
            self._linear_folds = (np.stack([W for W, _ in fits]), np.stack([b for _, b in fits]))
            W, b = fits[0] if masks is None else convex_linear_fit(Xd, Y, self.linear_alpha_)
            self.linear_coef_, self.linear_intercept_ = W, b

    def _fit_condition_path(self, X: np.ndarray, Y: np.ndarray) -> None:
        """Fit the condition read-out: ``C`` and every member's read-out on the members'
        folds (for the out-of-fold combination), then the read-out on all rows."""
        self.conditions_ = None
        conditions = getattr(self, "_fit_conditions", None)
        if conditions is None or "conditions" not in self.shrinkage_targets:
            return
        masks = self._member_masks
        usable = self.shrinkage == "auto" and masks is not None and not masks.all()
        if not usable or len(np.unique(conditions)) < 2:
            why = (
                "a single condition"
                if usable
                else "no held-out rows to choose its weight on (it needs shrinkage='auto' and "
                "member_folds >= 2)"
            )
            warnings.warn(
                f"conditions were given but the condition read-out is not used: {why}",
                UserWarning,
                stacklevel=4,
            )
            return
        Xd = np.asarray(X, dtype=np.float64)
        self.condition_C_, self.condition_C_scores_, self._condition_folds = choose_condition_C(
            Xd, Y, conditions, masks
        )
        self.conditions_ = np.unique(conditions)
        self.condition_coef_, self.condition_intercept_, self.condition_means_ = condition_fit(
            Xd, Y, conditions, self.conditions_, self.condition_C_
        )

    def _stacks_linear(self) -> bool:
        """Whether the prediction may mix in the convex linear read-out (chosen out of fold)."""
        return (
            self.shrinkage == "auto"
            and "linear" in self.shrinkage_targets
            and self.use_linear_evidence
            and int(self.member_folds) > 1
        )

    def _data_arguments(self, n_features: int, n_outputs: int, column_layout: dict) -> dict:
        behavioural = getattr(self, "behavioural_modalities_", None)
        if behavioural is None:  # a model file of 0.1.0: its parameter held the names
            behavioural = self.behavioural_modalities or ()
        behavioural = set(behavioural)
        keys = list(column_layout)
        args = {
            "n_emotions": n_outputs,
            "token_groups": [list(column_layout[k]) for k in keys],
            "behavioural": [k[0] in behavioural for k in keys],
            "betas": tuple(self.betas),
            "affect_groups": self._affect_membership(n_outputs),
            "cooccurrence_target": self.cooccurrence_target_,
            "label_prior": getattr(self, "label_prior_", None),
            "linear_alpha": float(
                getattr(
                    self, "linear_alpha_", 1.0 if self.linear_alpha == "auto" else self.linear_alpha
                )
            ),
        }
        if self._n_members > 1:
            args["n_members"] = self._n_members
        return args

    def _after_fit(self, X: np.ndarray, Y: np.ndarray) -> None:
        module = self.net_.module_
        module.eval()
        rng = np.random.default_rng(0)
        take = rng.choice(len(X), size=min(len(X), 4096), replace=False)
        with torch.inference_mode():
            xt = torch.from_numpy(np.ascontiguousarray(X[np.sort(take)])).to(self.device_)
            if isinstance(module, StackedMPCLNet):
                M = module.call_members("cooccurrence_matrix", xt).mean(0)
            else:
                M = module.cooccurrence_matrix(xt)
            M = M.double().cpu().numpy()
        self.cooccurrence_ = M / M.sum(axis=1, keepdims=True)
        if getattr(self, "_prepared", False) or not hasattr(self, "combination_weights_"):
            # a warm start continues the members on their rows and keeps the combination
            self.shrinkage_ = self._fit_shrinkage(module, X, Y)
            self._fit_readout_rank(Y)

    def _member_predictions(self, module, X: np.ndarray) -> np.ndarray:
        """Every member's predicted distributions for standardised X: (K, n, C)."""
        logp = self._predict_log_proba_tensor(X, forward=module.member_log_proba, axis=1)
        return softmax(logp.astype(np.float64), axis=-1)

    def _fit_shrinkage(self, module, X: np.ndarray, Y: np.ndarray) -> float:
        """Choose the weights of the network, the linear read-out and the prior (returns the
        prior's); they are stored in ``combination_weights_``."""
        sh = self.shrinkage
        s = 0.0 if sh is None or sh == "auto" else float(sh)
        self.combination_weights_ = {"network": 1 - s, "linear": 0.0, "conditions": 0.0, "prior": s}
        masks = getattr(self, "_member_masks", None)
        if sh != "auto" or masks is None or not isinstance(module, StackedMPCLNet) or masks.all():
            return s  # fixed, or no member holds rows out: nothing to validate on
        rows, oof = out_of_fold_mean(self._member_predictions(module, X), masks)
        self.oof_kl_ = kl_divergence(Y[rows], oof)
        parts, names = [oof], ["network"]
        if getattr(self, "_linear_folds", None) is not None:
            lin = linear_predict(X, *self._linear_folds)
            parts.append(out_of_fold_mean(lin, masks)[1])
            names.append("linear")
        if getattr(self, "_condition_folds", None) is not None:
            cond = condition_predict(np.asarray(X, dtype=np.float64), *self._condition_folds)
            parts.append(out_of_fold_mean(cond, masks)[1])
            names.append("conditions")
        if "prior" in self.shrinkage_targets:
            # each member's own training mean: the held-out rows' labels must not leak into it
            parts.append(out_of_fold_prior(Y, masks)[1])
            names.append("prior")
        w = choose_weights(Y[rows], parts)
        self.combination_weights_ = dict.fromkeys(("network", "linear", "conditions", "prior"), 0.0)
        self.combination_weights_.update({n: float(v) for n, v in zip(names, w)})
        self._oof_combined = (rows, sum(wi * part for wi, part in zip(w, parts)))
        return self.combination_weights_["prior"]

    def _fit_readout_rank(self, Y: np.ndarray) -> None:
        """Choose ``readout_rank_`` (out of fold for ``"auto"``) and its ``readout_basis_``."""
        C = Y.shape[1]
        k, self.readout_rank_scores_ = C, {}
        oof = getattr(self, "_oof_combined", None)
        if self.readout_rank == "auto" and oof is not None:
            k, self.readout_rank_scores_ = choose_readout_rank(
                Y, oof[1], oof[0], self._member_masks, getattr(self, "_fit_groups", None)
            )
        elif self.readout_rank not in ("auto", None):
            k = int(self.readout_rank)
        self.readout_rank_ = int(k)
        self.readout_basis_ = label_directions(Y)[:, :k] if k < C else None

    def _predict_distribution(self, X: np.ndarray) -> np.ndarray:
        weights = getattr(self, "combination_weights_", None)
        if weights is None:  # fitted before combination weights existed
            P = super()._predict_distribution(X)
            s = float(getattr(self, "shrinkage_", 0.0))
            return (1 - s) * P + s * self.label_prior_ if s > 0 else P
        Xs = self._standardize(X)
        out = np.zeros((len(X), self.n_outputs_))
        if weights["network"] > 0:  # a network the combination does not use is not run
            out = out + weights["network"] * self._network_distribution(Xs)
        if weights["linear"] > 0:
            lin = linear_predict(Xs, self.linear_coef_, self.linear_intercept_)
            out = out + weights["linear"] * lin
        if weights.get("conditions", 0.0) > 0:  # absent from models saved before it existed
            cond = condition_predict(
                Xs.astype(np.float64),
                self.condition_coef_,
                self.condition_intercept_,
                self.condition_means_,
            )
            out = out + weights["conditions"] * cond
        if weights["prior"] > 0:
            out = out + weights["prior"] * self.label_prior_
        basis = getattr(self, "readout_basis_", None)
        return out if basis is None else project_readout(out, self.label_prior_, basis)
