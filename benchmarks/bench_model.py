"""Benchmark MPCLDistributionRegressor: epoch time vs a plain MLP, latency, throughput.

Run::

    .venv/bin/python benchmarks/bench_model.py              # 20,000 x 200 x 10 on CPU
    .venv/bin/python benchmarks/bench_model.py --device cuda

Both models are TorchDistributionRegressor subclasses, so they are fed the same way (batches
sliced from tensors), use the same optimizer, batch size, thread setting and gradient clipping;
the MLP has MPCL's width (``d_model``) and ``--mlp-depth`` hidden layers. Targets (issue 4):
MPCL epoch / MLP epoch <= 3, single-sample median latency < 2 ms, batch throughput > 20,000
samples/s (CPU), measured on one network (``member_folds=1``); the default model with its
cross-fitted members (issue 13) is timed too.

It also counts the matrix-multiply FLOPs of one training step (forward + backward, per sample;
``torch.utils.flop_counter``) of both networks, the arithmetic floor of the epoch ratio, and
with ``--compile`` times one step's forward + backward of the MPCL module eagerly and under
``torch.compile`` (inductor), the best the operator overhead can be cut without changing the
model.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from mpcl_sklearn.models import MPCLDistributionRegressor
from mpcl_sklearn.models.torch_base import TorchDistributionRegressor
from mpcl_sklearn.training.batches import TensorBatchDataset, to_tensor


class _MLP(nn.Module):
    def __init__(self, n_features: int, n_outputs: int, width: int, depth: int):
        super().__init__()
        layers: list[nn.Module] = []
        d_in = n_features
        for _ in range(depth):
            layers += [nn.Linear(d_in, width), nn.GELU()]
            d_in = width
        layers.append(nn.Linear(d_in, n_outputs))
        self.net = nn.Sequential(*layers)

    def forward(self, X):
        return torch.log_softmax(self.net(X), dim=-1)


class MLPBench(TorchDistributionRegressor):
    """Plain MLP on the same torch base (same feeding, loss, optimizer, clipping)."""

    def __init__(
        self,
        width=32,
        depth=4,
        *,
        max_epochs=3,
        batch_size=128,
        device="cpu",
        random_state=0,
        n_threads=1,
    ):
        self.width = width
        self.depth = depth
        super().__init__(
            max_epochs=max_epochs,
            batch_size=batch_size,
            device=device,
            random_state=random_state,
            n_threads=n_threads,
        )

    _module_class = _MLP


def make_data(n: int, n_features: int, n_emotions: int, seed: int = 0):
    """A feature table with named modality/scale columns and a learnable distribution target."""
    rng = np.random.default_rng(seed)
    blocks = [("eeg", "2s"), ("eeg", "4s"), ("ecg", "4s"), ("eda", "4s"), ("face", "4s")]
    sizes = np.full(len(blocks), n_features // len(blocks))
    sizes[: n_features - sizes.sum()] += 1
    cols = [f"{m}__{s}__f{i}" for (m, s), k in zip(blocks, sizes, strict=True) for i in range(k)]
    latent = rng.normal(size=(n, 4))
    X = latent @ rng.normal(size=(4, n_features)) + rng.normal(size=(n, n_features))
    logits = latent @ rng.normal(size=(4, n_emotions))
    Y = np.exp(logits - logits.max(1, keepdims=True))
    return pd.DataFrame(X.astype(np.float32), columns=cols), Y / Y.sum(1, keepdims=True)


def epoch_seconds(est) -> float:
    """Median training-epoch duration from the history (first epoch excluded when possible)."""
    durs = [row["dur"] for row in est.history_]
    return statistics.median(durs[1:] if len(durs) > 1 else durs)


def _step_loss(module, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """The estimators' training loss (KL plus auxiliary losses) without the finiteness check of
    their ``get_loss``, which would split a compiled graph."""
    loss = nn.functional.kl_div(module(X), Y, reduction="batchmean")
    aux = getattr(module, "auxiliary_loss", lambda: None)()
    return loss if aux is None else loss + aux


def step_flops_per_sample(est, X: torch.Tensor, Y: torch.Tensor) -> float:
    """Matrix-multiply FLOPs of one training step (forward + backward), per sample."""
    module = est.net_.module_
    module.train()
    with FlopCounterMode(display=False) as counter:
        est.net_.get_loss(module(X), Y, X=X, training=True).backward()
    module.zero_grad(set_to_none=True)
    return counter.get_total_flops() / len(X)


def feeding_seconds(est, X: pd.DataFrame, Y: np.ndarray) -> float:
    """Seconds to draw one epoch of shuffled batches from the net's own iterator (no model)."""
    Xs = est._standardize(X.to_numpy())
    dataset = TensorBatchDataset(to_tensor(Xs, est.device_), to_tensor(Y, est.device_))

    def epoch():
        for _batch in est.net_.get_iterator(dataset, training=True):
            pass

    return float(np.median(timings_ms(epoch, n=5, warmup=1))) / 1e3


def timings_ms(fn, n: int = 100, warmup: int = 10) -> np.ndarray:
    """Durations (ms) of ``n`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return np.asarray(ts) * 1e3


def compiled_step_times(est, X: torch.Tensor, Y: torch.Tensor) -> tuple[float, float, float]:
    """Eager and ``torch.compile`` forward + backward time of one step (ms), compile seconds."""
    module = est.net_.module_
    module.train()

    def eager():
        _step_loss(module, X, Y).backward()

    compiled_loss = torch.compile(lambda x, y: _step_loss(module, x, y), dynamic=False)
    t0 = time.perf_counter()
    compiled_loss(X, Y).backward()
    compile_s = time.perf_counter() - t0
    compiled_ms = float(np.median(timings_ms(lambda: compiled_loss(X, Y).backward())))
    eager_ms = float(np.median(timings_ms(eager)))
    module.zero_grad(set_to_none=True)
    return eager_ms, compiled_ms, compile_s


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-samples", type=int, default=20_000)
    p.add_argument("--n-features", type=int, default=200)
    p.add_argument("--n-emotions", type=int, default=10)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--mlp-depth", type=int, default=4)
    p.add_argument(
        "--mlp-width",
        type=int,
        default=None,
        help="MLP hidden width (default: MPCL's d_model, the strict comparison; "
        "n_emotions * d_model matches MPCL's per-sample activation width)",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--n-threads", type=int, default=1)
    p.add_argument(
        "--compile",
        action="store_true",
        help="also time one MPCL step under torch.compile (needs a C++ compiler; ~20-60 s)",
    )
    args = p.parse_args(argv)

    print("command:", " ".join([sys.executable, *sys.argv]))
    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"device {args.device}, n_threads {args.n_threads}"
    )
    X, Y = make_data(args.n_samples, args.n_features, args.n_emotions)
    common = dict(
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        device=args.device,
        random_state=0,
        n_threads=args.n_threads,
    )
    ratios, mpcl_epochs, mlp_epochs = [], [], []
    for r in range(args.repeats):
        # one network (member_folds=1): the epoch target compares one MPCL network with one MLP
        mpcl = MPCLDistributionRegressor(member_folds=1, **common).fit(X, Y)
        width = args.mlp_width or mpcl.d_model
        mlp = MLPBench(width=width, depth=args.mlp_depth, **common).fit(X, Y)
        e_mpcl, e_mlp = epoch_seconds(mpcl), epoch_seconds(mlp)
        mpcl_epochs.append(e_mpcl)
        mlp_epochs.append(e_mlp)
        ratios.append(e_mpcl / e_mlp)
        print(
            f"repeat {r}: MPCL epoch {e_mpcl:.3f} s, MLP epoch {e_mlp:.3f} s, "
            f"ratio {e_mpcl / e_mlp:.2f}"
        )
    n_params = sum(p.numel() for p in mpcl.net_.module_.parameters())
    n_params_mlp = sum(p.numel() for p in mlp.net_.module_.parameters())
    torch.manual_seed(0)
    xb = torch.randn(args.batch_size, args.n_features, device=mpcl.device_)
    yb = torch.softmax(torch.randn(args.batch_size, args.n_emotions, device=mpcl.device_), -1)
    torch.set_num_threads(args.n_threads)  # as inside the estimators' fit
    flops_mpcl = step_flops_per_sample(mpcl, xb, yb)
    flops_mlp = step_flops_per_sample(mlp, xb, yb)
    compiled = compiled_step_times(mpcl, xb, yb) if args.compile else None
    feed_s = feeding_seconds(mpcl, X, Y)

    Xa = X.to_numpy()
    mpcl_np = MPCLDistributionRegressor(member_folds=1, **common).fit(Xa[:2000], Y[:2000])
    lat = {}
    for name, est, x1 in [("numpy row", mpcl_np, Xa[:1]), ("DataFrame row", mpcl, X.iloc[:1])]:
        ts = timings_ms(lambda est=est, x1=x1: est.predict(x1), n=500, warmup=20)
        lat[name] = (float(np.median(ts)), float(np.percentile(ts, 95)))
    thr = len(X) / (timings_ms(lambda: mpcl.predict(X), n=3, warmup=0) / 1e3)
    # the default model: cross-fitted members (one stacked network) and the combination; its
    # network is run only when the combination weights it, so also time it fully weighted
    member_timings = []
    configs = (("default", {}), ("network fully weighted, shrinkage=None", {"shrinkage": None}))
    for label, extra in configs:
        est = MPCLDistributionRegressor(**extra, **common).fit(X.iloc[:2000], Y[:2000])
        ts = timings_ms(lambda est=est: est.predict(Xa[:1]), n=500, warmup=20)
        thr_m = len(X) / (timings_ms(lambda est=est: est.predict(X), n=3, warmup=0) / 1e3)
        weights = ", ".join(f"{k} {v:.2f}" for k, v in est.combination_weights_.items())
        member_timings.append(
            (label, est.n_members_, weights, float(np.median(ts)), float(np.percentile(ts, 95)),
             float(np.median(thr_m)))
        )  # fmt: skip

    print()
    print(
        f"data: {args.n_samples} x {args.n_features} features x {args.n_emotions} emotions, "
        f"{len(mpcl.tokens_)} tokens, batch {args.batch_size}, {args.epochs} epochs x "
        f"{args.repeats} repeats"
    )
    print(
        f"MPCL params {n_params}, MLP params {n_params_mlp} (width {width}, depth {args.mlp_depth})"
    )
    print(
        f"epoch time MPCL / MLP: median ratio {statistics.median(ratios):.2f} "
        f"(all {', '.join(f'{r:.2f}' for r in ratios)}; target <= 3)"
    )
    print(
        f"  MPCL epoch {statistics.median(mpcl_epochs):.3f} s "
        f"({args.n_samples / statistics.median(mpcl_epochs):,.0f} samples/s), "
        f"MLP epoch {statistics.median(mlp_epochs):.3f} s"
    )
    print(
        f"data feeding alone (one epoch of shuffled batches, no model): {feed_s * 1e3:.1f} ms = "
        f"{100 * feed_s / statistics.median(mpcl_epochs):.1f}% of the MPCL epoch, "
        f"{100 * feed_s / statistics.median(mlp_epochs):.1f}% of the MLP epoch"
    )
    print(
        f"matmul FLOPs per sample of a training step (fwd + bwd): MPCL {flops_mpcl:,.0f}, "
        f"MLP {flops_mlp:,.0f}, ratio {flops_mpcl / flops_mlp:.2f}"
    )
    if compiled is not None:
        eager_ms, compiled_ms, compile_s = compiled
        print(
            f"MPCL step fwd + bwd (batch {args.batch_size}): eager {eager_ms:.2f} ms, "
            f"torch.compile {compiled_ms:.2f} ms ({eager_ms / compiled_ms:.2f}x faster; "
            f"compiling took {compile_s:.1f} s)"
        )
    for name, (med, p95) in lat.items():
        print(
            f"single-sample predict latency ({name}): median {med:.3f} ms, p95 {p95:.3f} ms "
            "(target median < 2 ms)"
        )
    print(f"batch predict throughput: {float(np.median(thr)):,.0f} samples/s (target > 20,000)")
    for label, k, weights, med, p95, thr_m in member_timings:
        print(
            f"MPCL with {k} cross-fitted members ({label}; weights {weights}; fitted on 2,000 "
            f"rows): single-sample latency median {med:.3f} ms, p95 {p95:.3f} ms; batch "
            f"throughput {thr_m:,.0f} samples/s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
