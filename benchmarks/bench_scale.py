"""Benchmark: feature extraction and prediction time and peak memory for 10k, 100k, 1M windows.

The windows are generated chunk by chunk on the fly (random 4-s windows of three modalities:
EDA 4 Hz x 1 channel, BVP 64 Hz x 1, ACC 32 Hz x 3, laid out as ``make_windows`` does), framed by
``SignalWindower(scales_s=(1, 2))``, turned into features by the fast backend of
``ModalityFeatureExtractor`` and fed to a small fitted regressor (``MPCLDistributionRegressor``
with ``d_model=8``, fitted for 2 epochs on 2,000 windows; ``SABFGSRegressor`` if the regressor
is not available). Nothing but one chunk is ever held in memory, so the input never has to fit.

Every size runs in its own subprocess; the peak resident set size (``ru_maxrss``) of that
process is reported with the resident size just before streaming (after imports and fit), so
the growth attributable to streaming is visible. Targets (issue 7): time ratio per 10x windows
within 8x-12x, peak memory bounded by the chunk size (the same for every size).

Usage::

    .venv/bin/python benchmarks/bench_scale.py                       # 10k and 100k windows
    .venv/bin/python benchmarks/bench_scale.py --sizes 10000 100000 1000000
    .venv/bin/python benchmarks/bench_scale.py --chunk 5000 --json out.json

The machine may be shared with other jobs: timings are wall-clock (best of ``--repeat`` runs
per size for the smaller sizes) and ratios are noisy under load.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings

import numpy as np

SFREQ = {"eda": 4.0, "bvp": 64.0, "acc": 32.0}
CHANNELS = {"eda": 1, "bvp": 1, "acc": 3}
WINDOW_S = 4.0
N_EMOTIONS = 5


def make_chunk(rng: np.random.Generator, n: int):
    """``n`` random windows as a ``make_windows``-style DataFrame (one object cell per modality)."""
    import pandas as pd

    data = {}
    for m, fs in SFREQ.items():
        arr = rng.standard_normal((n, CHANNELS[m], int(WINDOW_S * fs))).cumsum(axis=2)
        col = np.empty(n, dtype=object)
        col[:] = list(arr)
        data[m] = col
    X = pd.DataFrame(data)
    X.attrs["sfreq"] = dict(SFREQ)
    return X


def _rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        import os

        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def worker(n_windows: int, chunk: int, seed: int = 0, threads: int = 0) -> dict:
    """Stream ``n_windows`` windows through the fitted pipeline; return timings and memory."""
    warnings.simplefilter("ignore")
    from sklearn.pipeline import make_pipeline

    from mpcl_sklearn.features import ModalityFeatureExtractor
    from mpcl_sklearn.windowing import SignalWindower

    features = make_pipeline(
        SignalWindower(scales_s=(1.0, 2.0)),
        ModalityFeatureExtractor(feature_set="minimal", chunk_size=1024),
    )
    if threads:
        import torch

        torch.set_num_threads(threads)  # OpenMP spin-waiting collapses on a shared machine
    rng = np.random.default_rng(seed)
    X_fit = make_chunk(rng, 2000)
    F_fit = features.fit_transform(X_fit)
    y_fit = rng.dirichlet(np.ones(N_EMOTIONS), size=len(F_fit))
    try:
        from mpcl_sklearn.models import MPCLDistributionRegressor

        model = MPCLDistributionRegressor(d_model=8, max_epochs=2, random_state=0)
    except ImportError:  # pragma: no cover - before the regressor landed
        from mpcl_sklearn.models import SABFGSRegressor

        model = SABFGSRegressor(max_iter=50)
    model.fit(F_fit, y_fit)
    del X_fit, F_fit, y_fit
    # warm-up chunk (thread pools, first-call costs), not timed
    model.predict(features.transform(make_chunk(rng, min(chunk, 1000))))

    rss_before = _current_rss_mb()
    peak_before = _rss_mb()
    t_gen = t_feat = t_pred = 0.0
    checksum = 0.0
    done = 0
    while done < n_windows:
        n = min(chunk, n_windows - done)
        t0 = time.perf_counter()
        X = make_chunk(rng, n)
        t1 = time.perf_counter()
        F = features.transform(X)
        t2 = time.perf_counter()
        P = model.predict(F)
        t3 = time.perf_counter()
        if not (np.all(np.isfinite(P)) and np.allclose(P.sum(axis=1), 1.0)):
            raise AssertionError("non-finite or unnormalised prediction")
        checksum += float(P[:, 0].sum())
        t_gen += t1 - t0
        t_feat += t2 - t1
        t_pred += t3 - t2
        done += n
        del X, F, P
    return {
        "n_windows": n_windows,
        "chunk": chunk,
        "torch_threads": threads,
        "model": type(model).__name__,
        "n_features": int(features[-1].n_features_out_),
        "generate_s": t_gen,
        "extract_s": t_feat,
        "predict_s": t_pred,
        "total_s": t_feat + t_pred,
        "rss_before_stream_mb": rss_before,
        "peak_before_stream_mb": peak_before,
        "peak_rss_mb": _rss_mb(),
        "checksum": checksum,
    }


def run_size(n: int, chunk: int, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", str(n), "--chunk", str(chunk)]
    cmd += ["--threads", str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--chunk", type=int, default=10_000, help="windows per streamed chunk")
    p.add_argument("--repeat", type=int, default=2, help="runs per size below 1M (best kept)")
    p.add_argument(
        "--threads", type=int, default=1, help="torch threads in the workers (0: torch default)"
    )
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.chunk, threads=args.threads)))
        return 0

    print("command:", " ".join([sys.executable, *sys.argv]))
    rows = []
    for n in sorted(args.sizes):
        reps = max(1, args.repeat) if n < 1_000_000 else 1
        runs = [run_size(n, args.chunk, args.threads) for _ in range(reps)]
        best = min(runs, key=lambda r: r["total_s"])
        rows.append(best)
        print(
            f"{n:>9,d} windows: extract {best['extract_s']:8.2f} s  predict "
            f"{best['predict_s']:7.2f} s  total {best['total_s']:8.2f} s  "
            f"({n / best['total_s']:,.0f} windows/s)  RSS before stream "
            f"{best['rss_before_stream_mb']:.0f} MiB, peak {best['peak_rss_mb']:.0f} MiB  "
            f"[{best['model']}, {best['n_features']} features, chunk {best['chunk']:,d}]",
            flush=True,
        )
    ok = True
    for a, b in zip(rows, rows[1:]):
        f = b["n_windows"] / a["n_windows"]
        per10 = {
            k: (b[k] / a[k]) ** (np.log(10) / np.log(f))
            for k in ("extract_s", "predict_s", "total_s")
        }
        inside = 8 <= per10["total_s"] <= 12
        ok &= inside
        print(
            f"{a['n_windows']:,d} -> {b['n_windows']:,d}: time ratio per 10x  extract "
            f"{per10['extract_s']:.2f}  predict {per10['predict_s']:.2f}  total "
            f"{per10['total_s']:.2f}  ({'within' if inside else 'OUTSIDE'} 8-12)"
        )
    full = [r for r in rows if r["n_windows"] >= r["chunk"]]  # sizes that fill a chunk
    peaks = [r["peak_rss_mb"] for r in full]
    growth = [r["peak_rss_mb"] - r["rss_before_stream_mb"] for r in rows]
    print(
        "peak RSS minus RSS before streaming: "
        + ", ".join(f"{r['n_windows']:,d}: {g:.0f} MiB" for r, g in zip(rows, growth))
    )
    if len(peaks) > 1:
        spread = max(peaks) - min(peaks)
        span = full[-1]["n_windows"] // full[0]["n_windows"]
        print(
            f"peak RSS over sizes >= one chunk: {', '.join(f'{x:.0f}' for x in peaks)} MiB "
            f"(spread {spread:.0f} MiB over a {span}x range of windows at chunk "
            f"{args.chunk:,d}; compare runs with another --chunk to see the chunk's share)"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
