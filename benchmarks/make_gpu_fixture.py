"""Fit MPCL on a GPU and save it, for the GPU-trained, CPU-served test.

Run on a machine with CUDA (the session's lent GPU)::

    python benchmarks/make_gpu_fixture.py OUT_DIR

It writes ``mpcl_cuda.pkl`` (plain pickle), ``mpcl_cuda.skops`` (:func:`mpcl_sklearn.save_model`)
and ``mpcl_cuda_reference.npz`` (the inputs and the predictions made on the GPU). Copy them to
``tests/fixtures/``; ``tests/test_gpu_fixture.py`` loads them on a CPU-only machine and checks
the predictions.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mpcl_sklearn.io import save_model
from mpcl_sklearn.models import MPCLDistributionRegressor


def reference_data(n_samples: int = 300, seed: int = 0):
    """A small feature table with two physiological and one behavioural modality."""
    rng = np.random.default_rng(seed)
    cols = [f"{m}__4s__ch0__f{i}" for m in ("eda", "bvp", "acc") for i in range(6)]
    X = rng.normal(size=(n_samples, len(cols)))
    logits = X[:, :10] @ rng.normal(size=(10, 5)) * 0.5
    y = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return pd.DataFrame(X, columns=cols), y


def main(out: str) -> int:
    if not torch.cuda.is_available():
        print("CUDA is not available: nothing to do")
        return 1
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    X, y = reference_data()
    model = MPCLDistributionRegressor(
        d_model=16, prototypes_per_emotion=2, max_epochs=5, device="cuda", random_state=0
    ).fit(X, y)
    pred = model.predict(X)
    print("fitted on", model.device_, torch.cuda.get_device_name(0), "torch", torch.__version__)
    with open(out_dir / "mpcl_cuda.pkl", "wb") as f:
        pickle.dump(model, f)
    save_model(model, out_dir / "mpcl_cuda.skops")
    np.savez(
        out_dir / "mpcl_cuda_reference.npz",
        X=X.to_numpy(),
        columns=np.asarray(X.columns, dtype=str),
        predictions=pred,
        cooccurrence=model.cooccurrence_,
    )
    print("wrote", sorted(p.name for p in out_dir.iterdir()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "gpu_fixture"))
