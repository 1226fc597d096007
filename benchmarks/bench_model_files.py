"""What the model-file checks cost: ``load_model`` vs a plain ``skops.io.load``.

Usage::

    .venv/bin/python benchmarks/bench_model_files.py [--rows 12490] [--features 500]

Saves an AA-kNN model (it stores its training data: the largest of our models) and the GPU
fixture's MPCL model, then times (median of 5) and traces the peak memory (tracemalloc, numpy
arrays included) of ``untrusted_types`` (the check alone), ``load_model`` and
``skops.io.load`` trusting what the file lists.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import skops.io as sio

from mpcl_sklearn.io import load_model, save_model, untrusted_types
from mpcl_sklearn.models import AAKNNRegressor

ROOT = Path(__file__).resolve().parents[1]


def _measure(fn, repeats: int = 5) -> tuple[float, int]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return statistics.median(times), peak


def _report(name: str, path: Path) -> None:
    print(f"{name}: {path.stat().st_size / 2**20:.2f} MiB on disk")
    trusted = sio.get_untrusted_types(file=path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn version of the GPU fixture
        rows = {
            "untrusted_types (check only)": lambda: untrusted_types(path),
            "load_model": lambda: load_model(path),
            "skops.io.load": lambda: sio.load(path, trusted=trusted),
        }
        results = {k: _measure(fn) for k, fn in rows.items()}
    base = results["skops.io.load"]
    for k, (t, peak) in results.items():
        print(
            f"  {k:30s} {t * 1e3:9.1f} ms ({t / base[0]:.2f}x)  peak {peak / 2**20:8.1f} MiB "
            f"({peak / base[1]:.2f}x)"
        )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=12490, help="training rows (WESAD: 12,490)")
    p.add_argument("--features", type=int, default=500)
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.rows, args.features))
    y = rng.dirichlet(np.ones(4), size=args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = save_model(AAKNNRegressor().fit(X, y), Path(tmp) / "aaknn.skops")
        _report(f"AA-kNN, {args.rows} x {args.features}", path)
    fixture = ROOT / "tests" / "fixtures" / "mpcl_cuda.skops"
    _report("MPCL (tests/fixtures/mpcl_cuda.skops)", fixture)


if __name__ == "__main__":
    main()
