"""Safe model files: mpcl_sklearn.io.save_model / load_model on skops."""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import textwrap
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from mpcl_sklearn.io import (
    UntrustedModelError,
    UntrustedModelWarning,
    load_model,
    save_model,
    untrusted_types,
)
from mpcl_sklearn.models import AAKNNRegressor, MeanDistributionRegressor, SABFGSRegressor

REPO = Path(__file__).resolve().parents[1]


def _data(n=40, d=5, c=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = rng.dirichlet(np.ones(c), size=n)
    return X, y


@pytest.fixture(scope="module")
def fitted_pipeline():
    X, y = _data()
    return make_pipeline(StandardScaler(), MeanDistributionRegressor()).fit(X, y), X


# --------------------------------------------------------------------------------------------
# round trips


@pytest.mark.parametrize(
    "final", [MeanDistributionRegressor(), SABFGSRegressor(max_iter=20), AAKNNRegressor()]
)
def test_roundtrip_baselines_predict_identically(tmp_path, final):
    X, y = _data()
    pipe = make_pipeline(StandardScaler(), final).fit(X, y)
    path = save_model(pipe, tmp_path / "model.skops")
    assert untrusted_types(path) == []
    loaded = load_model(path)
    assert type(loaded) is type(pipe)
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))


def test_roundtrip_in_a_fresh_process(tmp_path, fitted_pipeline):
    pipe, X = fitted_pipeline
    path = save_model(pipe, tmp_path / "model.skops")
    np.save(tmp_path / "X.npy", X)
    code = textwrap.dedent(
        f"""
        import numpy as np
        from mpcl_sklearn.io import load_model
        est = load_model({str(path)!r})
        np.save({str(tmp_path / "pred.npy")!r}, est.predict(np.load({str(tmp_path / "X.npy")!r})))
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=120)
    np.testing.assert_array_equal(np.load(tmp_path / "pred.npy"), pipe.predict(X))


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, fitted_pipeline):
    pipe, _ = fitted_pipeline
    save_model(pipe, tmp_path / "m.skops")
    save_model(pipe, tmp_path / "m.skops")  # overwrite
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.skops"]


def test_save_warns_for_types_outside_the_allowlist(tmp_path):
    X, y = _data()
    # a FunctionTransformer is not part of this package's pipelines: outside the allowlist
    pipe = make_pipeline(FunctionTransformer(np.abs), MeanDistributionRegressor()).fit(X, y)
    with pytest.warns(UserWarning, match="FunctionTransformer"):
        save_model(pipe, tmp_path / "ufunc.skops")
    names = untrusted_types(tmp_path / "ufunc.skops")
    assert names == [
        "numpy.absolute",
        "sklearn.preprocessing._function_transformer.FunctionTransformer",
    ]
    with pytest.raises(UntrustedModelError, match="FunctionTransformer"):
        load_model(tmp_path / "ufunc.skops")
    loaded = load_model(tmp_path / "ufunc.skops", trusted=names)
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))

    pipe2 = make_pipeline(FunctionTransformer(os.path.basename), MeanDistributionRegressor())
    with pytest.warns(UserWarning, match="posixpath.basename"):
        save_model(pipe2, tmp_path / "func.skops")
    with pytest.raises(UntrustedModelError, match="posixpath.basename"):
        load_model(tmp_path / "func.skops")
    # explicit trust of exactly those names works
    loaded = load_model(tmp_path / "func.skops", trusted=untrusted_types(tmp_path / "func.skops"))
    assert loaded.steps[0][1].func is os.path.basename


def test_unsaveable_object_gives_type_error(tmp_path):
    class Local:  # local classes cannot be located at load time
        def __init__(self):
            self.gen = (i for i in range(3))

    with pytest.raises(TypeError, match="cannot save Local with skops"):
        save_model(Local(), tmp_path / "x.skops")


def test_load_rejects_non_skops_files_and_bad_arguments(tmp_path, fitted_pipeline):
    bad = tmp_path / "notes.skops"
    bad.write_text("hello")
    with pytest.raises(ValueError, match="not a skops model file"):
        load_model(bad)
    with pytest.raises(FileNotFoundError, match="no model file"):
        load_model(tmp_path / "missing.skops")
    path = save_model(fitted_pipeline[0], tmp_path / "m.skops")
    with pytest.raises(TypeError, match="list"):
        load_model(path, trusted="mpcl_sklearn.models.shallow.MeanDistributionRegressor")
    with pytest.raises(TypeError, match="trusted=False"):
        load_model(path, trusted=False)


# --------------------------------------------------------------------------------------------
# malicious files


def _inject(model_bytes: bytes, attr: str, node: dict) -> bytes:
    """Return a copy of a skops file whose final estimator's ``attr`` is replaced by ``node``."""
    zin = zipfile.ZipFile(io.BytesIO(model_bytes))
    schema = json.loads(zin.read("schema.json"))

    def walk(obj):
        if isinstance(obj, dict):
            if attr in obj and isinstance(obj[attr], dict) and "__loader__" in obj[attr]:
                obj[attr] = node | {"__id__": obj[attr].get("__id__", 1)}
                return True
            return any(walk(v) for v in obj.values())
        if isinstance(obj, list):
            return any(walk(v) for v in obj)
        return False

    assert walk(schema), f"attribute {attr!r} not found in the schema"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zout:
        for name in zin.namelist():
            data = json.dumps(schema) if name == "schema.json" else zin.read(name)
            zout.writestr(name, data)
    return out.getvalue()


def _call_node(module: str, name: str, arg: str) -> dict:
    """A skops node that calls ``module.name(arg)`` while the file is being loaded."""
    arg_node = json.loads(
        zipfile.ZipFile(io.BytesIO(sio.dumps((arg,)))).read("schema.json").decode()
    )
    for key in ("protocol", "_skops_version"):
        arg_node.pop(key, None)
    return {
        "__class__": name,
        "__module__": module,
        "__loader__": "ConstructorFromReduceNode",
        "content": arg_node,
    }


def _payloads(sentinel: Path) -> dict[str, dict]:
    return {
        "os.system": _call_node(os.system.__module__, "system", f"touch {sentinel}"),
        "builtins.eval": _call_node("builtins", "eval", f"open({str(sentinel)!r}, 'w').close()"),
    }


@pytest.mark.parametrize("kind", ["os.system", "builtins.eval"])
def test_injected_payload_is_refused_and_not_executed(tmp_path, kind):
    X, y = _data()
    est = MeanDistributionRegressor().fit(X, y)
    est.notes_ = "benign"  # the attribute the attacker replaces
    sentinel = tmp_path / f"pwned_{kind}"
    evil = tmp_path / "evil.skops"
    evil.write_bytes(
        _inject(
            sio.dumps(make_pipeline(StandardScaler(), est)), "notes_", _payloads(sentinel)[kind]
        )
    )
    bad_name = {"os.system": f"{os.system.__module__}.system", "builtins.eval": "builtins.eval"}
    assert bad_name[kind] in untrusted_types(evil)
    with pytest.raises(UntrustedModelError, match=bad_name[kind].replace(".", r"\.")):
        load_model(evil)
    # trusting the *package's* types explicitly does not let the payload through either
    with pytest.raises(UntrustedModelError):
        load_model(evil, trusted=["mpcl_sklearn.models.shallow.MeanDistributionRegressor"])
    assert not sentinel.exists()

    # the payload is live: a loader that trusts it does run it (so the check above can fail)
    code = (
        "import skops.io as s, sys; "
        "s.load(sys.argv[1], trusted=s.get_untrusted_types(file=sys.argv[1]))"
    )
    subprocess.run([sys.executable, "-c", code, str(evil)], cwd=tmp_path, timeout=120)
    assert sentinel.exists()


def test_trusted_true_is_explicit_and_warns(tmp_path):
    X, y = _data()
    pipe = make_pipeline(FunctionTransformer(os.path.basename), MeanDistributionRegressor())
    with pytest.warns(UserWarning):
        path = save_model(pipe, tmp_path / "f.skops")
    with pytest.warns(UntrustedModelWarning, match="posixpath.basename"):
        loaded = load_model(path, trusted=True)
    assert loaded.steps[0][1].func is os.path.basename


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_custom_reduce_object_is_refused(tmp_path):
    sentinel = tmp_path / "reduce_pwned"
    path = tmp_path / "evil.skops"
    with pytest.warns(UserWarning, match="_Evil"):
        save_model(_Evil(sentinel), path)  # skops stores its __dict__, not the __reduce__
    with pytest.raises(UntrustedModelError, match="_Evil"):
        load_model(path)
    assert not sentinel.exists()

    # the same object as a plain pickle runs its payload on load (the risk we avoid) ...
    pkl = tmp_path / "evil.pkl"
    pkl.write_bytes(pickle.dumps(_Evil(sentinel)))
    with pytest.raises(ValueError, match="not a skops model file"):
        load_model(pkl)  # ... and load_model does not unpickle it
    assert not sentinel.exists()
    pickle.loads(pkl.read_bytes())
    assert sentinel.exists()


def test_allowlist_is_exact_names():
    from mpcl_sklearn._model_allowlist import LEGACY_NAMES, OUR_CLASSES, allowed_names

    allowed = allowed_names()
    classes = allowed["ObjectNode"]
    assert set(OUR_CLASSES) <= classes and set(LEGACY_NAMES) <= classes
    assert "sklearn.pipeline.Pipeline" in classes
    assert "sklearn.preprocessing._data.StandardScaler" in classes
    assert "numpy.float64" in allowed["NdArrayNode"]
    everything = set().union(*allowed.values())
    for name in [
        "builtins.eval",
        "builtins.exec",
        "builtins.getattr",
        "builtins.open",
        "posix.system",
        "os.system",
        "subprocess.Popen",
        "numpy.load",
        "numpy.log1p",  # ufuncs in a FunctionTransformer: not in our pipelines
        "numpy.f2py.__main__.x",
        "sklearn.datasets.fetch_openml",
        "sklearn.neighbors._kd_tree.KDTree",  # index arrays: AA-kNN rebuilds its tree instead
        "sklearn.neighbors._regression.KNeighborsRegressor",
        "sklearn.tree._classes.DecisionTreeRegressor",
        "sklearn.tree._tree.Tree",
        "sklearn.preprocessing._function_transformer.FunctionTransformer",
        "mpcl_sklearn.datasets.wesad.load_wesad",
        "mpcl_sklearn.io.np",
        "mpcl_sklearn.training.net.DistributionNet",  # a skorch net: unpickles a blob
        "scipy.io.loadmat",
        "torch.load",
        "nonexistent_pkg.Thing",
    ]:
        assert name not in everything, name
    # functions only as functions, classes only as objects
    assert "mpcl_sklearn.metrics.kl_divergence" in allowed["FunctionNode"]
    assert "mpcl_sklearn.metrics.kl_divergence" not in classes
    assert "builtins.dict" not in classes


# --------------------------------------------------------------------------------------------
# feature pipelines and the MPCL regressor

_WINDOWS_CODE = """
import warnings
warnings.simplefilter("ignore")
from mpcl_sklearn.datasets import make_mixed_emotion_recordings
from mpcl_sklearn.windowing import make_windows
rec = make_mixed_emotion_recordings(
    3, 2, duration_s=8, modalities=("eda", "ppg", "acc"), random_state=0
)
X, y, groups = make_windows(rec, window_s=4, step_s=2)
"""


def _windows():
    ns: dict = {}
    exec(_WINDOWS_CODE, ns)  # the same code runs in the fresh process below
    return ns["X"], ns["y"]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_feature_pipeline_roundtrip_fresh_process(tmp_path):
    from mpcl_sklearn.features import ModalityFeatureExtractor
    from mpcl_sklearn.windowing import SignalWindower

    X, y = _windows()
    pipe = make_pipeline(
        SignalWindower(scales_s=(1.0, 2.0)),
        ModalityFeatureExtractor(feature_set="default"),
        StandardScaler(),
        SABFGSRegressor(max_iter=20),
    ).fit(X, y)
    path = save_model(pipe, tmp_path / "pipe.skops")
    assert untrusted_types(path) == []
    np.testing.assert_array_equal(load_model(path).predict(X), pipe.predict(X))
    code = _WINDOWS_CODE + textwrap.dedent(
        f"""
        import numpy as np
        from mpcl_sklearn.io import load_model
        np.save({str(tmp_path / "pred.npy")!r}, load_model({str(path)!r}).predict(X))
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=300)
    np.testing.assert_array_equal(np.load(tmp_path / "pred.npy"), pipe.predict(X))


def _mpcl(**kw):
    from mpcl_sklearn.models import MPCLDistributionRegressor

    return MPCLDistributionRegressor(max_epochs=2, d_model=8, random_state=0, **kw)


def test_mpcl_pipeline_roundtrip_trusts_only_allowlist(tmp_path):
    X, y = _data(n=30, d=6, c=3)
    pipe = make_pipeline(StandardScaler(), _mpcl()).fit(X, y)
    path = save_model(pipe, tmp_path / "mpcl.skops")
    names = sio.get_untrusted_types(file=path)
    assert names == [  # ours only: no torch, no pickle
        "mpcl_sklearn._scaling.Standardizer",
        "mpcl_sklearn.models.mpcl.MPCLDistributionRegressor",
    ]
    assert untrusted_types(path) == []
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))
    np.testing.assert_array_equal(loaded[-1].cooccurrence_, pipe[-1].cooccurrence_)


def test_full_mpcl_pipeline_roundtrip_fresh_process(tmp_path):
    """windows -> frames -> fast features -> MPCL, saved, loaded and run in a new process."""
    from mpcl_sklearn.features import ModalityFeatureExtractor
    from mpcl_sklearn.windowing import SignalWindower

    X, y = _windows()
    pipe = make_pipeline(
        SignalWindower(scales_s=(1.0, 2.0)),
        ModalityFeatureExtractor(feature_set="minimal"),
        _mpcl(),
    ).fit(X, y)
    path = save_model(pipe, tmp_path / "pipe.skops")
    assert untrusted_types(path) == []
    code = _WINDOWS_CODE + textwrap.dedent(
        f"""
        import numpy as np
        from mpcl_sklearn.io import load_model
        np.save({str(tmp_path / "pred.npy")!r}, load_model({str(path)!r}).predict(X))
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=300)
    P = np.load(tmp_path / "pred.npy")
    np.testing.assert_array_equal(P, pipe.predict(X))
    np.testing.assert_allclose(P.sum(axis=1), 1.0)


# --------------------------------------------------------------------------------------------
# the allowlist holds exactly what our pipelines contain; legacy names; file permissions


def _public_pipelines():
    from mpcl_sklearn.experiments import make_model
    from mpcl_sklearn.models import HeLoRegressor, MLPDistributionRegressor

    quick = {"max_epochs": 1}
    return {
        "mean": ("fast", MeanDistributionRegressor()),
        "sa-bfgs": ("fast", SABFGSRegressor(max_iter=20)),
        "aa-knn": ("fast", AAKNNRegressor()),
        "mlp": ("fast", MLPDistributionRegressor(**quick)),
        "helo": ("fast", HeLoRegressor(**quick)),
        "mpcl": ("fast", _mpcl()),
        "search-sa-bfgs": ("fast", make_model("sa-bfgs")),
        "search-aa-knn": ("fast", make_model("aa-knn")),
        "physio": ("physio", MeanDistributionRegressor()),
        "tsfresh": ("tsfresh", MeanDistributionRegressor()),
    }


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", sorted(_public_pipelines()))
def test_every_public_pipeline_loads_with_the_default_allowlist(tmp_path, name):
    """Save each public estimator in a full pipeline: every type in the file is allowed."""
    from mpcl_sklearn._model_allowlist import allowed_names
    from mpcl_sklearn.features import ModalityFeatureExtractor
    from mpcl_sklearn.windowing import SignalWindower

    X, y = _windows()
    backend, est = _public_pipelines()[name]
    pipe = make_pipeline(
        SignalWindower(scales_s=(1.0, 2.0)),
        ModalityFeatureExtractor(backend=backend, feature_set="minimal"),
        StandardScaler(),
        est,
    )
    groups = np.repeat(np.arange(3), len(X) // 3 + 1)[: len(X)]
    fit_params = {"gridsearchcv__groups": groups} if name.startswith("search") else {}
    pipe.fit(X, y, **fit_params)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # nothing stripped, nothing untrusted
        path = save_model(pipe, tmp_path / "pipe.skops")
    found: set[tuple[str, str]] = set()

    def walk(obj):
        if isinstance(obj, dict):
            if "__loader__" in obj and obj["__loader__"] != "JsonNode":
                found.add((obj["__loader__"], f"{obj['__module__']}.{obj['__class__']}"))
            for v in obj.values():
                walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)

    walk(json.loads(zipfile.ZipFile(path).read("schema.json")))
    allowed = allowed_names()
    assert {(k, n) for k, n in found if n not in allowed.get(k, ())} == set()
    assert untrusted_types(path) == []
    np.testing.assert_array_equal(load_model(path).predict(X), pipe.predict(X))


def test_legacy_and_current_names_load_the_same_model(tmp_path):
    """0.1.0 files name mpcl_sklearn.regressor / .baselines; files of this version name the
    classes where they live now. Both load, before and after the classes move."""
    from mpcl_sklearn._model_allowlist import LEGACY_NAMES, locate

    for old, new in LEGACY_NAMES.items():
        assert locate(old) == locate(new)
    fixture = REPO / "tests" / "fixtures" / "mpcl_cuda.skops"
    data = fixture.read_bytes()
    zin = zipfile.ZipFile(io.BytesIO(data))
    schema = json.loads(zin.read("schema.json"))
    assert f"{schema['__module__']}.{schema['__class__']}" in LEGACY_NAMES
    renamed = dict(schema)
    renamed["__module__"], _, renamed["__class__"] = LEGACY_NAMES[
        f"{schema['__module__']}.{schema['__class__']}"
    ].rpartition(".")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zout:
        for name in zin.namelist():
            zout.writestr(name, json.dumps(renamed) if name == "schema.json" else zin.read(name))
    current = tmp_path / "current_names.skops"
    current.write_bytes(out.getvalue())
    assert untrusted_types(fixture) == [] and untrusted_types(current) == []
    ref = np.load(REPO / "tests" / "fixtures" / "mpcl_cuda_reference.npz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn version of the GPU machine
        a, b = load_model(fixture), load_model(current)
    assert type(a) is type(b)
    X = pd.DataFrame(ref["X"], columns=list(a.feature_names_in_))
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    np.testing.assert_allclose(a.predict(X), ref["predictions"], atol=1e-5)


def test_checking_a_file_imports_none_of_its_classes():
    """untrusted_types compares names: the estimators' modules are not even imported."""
    fixture = REPO / "tests" / "fixtures" / "mpcl_cuda.skops"
    code = textwrap.dedent(
        f"""
        import json, sys
        from mpcl_sklearn.io import untrusted_types
        before = set(sys.modules)
        assert untrusted_types({str(fixture)!r}) == []
        print(json.dumps(sorted(set(sys.modules) - before)))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    new = json.loads(out.stdout.strip().splitlines()[-1])
    assert not [m for m in new if m.startswith(("mpcl_sklearn", "skorch"))], new


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_save_model_follows_the_umask(tmp_path, fitted_pipeline, umask, mode):
    import stat

    old = os.umask(umask)
    try:
        path = save_model(fitted_pipeline[0], tmp_path / "m.skops")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode
