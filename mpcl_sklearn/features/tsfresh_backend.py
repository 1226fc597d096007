"""The ``"tsfresh"`` backend: ``tsfresh.extract_features`` on the frames, via long format."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

_PRESETS = ("minimal", "efficient", "comprehensive")


def resolve_tsfresh_settings(feature_set: str | Mapping[str, Any]) -> dict[str, Any]:
    """Settings dict for a preset name (minimal/efficient/comprehensive) or a custom dict.

    Names of the fast backend's sets (``"default"``, ``"default+entropy"``) are accepted too,
    so both backends can compute the same columns.
    """
    from tsfresh.feature_extraction import settings as ts

    if isinstance(feature_set, str):
        presets = {
            "minimal": ts.MinimalFCParameters,
            "efficient": ts.EfficientFCParameters,
            "comprehensive": ts.ComprehensiveFCParameters,
        }
        if feature_set in presets:
            return dict(presets[feature_set]())
        from .fast import FEATURE_SETS

        if feature_set in FEATURE_SETS:
            return dict(FEATURE_SETS[feature_set])
        raise ValueError(
            f"unknown tsfresh feature_set {feature_set!r}; use one of "
            f"{list(_PRESETS) + sorted(FEATURE_SETS)} or a settings dict"
        )
    if not isinstance(feature_set, Mapping):
        raise ValueError(f"feature_set must be a name or a dict, got {type(feature_set).__name__}")
    from tsfresh.feature_extraction import feature_calculators

    # tsfresh calls getattr(feature_calculators, name)(x, **params) for every name: only its
    # feature calculators (marked with an ``fctype``), not the module's other attributes
    unknown = [
        name
        for name in feature_set
        if isinstance(name, str) and not hasattr(getattr(feature_calculators, name, None), "fctype")
    ]
    if unknown or not all(isinstance(name, str) or callable(name) for name in feature_set):
        raise ValueError(
            f"feature_set names {unknown or list(feature_set)}, which are not tsfresh feature "
            "calculators (see tsfresh.feature_extraction.feature_calculators)"
        )
    return dict(feature_set)


def check_distributor(distributor) -> None:
    """Validate a ``ModalityFeatureExtractor(distributor=...)`` value (without connecting).

    None, a Dask scheduler address (str) or a zero-argument callable returning a tsfresh
    distributor. A live distributor object is refused: it holds a Dask client, which can be
    neither cloned (scikit-learn's ``clone`` deep-copies parameters) nor pickled.
    """
    if distributor is None or isinstance(distributor, str):
        return
    from tsfresh.utilities.distribution import DistributorBaseClass

    if isinstance(distributor, DistributorBaseClass):
        raise TypeError(
            f"distributor must be a Dask scheduler address or a factory, not a live "
            f"{type(distributor).__name__} (its Dask client cannot be cloned or pickled); pass "
            "e.g. 'tcp://host:8786' or functools.partial(ClusterDaskDistributor, 'tcp://host:8786')"
        )
    if not callable(distributor):
        raise TypeError(
            "distributor must be None, a Dask scheduler address (str) or a callable returning "
            f"a tsfresh distributor, got {distributor!r}"
        )


def _keep_open(inner):
    """A tsfresh distributor delegating to ``inner`` whose ``close`` does nothing.

    tsfresh closes the distributor at the end of every ``extract_features`` call; the extractor
    makes one call per chunk and closes ``inner`` itself after the last one.
    """
    from tsfresh.utilities.distribution import IterableDistributorBaseClass

    class KeepOpenDistributor(IterableDistributorBaseClass):
        def __init__(self):  # the base class's __init__ raises NotImplementedError
            pass

        def calculate_best_chunk_size(self, data_length):
            return inner.calculate_best_chunk_size(data_length)

        def distribute(self, func, partitioned_chunks, kwargs):
            return inner.distribute(func, partitioned_chunks, kwargs)

        def close(self):
            pass

    return KeepOpenDistributor()


@contextmanager
def open_distributor(distributor) -> Iterator[Any]:
    """A tsfresh distributor for ``distributor`` (see :func:`check_distributor`), open for the
    duration of the block and closed after it (a ``LocalDaskDistributor``'s cluster too)."""
    if distributor is None:
        yield None
        return
    check_distributor(distributor)
    from tsfresh.utilities.distribution import (
        ClusterDaskDistributor,
        IterableDistributorBaseClass,
        LocalDaskDistributor,
    )

    if isinstance(distributor, str):
        inner = ClusterDaskDistributor(distributor)
    else:
        inner = distributor()
        if not isinstance(inner, IterableDistributorBaseClass):
            if hasattr(inner, "close"):
                inner.close()
            raise TypeError(
                "the distributor factory must return a tsfresh IterableDistributorBaseClass "
                f"(e.g. ClusterDaskDistributor, LocalDaskDistributor), got {type(inner).__name__}"
            )
    local = isinstance(inner, LocalDaskDistributor)
    cluster = getattr(getattr(inner, "client", None), "cluster", None) if local else None
    try:
        yield _keep_open(inner)
    finally:
        inner.close()
        if cluster is not None:
            cluster.close()
            shutil.rmtree(getattr(inner, "local_dir_", ""), ignore_errors=True)


def tsfresh_features(
    x: np.ndarray, settings: Mapping[str, Any], *, n_jobs: int = 0, distributor=None
) -> tuple[np.ndarray, list[str]]:
    """Compute tsfresh features of every row of ``x`` (n_series, n_times).

    ``distributor``: a tsfresh distributor (see :func:`open_distributor`) that spreads the
    calculation over a Dask cluster; None computes in this process (``n_jobs``).

    Returns the values ``(n_series, n_features)`` in input row order and the feature names
    (without the kind prefix), sorted as tsfresh sorts its columns.
    """
    from tsfresh import extract_features

    n_series, n_times = x.shape
    long = pd.DataFrame(
        {
            "id": np.repeat(np.arange(n_series), n_times),
            "time": np.tile(np.arange(n_times), n_series),
            "value": np.asarray(x, dtype=np.float64).ravel(),
        }
    )
    out = extract_features(
        long,
        column_id="id",
        column_sort="time",
        default_fc_parameters=dict(settings),
        n_jobs=n_jobs,
        distributor=distributor,
        disable_progressbar=True,
    )
    out = out.reindex(np.arange(n_series))  # tsfresh sorts the ids; restore input order
    names = [str(c).split("__", 1)[1] for c in out.columns]
    return out.to_numpy(dtype=np.float64), names
