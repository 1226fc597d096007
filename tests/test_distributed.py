"""Cross-validation and feature extraction on a loopback Dask cluster give the local results."""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest
import sklearn.base
from sklearn.model_selection import GroupKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mpcl_sklearn.datasets import make_mixed_emotion_recordings
from mpcl_sklearn.distributed import dask_backend
from mpcl_sklearn.features import ModalityFeatureExtractor
from mpcl_sklearn.metrics import distribution_scorers
from mpcl_sklearn.model_selection import subject_dependent_evaluate, subject_independent_evaluate
from mpcl_sklearn.models import SABFGSRegressor
from mpcl_sklearn.windowing import SignalWindower, make_windows

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


@pytest.fixture(scope="module")
def windows():
    rec = make_mixed_emotion_recordings(
        4, 3, duration_s=8, modalities=("eda", "ppg", "temp"), random_state=0
    )
    X, y, groups, trials = make_windows(rec, window_s=4, step_s=2, return_trials=True)
    return X, y, groups, trials


def _pipe():
    return make_pipeline(
        SignalWindower(scales_s=(1.0, 2.0)),
        ModalityFeatureExtractor(feature_set="minimal"),
        StandardScaler(),
        SABFGSRegressor(max_iter=15),
    )


def _on_dask(client, fn):
    """Run ``fn()`` under joblib's Dask backend; return its result and the workers used."""
    with distributed.get_task_stream(client=client) as ts:
        with joblib.parallel_backend("dask", client=client):
            out = fn()
    workers = {t["worker"] for t in ts.data}
    return out, workers


def test_cluster_is_loopback_only(client):
    assert client.scheduler.address.startswith("tcp://127.0.0.1:")
    assert all(w.startswith("tcp://127.0.0.1:") for w in client.scheduler_info()["workers"])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_subject_independent_on_dask_equals_local(client, windows):
    X, y, groups, _ = windows
    local = subject_independent_evaluate(_pipe(), X, y, groups, cv=4, n_jobs=None)
    remote, workers = _on_dask(
        client, lambda: subject_independent_evaluate(_pipe(), X, y, groups, cv=4, n_jobs=2)
    )
    assert workers, "no task ran on the Dask workers"
    pd.testing.assert_frame_equal(remote.scores, local.scores)
    pd.testing.assert_frame_equal(remote.summary, local.summary)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_subject_dependent_on_dask_equals_local(client, windows):
    X, y, groups, trials = windows
    kw = dict(split="trial", n_splits=3)
    local = subject_dependent_evaluate(_pipe(), X, y, groups, trials, **kw)
    remote, workers = _on_dask(
        client,
        lambda: subject_dependent_evaluate(_pipe(), X, y, groups, trials, n_jobs=-1, **kw),
    )
    assert workers
    pd.testing.assert_frame_equal(remote.scores, local.scores)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_sklearn_cross_validate_on_dask_equals_local(client, windows):
    X, y, groups, _ = windows

    def run(n_jobs):
        return cross_validate(
            _pipe(),
            X,
            y,
            groups=groups,
            cv=GroupKFold(4),
            scoring=distribution_scorers(),
            n_jobs=n_jobs,
            error_score="raise",
        )

    local = run(None)
    remote, workers = _on_dask(client, lambda: run(2))
    assert workers
    for key in local:
        if key.startswith("test_"):
            np.testing.assert_array_equal(remote[key], local[key], err_msg=key)
            assert np.all(np.isfinite(remote[key]))


@pytest.mark.parametrize(
    "backend, feature_set, scales",
    [
        ("fast", "default", (1.0, 2.0)),
        ("physio", "default", None),  # 4-s frames: EDA features need >= 4 s (else NaN)
        ("tsfresh", "minimal", (1.0, 2.0)),
    ],
)
def test_feature_extraction_on_dask_equals_local(client, windows, backend, feature_set, scales):
    X = windows[0] if scales is None else SignalWindower(scales_s=scales).fit_transform(windows[0])
    ext = ModalityFeatureExtractor(backend=backend, feature_set=feature_set, chunk_size=5)
    local = ext.fit_transform(X)
    par = ModalityFeatureExtractor(
        backend=backend, feature_set=feature_set, chunk_size=5, n_jobs=2
    ).fit(X)
    remote, workers = _on_dask(client, lambda: par.transform(X))
    assert len(workers) == 2, f"chunks ran on {workers}"
    np.testing.assert_array_equal(remote, local)


def test_tsfresh_distributor_on_dask_equals_local(client, windows):
    """backend="tsfresh" with tsfresh's own ClusterDaskDistributor (by address, or a factory)."""
    import functools

    from tsfresh.utilities.distribution import ClusterDaskDistributor

    X = SignalWindower(scales_s=(2.0,)).fit_transform(windows[0].iloc[:8])
    kw = dict(backend="tsfresh", feature_set="minimal", chunk_size=4)
    local = ModalityFeatureExtractor(**kw).fit_transform(X)
    addr = client.scheduler.address
    for distributor in (addr, functools.partial(ClusterDaskDistributor, addr)):
        ext = ModalityFeatureExtractor(**kw, distributor=distributor)
        assert ext.get_params()["distributor"] is distributor  # stored untouched
        ext = sklearn.base.clone(ext).fit(X)  # clone-safe (no live client in the parameters)
        with distributed.get_task_stream(client=client) as ts:
            remote = ext.transform(X)
        assert ts.data, "no tsfresh task ran on the Dask workers"
        np.testing.assert_array_equal(remote, local)
    # misuse: a clear error before any work
    live = ClusterDaskDistributor(addr)
    try:
        with pytest.raises(TypeError, match="live ClusterDaskDistributor"):
            ModalityFeatureExtractor(**kw, distributor=live).fit(X)
    finally:
        live.close()
    with pytest.raises(ValueError, match="only used by backend='tsfresh'"):
        ModalityFeatureExtractor(distributor=addr).fit(X)
    with pytest.raises(ValueError, match="n_jobs"):
        ModalityFeatureExtractor(**kw, distributor=addr, n_jobs=2).fit(X)
    with pytest.raises(TypeError, match="distributor"):
        ModalityFeatureExtractor(**kw, distributor=42).fit(X)


def test_dask_backend_helper_local_and_address(windows):
    X = SignalWindower(scales_s=(2.0,)).fit_transform(windows[0])
    ext = ModalityFeatureExtractor(feature_set="minimal", chunk_size=4, n_jobs=2).fit(X)
    with dask_backend(n_workers=2, processes=False) as c:
        addr = c.scheduler.address
        assert addr.startswith("tcp://127.0.0.1:")
        with distributed.get_task_stream(client=c) as ts:
            out = ext.transform(X)
        assert ts.data
        # a second client attached by address also works
        with dask_backend(addr) as c2:
            assert c2 is not c
            np.testing.assert_array_equal(ext.transform(X), out)
    assert c.status == "closed"
    np.testing.assert_array_equal(out, ext.set_params(n_jobs=None).transform(X))
    with pytest.raises(TypeError, match="address"):
        with dask_backend(42):
            pass
