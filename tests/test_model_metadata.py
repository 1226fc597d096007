"""What the user states reaches the model: token layout, emotion names, behavioural modalities,
grouped early stopping, devices (issue 14 items 1-5, 11; issue 12's estimator state)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from mpcl_sklearn.metrics import distribution_scorers
from mpcl_sklearn.model_selection import subject_independent_evaluate
from mpcl_sklearn.models import (
    AAKNNRegressor,
    HeLoRegressor,
    MeanDistributionRegressor,
    MLPDistributionRegressor,
    ModalityLayoutWarning,
    MPCLDistributionRegressor,
    SABFGSRegressor,
    UngroupedValidationWarning,
)
from mpcl_sklearn.training.runtime import resolve_device

EMOTIONS = ["Happy", "Sad", "Afraid"]
TINY = {"max_epochs": 1, "batch_size": 16, "random_state": 0}
HELO_TINY = {**TINY, "d_model": 8, "n_heads": 2, "n_tokens": 2, "ffn_dim": 8, "hidden_size": 8}


def _columns(modalities=("eda", "bvp", "acc"), scales=("2s", "10s"), n=2) -> list[str]:
    return [f"{m}__{s}__f{i}" for m in modalities for s in scales for i in range(n)]


def _table(columns, n=48, seed=0, **attrs):
    """A hand-made feature table with the extractor's metadata contract in ``attrs``."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, len(columns))), columns=columns)
    X.attrs.update(attrs)
    y = rng.dirichlet(np.ones(3), size=n)
    groups = np.repeat(np.arange(6), n // 6)
    return X, y, groups


def _layout_warnings(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, ModalityLayoutWarning)]


# ------------------------------------------------------------------------------ token layout
@pytest.mark.parametrize("cls", [MPCLDistributionRegressor, HeLoRegressor])
@pytest.mark.parametrize(
    "columns",
    [
        ["heart_rate", "skin_conductance", "motion"],  # the user's own names, no "__"
        ["eda__2s__mean", "eda__2s__std", "heart_rate"],  # mixed naming
    ],
)
def test_named_columns_that_collapse_to_one_token_warn(cls, columns):
    X, y, _ = _table(columns)
    params = HELO_TINY if cls is HeLoRegressor else TINY
    with pytest.warns(ModalityLayoutWarning, match="single token") as record:
        est = cls(**params).fit(X, y)
    message = _layout_warnings(record)[0]
    assert "modalities=" in message and "heart_rate" in message
    assert list(est.column_layout_) == [("x", None)]


def test_well_named_arrays_and_explicit_modalities_do_not_warn():
    X, y, _ = _table(_columns())
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModalityLayoutWarning)
        mpcl = MPCLDistributionRegressor(**TINY).fit(X, y)
        assert mpcl.tokens_ == [(m, s) for m in ("eda", "bvp", "acc") for s in ("2s", "10s")]
        MPCLDistributionRegressor(**TINY).fit(X.to_numpy(), y)  # an array: one token, silently
        own = X.set_axis([f"c{i}" for i in range(X.shape[1])], axis=1)
        explicit = {"eda": ["c0", "c1"], "rest": [f"c{i}" for i in range(2, X.shape[1])]}
        mpcl = MPCLDistributionRegressor(modalities=explicit, **TINY).fit(own, y)
        assert [m for m, _ in mpcl.tokens_] == ["eda", "rest"]
        MLPDistributionRegressor(**TINY).fit(own, y)  # the MLP ignores the layout


# ------------------------------------------------------------------------------ emotion names
@pytest.mark.parametrize(
    "make",
    [
        lambda: MeanDistributionRegressor(),
        lambda: SABFGSRegressor(max_iter=20),
        lambda: AAKNNRegressor(n_neighbors=3),
        lambda: MLPDistributionRegressor(**TINY),
        lambda: MPCLDistributionRegressor(**TINY),
        lambda: HeLoRegressor(**HELO_TINY),
    ],
)
def test_emotion_names_are_kept_and_name_predictions(make):
    X, y, _ = _table(_columns())
    est = make().fit(X, pd.DataFrame(y, columns=EMOTIONS))
    assert list(est.emotions_) == EMOTIONS
    plain = est.predict(X)
    assert isinstance(plain, np.ndarray)  # the default output is unchanged
    named = clone(est).set_output(predict="pandas").fit(X, y)  # the setting survives clone
    X_new = X.iloc[5:9]
    assert named.emotions_ is None  # fitted on an array y and X without attrs
    P = named.predict(X_new)
    assert list(P.columns) == ["emotion_0", "emotion_1", "emotion_2"]
    # X.attrs["emotions"] (the feature table's metadata) names them too
    X.attrs["emotions"] = EMOTIONS
    P = named.fit(X, y).predict(X_new)
    assert isinstance(P, pd.DataFrame) and list(P.columns) == EMOTIONS
    assert list(P.index) == list(X_new.index)
    np.testing.assert_allclose(P.to_numpy(), est.predict(X_new), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(named.predict_proba(X_new).to_numpy(), P.to_numpy())
    with pytest.raises(ValueError, match="predict must be one of"):
        est.set_output(predict="polars")


def test_emotion_names_that_do_not_fit_warn():
    X, y, _ = _table(_columns(), emotions=["a", "b"])
    with pytest.warns(UserWarning, match="names 2 emotions but y has 3"):
        est = MeanDistributionRegressor().fit(X, y)
    assert est.emotions_ is None
    X.attrs["emotions"] = ["a", "b", "c"]
    with pytest.warns(UserWarning, match="differs from the columns of y"):
        est = MeanDistributionRegressor().fit(X, pd.DataFrame(y, columns=EMOTIONS))
    assert list(est.emotions_) == EMOTIONS


# ------------------------------------------------------------------------------ behavioural
def test_behavioural_modalities_come_from_the_table_metadata():
    X, y, _ = _table(_columns(("eda", "bvp", "acc", "temp")), behavioural=["temp"])
    mpcl = MPCLDistributionRegressor(**TINY).fit(X, y)
    assert mpcl.behavioural_modalities == "auto" and mpcl.behavioural_modalities_ == ["temp"]
    flags = dict(zip(mpcl.tokens_, mpcl.module_args_["behavioural"], strict=True))
    assert flags == {(m, s): m == "temp" for m, s in mpcl.tokens_}
    helo = HeLoRegressor(**HELO_TINY).fit(X, y)
    assert helo.behavioural_modalities_ == ["temp"]
    assert helo.physiological_modalities_ == ["eda", "bvp", "acc"]
    # an explicit parameter wins over the metadata
    mpcl = MPCLDistributionRegressor(behavioural_modalities=("acc",), **TINY).fit(X, y)
    assert mpcl.behavioural_modalities_ == ["acc"]


def test_auto_without_metadata_is_the_former_default():
    """Results with the former defaults do not change: "auto" without X.attrs["behavioural"]
    builds the network ("acc", "face", "video") built."""
    X, y, _ = _table(_columns(("eda", "acc", "face")))
    auto = MPCLDistributionRegressor(**TINY).fit(X, y)
    former = MPCLDistributionRegressor(behavioural_modalities=("acc", "face", "video"), **TINY)
    with pytest.warns(ModalityLayoutWarning, match="video"):  # named explicitly, not in X
        former.fit(X, y)
    assert auto.module_args_["behavioural"] == former.module_args_["behavioural"]
    np.testing.assert_array_equal(auto.predict(X), former.predict(X))
    assert auto.behavioural_modalities_ == ["acc", "face"]


@pytest.mark.parametrize("cls", [MPCLDistributionRegressor, HeLoRegressor])
def test_behavioural_string_and_unknown_names(cls):
    X, y, _ = _table(_columns())
    params = HELO_TINY if cls is HeLoRegressor else TINY
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModalityLayoutWarning)
        est = cls(behavioural_modalities="acc", **params).fit(X, y)  # one name, not 'a','c','c'
    assert est.behavioural_modalities_ == ["acc"]
    with pytest.warns(ModalityLayoutWarning, match=r"\['acx'\], which match no modality"):
        est = cls(behavioural_modalities=("acx",), **params).fit(X, y)
    assert est.behavioural_modalities_ == []
    with pytest.raises(TypeError, match="behavioural_modalities"):
        cls(behavioural_modalities=3, **params).fit(X, y)


# ------------------------------------------------------------------------------ early stopping
class _GroupsSpy(MPCLDistributionRegressor):
    """MPCL that records the groups its fit received (a module-level class: clone works)."""

    seen: list = []

    def fit(self, X, y, groups=None):
        type(self).seen.append(None if groups is None else np.asarray(groups).copy())
        return super().fit(X, y, groups=groups)


def test_early_stopping_without_groups_warns():
    X, y, groups = _table(_columns())
    est = MPCLDistributionRegressor(early_stopping=True, **TINY)
    with pytest.warns(UngroupedValidationWarning, match="enable_metadata_routing"):
        est.fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UngroupedValidationWarning)
        est.fit(X, y, groups=groups)
        MPCLDistributionRegressor(**TINY).fit(X, y)  # no early stopping: nothing to say


def test_protocols_route_groups_to_the_estimators_that_take_them():
    X, y, groups = _table(_columns())
    spy = _GroupsSpy(early_stopping=True, validation_fraction=0.2, **TINY)
    pipe = Pipeline([("id", FunctionTransformer()), ("mpcl", spy)])
    _GroupsSpy.seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", UngroupedValidationWarning)
        subject_independent_evaluate(pipe, X, y, groups, cv=3)
        subject_independent_evaluate(spy, X, y, groups, cv="LOSO")
    assert len(_GroupsSpy.seen) == 3 + 6 and all(g is not None for g in _GroupsSpy.seen)
    assert all(len(np.unique(g)) in (4, 5) for g in _GroupsSpy.seen)  # training subjects only
    _GroupsSpy.seen = []
    subject_independent_evaluate(MeanDistributionRegressor(), X, y, groups, cv=3)
    subject_independent_evaluate(spy, X, y, groups, cv=3, fit_groups=False)
    assert _GroupsSpy.seen == [None] * 3


def test_cross_validate_needs_routing_and_then_groups_arrive():
    X, y, groups = _table(_columns())
    est = MPCLDistributionRegressor(early_stopping=True, validation_fraction=0.2, **TINY)
    scoring = distribution_scorers()["neg_kl_divergence"]
    with pytest.warns(UngroupedValidationWarning):
        cross_validate(est, X, y, groups=groups, cv=GroupKFold(3), scoring=scoring)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = Pipeline([("id", FunctionTransformer()), ("mpcl", est)])
        with warnings.catch_warnings():
            warnings.simplefilter("error", UngroupedValidationWarning)
            cross_validate(est, X, y, params={"groups": groups}, cv=GroupKFold(3))
            cross_validate(pipe, X, y, params={"groups": groups}, cv=GroupKFold(3))
            explicit = clone(pipe)
            explicit[-1].set_fit_request(groups=True)  # docs/protocols.md's recipe
            search = GridSearchCV(explicit, {"mpcl__tau": [0.1]}, cv=GroupKFold(2))
            search.fit(X, y, groups=groups)


# ------------------------------------------------------------------------------ devices
def test_mps_is_validated_like_cuda():
    import torch

    if torch.backends.mps.is_available():  # pragma: no cover - Apple machines
        pytest.skip("MPS is available here")
    with pytest.raises(ValueError, match="'mps'.*use device='cpu'"):
        resolve_device("mps")
    X, y, _ = _table(_columns())
    with pytest.raises(ValueError, match="mps"):
        MPCLDistributionRegressor(device="mps", **TINY).fit(X, y)
    for bad in ("gpu", "cuda:x", "cpu:0", "mps:abc"):
        with pytest.raises(ValueError, match="device must be"):
            resolve_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:0")
    elif torch.cuda.device_count() < 64:  # pragma: no cover - GPU machines
        with pytest.raises(ValueError, match="CUDA device"):
            resolve_device("cuda:63")
