"""Run cross-validation and feature extraction on a Dask cluster.

Everything in mpcl_sklearn that parallelises does so through :mod:`joblib`
(:func:`~mpcl_sklearn.model_selection.subject_independent_evaluate` and
:func:`~mpcl_sklearn.model_selection.subject_dependent_evaluate` over folds,
:class:`~mpcl_sklearn.features.ModalityFeatureExtractor` over chunks of rows, and scikit-learn's
``cross_validate``/``GridSearchCV``), so joblib's Dask backend sends that work to a
``dask.distributed`` cluster without any change to the code::

    from dask.distributed import Client
    import joblib

    client = Client("tcp://scheduler-host:8786")  # an existing cluster
    with joblib.parallel_backend("dask"):
        result = subject_independent_evaluate(pipe, X, y, groups, cv=5, n_jobs=-1)

:func:`dask_backend` wraps exactly that, and starts a throw-away cluster on the loopback
interface when no address is given. The tsfresh feature backend can also use tsfresh's own Dask
distributor: ``ModalityFeatureExtractor(backend="tsfresh", distributor="tcp://host:8786")``.
See ``docs/reliability.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["dask_backend"]


@contextmanager
def dask_backend(
    address: str | Any | None = None,
    *,
    n_workers: int = 2,
    threads_per_worker: int = 1,
    processes: bool = True,
    scatter: list | None = None,
) -> Iterator[Any]:
    """Run the joblib work inside the block on a Dask cluster.

    Parameters
    ----------
    address : str, distributed.Client or None
        Scheduler address of an existing cluster (``"tcp://host:8786"``), or a connected
        ``Client``. ``None`` starts a ``LocalCluster`` bound to 127.0.0.1 (no dashboard) for
        the duration of the block.
    n_workers, threads_per_worker, processes :
        Only for the local cluster.
    scatter : list, optional
        Large inputs (for instance the window table) to send to the workers once instead of
        with every task; passed to ``joblib.parallel_backend("dask", scatter=...)``.

    Yields
    ------
    distributed.Client
        The client in use (closed on exit only when this function created it).

    Notes
    -----
    Functions run under joblib still need ``n_jobs`` other than ``None``/1 to fan out
    (``n_jobs=-1`` uses every worker thread). joblib runs the work sequentially in the client
    process when the cluster has a single worker thread in total. Worker processes must be
    able to import ``mpcl_sklearn`` (same environment on every machine).
    """
    import joblib
    from distributed import Client, LocalCluster

    cluster = None
    own_client = False
    if address is None:
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=processes,
            protocol="tcp://",  # also for processes=False (default there: inproc)
            host="127.0.0.1",
            dashboard_address=None,
        )
        client = Client(cluster)
        own_client = True
    elif isinstance(address, str):
        client = Client(address)
        own_client = True
    elif isinstance(address, Client):
        client = address
    else:
        raise TypeError(
            f"address must be None, a scheduler address or a distributed.Client, got {address!r}"
        )
    try:
        kwargs = {} if scatter is None else {"scatter": scatter}
        with joblib.parallel_backend("dask", client=client, **kwargs):
            yield client
    finally:
        if own_client:
            client.close()
        if cluster is not None:
            cluster.close()
