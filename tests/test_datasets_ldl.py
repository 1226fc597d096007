"""The LDL .mat loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from mpcl_sklearn.datasets.ldl import LDLFormatError, load_ldl

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ldl"


def _write(tmp_path, **arrays):
    path = tmp_path / "set.mat"
    savemat(path, arrays)
    return path


def _valid(n=20, f=4, c=3, seed=0):
    rng = np.random.default_rng(seed)
    Y = rng.dirichlet(np.ones(c), size=n)
    return rng.normal(size=(n, f)), Y


def test_reads_features_and_labels(tmp_path):
    X, Y = _valid()
    Y[0] = [0.0, 0.0, 1.0]
    data = load_ldl(_write(tmp_path, features=X.astype(np.float32), labels=Y * (1 + 1e-6)))
    assert data.data.dtype == np.float64 and data.data.shape == (20, 4)
    np.testing.assert_allclose(data.data, X.astype(np.float32))
    np.testing.assert_allclose(data.target.sum(1), 1.0, atol=1e-12)
    np.testing.assert_allclose(data.target, Y, rtol=1e-5)
    assert list(data.target_names) == ["label_0", "label_1", "label_2"]
    assert any("rescaled to 1" in line for line in data.report)
    X2, Y2 = load_ldl(_write(tmp_path, features=X, labels=Y), return_X_y=True)
    assert X2.shape == (20, 4) and Y2.shape == (20, 3)
    named = load_ldl(_write(tmp_path, features=X, labels=Y), label_names=["a", "b", "c"])
    assert list(named.target_names) == ["a", "b", "c"]


def test_sparse_matrices_are_read_as_dense(tmp_path):
    from scipy import sparse

    X, Y = _valid()
    X[X < 0] = 0.0
    data = load_ldl(_write(tmp_path, features=sparse.csc_matrix(X), labels=sparse.csc_matrix(Y)))
    np.testing.assert_array_equal(data.data, X)
    np.testing.assert_allclose(data.target, Y)
    assert isinstance(data.data, np.ndarray) and isinstance(data.target, np.ndarray)


def test_row_sums_checked(tmp_path):
    X, Y = _valid()
    Y[3] *= 2.0
    path = _write(tmp_path, features=X, labels=Y)
    with pytest.raises(LDLFormatError, match="1 label row.*do not sum to 1.*normalize=True"):
        load_ldl(path)
    data = load_ldl(path, normalize=True)
    np.testing.assert_allclose(data.target.sum(1), 1.0)
    assert any(line.startswith("rescaled 1 label row") for line in data.report)
    Y[5] = 0.0
    with pytest.raises(LDLFormatError, match="sum to 0"):
        load_ldl(_write(tmp_path, features=X, labels=Y), normalize=True)
    Y[5] = [-0.1, 0.6, 0.5]
    with pytest.raises(LDLFormatError, match="negative"):
        load_ldl(_write(tmp_path, features=X, labels=Y), normalize=True)


def test_non_finite_rows(tmp_path):
    X, Y = _valid()
    X[2, 1] = np.nan
    Y[7, 0] = np.inf
    path = _write(tmp_path, features=X, labels=Y)
    with pytest.raises(LDLFormatError, match=r"2 row\(s\) with NaN or infinite values.*\[2, 7\]"):
        load_ldl(path)
    data = load_ldl(path, on_nan="drop")
    assert data.data.shape == (18, 4) and np.isfinite(data.data).all()
    assert any(line.startswith("dropped 2 row(s)") for line in data.report)


def test_malformed_files(tmp_path):
    X, Y = _valid()
    with pytest.raises(FileNotFoundError):
        load_ldl(tmp_path / "missing.mat")
    with pytest.raises(LDLFormatError, match="no 'labels' matrix.*'features', 'label'"):
        load_ldl(_write(tmp_path, features=X, label=Y))
    with pytest.raises(LDLFormatError, match="'features' has 20 rows but 'labels' has 19"):
        load_ldl(_write(tmp_path, features=X, labels=Y[:19]))
    with pytest.raises(LDLFormatError, match="at least 2"):
        load_ldl(_write(tmp_path, features=X, labels=np.ones((20, 1))))
    with pytest.raises(LDLFormatError, match="not a numeric matrix"):
        load_ldl(_write(tmp_path, features=np.array(["a", "b"]), labels=Y))
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(LDLFormatError, match="not a readable"):
        load_ldl(junk)
    with pytest.raises(ValueError, match="on_nan"):
        load_ldl(_write(tmp_path, features=X, labels=Y), on_nan="zero")
    with pytest.raises(ValueError, match="label_names has 2"):
        load_ldl(_write(tmp_path, features=X, labels=Y), label_names=["a", "b"])


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared LDL data not present")
@pytest.mark.parametrize(
    "name,shape",
    [("emotion6", (1980, 168, 7)), ("Painting", (280, 142, 8)), ("Music", (360, 128, 9))],
)
def test_shared_benchmarks(name, shape):
    data = load_ldl(SHARED / f"{name}.mat")
    assert data.data.shape == shape[:2] and data.target.shape == (shape[0], shape[2])
    np.testing.assert_allclose(data.target.sum(1), 1.0, atol=1e-12)
