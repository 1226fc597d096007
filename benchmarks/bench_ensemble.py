"""Cost of MPCL's stacked (batched) members against one network and against K separate fits.

Run::

    .venv/bin/python benchmarks/bench_ensemble.py                    # WESAD-sized random data
    .venv/bin/python benchmarks/bench_ensemble.py --rows 1400 --features 1248 --members 3 2

Fits ``MPCLDistributionRegressor`` once with one member and once with ``member_folds x
member_repeats`` members trained as one batched network (``torch.func.vmap`` over stacked
parameters), on the same data, and prints the ratio of the wall times. The target (issue 13):
K members cost well under K single fits. Each cross-fitted member trains on
``(folds - 1) / folds`` of the rows, so the fair comparison is K single fits on that many rows;
both ratios are printed.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import pandas as pd
import torch

from mpcl_sklearn.models import MPCLDistributionRegressor


def _data(rows: int, features: int, emotions: int, subjects: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    mods = ["bvp", "eda", "temp", "acc"]
    cols = [f"{mods[j % 4]}__{10 if j % 8 < 4 else 30}__f{j}" for j in range(features)]
    X = pd.DataFrame(rng.normal(size=(rows, features)), columns=cols)
    Y = rng.dirichlet(np.ones(emotions), size=rows)
    groups = np.repeat(np.arange(subjects), int(np.ceil(rows / subjects)))[:rows]
    return X, Y, groups


def _time_fit(est, X, Y, groups, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        est.fit(X, Y, groups=groups)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1400)
    p.add_argument("--features", type=int, default=1248)
    p.add_argument("--emotions", type=int, default=10)
    p.add_argument("--subjects", type=int, default=14)
    p.add_argument("--members", type=int, nargs=2, default=(3, 2), metavar=("FOLDS", "REPEATS"))
    p.add_argument("--max-epochs", type=int, default=30)
    p.add_argument("--repeats", type=int, default=1)
    args = p.parse_args(argv)

    X, Y, groups = _data(args.rows, args.features, args.emotions, args.subjects)
    folds, reps = args.members
    k = folds * reps
    common = dict(random_state=0, max_epochs=args.max_epochs, behavioural_modalities=("acc",))
    single = MPCLDistributionRegressor(**common)
    stacked = MPCLDistributionRegressor(member_folds=folds, member_repeats=reps, **common)
    _time_fit(MPCLDistributionRegressor(**{**common, "max_epochs": 1}), X, Y, groups, 1)  # warm up
    t1 = _time_fit(single, X, Y, groups, args.repeats)
    part = np.isin(groups, np.unique(groups)[: int(round(args.subjects * (folds - 1) / folds))])
    t1_part = _time_fit(single, X[part], Y[part], groups[part], args.repeats)
    tk = _time_fit(stacked, X, Y, groups, args.repeats)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"1 thread, load average {load:.2f}"
    )
    print(
        f"data: {args.rows} rows x {args.features} features, {args.emotions} emotions, "
        f"{args.subjects} subjects; {args.max_epochs} epochs"
    )
    print(f"one network, all rows:              {t1:7.2f} s")
    print(f"one network, {part.sum()} rows ((F-1)/F): {t1_part:7.2f} s")
    print(f"{k} stacked members ({folds} folds x {reps}): {tk:7.2f} s")
    print(f"ratio stacked / one network:        {tk / t1:7.2f}  (K = {k})")
    print(f"ratio stacked / K separate fits:    {tk / (k * t1_part):7.2f}  (target: well under 1)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
