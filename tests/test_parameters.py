"""Parameters declared once (mpcl_sklearn._param_validation): every public estimator,
transformer and splitter refuses every invalid value of every parameter, by name and with the
allowed range, before doing any work.

The invalid values are generated from each class's declarations (wrong type, bool where a number
is expected, out of range, NaN, infinity, unknown option, bad item of a sequence) and the test
that the declarations cover exactly the ``__init__`` parameters keeps them honest; the
regression tests at the end name the bugs of the eight hand-written checks this replaced.
"""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import BaseCrossValidator
from skorch.callbacks import Callback

import mpcl_sklearn
from mpcl_sklearn._param_validation import (
    AnyOf,
    Bool,
    Float,
    InstanceOf,
    Int,
    InvalidParameterError,
    MappingOf,
    Options,
    Satisfies,
    SequenceOf,
    Str,
    SubclassOf,
    declared_constraints,
    validate_params,
)
from mpcl_sklearn.features import ModalityFeatureExtractor
from mpcl_sklearn.model_selection import InnerGroupKFold, SubjectDependentSplitter
from mpcl_sklearn.models import (
    AAKNNRegressor,
    HeLoRegressor,
    MeanDistributionRegressor,
    MLPDistributionRegressor,
    MPCLDistributionRegressor,
    SABFGSRegressor,
    TorchDistributionRegressor,
)
from mpcl_sklearn.preprocessing import SubjectCalibrator
from mpcl_sklearn.training.net import DistributionNet
from mpcl_sklearn.windowing import SignalWindower

#: every public class with constructor parameters, with small valid parameters for a quick fit
CLASSES: dict[type, dict] = {
    MPCLDistributionRegressor: dict(
        d_model=8, prototypes_per_emotion=2, betas=(1.0,), n_memory=2, max_epochs=1
    ),
    MLPDistributionRegressor: dict(hidden_layer_sizes=(8,), max_epochs=1),
    HeLoRegressor: dict(
        d_model=8, n_heads=2, n_tokens=2, ffn_dim=8, hidden_size=8, max_epochs=1, ot_inner_iter=2
    ),
    MeanDistributionRegressor: {},
    SABFGSRegressor: dict(max_iter=20),
    AAKNNRegressor: dict(n_neighbors=3),
    SignalWindower: {},
    ModalityFeatureExtractor: dict(feature_set="minimal"),
    SubjectDependentSplitter: dict(n_splits=2),
    InnerGroupKFold: dict(n_splits=2),
    SubjectCalibrator: dict(mode="transductive"),
}

#: abstract bases: declarations checked, never fitted
BASES = {TorchDistributionRegressor}

#: estimator classes that are not user-facing: built by ours from checked parameters
INTERNAL = {DistributionNet}  # the skorch net of the torch models (skorch checks its own)


def _init_parameters(cls: type) -> set[str]:
    return {
        name
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


def _public_classes() -> set[type]:
    """Public estimator, transformer and splitter classes defined anywhere in the package."""
    found = set()
    for info in pkgutil.walk_packages(mpcl_sklearn.__path__, "mpcl_sklearn."):
        if any(part.startswith("_") for part in info.name.split(".")[1:]):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and obj.__module__ == module.__name__
                and not name.startswith("_")
                and issubclass(obj, BaseEstimator | BaseCrossValidator)
                and _init_parameters(obj)
            ):
                found.add(obj)
    return found


# ---------------------------------------------------------------------------------- data


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 6))
    Y = rng.dirichlet(np.ones(3), size=24)
    windows = pd.DataFrame(
        {
            "bvp": [rng.normal(size=(1, 64)) for _ in range(6)],
            "eda": [rng.normal(size=(2, 16)) for _ in range(6)],
        }
    )
    windows.attrs["sfreq"] = {"bvp": 16.0, "eda": 4.0}
    groups = pd.DataFrame(
        {"subject": np.repeat(["a", "b"], 12), "trial": np.repeat(["t1", "t2", "t3"] * 2, 4)}
    )
    return {"X": X, "Y": Y, "windows": windows, "groups": groups}


def _run(est, data):
    """What triggers the checks: ``fit`` (``split`` for a splitter)."""
    if isinstance(est, InnerGroupKFold):
        return list(est.split(data["X"], groups=data["groups"]["subject"]))
    if isinstance(est, BaseCrossValidator):
        return list(est.split(data["X"], groups=data["groups"]))
    if isinstance(est, SignalWindower | ModalityFeatureExtractor):
        return est.fit(data["windows"])
    if isinstance(est, SubjectCalibrator):
        return est.fit(data["X"], groups=data["groups"]["subject"])
    return est.fit(data["X"], data["Y"])


def _learned(est) -> list[str]:
    """Attributes a fit (or data validation) would have set: ``net_``, ``n_features_in_``..."""
    return [k for k in vars(est) if k.endswith("_") and not k.startswith("_")]


# ----------------------------------------------------------------------- declarations


def test_every_public_class_is_covered():
    """A new public estimator, transformer or splitter must be listed here (and declared)."""
    missing = _public_classes() - set(CLASSES) - BASES - INTERNAL
    assert not missing, f"add {sorted(c.__name__ for c in missing)} to CLASSES"


@pytest.mark.parametrize("cls", [*CLASSES, *BASES], ids=lambda c: c.__name__)
def test_declarations_cover_exactly_the_init_parameters(cls):
    declared = set(declared_constraints(cls))
    params = _init_parameters(cls)
    assert declared == params, (
        f"{cls.__name__}: not declared {sorted(params - declared)}, "
        f"declared but not parameters {sorted(declared - params)}"
    )


def test_torch_training_parameters_are_declared_once():
    """The 18 training parameters live on the base; the models declare only their own."""
    base = TorchDistributionRegressor._constraints
    assert len(base) == 18
    for cls in (MPCLDistributionRegressor, MLPDistributionRegressor, HeLoRegressor):
        assert not set(vars(cls)["_constraints"]) & set(base), cls.__name__


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_defaults_and_small_instance_are_valid_and_fit(cls, data):
    validate_params(cls())
    est = cls(**CLASSES[cls])
    _run(est, data)
    if not isinstance(est, BaseCrossValidator | SignalWindower):
        assert _learned(est)


def _cases():
    for cls in CLASSES:
        for name, constraint in declared_constraints(cls).items():
            yield pytest.param(cls, name, constraint, id=f"{cls.__name__}-{name}")


@pytest.mark.parametrize(("cls", "name", "constraint"), list(_cases()))
def test_every_invalid_value_is_refused_by_name_before_any_work(cls, name, constraint, data):
    bad_values = constraint.invalid_examples()
    assert len(bad_values) >= 3, f"{cls.__name__}.{name}: too few invalid examples"
    for value in bad_values:
        assert not constraint.is_satisfied_by(value)
        est = cls(**{**CLASSES[cls], name: value})
        with pytest.raises(InvalidParameterError) as info:
            _run(est, data)
        message = str(info.value)
        assert message.startswith(f"The {name!r} parameter of {cls.__name__} must be "), message
        assert constraint.description in message
        assert " instead" in message
        assert _learned(est) == [], f"{cls.__name__}({name}={value!r}) did work before failing"
        assert getattr(est, name) is value  # stored untouched


def test_the_generated_values_cover_each_kind_of_mistake():
    """Bools where numbers go, NaN, infinity, out-of-range values, unknown options, bad items."""

    def typed(values):  # (type, value) pairs: True == 1 and 1.0 == 1 in a plain ``in``
        return {(type(v).__name__, repr(v)) for v in values}

    max_epochs = typed(TorchDistributionRegressor._constraints["max_epochs"].invalid_examples())
    assert {("bool", "True"), ("int", "0"), ("float", "1.5"), ("float", "1.0")} <= max_epochs
    lr = typed(TorchDistributionRegressor._constraints["lr"].invalid_examples())
    assert {("float", "nan"), ("float", "inf"), ("float", "0.0"), ("bool", "True")} <= lr
    wa = typed(MPCLDistributionRegressor._constraints["weight_averaging"].invalid_examples())
    assert ("float", "0.0") not in wa and ("float", "1.0") not in wa
    assert {("float", "2.0"), ("float", repr(math.nextafter(1.0, 2.0)))} <= wa
    schedule = MPCLDistributionRegressor._constraints["lr_schedule"].invalid_examples()
    assert "not cosine" in schedule and None not in schedule
    sizes = MLPDistributionRegressor._constraints["hidden_layer_sizes"].invalid_examples()
    assert [0] in sizes and "a string" in sizes and any(s == [True] and s[0] is True for s in sizes)


@pytest.mark.parametrize(
    ("cls", "params"),
    [
        (MPCLDistributionRegressor, dict(max_epochs=1, n_memory=0, weight_averaging=1)),
        (MPCLDistributionRegressor, dict(weight_averaging=0, dropout=0, lr_schedule=None)),
        (MPCLDistributionRegressor, dict(optimizer="AdamW", device=torch.device("cpu"))),
        (MPCLDistributionRegressor, dict(optimizer=torch.optim.SGD, verbose=True, n_threads=None)),
        (MPCLDistributionRegressor, dict(random_state=np.random.RandomState(0), batch_size=1)),
        (MPCLDistributionRegressor, dict(random_state=np.int64(2**32 - 1), max_epochs=np.int32(3))),
        (MPCLDistributionRegressor, dict(checkpoint_dir=Path("ckpt"), normalize_y="softmax")),
        (MPCLDistributionRegressor, dict(callbacks=[Callback(), ("named", Callback), Callback])),
        (MPCLDistributionRegressor, dict(affect_groups=np.array([[0, 1], [2, 3]]), betas=[4])),
        (MPCLDistributionRegressor, dict(modalities={"a": [0, "x__1"], 2: 5, "c": np.arange(3)})),
        (MPCLDistributionRegressor, dict(behavioural_modalities=[], tau=np.float32(0.5))),
        (MLPDistributionRegressor, dict(hidden_layer_sizes=5, dropout=np.float64(0.0))),
        (MLPDistributionRegressor, dict(hidden_layer_sizes=(), tol=0, weight_decay=0)),
        (MLPDistributionRegressor, dict(hidden_layer_sizes=np.array([4, 2]), lr=1e-300)),
        (HeLoRegressor, dict(ot_outer_iter=0, ot_threshold=1, behavioural_modalities=None)),
        (AAKNNRegressor, dict(p=np.inf, n_jobs=-1, metric="cosine", weights="distance")),
        (AAKNNRegressor, dict(p=0.5, n_jobs=4, metric=lambda a, b: 0.0, n_neighbors=10**6)),
        (SABFGSRegressor, dict(alpha=0, tol=0.0, normalize_y=np.True_)),
        (SignalWindower, dict(scales_s=2.0, overlap=0, modalities=("bvp",))),
        (SignalWindower, dict(scales_s=np.array([0.5, 1.0]), overlap=0.99)),
        (SignalWindower, dict(scales_s=range(1, 3), modalities=pd.Index(["bvp", "eda"]))),
        (ModalityFeatureExtractor, dict(pooling="median", physio_kinds={"bvp": "ppg"})),
        (ModalityFeatureExtractor, dict(feature_set={"mean": None}, n_jobs=-2, chunk_size=1)),
        (ModalityFeatureExtractor, dict(backend="tsfresh", distributor="tcp://host:8786")),
        (SubjectDependentSplitter, dict(test_size=0.999, random_state=2**40, n_splits=2)),
    ],
)
def test_valid_edge_values_stay_valid(cls, params):
    """Values the hand-written checks accepted and that make sense are still accepted."""
    validate_params(cls(**params))


# ------------------------------------------------------------------ cross-parameter rules


@pytest.mark.parametrize(
    ("cls", "params", "match"),
    [
        (HeLoRegressor, dict(d_model=10, n_heads=4), "'d_model' parameter .* divisible"),
        (ModalityFeatureExtractor, dict(distributor="tcp://h:1"), "only used by backend"),
        (
            ModalityFeatureExtractor,
            dict(backend="tsfresh", distributor="tcp://h:1", n_jobs=2),
            "'n_jobs' parameters",
        ),
    ],
)
def test_parameter_combinations(cls, params, match, data):
    est = cls(**{**CLASSES[cls], **params})
    with pytest.raises(InvalidParameterError, match=match):
        _run(est, data)
    assert _learned(est) == []


def test_windower_transform_and_names_check_parameters_without_fit(data):
    """SignalWindower needs no fit: transform and get_feature_names_out check too."""
    bad = SignalWindower(overlap=1.0)
    with pytest.raises(InvalidParameterError, match="'overlap' parameter"):
        bad.transform(data["windows"])
    with pytest.raises(InvalidParameterError, match="'overlap' parameter"):
        bad.get_feature_names_out(["bvp"])


def test_transform_checks_parameters_set_after_fit(data):
    ext = ModalityFeatureExtractor(feature_set="minimal").fit(data["windows"])
    with pytest.raises(InvalidParameterError, match="'chunk_size' parameter"):
        ext.set_params(chunk_size=0).transform(data["windows"])


def test_splitters_check_in_get_n_splits(data):
    with pytest.raises(InvalidParameterError, match="'n_splits' parameter"):
        SubjectDependentSplitter(n_splits=1).get_n_splits(data["X"], groups=data["groups"])
    with pytest.raises(InvalidParameterError, match="'n_splits' parameter"):
        InnerGroupKFold(n_splits=True).get_n_splits(groups=data["groups"]["subject"])


# -------------------------------------------------------------------------- the checker


def test_int_refuses_bools_floats_and_strings_and_takes_numpy_ints():
    c = Int(1, 5)
    assert c.description == "an int in the range [1, 5]"
    for ok in (1, 5, np.int64(3), np.uint8(2)):
        assert c.is_satisfied_by(ok)
    for bad in (True, np.True_, 2.0, 2.7, "2", 0, 6, None, np.array([2])):
        assert not c.is_satisfied_by(bad)
    assert Int(None, -1).description == "an int in the range (-inf, -1]"
    assert Int().description == "an int"


def test_float_ends_nan_infinity_and_bools():
    c = Float(0, 1, "left")
    assert c.description == "a float in the range [0.0, 1.0)"
    assert c.is_satisfied_by(0) and c.is_satisfied_by(np.float32(0.5))
    for bad in (1, 1.0, -1e-300, math.nan, np.nan, True, False, "0.5", None):
        assert not c.is_satisfied_by(bad)
    assert not Float(0, None, "left").is_satisfied_by(math.inf)  # open at infinity
    assert Float(0, None, "right").is_satisfied_by(math.inf)  # (0, inf]
    assert Float(0, None, "right").description == "a float in the range (0.0, inf]"
    assert not Float(0, None, "neither").is_satisfied_by(10**400)  # an int past float
    assert Float(None, None, "both").is_satisfied_by(-math.inf)
    with pytest.raises(ValueError, match="closed"):
        Float(0, 1, "open")


def test_options_bool_str_and_classes():
    assert Options("a", "b").is_satisfied_by("a") and not Options("a", "b").is_satisfied_by("A")
    assert Options("adam", ignore_case=True).is_satisfied_by("ADAM")
    assert not Options("a").is_satisfied_by(["a"])  # unhashable: refused, not a crash
    assert Options("a", "b").description == "a str among {'a', 'b'}"
    assert Bool().is_satisfied_by(np.False_) and not Bool().is_satisfied_by(0)
    assert Str().is_satisfied_by("") and not Str().is_satisfied_by(b"x")
    sub = SubclassOf(torch.optim.Optimizer, "an optimizer class")
    sgd = torch.optim.SGD([torch.zeros(1, requires_grad=True)])
    assert sub.is_satisfied_by(torch.optim.SGD) and not sub.is_satisfied_by(sgd)
    inst = InstanceOf(torch.device, "a torch.device")
    assert inst.is_satisfied_by(torch.device("cpu")) and not inst.is_satisfied_by("cpu")


def test_sequences_and_mappings_say_which_item_fails():
    seq = SequenceOf(Int(1), non_empty=True)
    assert seq.is_satisfied_by([1, 2]) and seq.is_satisfied_by(np.array([3]))
    for bad in ([], "12", [1, 0], {1, 2}, [1, True], np.array(3)):
        assert not seq.is_satisfied_by(bad)
    assert seq.hint([4, 0]) == "item 1 (0) is not an int in the range [1, inf)"
    assert seq.hint(()) == "it is empty"
    mapping = MappingOf(Str(), Options("x"), non_empty=True)
    assert mapping.is_satisfied_by({"a": "x"}) and not mapping.is_satisfied_by({})
    assert mapping.hint({"a": "y"}) == "the value of 'a' ('y') is not a str among {'x'}"
    assert mapping.hint({1: "x"}) == "key 1 is not a str"


def test_alternatives_join_and_none():
    c = Int(1) | None
    assert isinstance(c, AnyOf)
    assert c.description == "an int in the range [1, inf) or None"
    assert c.is_satisfied_by(None) and not c.is_satisfied_by(0)
    assert None not in c.invalid_examples()
    three = Options("a") | Bool() | None
    assert three.description == "a str among {'a'}, a bool or None"


def test_hostile_values_are_refused_not_crashing():
    class Hostile:
        def __eq__(self, other):
            raise RuntimeError("eq")

        __hash__ = object.__hash__

        def __len__(self):
            raise RuntimeError("len")

        def __repr__(self):
            raise RuntimeError("repr")

    h = Hostile()
    for c in (Int(1), Float(0, 1), Options("a"), SequenceOf(Int()), MappingOf(Str(), Int())):
        assert not c.is_satisfied_by(h)
    with pytest.raises(InvalidParameterError, match=r"Got <Hostile object> \(Hostile\) instead"):
        validate_params(MeanDistributionRegressor(normalize_y=h))
    long = list(range(1000))
    with pytest.raises(InvalidParameterError) as info:
        validate_params(SignalWindower(modalities=long))
    assert len(str(info.value)) < 400


def test_message_and_error_class_are_scikit_learns():
    with pytest.raises(InvalidParameterError) as info:
        validate_params(MPCLDistributionRegressor(max_epochs=True))
    assert str(info.value) == (
        "The 'max_epochs' parameter of MPCLDistributionRegressor must be an int in the range "
        "[1, inf). Got True (bool) instead."
    )
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)
    sklearn_error = pytest.importorskip("sklearn.utils._param_validation").InvalidParameterError
    assert InvalidParameterError is sklearn_error


def test_declarations_merge_along_the_hierarchy_and_skip_missing_attributes():
    class Base:
        _constraints = {"a": Int(1), "b": Bool()}

    class Child(Base):
        _constraints = {"b": Options("x"), "c": Float(0, 1)}

        def __init__(self):
            self.a, self.b = 1, "x"  # c missing: an object saved before it existed

    assert {k: type(v) for k, v in declared_constraints(Child).items()} == {
        "a": Int,
        "b": Options,
        "c": Float,
    }
    validate_params(Child())
    child = Child()
    child.c = 2.0
    with pytest.raises(InvalidParameterError, match="'c' parameter of Child"):
        validate_params(child)


def test_satisfies_hint_names_a_live_distributor():
    class DistributorBaseClass:  # stands for tsfresh's base class
        pass

    class ClusterDaskDistributor(DistributorBaseClass):
        pass

    est = ModalityFeatureExtractor(backend="tsfresh", distributor=ClusterDaskDistributor())
    with pytest.raises(TypeError, match="live ClusterDaskDistributor holds a Dask client"):
        validate_params(est)
    assert Satisfies(callable, "a callable").is_satisfied_by(print)


# ------------------------------------------------------- scikit-learn's own parameter check


def _as_sklearn(constraint) -> list:
    """Our declaration in scikit-learn's ``_parameter_constraints`` vocabulary (only intervals
    and string options generate invalid values there; the rest stand for a type)."""
    from sklearn.utils._param_validation import Interval, StrOptions

    if isinstance(constraint, AnyOf):
        return [c for a in constraint.alternatives for c in _as_sklearn(a)]
    if isinstance(constraint, Int):
        closed = {(True, True): "both", (True, False): "left", (False, True): "right"}
        key = (constraint.low is not None, constraint.high is not None)
        return [
            Interval(Integral, constraint.low, constraint.high, closed=closed.get(key, "neither"))
        ]
    if isinstance(constraint, Float):
        return [Interval(Real, constraint.low, constraint.high, closed=constraint.closed)]
    if isinstance(constraint, Options):
        return [StrOptions(set(constraint.options))]
    if type(constraint).__name__ == "_NoneValue":
        return [None]
    if isinstance(constraint, Bool):
        return ["boolean"]
    return [callable]  # a type test: no invalid value is generated from it


@pytest.mark.parametrize(
    "cls",
    [c for c in CLASSES if issubclass(c, BaseEstimator)],
    ids=lambda c: c.__name__,
)
def test_sklearn_check_param_validation(cls):
    """scikit-learn's ``check_param_validation`` (not among ``parametrize_with_checks``' checks:
    it needs ``_parameter_constraints``) passes on a translation of our declarations."""
    checks = pytest.importorskip("sklearn.utils.estimator_checks")
    est = clone(cls(**CLASSES[cls]))
    est._parameter_constraints = {
        name: _as_sklearn(c) for name, c in declared_constraints(cls).items()
    }
    checks.check_param_validation(cls.__name__, est)


# ------------------------------------------------------ the bugs of the hand-written checks

#: what each value did on main before the declarations (measured with the same small instances)
BUGS_ON_MAIN = [
    (MPCLDistributionRegressor, dict(max_epochs=True), "max_epochs"),  # trained 1 epoch
    (AAKNNRegressor, dict(n_neighbors=2.7), "n_neighbors"),  # silently 2 neighbours
    (
        MLPDistributionRegressor,
        dict(n_iter_no_change=-3, early_stopping=True),
        "n_iter_no_change",
    ),  # accepted
    (MPCLDistributionRegressor, dict(d_model=0), "d_model"),  # ZeroDivisionError
    (MPCLDistributionRegressor, dict(d_model=1.5), "d_model"),  # silently 1
    (MPCLDistributionRegressor, dict(tau=0), "tau"),  # "training diverged, lower the lr"
    (MPCLDistributionRegressor, dict(tau=-1.0), "tau"),  # trained
    (MPCLDistributionRegressor, dict(prototypes_per_emotion=0), "prototypes_per_emotion"),
    # ^ IndexError
    (MPCLDistributionRegressor, dict(n_memory=-1), "n_memory"),  # torch RuntimeError
    (MPCLDistributionRegressor, dict(weight_averaging=True), "weight_averaging"),  # as 1.0
    (MPCLDistributionRegressor, dict(affect_groups=[[0.5]]), "affect_groups"),  # as emotion 0
    # behavioural_modalities="acc" (its letters were the behavioural modalities) is now one
    # name: tests/test_model_metadata.py
    (MLPDistributionRegressor, dict(lr=np.inf), "lr"),  # trained
    (MLPDistributionRegressor, dict(n_threads=0), "n_threads"),  # torch RuntimeError
    (HeLoRegressor, dict(ot_threshold=np.nan), "ot_threshold"),  # trained
    (HeLoRegressor, dict(use_ot="no"), "use_ot"),  # truthy: OT on
    (HeLoRegressor, dict(dropkey="0.5"), "dropkey"),  # a string, trained
    (SABFGSRegressor, dict(normalize_y="softmax"), "normalize_y"),  # read as True
    (ModalityFeatureExtractor, dict(chunk_size=2.5), "chunk_size"),  # silently 2
    (SignalWindower, dict(scales_s=True), "scales_s"),  # framed at 1 s
]


@pytest.mark.parametrize(("cls", "params", "name"), BUGS_ON_MAIN)
def test_bugs_of_the_hand_written_checks(cls, params, name, data):
    est = cls(**{**CLASSES[cls], **params})
    with pytest.raises(InvalidParameterError, match=f"The '{name}' parameter of {cls.__name__}"):
        _run(est, data)
    assert _learned(est) == []


def test_subclass_recipe_keeps_the_parent_models_parameters(data):
    """``class MyMPCL(MPCLDistributionRegressor)`` with ``__init__(self, extra=1, **training)``
    (the documented recipe): its signature holds ``extra``, MPCL's own parameters and the
    training ones, so get_params, clone and the network keep ``d_model``."""
    import inspect

    from sklearn.base import clone

    from mpcl_sklearn import MPCLDistributionRegressor
    from mpcl_sklearn.models.torch_base import TRAINING_PARAMS

    class MyMPCL(MPCLDistributionRegressor):
        def __init__(self, extra=1, **training):
            self.extra = extra
            super().__init__(**training)

    class Deeper(MyMPCL):
        def __init__(self, more=2, **training):
            self.more = more
            super().__init__(**training)

    params = inspect.signature(MyMPCL.__init__).parameters
    mpcl = inspect.signature(MPCLDistributionRegressor.__init__).parameters
    assert list(params)[1] == "extra"
    assert set(mpcl) <= set(params)
    assert list(params)[-len(TRAINING_PARAMS) :] == list(TRAINING_PARAMS)
    est = MyMPCL(extra=3, d_model=8, prototypes_per_emotion=2, max_epochs=1, random_state=0)
    assert est.get_params()["d_model"] == 8 and est.get_params()["extra"] == 3
    copy = clone(est)
    assert copy.d_model == 8 and copy.extra == 3 and copy.max_epochs == 1
    copy.fit(data["X"], data["Y"])
    assert copy.module_args_["d_model"] == 8
    deeper = clone(Deeper(more=5, extra=4, d_model=8, lr=0.5))
    assert (deeper.more, deeper.extra, deeper.d_model, deeper.lr) == (5, 4, 8, 0.5)
