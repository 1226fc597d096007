"""MPCLDistributionRegressor: our MPCL network as a scikit-learn emotion-distribution regressor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ._columns import parse_feature_column
from .nn.cooccurrence import label_cooccurrence_target
from .nn.mpcl import MPCLNet
from .torch_estimator import TorchDistributionRegressor

__all__ = ["MPCLDistributionRegressor"]


class MPCLDistributionRegressor(TorchDistributionRegressor):
    """Memory-guided prototypical co-occurrence learning for emotion distributions.

    Our formulation of MPCL (the paper's equations are not public; see ``docs/method.md``):
    tokens per (modality, scale), multi-scale Hopfield memory fusion, emotion-specific
    prototype banks, prototype relation distillation, co-occurrence memory retrieval and
    hierarchical semantic compression, trained with ``KL(y || y_hat)`` plus the auxiliary losses.
    The network is a :class:`mpcl_sklearn.nn.MPCLNet` inside a skorch net (``net_``).

    Input layout: with a DataFrame whose columns are named ``<modality>__<scale>__<feature>`` or
    ``<modality>__<feature>``, every (modality, scale) is one token; ``modalities`` maps names to
    column lists (or indices) explicitly; anything else (a plain array) is one modality, in
    which case there is a single branch and the distillation is inactive. Features are
    standardised inside (mean/std of the training data).

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
    behavioural_modalities : tuple of str, default=("acc", "face", "video")
        Modalities treated as behavioural; the others are physiological.
    modalities : dict or None, default=None
        ``{name: [column names or indices]}``; every column must belong to exactly one.
    affect_groups : sequence of sequences of int, or None
        Emotion indices of each affect group (e.g. positive / negative valence); None learns
        ``n_affect_groups`` soft groups.
    n_affect_groups : int, default=2
    lr, max_epochs, batch_size, optimizer, weight_decay, max_grad_norm, early_stopping, \
validation_fraction, n_iter_no_change, tol, warm_start, checkpoint_dir, device, random_state, \
verbose, callbacks, normalize_y, n_threads
        See :class:`mpcl_sklearn.torch_estimator.TorchDistributionRegressor`.

    Attributes
    ----------
    net_ : skorch.NeuralNet
    history_ : skorch.History
    cooccurrence_ : ndarray of shape (n_emotions, n_emotions)
        Learned emotion co-occurrence (rows sum to 1), averaged over the training samples.
    cooccurrence_target_ : ndarray of shape (n_emotions, n_emotions)
        Its regularisation target, from the correlation of the training distributions.
    tokens_ : list of (modality, scale)
        The token layout.
    n_features_in_, feature_names_in_, n_outputs_
    """

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
        behavioural_modalities: tuple[str, ...] = ("acc", "face", "video"),
        modalities: Mapping | None = None,
        affect_groups: Sequence[Sequence[int]] | None = None,
        n_affect_groups: int = 2,
        *,
        lr: float = 3e-3,
        max_epochs: int = 30,
        batch_size: int = 128,
        optimizer="adamw",
        weight_decay: float = 1e-4,
        max_grad_norm: float | None = 5.0,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        tol: float = 1e-4,
        warm_start: bool = False,
        checkpoint_dir: str | None = None,
        device: str = "cpu",
        random_state=None,
        verbose: int = 0,
        callbacks=None,
        normalize_y: bool | str = False,
        n_threads: int | None = 1,
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
        super().__init__(
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            optimizer=optimizer,
            weight_decay=weight_decay,
            max_grad_norm=max_grad_norm,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            warm_start=warm_start,
            checkpoint_dir=checkpoint_dir,
            device=device,
            random_state=random_state,
            verbose=verbose,
            callbacks=callbacks,
            normalize_y=normalize_y,
            n_threads=n_threads,
        )

    # ------------------------------------------------------------------ layout
    def _column_layout(self, X) -> dict:
        if self.modalities is None:
            return super()._column_layout(X)
        if not isinstance(self.modalities, Mapping) or not self.modalities:
            raise TypeError(
                "modalities must be a non-empty dict {name: [columns]}, got "
                f"{type(self.modalities).__name__}"
            )
        names = getattr(self, "feature_names_in_", None)
        position = {str(n): i for i, n in enumerate(names)} if names is not None else {}
        layout: dict = {}
        owner: dict[int, str] = {}
        for mod, cols in self.modalities.items():
            if isinstance(cols, (str, int, np.integer)):
                cols = [cols]
            idx = []
            for c in cols:
                if isinstance(c, (int, np.integer)) and not isinstance(c, bool):
                    if not 0 <= int(c) < X.shape[1]:
                        raise ValueError(f"modality {mod!r}: column index {c} out of range")
                    idx.append(int(c))
                elif isinstance(c, str):
                    if c not in position:
                        raise ValueError(
                            f"modality {mod!r}: column {c!r} is not among the feature names"
                            + ("" if names is not None else " (X has no column names)")
                        )
                    idx.append(position[c])
                else:
                    raise TypeError(f"modality {mod!r}: columns must be names or ints, got {c!r}")
            if not idx:
                raise ValueError(f"modality {mod!r} has no columns")
            for i in idx:
                if i in owner:
                    raise ValueError(f"column {i} is in modalities {owner[i]!r} and {mod!r}")
                owner[i] = str(mod)
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
                layout[(str(mod), scale)] = ii
        missing = sorted(set(range(X.shape[1])) - set(owner))
        if missing:
            shown = [str(names[i]) if names is not None else i for i in missing[:10]]
            raise ValueError(
                f"{len(missing)} columns belong to no modality in `modalities`: {shown}; "
                "drop them before the regressor (e.g. ColumnTransformer) or list them"
            )
        return layout

    def _affect_membership(self, n_outputs: int):
        if self.affect_groups is None:
            return None
        groups = [list(g) for g in self.affect_groups]
        M = np.zeros((n_outputs, len(groups)), dtype=np.float32)
        for g, members in enumerate(groups):
            if not members:
                raise ValueError(f"affect group {g} is empty")
            for c in members:
                if not 0 <= int(c) < n_outputs:
                    raise ValueError(
                        f"affect group {g} names emotion {c}, but y has {n_outputs} emotions"
                    )
                M[int(c), g] = 1.0
        return M

    # ------------------------------------------------------------------ hooks
    def _prepare_fit(self, X: np.ndarray, Y: np.ndarray) -> None:
        self.cooccurrence_target_ = label_cooccurrence_target(Y)
        self.tokens_ = list(self.column_layout_)
        self._affect_membership(Y.shape[1])  # validate early

    def _build_module(self, n_features: int, n_outputs: int, column_layout: dict):
        behavioural = set(self.behavioural_modalities or ())
        keys = list(column_layout)
        return MPCLNet(
            n_features,
            n_outputs,
            [column_layout[k] for k in keys],
            [k[0] in behavioural for k in keys],
            d_model=self.d_model,
            prototypes_per_emotion=self.prototypes_per_emotion,
            betas=tuple(self.betas),
            n_memory=self.n_memory,
            tau=self.tau,
            cooccurrence_beta=self.cooccurrence_beta,
            affect_groups=self._affect_membership(n_outputs),
            n_affect_groups=self.n_affect_groups,
            use_memory_fusion=self.use_memory_fusion,
            use_prototype_distillation=self.use_prototype_distillation,
            use_cooccurrence_retrieval=self.use_cooccurrence_retrieval,
            use_hierarchical_compression=self.use_hierarchical_compression,
            lambda_distill=self.lambda_distill,
            lambda_cooc=self.lambda_cooc,
            lambda_diversity=self.lambda_diversity,
            distill_temperature=self.distill_temperature,
            cooccurrence_target=self.cooccurrence_target_,
            dropout=self.dropout,
        )

    def _after_fit(self, X: np.ndarray, Y: np.ndarray) -> None:
        module = self.net_.module_
        module.eval()
        rng = np.random.default_rng(0)
        take = rng.choice(len(X), size=min(len(X), 4096), replace=False)
        with torch.inference_mode():
            xt = torch.from_numpy(np.ascontiguousarray(X[np.sort(take)])).to(self.device_)
            M = module.cooccurrence_matrix(xt).double().cpu().numpy()
        self.cooccurrence_ = M / M.sum(axis=1, keepdims=True)
