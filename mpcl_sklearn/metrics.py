"""The six label-distribution metrics and their scikit-learn scorers.

Conventions follow PyLDL (``pyldl.metrics``) so numbers are comparable with published LDL tables:

* Chebyshev, Clark, Canberra and KL are distances (lower is better); Cosine and Intersection are
  similarities (higher is better).
* Clark, Canberra and KL clip both inputs to ``[EPS, 1]`` with ``EPS = np.finfo(np.float64).eps``
  before computing, so zeros in either input give finite values and a perfect prediction scores
  exactly 0.
* Intersection is ``1 - 0.5 * sum(|p - q|)``, equal to ``sum(min(p, q))`` for distributions.
* Each metric is computed per sample and averaged over samples (optionally weighted).

All functions validate their inputs: both arrays 2-D with the same shape, finite, non-negative,
rows summing to 1 within :data:`SUM_TOLERANCE`; ``sample_weight`` one finite, non-negative
weight per sample, not all zero (:func:`mpcl_sklearn._validation.check_sample_weight`, the
check every estimator's ``fit`` uses too).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sklearn.metrics import make_scorer

from ._stats import pearson_correlation
from ._validation import ARRAY_HINT, SUM_TOLERANCE, check_distributions, check_sample_weight

__all__ = [
    "EPS",
    "SUM_TOLERANCE",
    "METRICS",
    "chebyshev",
    "clark",
    "canberra",
    "kl_divergence",
    "cosine_similarity",
    "intersection_similarity",
    "distribution_report",
    "distribution_scorers",
    "distribution_scoring",
    "per_sample_scores",
    "emotion_correlation",
    "cooccurrence_spearman",
    "correlation_distance",
    "constant_within_folds",
]

#: Clipping floor for Clark, Canberra and KL (PyLDL's convention).
EPS = float(np.finfo(np.float64).eps)


def _check_pair(y_true, y_pred, sample_weight):
    t = check_distributions(y_true, name="y_true", hint=ARRAY_HINT)
    p = check_distributions(y_pred, name="y_pred", hint=ARRAY_HINT)
    if t.shape != p.shape:
        raise ValueError(f"y_true has shape {t.shape} but y_pred has shape {p.shape}")
    return t, p, check_sample_weight(sample_weight, t.shape[0])


def _chebyshev_rows(t, p):
    return np.max(np.abs(t - p), axis=1)


def _clark_rows(t, p):
    t, p = np.clip(t, EPS, 1.0), np.clip(p, EPS, 1.0)
    return np.sqrt(np.sum(((t - p) / (t + p)) ** 2, axis=1))


def _canberra_rows(t, p):
    t, p = np.clip(t, EPS, 1.0), np.clip(p, EPS, 1.0)
    return np.sum(np.abs(t - p) / (t + p), axis=1)


def _kl_rows(t, p):
    t, p = np.clip(t, EPS, 1.0), np.clip(p, EPS, 1.0)
    return np.sum(t * (np.log(t) - np.log(p)), axis=1)


def _cosine_rows(t, p):
    dot = np.sum(t * p, axis=1)
    # sqrt(a * b) rather than sqrt(a) * sqrt(b): identical rows then give exactly 1.
    return np.clip(dot / np.sqrt(np.sum(t * t, axis=1) * np.sum(p * p, axis=1)), 0.0, 1.0)


def _intersection_rows(t, p):
    return np.clip(1.0 - 0.5 * np.sum(np.abs(t - p), axis=1), 0.0, 1.0)


#: name -> (per-row function, greater_is_better)
METRICS: dict[str, tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], bool]] = {
    "chebyshev": (_chebyshev_rows, False),
    "clark": (_clark_rows, False),
    "canberra": (_canberra_rows, False),
    "kl_divergence": (_kl_rows, False),
    "cosine": (_cosine_rows, True),
    "intersection": (_intersection_rows, True),
}


def _mean(name: str, y_true, y_pred, sample_weight) -> float:
    t, p, w = _check_pair(y_true, y_pred, sample_weight)
    return float(np.average(METRICS[name][0](t, p), weights=w))


def chebyshev(y_true, y_pred, *, sample_weight=None) -> float:
    """Mean Chebyshev distance ``max_j |p_j - q_j|`` (lower is better, in [0, 1])."""
    return _mean("chebyshev", y_true, y_pred, sample_weight)


def clark(y_true, y_pred, *, sample_weight=None) -> float:
    """Mean Clark distance ``sqrt(sum_j ((p_j - q_j) / (p_j + q_j))^2)`` (lower is better).

    Bounded by ``sqrt(C)`` for C emotions. Inputs are clipped to ``[EPS, 1]``.
    """
    return _mean("clark", y_true, y_pred, sample_weight)


def canberra(y_true, y_pred, *, sample_weight=None) -> float:
    """Mean Canberra distance ``sum_j |p_j - q_j| / (p_j + q_j)`` (lower is better, <= C).

    Inputs are clipped to ``[EPS, 1]``.
    """
    return _mean("canberra", y_true, y_pred, sample_weight)


def kl_divergence(y_true, y_pred, *, sample_weight=None) -> float:
    """Mean Kullback-Leibler divergence ``sum_j p_j log(p_j / q_j)`` of the prediction q from
    the truth p (lower is better). Inputs are clipped to ``[EPS, 1]``."""
    return _mean("kl_divergence", y_true, y_pred, sample_weight)


def cosine_similarity(y_true, y_pred, *, sample_weight=None) -> float:
    """Mean cosine similarity of the two distributions (higher is better, in [0, 1])."""
    return _mean("cosine", y_true, y_pred, sample_weight)


def intersection_similarity(y_true, y_pred, *, sample_weight=None) -> float:
    """Mean intersection ``sum_j min(p_j, q_j) = 1 - 0.5 sum_j |p_j - q_j|`` (higher is better)."""
    return _mean("intersection", y_true, y_pred, sample_weight)


def per_sample_scores(y_true, y_pred) -> dict[str, np.ndarray]:
    """All six metrics for every sample (no averaging): name -> array of shape (n_samples,)."""
    t, p, _ = _check_pair(y_true, y_pred, None)
    return {name: fn(t, p) for name, (fn, _) in METRICS.items()}


def distribution_report(y_true, y_pred, *, sample_weight=None) -> dict[str, float]:
    """All six metrics, averaged over samples: ``{"chebyshev": ..., ..., "intersection": ...}``."""
    t, p, w = _check_pair(y_true, y_pred, sample_weight)
    return {name: float(np.average(fn(t, p), weights=w)) for name, (fn, _) in METRICS.items()}


_PUBLIC_FUNCTIONS = {
    "chebyshev": chebyshev,
    "clark": clark,
    "canberra": canberra,
    "kl_divergence": kl_divergence,
    "cosine": cosine_similarity,
    "intersection": intersection_similarity,
}


def scorer_name(metric: str) -> str:
    """The scorer name of a metric, following scikit-learn's sign convention."""
    return metric if METRICS[metric][1] else f"neg_{metric}"


def distribution_scorers(*, predict_metadata: Sequence[str] = ()) -> dict:
    """The six metrics as scikit-learn scorers, for ``cross_validate(scoring=...)``.

    Distances are negated (``neg_chebyshev``, ``neg_clark``, ``neg_canberra``,
    ``neg_kl_divergence``) so that greater is better for every scorer, as scikit-learn expects;
    ``cosine`` and ``intersection`` are reported as they are. The scorers call the estimator's
    ``predict`` (a ``predict_proba`` scorer breaks for regressors on scikit-learn < 1.9).

    Parameters
    ----------
    predict_metadata : sequence of str, default=()
        Metadata the scorers request under metadata routing and hand on to ``predict``, for
        the names the estimator's ``predict`` consumes. scikit-learn's own scorers never pass
        metadata to ``predict``, so a pipeline whose transform needs per-row metadata (a
        :class:`~mpcl_sklearn.preprocessing.SubjectCalibrator` needs ``groups``, in
        reference mode also ``reference``) is scored with
        ``distribution_scorers(predict_metadata=("groups", "reference"))`` and
        ``cross_validate(..., params={"groups": groups, "reference": mask})``. scikit-learn
        shares one prediction between its own scorers only, so these six predict six times:
        :func:`distribution_scoring` predicts once.
    """
    names = _metadata_names(predict_metadata)
    scorers = {}
    for name in METRICS:
        function, higher = _PUBLIC_FUNCTIONS[name], METRICS[name][1]
        scorers[scorer_name(name)] = (
            _PredictMetadataScorer((name,), names)
            if names
            else make_scorer(function, greater_is_better=higher, response_method="predict")
        )
    return scorers


def distribution_scoring(*, predict_metadata: Sequence[str] = ()) -> Callable:
    """One scorer that predicts once and returns the six metrics, for ``cross_validate``.

    ``cross_validate(..., scoring=distribution_scoring(...))`` reports the same
    ``test_<name>`` scores as :func:`distribution_scorers` (same names and signs) from a
    single ``predict`` per fold. Use it when predicting is costly and metadata must reach
    ``predict`` (a pipeline that extracts features and calibrates subjects): scikit-learn
    shares one prediction between its own scorers only, so the six scorers of
    ``distribution_scorers(predict_metadata=...)`` repeat the whole pipeline six times.

    Parameters
    ----------
    predict_metadata : sequence of str, default=()
        As in :func:`distribution_scorers`: metadata requested under metadata routing and
        handed on to ``predict`` for the names it consumes.

    Returns
    -------
    callable
        ``scorer(estimator, X, y_true, **metadata) -> dict`` of the six scores.
    """
    return _PredictMetadataScorer(tuple(METRICS), _metadata_names(predict_metadata))


def _metadata_names(predict_metadata: Sequence[str]) -> tuple[str, ...]:
    if isinstance(predict_metadata, str):  # tuple("groups") would be six one-letter names
        raise ValueError(
            "predict_metadata must be a sequence of parameter names, e.g. ('groups',), got "
            f"the string {predict_metadata!r}"
        )
    names = tuple(predict_metadata)
    for name in names:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"predict_metadata must hold parameter names, got {name!r}")
    return names


class _PredictMetadataScorer:
    """A scorer of ``metrics`` (names of :data:`METRICS`; one: its score, several: a dict by
    scorer name) that passes the metadata routed to it on to the estimator's ``predict``.
    ``sample_weight`` (called directly, as scikit-learn's scorers take it) weights the
    metrics."""

    def __init__(self, metrics: tuple[str, ...], names: tuple[str, ...]):
        self.metrics = metrics
        self.names = names

    def __call__(
        self, estimator, X, y_true, sample_weight=None, **metadata
    ) -> float | dict[str, float]:
        from sklearn.utils.metadata_routing import get_routing_for_object

        wanted = {k: v for k, v in metadata.items() if k in self.names and v is not None}
        used = get_routing_for_object(estimator).consumes("predict", set(wanted)) if wanted else ()
        y_pred = estimator.predict(X, **{k: wanted[k] for k in used})
        scores = {
            scorer_name(m): (1.0 if METRICS[m][1] else -1.0)
            * _PUBLIC_FUNCTIONS[m](y_true, y_pred, sample_weight=sample_weight)
            for m in self.metrics
        }
        return scores if len(self.metrics) > 1 else scores[scorer_name(self.metrics[0])]

    def get_metadata_routing(self):
        from sklearn.utils.metadata_routing import MetadataRequest

        request = MetadataRequest(owner=type(self).__name__)
        for name in self.names:
            request.score.add_request(param=name, alias=True)
        return request

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(self.metrics)}, predict_metadata={self.names})"


# --------------------------------------------------------------------------------------------
# emotion co-occurrence: is the label structure learned / reproduced?
# --------------------------------------------------------------------------------------------


def emotion_correlation(y, *, constant: float = np.nan) -> np.ndarray:
    """Pearson correlation between emotions across samples, shape (C, C).

    An emotion that is constant over the samples has no defined correlation: its row and column
    are ``constant`` (NaN by default, to show it), except 1 on the diagonal.
    """
    Y = check_distributions(y, name="y", hint=ARRAY_HINT)
    if Y.shape[0] < 2:
        raise ValueError("need at least 2 samples to correlate emotions")
    return pearson_correlation(Y, constant=constant)


def _off_diagonal(matrix: np.ndarray) -> np.ndarray:
    return matrix[~np.eye(len(matrix), dtype=bool)]


def cooccurrence_spearman(learned, y) -> float:
    """Spearman correlation between a learned co-occurrence matrix and the labels' structure.

    Compares the off-diagonal entries of ``learned`` (MPCL's ``cooccurrence_``, C x C, row
    ``i`` the weights emotion ``i`` retrieves) with the off-diagonal entries of the Pearson
    correlation between the emotion columns of ``y`` (the training labels). 1: the learned
    matrix ranks emotion pairs exactly as the labels' correlations do. Both matrices are read
    in full (an asymmetric ``learned`` contributes both ``(i, j)`` and ``(j, i)``).

    Parameters
    ----------
    learned : array-like of shape (C, C), or an estimator with ``cooccurrence_``
    y : array-like of shape (n_samples, C)
        Label distributions (e.g. the training labels).

    Returns
    -------
    float
        In [-1, 1]. NaN when either side's off-diagonal entries are all equal (no ranking to
        compare), e.g. an emotion correlation undefined everywhere.

    Raises
    ------
    ValueError
        ``learned`` not square, not finite, or its size differs from ``y``'s number of columns;
        fewer than 3 emotions (one pair each way ranks nothing).
    """
    from scipy.stats import spearmanr

    matrix = np.asarray(getattr(learned, "cooccurrence_", learned), dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"learned must be a square (C, C) matrix, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError("learned contains NaN or inf")
    target = emotion_correlation(y, constant=0.0)
    if target.shape != matrix.shape:
        raise ValueError(
            f"learned is {matrix.shape[0]} x {matrix.shape[1]} but y has {target.shape[0]} emotions"
        )
    if len(matrix) < 3:
        raise ValueError(f"need at least 3 emotions to rank emotion pairs, got {len(matrix)}")
    a, b = _off_diagonal(matrix), _off_diagonal(target)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def constant_within_folds(P, folds=None, *, rtol: float = 1e-12) -> np.ndarray:
    """Which columns of ``P`` are constant (within every fold, with ``folds``): boolean, one
    per column.

    Pooled out-of-fold predictions of a model that predicts one distribution per fold (the
    mean predictor) vary only between folds; correlating those few values describes no
    prediction, so such a column counts as constant.
    """
    P = np.asarray(P, dtype=float)
    if folds is None:
        folds = np.zeros(len(P), dtype=int)
    folds = np.asarray(folds)
    if folds.shape != (len(P),):
        raise ValueError(f"folds must have one entry per row ({len(P)}), got shape {folds.shape}")
    constant = np.ones(P.shape[1], dtype=bool)
    for f in np.unique(folds):
        rows = P[folds == f]
        spread = rows.max(axis=0) - rows.min(axis=0)
        constant &= spread <= rtol * np.maximum(1.0, np.abs(rows).max(axis=0))
    return constant


def _held_out_correlation(P: np.ndarray, folds=None, *, constant: float = np.nan):
    """Emotion correlation of (pooled out-of-fold) predictions ``P`` and which emotions are
    predicted constant (within every fold, with ``folds``: :func:`constant_within_folds`);
    their rows and columns are ``constant``, their diagonal entry too."""
    corr = emotion_correlation(P, constant=constant)
    flat = constant_within_folds(P, folds)
    corr[flat, :] = constant
    corr[:, flat] = constant
    return corr, flat


def correlation_distance(y_pred, y_true, *, folds=None) -> float:
    """Frobenius distance between the emotion-correlation matrices of predictions and labels.

    ``||corr(y_pred) - corr(y_true)||_F`` with the Pearson correlation between emotion columns
    across samples (:func:`emotion_correlation`). An emotion that is constant over the samples
    (a model predicting one value for it; with ``folds``, constant within every fold, see
    :func:`constant_within_folds`) has no defined correlation: its off-diagonal entries count
    as 0, i.e. "no co-occurrence", so the distance is always finite and a constant predictor
    (the mean) scores the distance of the identity to the true structure. 0: the predictions
    reproduce the labels' co-occurrence exactly (it says nothing about individual predictions).

    Parameters
    ----------
    y_pred, y_true : array-like of shape (n_samples, C)
        Predicted and true distributions, the same rows.
    folds : array-like of shape (n_samples,), optional
        Test fold of every row, for pooled out-of-fold predictions.

    Returns
    -------
    float
        Non-negative and finite.
    """
    p = check_distributions(y_pred, name="y_pred", hint=ARRAY_HINT)
    t = check_distributions(y_true, name="y_true", hint=ARRAY_HINT)
    if p.shape != t.shape:
        raise ValueError(f"y_pred has shape {p.shape} but y_true has shape {t.shape}")
    pred_corr, _ = _held_out_correlation(p, folds, constant=0.0)
    np.fill_diagonal(pred_corr, 1.0)
    diff = pred_corr - emotion_correlation(t, constant=0.0)
    return float(np.linalg.norm(diff))
