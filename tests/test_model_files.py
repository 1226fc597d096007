"""Hostile model files: one crafted file per attack, each refused before anything is imported,
connected or allocated; sentinels show that no code ran.

Attacks (the classes counted by ``benchmarks/hostile_counts.py``): a network parameter (a Dask
scheduler address on a listening loopback socket that must see no connection), names whose
import runs code (``numpy.f2py.__main__``, a module of our own writing a sentinel file on
import), types outside the allow-list (``builtins.eval``, ``os.system``, scikit-learn classes we
do not use, functions, methods, ...), crafted arrays in types whose arrays index memory (trees),
oversized arrays (a ``.npy`` header that lies, an array over ``max_bytes``), zip bombs
(declared sizes, ratios, compression methods, entry counts) and schema bombs (nesting, size).
Where an attack is live, a control shows it: a careless loader (``skops.io.load`` trusting what
the file lists) connects, imports, crashes or allocates.

Outcomes are counted per entry point and attack class; when the environment variable
``MPCL_MODEL_FILE_COUNTS`` names a file, the counts are written there as JSON.
"""

from __future__ import annotations

import copy
import io
import json
import os
import pickle
import re
import select
import socket
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import uuid
import warnings
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.tree import DecisionTreeRegressor

from mpcl_sklearn.io import (
    UntrustedModelError,
    UntrustedModelWarning,
    load_model,
    save_model,
    untrusted_types,
)
from mpcl_sklearn.models import AAKNNRegressor, MeanDistributionRegressor

REPO = Path(__file__).resolve().parents[1]
COUNTS: dict[str, Counter] = defaultdict(Counter)
#: most a refused load may allocate (bytes traced by tracemalloc, numpy's arrays included)
SMALL_PEAK = 32 << 20


@pytest.fixture(scope="module", autouse=True)
def _write_counts():
    yield
    out = os.environ.get("MPCL_MODEL_FILE_COUNTS")
    if out:
        Path(out).write_text(json.dumps({k: dict(v) for k, v in sorted(COUNTS.items())}))


def refused(entry: str, attack: str, fn, exc=ValueError, match: str = ""):
    """Run ``fn``: it must raise ``exc`` whose message contains ``match``; count the outcome."""
    try:
        fn()
    except exc as e:
        message = re.sub(r"'/[^']*'", "<path>", str(e))  # match the message, not the file name
        assert match.lower() in message.lower(), f"{entry}/{attack}: {e}"
        COUNTS[f"{entry} | {attack}"][type(e).__name__] += 1
        return e
    COUNTS[f"{entry} | {attack}"]["accepted"] += 1
    pytest.fail(f"{entry} accepted a file crafted for {attack!r}")


def listed(attack: str, path, names):
    """``untrusted_types`` must list the refused ``names`` (and import nothing)."""
    found = untrusted_types(path)
    assert set(names) <= set(found), found
    COUNTS[f"untrusted_types | {attack}"]["listed"] += 1


# ------------------------------------------------------------------------------------------
# crafting files


def _data(n=40, d=5, c=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.dirichlet(np.ones(c), size=n)


@pytest.fixture(scope="module")
def model_bytes():
    """A fitted scaler + mean pipeline with a spare attribute ``notes_`` to replace."""
    X, y = _data()
    pipe = make_pipeline(StandardScaler(), MeanDistributionRegressor()).fit(X, y)
    pipe[-1].notes_ = "benign"
    return sio.dumps(pipe)


def schema_of(data: bytes) -> dict:
    return json.loads(zipfile.ZipFile(io.BytesIO(data)).read("schema.json"))


def rezip(data: bytes, schema: dict | None = None, *, replace=None, add=None, method=None):
    """A copy of a skops file with another schema and entries replaced or added."""
    zin = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=method or zipfile.ZIP_DEFLATED) as zout:
        for name in zin.namelist():
            if name == "schema.json" and schema is not None:
                zout.writestr(name, json.dumps(schema))
            else:
                zout.writestr(name, (replace or {}).get(name, zin.read(name)))
        for name, blob in (add or {}).items():
            zout.writestr(name, blob)
    return out.getvalue()


def find_state(schema: dict, cls: str) -> dict:
    """The state (a dict node) of the first object node of class ``cls``."""
    stack = [schema]
    while stack:
        obj = stack.pop()
        if isinstance(obj, dict):
            if obj.get("__class__") == cls and obj.get("__loader__") == "ObjectNode":
                return obj["content"]
            stack.extend(obj.values())
        elif isinstance(obj, list):
            stack.extend(obj)
    raise AssertionError(f"no {cls} in the schema")


def find_attrs(schema: dict, cls: str) -> dict:
    """The attribute dict of the first object node of class ``cls``."""
    return find_state(schema, cls)["content"]


def set_attr(schema: dict, cls: str, attr: str, node: dict) -> None:
    """Set (or add: skops pairs each key with an entry of ``key_types``) an attribute."""
    state = find_state(schema, cls)
    if attr not in state["content"]:
        state["key_types"]["content"].append(
            {"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"}
        )
    state["content"][attr] = node


def inject(data: bytes, node: dict, attr: str = "notes_", cls="MeanDistributionRegressor"):
    schema = schema_of(data)
    find_attrs(schema, cls)[attr] = node
    return rezip(data, schema)


def json_node(value) -> dict:
    return {
        "__class__": "str",
        "__module__": "builtins",
        "__loader__": "JsonNode",
        "content": json.dumps(value),
        "is_json": True,
    }


def call_node(module: str, name: str, arg: str) -> dict:
    """A node that calls ``module.name(arg)`` while the file is being loaded."""
    args = {
        "__class__": "tuple",
        "__module__": "builtins",
        "__loader__": "TupleNode",
        "content": [json_node(arg)],
    }
    return {
        "__class__": name,
        "__module__": module,
        "__loader__": "ConstructorFromReduceNode",
        "content": args,
    }


def empty_state() -> dict:
    return {
        "__class__": "dict",
        "__module__": "builtins",
        "__loader__": "DictNode",
        "content": {},
        "key_types": {
            "__class__": "list",
            "__module__": "builtins",
            "__loader__": "ListNode",
            "content": [],
        },
    }


def write(tmp_path: Path, data: bytes, name="evil.skops") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def careless_load(path: Path, code_after: str = "", timeout=120, extra_path: str = ""):
    """Load ``path`` in a fresh process with skops trusting whatever the file lists."""
    code = textwrap.dedent(
        f"""
        import pickle, sys
        import skops.io as sio
        path = sys.argv[1]
        model = sio.load(path, trusted=sio.get_untrusted_types(file=path))
        {code_after}
        """
    )
    return subprocess.run(
        [sys.executable, "-c", code, str(path)],
        cwd=REPO,
        capture_output=True,
        timeout=timeout,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), extra_path]))),
    )


# ------------------------------------------------------------------------------------------
# network and other external parameters


_WINDOWS = """
import warnings
warnings.simplefilter("ignore")
from mpcl_sklearn.datasets import make_mixed_emotion_recordings
from mpcl_sklearn.windowing import make_windows
rec = make_mixed_emotion_recordings(2, 2, duration_s=8, modalities=("eda",), random_state=0)
X, y, groups = make_windows(rec, window_s=4, step_s=4)
"""


@pytest.fixture(scope="module")
def tsfresh_pipe():
    from mpcl_sklearn.features import ModalityFeatureExtractor
    from mpcl_sklearn.windowing import SignalWindower

    ns: dict = {}
    exec(_WINDOWS, ns)
    X, y = ns["X"], ns["y"]
    pipe = make_pipeline(
        SignalWindower(scales_s=(2.0,)),
        ModalityFeatureExtractor(backend="tsfresh", feature_set={"mean": None}),
        MeanDistributionRegressor(),
    ).fit(X, y)
    return pipe, X


def _connection_pending(server: socket.socket, timeout: float) -> bool:
    readable, _, _ = select.select([server], [], [], timeout)
    return bool(readable)


def test_network_parameter_is_refused_and_never_connects(tmp_path, tsfresh_pipe):
    pipe, X = tsfresh_pipe
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        evil = copy.deepcopy(pipe)
        evil[1].distributor = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        path = write(tmp_path, sio.dumps(evil))  # what an attacker writes (not save_model)

        refused(
            "load_model",
            "network parameter",
            lambda: load_model(path),
            UntrustedModelError,
            "distributor='tcp://127.0.0.1",
        )
        assert untrusted_types(path) == []  # the types are ours: the parameter is the attack
        COUNTS["untrusted_types | network parameter"]["ok (types allowed)"] += 1
        with pytest.warns(UntrustedModelWarning, match="distributor"):
            loaded = load_model(path, reset_external=True)
        assert loaded[1].distributor is None
        np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))
        assert not _connection_pending(server, 0.5), "load_model or predict connected"

        # control: a careless loader connects to the address on predict
        (tmp_path / "X.pkl").write_bytes(pickle.dumps(X))
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(f"""
                import pickle, skops.io as sio
                p = {str(path)!r}
                m = sio.load(p, trusted=sio.get_untrusted_types(file=p))
                m.predict(pickle.load(open({str(tmp_path / "X.pkl")!r}, "rb")))
            """),
            ],
            cwd=REPO,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert _connection_pending(server, 120), "the careless loader did not connect"
        finally:
            proc.kill()
            proc.wait()


def test_save_model_does_not_persist_external_parameters(tmp_path, tsfresh_pipe):
    pipe, X = tsfresh_pipe
    evil = copy.deepcopy(pipe)
    evil[1].distributor = "tcp://127.0.0.1:9"
    evil.memory = str(tmp_path / "cache")  # joblib unpickles what it finds there on fit
    with pytest.warns(UserWarning, match="not saved") as rec:
        save_model(evil, tmp_path / "m.skops")
    msg = " ".join(str(w.message) for w in rec)
    assert "distributor" in msg and "memory" in msg
    assert evil[1].distributor == "tcp://127.0.0.1:9"  # the caller's estimator is unchanged
    loaded = load_model(tmp_path / "m.skops")  # loads without reset: nothing external saved
    assert loaded[1].distributor is None and loaded.memory is None
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))
    COUNTS["save_model | network parameter"]["stripped"] += 1


def test_save_model_warns_about_the_file_it_wrote(tmp_path):
    """A callback of a type outside the allow-list is not saved: save_model used to warn that
    load_model would refuse the file for that type, which the file no longer holds."""
    from skorch.callbacks import EpochTimer

    from mpcl_sklearn.models import MLPDistributionRegressor

    X, y = _data(n=30, d=6, c=3)
    est = MLPDistributionRegressor(max_epochs=1, random_state=0, callbacks=[EpochTimer()])
    est.fit(X, y)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        path = save_model(est, tmp_path / "cb.skops")
    messages = [str(w.message) for w in rec if issubclass(w.category, UserWarning)]
    assert any("callbacks" in m and "not saved" in m for m in messages), messages
    assert not any("refuse" in m or "EpochTimer" in m for m in messages), messages
    assert untrusted_types(path) == []
    loaded = load_model(path)
    assert loaded.callbacks is None
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    COUNTS["save_model | external parameter"]["stripped"] += 1


def test_untrusted_types_trusted_true_is_a_clear_error(tmp_path, model_bytes):
    path = write(tmp_path, model_bytes)
    with pytest.raises(TypeError, match="option of load_model only"):
        untrusted_types(path, trusted=True)
    with pytest.raises(TypeError, match="option of load_model only"):
        untrusted_types(path, trusted=False)


@pytest.mark.parametrize(
    "cls, attr, value, words",
    [
        ("MeanDistributionRegressor", "checkpoint_dir", "/tmp/x", None),  # not a param of it
        ("Pipeline", "memory", "/tmp/shared_cache", "memory"),
        ("StandardScaler", "copy", True, None),
    ],
)
def test_external_parameters_are_checked_per_class(tmp_path, model_bytes, cls, attr, value, words):
    schema = schema_of(model_bytes)
    set_attr(schema, cls, attr, json_node(value))
    path = write(tmp_path, rezip(model_bytes, schema))
    if words is None:  # a parameter that does not name anything external loads as it is
        assert getattr(load_model(path)[-1 if cls != "StandardScaler" else 0], attr) == value
        return
    refused(
        "load_model", "external parameter", lambda: load_model(path), UntrustedModelError, words
    )


def test_torch_external_parameters(tmp_path):
    from mpcl_sklearn.models import MPCLDistributionRegressor

    X, y = _data(n=30, d=6, c=3)
    est = MPCLDistributionRegressor(max_epochs=1, d_model=8, random_state=0).fit(X, y)
    data = sio.dumps(est)
    for attr, value in [
        ("checkpoint_dir", "/tmp/attacker_checkpoints"),
        ("n_threads", 10**6),
        ("callbacks", ["progress"]),
    ]:
        schema = schema_of(data)
        find_attrs(schema, "MPCLDistributionRegressor")[attr] = json_node(value)
        path = write(tmp_path, rezip(data, schema), f"{attr}.skops")
        refused(
            "load_model",
            "external parameter",
            lambda p=path: load_model(p),
            UntrustedModelError,
            attr,
        )
        with pytest.warns(UntrustedModelWarning, match=attr):
            loaded = load_model(path, reset_external=True)
        assert getattr(loaded, attr) == (1 if attr == "n_threads" else None)
        np.testing.assert_array_equal(loaded.predict(X), est.predict(X))


def test_search_cannot_carry_external_parameters(tmp_path):
    """A saved GridSearchCV: its grid may not set such parameters on a later refit, and its
    scorer may only call ``predict``."""
    from mpcl_sklearn.experiments import make_model

    X, y = _data(n=60)
    search = make_model("aa-knn").fit(X, y, groups=np.repeat(np.arange(6), 10))
    data = sio.dumps(search)
    schema = schema_of(data)
    grid = {"n_neighbors": [5], "n_jobs": [64]}
    set_attr(schema, "GridSearchCV", "param_grid", plain_node(grid))
    path = write(tmp_path, rezip(data, schema), "grid.skops")
    refused(
        "load_model",
        "external parameter",
        lambda: load_model(path),
        UntrustedModelError,
        "param_grid",
    )
    refused(
        "load_model",
        "external parameter",
        lambda: load_model(path, reset_external=True),
        UntrustedModelError,
        "param_grid",
    )  # a grid cannot be reset: refused

    schema = schema_of(data)
    set_attr(schema, "_Scorer", "_response_method", json_node("fit"))
    path = write(tmp_path, rezip(data, schema), "scorer.skops")
    refused(
        "load_model",
        "external parameter",
        lambda: load_model(path),
        UntrustedModelError,
        "_response_method",
    )
    with pytest.warns(UntrustedModelWarning):
        loaded = load_model(path, reset_external=True)
    assert loaded.scorer_._response_method == "predict"
    np.testing.assert_array_equal(loaded.predict(X), search.predict(X))


def plain_node(value) -> dict:
    """The skops node of plain data (dicts of lists of JSON values)."""
    node = schema_of(sio.dumps(value))
    del node["protocol"], node["_skops_version"]
    return node


# ------------------------------------------------------------------------------------------
# names whose import runs code


@pytest.fixture
def sentinel_module(tmp_path, monkeypatch):
    """A module on sys.path whose import creates a sentinel file."""
    name = f"mpcl_import_sentinel_{uuid.uuid4().hex[:8]}"
    sentinel = tmp_path / "IMPORTED"
    (tmp_path / f"{name}.py").write_text(
        f"open({str(sentinel)!r}, 'w').close()\n\n\nclass Thing:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, sentinel
    sys.modules.pop(name, None)


@pytest.mark.parametrize("target", ["numpy.f2py.__main__", "sentinel"])
@pytest.mark.parametrize("loader", ["ObjectNode", "FunctionNode", "TypeNode"])
def test_type_names_are_compared_never_imported(
    tmp_path, model_bytes, sentinel_module, target, loader
):
    name, sentinel = sentinel_module
    module = name if target == "sentinel" else target
    node = {"__class__": "Thing", "__module__": module, "__loader__": loader}
    if loader == "ObjectNode":
        node["content"] = empty_state()
    path = write(tmp_path, inject(model_bytes, node))
    sys.modules.pop("numpy.f2py.__main__", None)
    listed("import-on-check", path, [f"{module}.Thing"])
    refused(
        "load_model",
        "import-on-check",
        lambda: load_model(path),
        UntrustedModelError,
        f"{module}.Thing",
    )
    refused(
        "load_model",
        "import-on-check",
        lambda: load_model(path, trusted=["mpcl_sklearn.baselines.MeanDistributionRegressor"]),
        UntrustedModelError,
        module,
    )
    assert not sentinel.exists(), "a module named by the file was imported"
    assert module not in sys.modules


def test_import_sentinel_is_live(tmp_path, model_bytes, sentinel_module):
    """Control: a loader that trusts the name imports the module (the sentinel appears)."""
    name, sentinel = sentinel_module
    node = {"__class__": "Thing", "__module__": name, "__loader__": "TypeNode"}
    path = write(tmp_path, inject(model_bytes, node))
    proc = careless_load(path, extra_path=str(sentinel.parent))
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert sentinel.exists()


# ------------------------------------------------------------------------------------------
# types outside the allow-list


def _payloads(sentinel: Path) -> dict[str, dict]:
    fn = {"__loader__": "FunctionNode"}
    return {
        "builtins.eval": call_node("builtins", "eval", f"open({str(sentinel)!r}, 'w').close()"),
        "posix.system": call_node(os.system.__module__, "system", f"touch {sentinel}"),
        "numpy.load": {"__class__": "load", "__module__": "numpy", **fn},
        "mpcl_sklearn.datasets.wesad.load_wesad": {
            "__class__": "load_wesad",
            "__module__": "mpcl_sklearn.datasets.wesad",
            **fn,
        },
        "operator.methodcaller": {
            "__class__": "methodcaller",
            "__module__": "operator",
            "__loader__": "OperatorFuncNode",
            "attrs": {
                "__class__": "tuple",
                "__module__": "builtins",
                "__loader__": "TupleNode",
                "content": [json_node("__reduce__")],
            },
        },
        "builtins.dict": {
            "__class__": "dict",
            "__module__": "builtins",
            "__loader__": "ObjectNode",
        },
        "mpcl_sklearn.baselines.MeanDistributionRegressor": {
            "__class__": "MeanDistributionRegressor",
            "__module__": "mpcl_sklearn.baselines",
            "__loader__": "MethodNode",
            "content": {
                "func": "fit",
                "obj": {
                    "__class__": "MeanDistributionRegressor",
                    "__module__": "mpcl_sklearn.baselines",
                    "__loader__": "ObjectNode",
                    "content": empty_state(),
                },
            },
        },
    }


@pytest.mark.parametrize("kind", sorted(_payloads(Path("x"))))
def test_types_outside_the_allowlist_are_refused(tmp_path, model_bytes, kind):
    sentinel = tmp_path / "PWNED"
    path = write(tmp_path, inject(model_bytes, _payloads(sentinel)[kind]))
    listed("type not allowed", path, [kind])
    refused("load_model", "type not allowed", lambda: load_model(path), UntrustedModelError, kind)
    assert not sentinel.exists()


def test_payload_runs_under_a_careless_loader(tmp_path, model_bytes):
    """Control: the os.system payload above is live."""
    sentinel = tmp_path / "PWNED"
    path = write(tmp_path, inject(model_bytes, _payloads(sentinel)["posix.system"]))
    careless_load(path)
    assert sentinel.exists()


@pytest.mark.parametrize(
    "make",
    [
        lambda: make_pipeline(FunctionTransformer(np.abs), MeanDistributionRegressor()),
        lambda: DecisionTreeRegressor(max_depth=2),
        lambda: make_pipeline(FunctionTransformer(), MeanDistributionRegressor()),
    ],
)
def test_scikit_learn_classes_we_do_not_use_are_refused(tmp_path, make):
    X, y = _data()
    est = make().fit(X, y)
    path = write(tmp_path, sio.dumps(est))
    names = untrusted_types(path)
    assert names and all(n.startswith(("sklearn.", "numpy.")) for n in names), names
    COUNTS["untrusted_types | type not allowed"]["listed"] += 1
    refused(
        "load_model", "type not allowed", lambda: load_model(path), UntrustedModelError, names[0]
    )
    # trusting exactly those names is the documented way in
    loaded = load_model(path, trusted=names)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))


# ------------------------------------------------------------------------------------------
# crafted arrays in types whose arrays index memory


def _edit_array(data: bytes, node: dict, edit) -> bytes:
    z = zipfile.ZipFile(io.BytesIO(data))
    arr = np.load(io.BytesIO(z.read(node["file"])), allow_pickle=False)
    edit(arr)
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return rezip(data, replace={node["file"]: buf.getvalue()})


def test_crafted_decision_tree_is_refused(tmp_path):
    X, y = _data()
    tree = DecisionTreeRegressor(max_depth=3, random_state=0).fit(X, y[:, 0])
    data = sio.dumps(tree)
    nodes = schema_of(data)["content"]["content"]["tree_"]["content"]["content"]["nodes"]

    def far_children(arr):
        for side in ("left_child", "right_child"):
            arr[side][arr[side] >= 0] = 10**9

    path = write(tmp_path, _edit_array(data, nodes, far_children))
    listed("crafted arrays", path, ["sklearn.tree._classes.DecisionTreeRegressor"])
    refused(
        "load_model",
        "crafted arrays",
        lambda: load_model(path),
        UntrustedModelError,
        "DecisionTreeRegressor",
    )
    # control: trusted and used, the tree crashes the process
    proc = careless_load(path, "model.predict([[0.0] * 5])")
    assert proc.returncode < 0, (proc.returncode, proc.stderr.decode()[-1000:])


def test_crafted_neighbour_tree_cannot_reach_aaknn(tmp_path, monkeypatch):
    """AA-kNN files hold training arrays, not a tree; a 0.1.0 file's tree is rebuilt."""
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(300, 3)), rng.dirichlet(np.ones(3), 300)
    est = AAKNNRegressor(n_neighbors=5).fit(X, y)
    est.knn_.set_params(algorithm="kd_tree").fit(est.knn_._fit_X, est.knn_._y)
    with monkeypatch.context() as m:  # the state version 0.1.0 wrote
        m.setattr(AAKNNRegressor, "__getstate__", BaseEstimator.__getstate__)
        legacy = sio.dumps(est)
    schema = schema_of(legacy)
    idx = find_attrs(schema, "KNeighborsRegressor")["_tree"]["content"]["content"][1]
    path = write(tmp_path, _edit_array(legacy, idx, lambda a: a.fill(10**12)))
    names = untrusted_types(path)
    assert "sklearn.neighbors._kd_tree.KDTree" in names
    COUNTS["untrusted_types | crafted arrays"]["listed"] += 1
    refused("load_model", "crafted arrays", lambda: load_model(path), UntrustedModelError, "KDTree")
    # trusted anyway: AA-kNN discards the crafted tree and rebuilds it from its training data
    loaded = load_model(path, trusted=names)
    np.testing.assert_array_equal(loaded.predict(X[:20]), est.predict(X[:20]))
    # control: the same crafted tree inside a bare KNeighborsRegressor crashes the process
    knn_only = sio.dumps(est.knn_)
    idx = find_attrs(schema_of(knn_only), "KNeighborsRegressor")["_tree"]["content"]["content"][1]
    bare = write(tmp_path, _edit_array(knn_only, idx, lambda a: a.fill(10**12)), "knn.skops")
    proc = careless_load(bare, "model.predict([[0.0] * 3])")
    assert proc.returncode < 0, (proc.returncode, proc.stderr.decode()[-1000:])


def test_inconsistent_arrays_of_allowed_types_give_a_clear_error(tmp_path):
    from mpcl_sklearn.models import MPCLDistributionRegressor

    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(60, 3)), rng.dirichlet(np.ones(3), 60)
    data = sio.dumps(AAKNNRegressor().fit(X, y))
    y_node = find_attrs(schema_of(data), "AAKNNRegressor")["_knn_fit"]["content"]["y"]
    # the neighbours' targets: a (3, 3) array where (60, 3) belongs
    path = write(tmp_path, rezip(data, replace={y_node["file"]: _npy(np.eye(3))}), "knn.skops")
    refused("load_model", "crafted arrays", lambda: load_model(path), ValueError, "inconsistent")

    X, y = _data(n=30, d=6, c=3)
    data = sio.dumps(MPCLDistributionRegressor(max_epochs=1, d_model=8).fit(X, y))
    state = find_attrs(schema_of(data), "MPCLDistributionRegressor")["_module_state_"]["content"]
    weights = next(v for v in state.values() if v.get("type") == "numpy")
    bad = rezip(data, replace={weights["file"]: _npy(np.zeros(7, np.float32))})  # wrong shape
    path = write(tmp_path, bad, "mpcl.skops")
    refused(
        "load_model",
        "crafted arrays",
        lambda: load_model(path),
        ValueError,
        "cannot build the model",
    )


# ------------------------------------------------------------------------------------------
# oversized arrays and zip bombs: refused before memory is spent


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _first_array(schema: dict) -> dict:
    return find_attrs(schema, "MeanDistributionRegressor")["mean_"]


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
    except Exception:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_array_header_that_lies_is_refused_before_allocating(tmp_path, model_bytes):
    node = _first_array(schema_of(model_bytes))
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (1 << 27,)}
    )  # 1 GiB declared ...
    lie = header.getvalue() + b"\x00" * 16  # ... 16 bytes present
    path = write(tmp_path, rezip(model_bytes, replace={node["file"]: lie}))
    for entry, fn in [("load_model", load_model), ("untrusted_types", untrusted_types)]:
        refused(entry, "oversized array", lambda f=fn: f(path), ValueError, "declares shape")
    assert _peak(lambda: load_model(path)) < SMALL_PEAK
    # control: a careless loader allocates the declared gigabyte before failing
    assert _peak(lambda: sio.load(path, trusted=sio.get_untrusted_types(file=path))) > 1 << 30


def test_array_over_max_bytes_is_refused(tmp_path):
    X, y = _data()
    est = MeanDistributionRegressor().fit(X, y)
    est.notes_ = np.ones(1 << 18)  # 2 MiB
    path = write(tmp_path, sio.dumps(est, compression=zipfile.ZIP_DEFLATED))
    for entry, fn in [("load_model", load_model), ("untrusted_types", untrusted_types)]:
        refused(
            entry,
            "oversized array",
            lambda f=fn: f(path, max_bytes=1 << 20),
            ValueError,
            "max_bytes=1048576",
        )
    assert load_model(path, max_bytes=4 << 20).notes_.shape == (1 << 18,)


def test_array_referenced_many_times_counts_each_time(tmp_path):
    X, y = _data()
    est = MeanDistributionRegressor().fit(X, y)
    est.notes_ = np.ones(1 << 17)  # 1 MiB
    data = sio.dumps(est)
    schema = schema_of(data)
    attrs = schema["content"]["content"]
    attrs["notes_"] = {
        "__class__": "list",
        "__module__": "builtins",
        "__loader__": "ListNode",
        "content": [attrs["notes_"]] * 100,
    }
    path = write(tmp_path, rezip(data, schema))
    refused(
        "load_model",
        "oversized array",
        lambda: load_model(path, max_bytes=32 << 20),
        ValueError,
        "add up",
    )


def test_object_array_entry_is_refused(tmp_path, model_bytes):
    node = _first_array(schema_of(model_bytes))
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)  # a pickle inside
    path = write(tmp_path, rezip(model_bytes, replace={node["file"]: buf.getvalue()}))
    refused("load_model", "oversized array", lambda: load_model(path), ValueError, "object dtype")


def _zeros_entry(n_bytes: int) -> bytes:
    return b"\x00" * n_bytes


def test_zip_bomb_is_refused_before_decompressing(tmp_path, model_bytes):
    bomb = rezip(model_bytes, add={"bomb.npy": _zeros_entry(64 << 20)})  # 64 MiB -> ~64 KiB
    path = write(tmp_path, bomb)
    assert path.stat().st_size < 1 << 20
    for entry, fn in [("load_model", load_model), ("untrusted_types", untrusted_types)]:
        refused(entry, "zip bomb", lambda f=fn: f(path, max_bytes=16 << 20), ValueError, "declare")
    assert _peak(lambda: load_model(path, max_bytes=16 << 20)) < SMALL_PEAK
    # under the limit, an entry the schema does not use is still refused
    refused("load_model", "zip bomb", lambda: load_model(path), ValueError, "not referenced")


def _patch_central_size(data: bytes, name: str, size: int) -> bytes:
    """Declare ``size`` uncompressed bytes for ``name`` in the central directory."""
    raw = bytearray(data)
    pos = 0
    while True:
        pos = raw.find(b"PK\x01\x02", pos)
        assert pos >= 0, name
        n = struct.unpack_from("<H", raw, pos + 28)[0]
        if raw[pos + 46 : pos + 46 + n].decode() == name:
            struct.pack_into("<I", raw, pos + 24, size)
            return bytes(raw)
        pos += 4


def test_lying_declared_sizes(tmp_path, model_bytes):
    node = _first_array(schema_of(model_bytes))
    deflated = rezip(model_bytes)
    big = write(tmp_path, _patch_central_size(deflated, node["file"], (1 << 32) - 2), "b")
    refused("load_model", "zip bomb", lambda: load_model(big), ValueError, "ratio")
    # declared smaller than the stream (8 of ~160 bytes): zipfile stops at the declared size
    path = write(tmp_path, _patch_central_size(deflated, node["file"], 8), "s")
    refused("load_model", "zip bomb", lambda: load_model(path), ValueError, "npy header")
    assert _peak(lambda: load_model(path)) < SMALL_PEAK


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_other_compression_methods_are_refused(tmp_path, model_bytes, method):
    path = write(tmp_path, rezip(model_bytes, method=method))
    refused("load_model", "zip bomb", lambda: load_model(path), ValueError, "compression method")


def test_entry_count_and_duplicates(tmp_path, model_bytes):
    many = rezip(model_bytes, add={f"{i}.bin": b"" for i in range(10_001)})
    path = write(tmp_path, many, "many")
    refused("load_model", "zip bomb", lambda: load_model(path), ValueError, "zip entries")
    with pytest.warns(UserWarning, match="Duplicate name"):
        dup = rezip(model_bytes, add={"schema.json": b"{}"})
    path = write(tmp_path, dup, "dup")
    refused("load_model", "zip bomb", lambda: load_model(path), ValueError, "appears twice")


# ------------------------------------------------------------------------------------------
# schema bombs


@pytest.mark.parametrize("depth", [150, 100_000])
def test_deep_nesting_is_refused(tmp_path, model_bytes, depth):
    schema = schema_of(model_bytes)
    text = json.dumps(schema)
    deep = "[" * depth + "]" * depth
    text = text.replace('"protocol"', f'"deep": {deep}, "protocol"', 1)
    path = write(tmp_path, rezip(model_bytes, replace={"schema.json": text.encode()}))
    for entry, fn in [("load_model", load_model), ("untrusted_types", untrusted_types)]:
        refused(entry, "schema bomb", lambda f=fn: f(path), ValueError, "nested deeper")


def test_huge_schema_and_other_malformed_schemas(tmp_path, model_bytes):
    rng = np.random.default_rng(0)
    padding = rng.choice(np.frombuffer(b" \n\t\r", np.uint8), size=65 << 20).tobytes()
    text = json.dumps(schema_of(model_bytes)).encode() + padding  # valid JSON, ~4:1 deflate
    path = write(tmp_path, rezip(model_bytes, replace={"schema.json": text}), "big")
    refused("load_model", "schema bomb", lambda: load_model(path), ValueError, "schema.json")
    for edit, words in [
        (lambda s: s.update(protocol=99), "protocol"),
        (lambda s: s.update(protocol=True), "protocol"),
        (lambda s: s.update(__loader__="EvalNode"), "unknown node kind"),
        (
            lambda s: find_attrs(s, "MeanDistributionRegressor").update(
                notes_={
                    "__loader__": "CachedNode",
                    "__id__": 1,
                    "__class__": None,
                    "__module__": None,
                }
            ),
            "cross-references",
        ),
    ]:
        schema = schema_of(model_bytes)
        edit(schema)
        path = write(tmp_path, rezip(model_bytes, schema), "m")
        refused("load_model", "schema bomb", lambda p=path: load_model(p), ValueError, words)


def _many_leaves(n: int, distinct: bool) -> dict:
    """A list node of ``n`` integer leaves (distinct ones compress ~10:1, equal ones ~300:1)."""
    return {
        "__class__": "list",
        "__module__": "builtins",
        "__loader__": "ListNode",
        "content": [json_node(i if distinct else 1) for i in range(n)],
    }


@pytest.mark.parametrize("distinct", [False, True])
def test_schema_of_many_nodes_is_refused_before_parsing(tmp_path, model_bytes, distinct):
    """A small file whose schema.json holds hundreds of thousands of nodes used to be parsed
    and walked: the reviewer's 220 KB file (600,000 equal leaves, 64 MB of JSON) cost 630 MB
    and 16 s before it loaded. Equal leaves are refused by schema.json's compression ratio,
    distinct ones (a ratio of real schemas) by the number of JSON values, counted while
    inflating: either way before parsing, with a small peak."""
    schema = schema_of(model_bytes)
    set_attr(schema, "MeanDistributionRegressor", "notes_", _many_leaves(210_000, distinct))
    path = write(tmp_path, rezip(model_bytes, schema))
    info = zipfile.ZipFile(path).getinfo("schema.json")
    ratio = info.file_size / info.compress_size
    assert (ratio > 200) if not distinct else (ratio < 50), ratio
    words = "ratio over 200" if not distinct else "more than 1000000 json values"
    for entry, fn in [("load_model", load_model), ("untrusted_types", untrusted_types)]:
        refused(entry, "schema bomb", lambda f=fn: f(path), ValueError, words)
    assert _peak(lambda: load_model(path)) < SMALL_PEAK
    # a list of distinct values of a real size (20,000 names) loads
    schema = schema_of(model_bytes)
    set_attr(schema, "MeanDistributionRegressor", "notes_", _many_leaves(20_000, True))
    assert len(load_model(write(tmp_path, rezip(model_bytes, schema), "ok.skops"))[-1].notes_) == (
        20_000
    )


def test_ids_cannot_alias_a_checked_value(tmp_path, tsfresh_pipe):
    """skops builds every node with an already seen ``__id__`` as the first node of that id; a
    checked ``distributor=None`` could so become an address hidden in an earlier attribute.
    load_model ignores ids: every node is built from its own, checked, content."""
    pipe, X = tsfresh_pipe
    evil = copy.deepcopy(pipe)
    evil[0].notes_ = "tcp://127.0.0.1:9"  # the windower comes before the extractor
    data = sio.dumps(evil)
    schema = schema_of(data)
    find_attrs(schema, "SignalWindower")["notes_"]["__id__"] = 424242
    find_attrs(schema, "ModalityFeatureExtractor")["distributor"] = dict(
        json_node(None), __id__=424242
    )
    path = write(tmp_path, rezip(data, schema))
    careless = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    assert careless[1].distributor == "tcp://127.0.0.1:9"  # control: the alias is live
    loaded = load_model(path)
    assert loaded[1].distributor is None
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))
    COUNTS["load_model | schema bomb"]["ids ignored"] += 1


# ------------------------------------------------------------------------------------------
# crafted network arguments (issue 12 residual): the network a file's module_args_ describe is
# built on torch's meta device and compared with the stored weights before any real memory


def _torch_file(est_class, **params) -> bytes:
    X, y = _data(n=30, d=4, c=3)
    return sio.dumps(est_class(max_epochs=1, random_state=0, **params).fit(X, y))


def _craft_module_arg(data: bytes, cls: str, name: str, value) -> bytes:
    schema = schema_of(data)
    args = find_attrs(schema, cls)["module_args_"]["content"]
    args[name] = dict(json_node(value), __id__=uuid.uuid4().int % (1 << 40))
    return rezip(data, schema)


def test_crafted_network_size_is_refused_before_building(tmp_path, monkeypatch):
    """A file asking for d_model=2**20 (terabytes of weights: d x d matrices) is refused with a
    shape error; every network construction during the load happens on the meta device."""
    import torch

    from mpcl_sklearn.models import HeLoRegressor, MPCLDistributionRegressor
    from mpcl_sklearn.nn.mpcl import MPCLNet

    data = _torch_file(MPCLDistributionRegressor, d_model=8, member_folds=1)
    helo = _torch_file(HeLoRegressor, d_model=8, n_heads=2, n_tokens=2, ffn_dim=8)
    built_on = []
    original = MPCLNet.__init__

    def spy(self, *args, **kwargs):
        if args or kwargs:
            built_on.append(torch.get_default_device().type)
        original(self, *args, **kwargs)

    monkeypatch.setattr(MPCLNet, "__init__", spy)
    assert load_model(write(tmp_path, data, "ok.skops")) is not None
    assert built_on == ["meta", "cpu"]  # checked on meta, then built for real
    built_on.clear()
    evil = _craft_module_arg(data, "MPCLDistributionRegressor", "d_model", 1 << 20)
    path = write(tmp_path, evil)
    refused("load_model", "crafted network arguments", lambda: load_model(path), ValueError,
            "stored weight")  # fmt: skip
    assert built_on == ["meta"]
    # a number of layers is bounded before anything is built (a Python loop per layer)
    deep = write(tmp_path, _craft_module_arg(helo, "HeLoRegressor", "depth", 10**9), "d.skops")
    refused("load_model", "crafted network arguments", lambda: load_model(deep), ValueError,
            "depth=1000000000")  # fmt: skip
    # so is the number of stacked members (one network built per member)
    stacked = _torch_file(MPCLDistributionRegressor, d_model=8, member_folds=3)
    many = _craft_module_arg(stacked, "MPCLDistributionRegressor", "n_members", 10**9)
    many = write(tmp_path, many, "m.skops")
    refused("load_model", "crafted network arguments", lambda: load_model(many), ValueError,
            "n_members=1000000000")  # fmt: skip
    # arguments the network refuses are a clear error too
    odd = write(tmp_path, _craft_module_arg(data, "MPCLDistributionRegressor", "betas", []), "b")
    refused("load_model", "crafted network arguments", lambda: load_model(odd), ValueError,
            "do not build")  # fmt: skip
