"""ModalityFeatureExtractor: layout, names, pooling, policies, parallelism, sklearn contract."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import GroupKFold, cross_validate
from sklearn.pipeline import Pipeline

from mpcl_sklearn._columns import parse_feature_column
from mpcl_sklearn.features import ModalityFeatureExtractor
from mpcl_sklearn.models import MeanDistributionRegressor
from mpcl_sklearn.recordings import Recordings, Trial
from mpcl_sklearn.windowing import SignalWindower, make_windows

SFREQ = {"bvp": 64.0, "eda": 4.0, "acc": 32.0}
N_CH = {"bvp": 1, "eda": 1, "acc": 3}


def _recordings(n_subjects=4, duration_s=24.0, seed=0):
    rng = np.random.default_rng(seed)
    trials = []
    for s in range(n_subjects):
        for t, label in enumerate(([0.7, 0.2, 0.1], [0.1, 0.3, 0.6])):
            signals = {
                m: rng.standard_normal((N_CH[m], int(duration_s * f))).cumsum(axis=1)
                for m, f in SFREQ.items()
            }
            trials.append(Trial(f"S{s}", f"T{t}", signals, np.asarray(label)))
    return Recordings(trials, dict(SFREQ), ["a", "b", "c"], behavioural=("acc",))


@pytest.fixture(scope="module")
def windows():
    return make_windows(_recordings(), 8.0, 4.0)


def test_raw_windows_one_scale_named_by_duration(windows):
    X, _, _ = windows
    ext = ModalityFeatureExtractor(feature_set="minimal").set_output(transform="pandas")
    Z = ext.fit_transform(X)
    assert isinstance(Z, pd.DataFrame) and Z.shape == (len(X), 10 * 5)
    assert list(Z.columns) == list(ext.get_feature_names_out())
    assert "bvp__8s__ch0__mean" in Z.columns and "acc__8s__ch2__maximum" in Z.columns
    assert {parse_feature_column(c)[:2] for c in Z.columns} == {
        ("bvp", "8s"),
        ("eda", "8s"),
        ("acc", "8s"),
    }
    # values are the fast calculators on the raw cells
    row = X["acc"].iloc[4]
    assert Z["acc__8s__ch1__mean"].iloc[4] == pytest.approx(row[1].mean())
    assert Z["acc__8s__ch1__standard_deviation"].iloc[4] == pytest.approx(row[1].std())


def test_framed_input_is_pooled_with_suffix(windows):
    X, _, _ = windows
    F = SignalWindower(scales_s=(1.0, 8.0), overlap=0.5).fit_transform(X)
    ext = ModalityFeatureExtractor(
        feature_set={"mean": None, "maximum": None}, pooling=("mean", "max")
    )
    Z = ext.set_output(transform="pandas").fit_transform(F)
    # 1 s scale: 15 frames per row -> pooled; 8 s scale: one frame -> no suffix
    assert "bvp__1s__ch0__mean__pool_mean" in Z.columns
    assert "bvp__1s__ch0__maximum__pool_max" in Z.columns
    assert "bvp__8s__ch0__mean" in Z.columns
    frames = F["bvp__1s"].iloc[2]  # (15, 1, 64)
    assert Z["bvp__1s__ch0__mean__pool_mean"].iloc[2] == pytest.approx(frames[:, 0].mean(1).mean())
    assert Z["bvp__1s__ch0__maximum__pool_max"].iloc[2] == pytest.approx(frames.max())
    assert Z["bvp__8s__ch0__mean"].iloc[2] == pytest.approx(X["bvp"].iloc[2].mean())


def test_tsfresh_backend_same_columns_and_values_as_fast(windows):
    X, _, _ = windows
    X = X.iloc[:4]
    settings = {"mean": None, "quantile": [{"q": 0.2}], "autocorrelation": [{"lag": 2}]}
    zf = (
        ModalityFeatureExtractor(feature_set=settings)
        .set_output(transform="pandas")
        .fit_transform(X)
    )
    zt = (
        ModalityFeatureExtractor(backend="tsfresh", feature_set=settings)
        .set_output(transform="pandas")
        .fit_transform(X)
    )
    assert set(zf.columns) == set(zt.columns)
    np.testing.assert_allclose(zf.to_numpy(), zt[zf.columns].to_numpy(), rtol=1e-6, atol=1e-9)
    zm = ModalityFeatureExtractor(backend="tsfresh", feature_set="minimal").fit_transform(X)
    np.testing.assert_allclose(
        np.sort(zm, axis=1),
        np.sort(ModalityFeatureExtractor(feature_set="minimal").fit_transform(X), axis=1),
        rtol=1e-6,
        atol=1e-9,
    )


def test_tsfresh_settings_name_only_feature_calculators(windows):
    """tsfresh calls getattr(feature_calculators, name)(x): other attributes are refused."""
    X, _, _ = windows
    for name in ("range", "AutoReg", "defaultdict", "np"):
        with pytest.raises(ValueError, match="not tsfresh feature calculators"):
            ModalityFeatureExtractor(backend="tsfresh", feature_set={name: None}).fit(X.iloc[:2])


def test_chunks_and_jobs_do_not_change_the_result(windows):
    X, _, _ = windows
    F = SignalWindower(scales_s=(2.0,)).fit_transform(X)
    ref = ModalityFeatureExtractor().fit_transform(F)
    par = ModalityFeatureExtractor(chunk_size=3, n_jobs=2).fit_transform(F)
    np.testing.assert_allclose(ref, par, rtol=1e-12, atol=1e-12)
    bar = ModalityFeatureExtractor(chunk_size=5, progress=True).fit_transform(F)
    np.testing.assert_allclose(ref, bar, rtol=1e-12, atol=1e-12)


def test_nan_policies(windows):
    X, _, _ = windows
    X = X.iloc[:3].copy()
    cell = X["eda"].iloc[1].copy()
    cell[0, 5] = np.nan
    X.iat[1, 1] = cell
    with pytest.raises(ValueError, match=r"'eda' has NaN or inf samples"):
        ModalityFeatureExtractor(feature_set="minimal").fit_transform(X)
    z = ModalityFeatureExtractor(feature_set="minimal", nan_policy="interpolate")
    z = z.set_output(transform="pandas").fit_transform(X)
    expected = cell.copy()
    expected[0, 5] = (cell[0, 4] + cell[0, 6]) / 2
    assert z["eda__8s__ch0__mean"].iloc[1] == pytest.approx(expected.mean())
    p = ModalityFeatureExtractor(feature_set="minimal", nan_policy="propagate", undefined="nan")
    p = p.set_output(transform="pandas").fit_transform(X)
    assert np.isnan(p["eda__8s__ch0__mean"].iloc[1]) and np.isfinite(p.iloc[0]).all()


def test_undefined_policies_on_constant_signal(windows):
    X, _, _ = windows
    X = X.iloc[:2].copy()
    X.iat[0, 0] = np.ones_like(X.iat[0, 0])
    s = {"mean": None, "autocorrelation": [{"lag": 1}]}
    z = ModalityFeatureExtractor(feature_set=s).set_output(transform="pandas").fit_transform(X)
    assert z["bvp__8s__ch0__autocorrelation__lag_1"].iloc[0] == 0.0
    assert z["bvp__8s__ch0__autocorrelation__lag_1"].iloc[1] != 0.0
    zn = ModalityFeatureExtractor(feature_set=s, undefined="nan").fit_transform(X)
    assert np.isnan(zn.to_numpy()).sum() == 1
    with pytest.raises(ValueError, match="autocorrelation__lag_1"):
        ModalityFeatureExtractor(feature_set=s, undefined="raise").fit_transform(X)


def test_bad_input_errors(windows):
    X, _, _ = windows
    ext = ModalityFeatureExtractor(feature_set="minimal")
    bare = X.copy()
    bare.attrs = {}
    with pytest.raises(ValueError, match="unknown sampling rate"):
        ext.fit(bare)
    with pytest.raises(ValueError, match="missing"):
        ModalityFeatureExtractor(modalities=["eeg"]).fit(X)
    bad = X.copy()
    bad.iat[0, 0] = np.zeros(10)
    with pytest.raises(ValueError, match="2-D"):
        ext.fit(bad)
    bad = X.copy()
    bad.iat[3, 2] = np.zeros((2, X.iat[3, 2].shape[1]))
    with pytest.raises(ValueError, match="channel count"):
        ext.fit(bad)
    with pytest.raises(ValueError, match="DataFrame"):
        ext.fit(np.zeros((4, 4)))
    fitted = ModalityFeatureExtractor(feature_set="minimal").fit(X)
    with pytest.raises(ValueError, match="differ from those seen in fit"):
        fitted.transform(X[["bvp", "eda"]])
    for params, match in [
        ({"backend": "magic"}, "backend"),
        ({"pooling": ("mode",)}, "pooling"),
        ({"nan_policy": "ignore"}, "nan_policy"),
        ({"undefined": "drop"}, "undefined"),
        ({"feature_set": "everything"}, "feature_set"),
    ]:
        with pytest.raises(ValueError, match=match):
            ModalityFeatureExtractor(**params).fit(X)


def test_sklearn_contract(windows):
    X, _, _ = windows
    ext = ModalityFeatureExtractor(feature_set="minimal", pooling=("mean",), n_jobs=None)
    params = ext.get_params()
    assert params["pooling"] == ("mean",)
    assert clone(ext).get_params() == params
    ext.fit(X)
    restored = pickle.loads(pickle.dumps(ext))
    np.testing.assert_array_equal(restored.transform(X), ext.transform(X))
    assert not hasattr(clone(ext), "feature_names_out_")


def test_pipeline_under_grouped_cross_validation(windows):
    from mpcl_sklearn.metrics import distribution_scorers

    X, y, groups = windows
    pipe = Pipeline(
        [
            ("frames", SignalWindower(scales_s=(2.0, 4.0), overlap=0.5)),
            ("features", ModalityFeatureExtractor(feature_set="minimal")),
            ("reg", MeanDistributionRegressor()),
        ]
    )
    res = cross_validate(
        pipe,
        X,
        y,
        groups=groups,
        cv=GroupKFold(n_splits=2),
        scoring=distribution_scorers(),
        error_score="raise",
    )
    scores = [k for k in res if k.startswith("test_")]
    assert len(scores) == 6
    for k in scores:
        assert np.all(np.isfinite(res[k]))
    pipe.set_output(transform="pandas")
    pipe.fit(X, y)
    names = pipe[:-1].get_feature_names_out()
    assert "acc__2s__ch0__mean__pool_mean" in names


def test_tsfresh_efficient_preset_all_nan_columns_imputed(windows):
    X, _, _ = windows
    X = X[["eda"]].iloc[:2]  # 1 channel x 32 samples: cheap even with 700+ calculators
    ext = ModalityFeatureExtractor(backend="tsfresh", feature_set="efficient")
    Z = ext.set_output(transform="pandas").fit_transform(X)
    assert Z.shape[1] > 500 and np.isfinite(Z.to_numpy()).all()
    # tsfresh leaves some features undefined (e.g. query_similarity_count): imputed as 0
    raw = ModalityFeatureExtractor(backend="tsfresh", feature_set="efficient", undefined="nan")
    Zn = raw.set_output(transform="pandas").fit_transform(X)
    all_nan = Zn.columns[Zn.isna().all()]
    assert len(all_nan) > 0 and (Z[all_nan] == 0).all().all()


# --------------------------------------------------------------------------------------------
# issue 14: names and metadata reach the model of a plain Pipeline


class _AttrsProbe(MeanDistributionRegressor):
    """Records the attrs and columns its fit and predict receive."""

    seen: list = []

    def fit(self, X, y, sample_weight=None):
        _AttrsProbe.seen.append(
            ("fit", dict(getattr(X, "attrs", {})), list(getattr(X, "columns", [])))
        )
        return super().fit(X, y, sample_weight=sample_weight)

    def predict(self, X):
        _AttrsProbe.seen.append(("predict", dict(getattr(X, "attrs", {})), None))
        return super().predict(X)


def _plain_pipeline(final):
    return Pipeline(
        [
            ("frames", SignalWindower(scales_s=(2.0, 4.0), overlap=0.5)),
            ("features", ModalityFeatureExtractor(feature_set="minimal")),
            ("model", final),
        ]
    )


def test_plain_pipeline_gives_mpcl_its_modality_tokens(windows):
    from mpcl_sklearn.models import MPCLDistributionRegressor

    X, y, groups = windows
    mpcl = MPCLDistributionRegressor(
        d_model=8, prototypes_per_emotion=1, max_epochs=1, batch_size=32, random_state=0
    )
    pipe = _plain_pipeline(mpcl).fit(X, y)
    assert sorted(pipe[-1].tokens_) == sorted(
        (m, s) for m in ("bvp", "eda", "acc") for s in ("2s", "4s")
    )
    # "default" output is the transformer's default: the named DataFrame
    ext = ModalityFeatureExtractor(feature_set="minimal").set_output(transform="default")
    Z = ext.fit_transform(X)
    assert isinstance(Z, pd.DataFrame) and list(Z.columns) == list(ext.get_feature_names_out())
    assert Z.index.equals(X.index)


def test_feature_table_carries_emotions_and_behavioural_to_the_model(windows):
    X, y, groups = windows
    expected = {"emotions": ["a", "b", "c"], "behavioural": ("acc",)}

    def check_seen(n_calls):
        assert len(_AttrsProbe.seen) == n_calls
        for _, attrs, _ in _AttrsProbe.seen:
            assert {k: attrs.get(k) for k in expected} == expected, attrs
        _AttrsProbe.seen.clear()

    _AttrsProbe.seen.clear()
    pipe = _plain_pipeline(_AttrsProbe()).fit(X, y)
    pipe.predict(X.iloc[[3, 1]])  # row indexing of the window table keeps them
    check_seen(2)
    pipe.set_output(transform="pandas").fit(X, y).predict(X)
    check_seen(2)
    cross_validate(
        _plain_pipeline(_AttrsProbe()), X, y, groups=groups, cv=GroupKFold(2), error_score="raise"
    )
    check_seen(4)
    # the modalities used decide the behavioural ones; row indexing of the feature table
    Z = ModalityFeatureExtractor(feature_set="minimal", modalities=["eda"]).fit_transform(X)
    assert Z.attrs == {"emotions": ["a", "b", "c"], "behavioural": ()}
    assert Z.iloc[[0, 2]].attrs == Z.attrs
    Z.attrs["emotions"].append("x")  # a copy: the window table's attrs are not shared
    assert X.attrs["emotions"] == ["a", "b", "c"]


def test_concatenated_window_tables_keep_metadata(windows):
    from mpcl_sklearn.windowing import concat_windows

    X, y, groups = windows
    A, B = X.iloc[:6].copy(), X.iloc[6:].copy()
    A.attrs = {**A.attrs, "report": ["from A"]}
    B.attrs = {**B.attrs, "report": ["from B"]}
    lost = pd.concat([A, B])  # pandas drops attrs that differ
    assert "sfreq" not in lost.attrs
    with pytest.raises(ValueError, match="concat_windows"):
        ModalityFeatureExtractor(feature_set="minimal").fit(lost)
    with pytest.raises(ValueError, match="concat_windows"):
        SignalWindower().fit(lost)
    both = concat_windows([A, B])
    assert both.attrs["report"] == ["from A", "from B"]
    assert both.attrs["sfreq"] == X.attrs["sfreq"]
    np.testing.assert_array_equal(
        ModalityFeatureExtractor(feature_set="minimal").fit_transform(both).to_numpy(),
        ModalityFeatureExtractor(feature_set="minimal").fit_transform(X).to_numpy(),
    )
    other = B.copy()
    other.attrs = {**B.attrs, "emotions": ["x", "y", "z"]}
    with pytest.raises(ValueError, match=r"attrs\['emotions'\]"):
        concat_windows([A, other])
    with pytest.raises(ValueError, match="appear twice"):
        concat_windows([A, A])
