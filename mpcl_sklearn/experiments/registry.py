"""The model registry: the models and MPCL ablations an experiment can name."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["ABLATIONS", "MODEL_NAMES", "ablation_variants", "make_model"]

#: Models known to :func:`make_model`, in the order tables list them.
MODEL_NAMES = ("mpcl", "helo", "sa-bfgs", "aa-knn", "mlp", "mean")

#: The four MPCL switches; each ablation turns one off ("all" turns every one off).
ABLATIONS = (
    "use_memory_fusion",
    "use_prototype_distillation",
    "use_cooccurrence_retrieval",
    "use_hierarchical_compression",
)


def make_model(
    name: str,
    *,
    random_state: int | None = 0,
    behavioural: Sequence[str] | None = None,
    nested: bool = True,
    max_epochs: int | None = None,
    device: str | None = None,
    **mpcl_params,
):
    """A fresh estimator for one of :data:`MODEL_NAMES`.

    Parameters
    ----------
    name : str
        One of ``mpcl``, ``helo``, ``sa-bfgs``, ``aa-knn``, ``mlp``, ``mean``.
    random_state : int, optional
    behavioural : sequence of str, optional
        Behavioural modalities (passed to MPCL and HeLo; default: their own defaults).
    nested : bool, default=True
        Wrap the shallow baselines in a ``GridSearchCV`` over groups (their regularisation /
        number of neighbours is chosen inside the training folds). The neural models use their
        documented defaults.
    max_epochs : int, optional
        Override the neural models' number of epochs (for quick runs).
    device : str, optional
        The neural models' ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:<n>"``, ``"mps"``;
        default: theirs, the CPU). The shallow baselines run on the CPU.
    **mpcl_params
        Extra parameters for ``MPCLDistributionRegressor`` (e.g. the ablation switches).

    Returns
    -------
    estimator
    """
    from sklearn.model_selection import GridSearchCV

    from ..metrics import distribution_scorers
    from ..model_selection import InnerGroupKFold
    from ..models import (
        AAKNNRegressor,
        HeLoRegressor,
        MeanDistributionRegressor,
        MLPDistributionRegressor,
        MPCLDistributionRegressor,
        SABFGSRegressor,
    )

    neural = {} if max_epochs is None else {"max_epochs": max_epochs}
    if device is not None:
        neural["device"] = device
    beh = {} if behavioural is None else {"behavioural_modalities": tuple(behavioural)}
    kl_scorer = distribution_scorers()["neg_kl_divergence"]

    def search(est, grid):
        if not nested:
            return est
        return GridSearchCV(
            est, grid, cv=InnerGroupKFold(3), scoring=kl_scorer, error_score="raise"
        )

    if name == "mpcl":
        return MPCLDistributionRegressor(random_state=random_state, **beh, **neural, **mpcl_params)
    if mpcl_params:
        raise ValueError(f"MPCL parameters {sorted(mpcl_params)} given for model {name!r}")
    if name == "helo":
        return HeLoRegressor(random_state=random_state, **beh, **neural)
    if name == "mlp":
        return MLPDistributionRegressor(random_state=random_state, **neural)
    if name == "sa-bfgs":
        return search(SABFGSRegressor(), {"alpha": [1e-2, 1e-1, 1.0, 10.0]})
    if name == "aa-knn":
        return search(AAKNNRegressor(), {"n_neighbors": [5, 15, 45]})
    if name == "mean":
        return MeanDistributionRegressor()
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")


def ablation_variants(conditions: bool = False) -> dict[str, dict[str, object]]:
    """MPCL parameters of each ablation row, by row label.

    ``full``; ``no <component>`` for each of :data:`ABLATIONS`; ``none (all off)`` (the four
    components off, the linear evidence path kept); ``no linear evidence`` (the four components
    on, the penalised linear read-out off); ``no read-out projection`` (``readout_rank=None``);
    with ``conditions`` (the models are fitted with the rows' experimental conditions) also
    ``no condition read-out`` (``shrinkage_targets=("prior", "linear")``).
    """
    variants: dict[str, dict[str, object]] = {"full": {}}
    variants |= {f"no {s[4:].replace('_', ' ')}": {s: False} for s in ABLATIONS}
    variants["none (all off)"] = dict.fromkeys(ABLATIONS, False)
    # not one of the four MPCL components: the penalised linear read-out (docs/method.md)
    variants["no linear evidence"] = {"use_linear_evidence": False}
    variants["no read-out projection"] = {"readout_rank": None}
    if conditions:
        variants["no condition read-out"] = {"shrinkage_targets": ("prior", "linear")}
    return variants
