"""A model fitted on a real GPU (CUDA) is served on this CPU-only machine.

The fixture files were made by ``benchmarks/make_gpu_fixture.py`` on an NVIDIA H100 (torch
2.11.0+cu130) and hold the GPU's own predictions on the reference inputs.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mpcl_sklearn.io import load_model, untrusted_types

FIXTURES = Path(__file__).parent / "fixtures"

#: where the classes named in the fixture files live now: the files were written by 0.1.0,
#: before the layout change (models/, training/)
_MOVED = {"mpcl_sklearn.regressor": "mpcl_sklearn.models.mpcl"}


class _MovedClassesUnpickler(pickle.Unpickler):
    """Reads a pickle of 0.1.0 whose classes have moved since (the fixture is trusted data)."""

    def find_class(self, module, name):
        return super().find_class(_MOVED.get(module, module), name)


@pytest.fixture(scope="module")
def reference():
    ref = np.load(FIXTURES / "mpcl_cuda_reference.npz", allow_pickle=False)
    columns = [f"{m}__4s__ch0__f{i}" for m in ("eda", "bvp", "acc") for i in range(6)]
    X = pd.DataFrame(ref["X"], columns=columns)
    return X, ref["predictions"], ref["cooccurrence"]


def _check(model, reference):
    X, gpu_pred, gpu_cooc = reference
    assert model.device == "cuda"  # the parameter is kept untouched ...
    assert model.device_ == "cpu"  # ... but the weights live where they can
    assert list(model.feature_names_in_) == list(X.columns)
    pred = model.predict(X)
    assert pred.shape == gpu_pred.shape and np.isfinite(pred).all()
    np.testing.assert_allclose(pred.sum(1), 1.0, atol=1e-6)
    # float32 kernels differ between the GPU and this CPU only in rounding
    np.testing.assert_allclose(pred, gpu_pred, atol=1e-5)
    np.testing.assert_allclose(model.cooccurrence_, gpu_cooc)


def test_gpu_trained_pickle_predicts_on_cpu(reference):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the CPU fallback is not exercised")
    with open(FIXTURES / "mpcl_cuda.pkl", "rb") as f, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn version of the GPU machine
        model = _MovedClassesUnpickler(f).load()
    _check(model, reference)


def test_gpu_trained_skops_file_predicts_on_cpu(reference):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the CPU fallback is not exercised")
    path = FIXTURES / "mpcl_cuda.skops"
    assert untrusted_types(path) == []  # only our own, allow-listed types inside
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = load_model(path)
    _check(model, reference)
