"""Hostile inputs of issue 12's data classes: sample weights, sampling rates, windowing, loaders,
aliasing and messages.

Same contract and counters as ``tests/test_hostile_inputs.py`` (whose ``attempt`` runs every
case): a correct result or a clear ``ValueError``/``TypeError`` naming the problem. The counts
of both modules are written together (``benchmarks/hostile_counts.py``).
"""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.io import savemat
from test_hostile_inputs import (
    _check_features,
    _write_wesad_quest,
    assert_distributions,
    attempt,
    report_counts,
)

from mpcl_sklearn import Recordings, Trial
from mpcl_sklearn.datasets import (
    load_dmer,
    load_dmer_raw,
    load_wesad,
    make_mixed_emotion_recordings,
)
from mpcl_sklearn.experiments import select_emotions
from mpcl_sklearn.features import ModalityFeatureExtractor
from mpcl_sklearn.metrics import (
    canberra,
    chebyshev,
    clark,
    cosine_similarity,
    distribution_report,
    distribution_scorers,
    intersection_similarity,
    kl_divergence,
    per_sample_scores,
)
from mpcl_sklearn.models import MeanDistributionRegressor, SABFGSRegressor
from mpcl_sklearn.preprocessing import subject_standardize
from mpcl_sklearn.windowing import (
    SignalWindower,
    check_signal_frame,
    concat_windows,
    make_windows,
)


@pytest.fixture(scope="module", autouse=True)
def _report_counts(request):
    yield
    report_counts(request)


SFREQ = {"eda": 4.0, "bvp": 64.0, "acc": 32.0}
EMOTIONS = ["joy", "fear", "calm"]


def _recordings(seed=0, n_subjects=2, n_trials=2, duration=4.0, mods=("eda", "bvp", "acc")):
    rng = np.random.default_rng(seed)
    trials = [
        Trial(
            f"s{s}",
            f"t{k}",
            {m: rng.normal(size=(2 if m == "acc" else 1, int(duration * SFREQ[m]))) for m in mods},
            rng.dirichlet(np.ones(3)),
        )
        for s in range(n_subjects)
        for k in range(n_trials)
    ]
    return Recordings(trials, {m: SFREQ[m] for m in mods}, EMOTIONS, behavioural=("acc",))


# ------------------------------------------------------------------------------------------
# sample weights: one check (mpcl_sklearn._validation.check_sample_weight) for every
# estimator's fit and every metric

METRICS = {
    "chebyshev": chebyshev,
    "clark": clark,
    "canberra": canberra,
    "kl_divergence": kl_divergence,
    "cosine_similarity": cosine_similarity,
    "intersection_similarity": intersection_similarity,
    "distribution_report": distribution_report,
}

#: kind -> words the error must contain (empty: valid weights, the result must equal the one
#: for the reference weights of the same ratios)
_WEIGHT_CASES = {
    "ok_random": (),
    "ok_list": (),
    "ok_scalar": (),
    "ok_some_zero": (),
    "ok_huge": (),  # 1e300 each: finite sum, products would overflow unscaled
    "ok_near_max": (),  # two weights near the float64 maximum, finite sum
    "ok_subnormal": (),  # 1e-320 each
    "nan": ("sample_weight",),
    "inf": ("sample_weight",),
    "negative": ("sample_weight",),
    "all_zero": ("sample_weight",),
    "too_short": ("sample_weight",),
    "too_long": ("sample_weight",),
    "two_d": ("sample_weight",),
    "sum_overflows": ("sample_weight",),
    "strings": ("sample_weight",),
    "complex": ("sample_weight",),
    "none_entry": ("sample_weight",),
}


def _weights(kind: str, n: int, rng):
    """(weights passed, reference weights with the same ratios or None)."""
    base = rng.uniform(0.5, 2.0, n)
    if kind == "ok_random":
        return base, base
    if kind == "ok_list":
        return base.tolist(), base
    if kind == "ok_scalar":
        return 3.0, np.ones(n)
    if kind == "ok_some_zero":
        w = base.copy()
        w[0] = 0.0
        return w, w
    if kind == "ok_huge":
        return base * 1e300, base
    if kind == "ok_near_max":
        w = np.ones(n)
        w[:2] = [8e307, 8e307]
        return w, np.r_[1.0, 1.0, np.full(n - 2, 1.25e-308)]
    if kind == "ok_subnormal":
        return np.full(n, 1e-320), np.ones(n)
    bad = {
        "nan": np.r_[np.nan, base[1:]],
        "inf": np.r_[base[:-1], np.inf],
        "negative": np.r_[-1.0, base[1:]],
        "all_zero": np.zeros(n),
        "too_short": base[:-1],
        "too_long": np.r_[base, 1.0],
        "two_d": base[:, None],
        "sum_overflows": np.full(n, 1e308),
        "strings": np.array(["1"] * n, dtype=object),
        "complex": base + 1j,
        "none_entry": np.array([None] + [1.0] * (n - 1), dtype=object),
    }
    return bad[kind], None


def _close(a, b):
    if isinstance(a, dict):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-9, atol=1e-12)
    else:
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "entry", [*sorted(METRICS), "scorer", "MeanDistributionRegressor", "SABFGSRegressor", "score"]
)
@pytest.mark.parametrize("kind", sorted(_WEIGHT_CASES))
def test_sample_weights(kind, entry):
    rng = np.random.default_rng(len(kind) + len(entry))
    n = 6
    X = rng.normal(size=(n, 3))
    t, p = rng.dirichlet(np.ones(3), n), rng.dirichlet(np.ones(3), n)
    w, ref = _weights(kind, n, rng)
    mean = MeanDistributionRegressor().fit(X, t)
    scorer = distribution_scorers()["neg_kl_divergence"]
    runs = {
        "scorer": lambda w: scorer(mean, X, t, sample_weight=w),
        "MeanDistributionRegressor": lambda w: (
            MeanDistributionRegressor().fit(X, t, sample_weight=w).predict(X)
        ),
        "SABFGSRegressor": lambda w: (
            SABFGSRegressor(max_iter=30).fit(X, t, sample_weight=w).predict(X)
        ),
        "score": lambda w: mean.score(X, t, sample_weight=w),
    }
    if entry in METRICS:
        run = lambda w: METRICS[entry](t, p, sample_weight=w)  # noqa: E731
        label = f"metrics.{entry}"
    else:
        run = runs[entry]
        label = {"scorer": "metrics.scorer", "score": "MeanDistributionRegressor.score"}.get(
            entry, entry
        )

    def check(out):
        assert not _WEIGHT_CASES[kind], f"{kind} accepted"
        flat = out.values() if isinstance(out, dict) else [out]
        assert all(np.all(np.isfinite(v)) for v in flat), f"non-finite result for {kind}"
        _close(out, run(ref))

    attempt(
        label,
        lambda: run(w),
        _WEIGHT_CASES[kind] or ("<no error expected>",),
        check,
        hostile_class="sample weights",
    )


def test_sample_weights_are_not_changed():
    w = np.array([1e300, 2e300, 3e300])
    keep = w.copy()
    t = np.eye(3)
    kl_divergence(t, t[::-1], sample_weight=w)
    MeanDistributionRegressor().fit(np.zeros((3, 1)), t, sample_weight=w)
    np.testing.assert_array_equal(w, keep)


# ------------------------------------------------------------------------------------------
# sampling rates

_RATE_VALUES = {
    "zero": 0.0,
    "negative": -4.0,
    "nan": float("nan"),
    "inf": float("inf"),
    "string": "4",
    "bool": True,
    "none": None,
    "complex": 4 + 0j,
}


@pytest.mark.parametrize("kind", [*sorted(_RATE_VALUES), "declared_8x_too_low", "one_sample_short"])
def test_recordings_sampling_rates(kind):
    rec = _recordings()
    trials, sfreq = rec.trials, dict(rec.sfreq)
    if kind in _RATE_VALUES:
        sfreq["eda"] = _RATE_VALUES[kind]
        words = ("sampling rate", "'eda'")
    elif kind == "declared_8x_too_low":  # a 32 Hz signal declared 4 Hz lasts 8x longer
        sfreq["acc"] = 4.0
        words = ("'acc'", "lasts")
    else:  # within the tolerance: accepted, windows within the shortest modality
        trials[0].signals["eda"] = trials[0].signals["eda"][:, :-1]
        words = ()

    def check(out):
        assert not words, f"{kind} accepted"
        X, y, g = make_windows(out, 1.0)
        assert len(X) == 4 * 4 - 1  # the short trial loses its last window

    attempt(
        "Recordings",
        lambda: Recordings(trials, sfreq, EMOTIONS),
        words or ("<no error expected>",),
        check,
        hostile_class="sampling rates",
    )


@pytest.fixture(scope="module")
def windows():
    return make_windows(_recordings(), 2.0, 1.0)[0]


@pytest.mark.parametrize("entry", ["SignalWindower", "extractor_raw", "extractor_framed"])
@pytest.mark.parametrize("kind", [*sorted(_RATE_VALUES), "declared_too_low", "not_a_dict"])
def test_window_table_sampling_rates(windows, kind, entry):
    X = windows.copy()
    framed = SignalWindower(scales_s=(0.5,)).fit_transform(X) if entry.endswith("framed") else X
    framed = framed.copy()
    framed.attrs = copy.deepcopy(framed.attrs)
    if kind == "not_a_dict":
        framed.attrs["sfreq"] = [4.0, 64.0, 32.0]
    elif kind == "declared_too_low":  # 8 samples of eda declared 1 Hz: "lasts" 8 s, not 2 s
        framed.attrs["sfreq"]["eda"] = 1.0
    else:
        framed.attrs["sfreq"]["eda"] = _RATE_VALUES[kind]
    words = ("sampling rate", "sfreq", "last")
    if entry == "SignalWindower":
        run = lambda: SignalWindower(scales_s=(0.5,)).fit_transform(framed)  # noqa: E731
    else:
        run = lambda: ModalityFeatureExtractor(feature_set="minimal").fit_transform(framed)  # noqa: E731

    def check(out):
        # a framed table's rate is used for the physio backend only: the fast features do not
        # depend on it, but a wrong one must still not pass silently
        pytest.fail(f"{kind} accepted by {entry}: columns {list(out.columns)[:3]}")

    attempt(
        "SignalWindower" if entry == "SignalWindower" else "ModalityFeatureExtractor[fast]",
        run,
        words,
        check,
        hostile_class="sampling rates",
    )


def _at_rate(sfreq_eda: float, seconds: float = 20.0, seed: int = 0) -> Recordings:
    rng = np.random.default_rng(seed)
    n = int(seconds * sfreq_eda)
    trials = [
        Trial("a", f"t{i}", {"eda": rng.normal(size=(1, n))}, np.array([0.5, 0.5]))
        for i in range(2)
    ]
    return Recordings(trials, {"eda": sfreq_eda}, ["x", "y"])


#: transform's table differs from fit's: (rate at fit, window s at fit, rate, window s, frames)
_OTHER_RATE_CASES = {
    "same_samples_other_rate": (4.0, 4.0, 8.0, 2.0, None),  # 16 samples both times
    "same_samples_other_rate_framed": (4.0, 4.0, 8.0, 2.0, (1.0, 0.5)),
    "other_window_same_rate": (4.0, 4.0, 4.0, 2.0, None),
    "same_everything": (4.0, 4.0, 4.0, 4.0, None),
}


@pytest.mark.parametrize("backend", ["fast", "physio"])
@pytest.mark.parametrize("kind", sorted(_OTHER_RATE_CASES))
def test_extractor_transform_at_another_rate_names_the_rates(kind, backend):
    """16 samples at 8 Hz are not 16 samples at 4 Hz: transform used to fail with "the fast
    backend returned other features on rows 0.. (52) than in fit (52)"."""
    rate_fit, win_fit, rate, win, frames = _OTHER_RATE_CASES[kind]
    X_fit = make_windows(_at_rate(rate_fit), win_fit)[0]
    X_new = make_windows(_at_rate(rate, seed=1), win)[0]
    if frames is not None:
        X_fit = SignalWindower(scales_s=(frames[0],)).fit_transform(X_fit)
        X_new = SignalWindower(scales_s=(frames[1],)).fit_transform(X_new)
    kinds = {"eda": "eda"} if backend == "physio" else None
    ext = ModalityFeatureExtractor(backend=backend, physio_kinds=kinds).fit(X_fit)
    words = {
        "same_samples_other_rate": ("8 hz", "4 hz"),
        "same_samples_other_rate_framed": ("8 hz", "4 hz"),
        "other_window_same_rate": ("2s", "4s"),
        "same_everything": (),
    }[kind]

    def check(out):
        assert not words, f"{kind} accepted: {list(out.columns)[:2]}"
        assert list(out.columns) == list(ext.feature_names_out_)

    attempt(
        f"ModalityFeatureExtractor[{backend}]",
        lambda: ext.transform(X_new),
        words or ("<no error expected>",),
        check,
        hostile_class="sampling rates",
    )


#: channel_names of a Recordings with eda (1 channel) and acc (2 channels): words of the error
_CHANNEL_NAME_CASES = {
    "ok": ({"acc": ["x", "y"]}, ()),
    "ok_tuple": ({"eda": ("skin",)}, ()),
    "too_few": ({"acc": ["x"]}, ("2 channels", "names 1")),
    "too_many": ({"eda": ["a", "b"]}, ("1 channels", "names 2")),
    "unknown_modality": ({"ac": ["x", "y"]}, ("['ac']", "not in sfreq")),
    "a_string": ({"acc": "xy"}, ("list of channel names",)),
    "duplicates": ({"acc": ["x", "x"]}, ("distinct",)),
    "not_strings": ({"acc": [1, 2]}, ("strings",)),
    "not_a_dict": (["x", "y"], ("dict",)),
}


@pytest.mark.parametrize("kind", sorted(_CHANNEL_NAME_CASES))
def test_recordings_channel_names(kind):
    """Recordings(channel_names=...) was not validated: a wrong count or an unknown modality
    passed into every window table's attrs."""
    rec = _recordings(mods=("eda", "acc"))
    names, words = _CHANNEL_NAME_CASES[kind]

    def check(out):
        assert not words, f"{kind} accepted"
        X = make_windows(out, 2.0)[0]
        assert {m: list(v) for m, v in X.attrs["channel_names"].items()} == {
            m: list(v) for m, v in names.items()
        }

    attempt(
        "Recordings",
        lambda: Recordings(rec.trials, dict(rec.sfreq), EMOTIONS, channel_names=names),
        words or ("<no error expected>",),
        check,
        hostile_class="recordings metadata",
    )


# ------------------------------------------------------------------------------------------
# windowing

_WINDOWING_CASES = {
    "step_below_one_sample": ("step_s", "one sample"),
    "step_tiny": ("step_s", "one sample"),
    "step_one_sample": (),
    "unequal_beyond_tolerance": ("lasts",),
    "unequal_within_tolerance": (),
    "trial_ids_collide": (),
    "subjects_int_and_str": ("read the same as text",),
    "complex_signal": ("complex",),
    "object_signal": ("real numbers",),
    "string_modality_arg": ("['eda']",),
    "duplicate_modality_arg": ("twice",),
    "modality_with_separator": ("'__'",),
    "subject_not_an_id": ("ids must be strings or integers",),
    "window_string": ("window_s",),
    "coverage_string": ("min_coverage",),
}


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("kind", sorted(_WINDOWING_CASES))
def test_make_windows_windowing(kind, seed):
    rec = _recordings(seed)
    args, kw = [2.0, 1.0], {"return_trials": True}
    if kind == "step_below_one_sample":
        args[1] = 0.1  # below one eda sample (0.25 s)
    elif kind == "step_tiny":
        args[1] = 1e-6
    elif kind == "step_one_sample":
        args[1] = 0.25
    elif kind == "unequal_beyond_tolerance":  # edited after construction: checked again
        rec.trials[1].signals["bvp"] = rec.trials[1].signals["bvp"][:, :64]
    elif kind == "unequal_within_tolerance":
        rec.trials[1].signals["bvp"] = rec.trials[1].signals["bvp"][:, :-10]
    elif kind == "trial_ids_collide":
        rec.trials[0].subject, rec.trials[0].trial = "a/b", "c"
        rec.trials[1].subject, rec.trials[1].trial = "a", "b/c"
    elif kind == "subjects_int_and_str":
        rec.trials[0].subject, rec.trials[2].subject = 1, "1"
        rec.trials[2].trial = "t9"
    elif kind == "complex_signal":
        rec.trials[0].signals["eda"] = rec.trials[0].signals["eda"] + 1j
    elif kind == "object_signal":
        rec.trials[0].signals["eda"] = rec.trials[0].signals["eda"].astype(object)
    elif kind == "string_modality_arg":
        kw["modalities"] = "eda"
    elif kind == "duplicate_modality_arg":
        kw["modalities"] = ["eda", "eda"]
    elif kind == "modality_with_separator":
        rec.sfreq["e__da"] = rec.sfreq.pop("eda")
        for t in rec.trials:
            t.signals["e__da"] = t.signals.pop("eda")
    elif kind == "subject_not_an_id":
        rec.trials[0].subject = 1.5
    elif kind == "window_string":
        args[0] = "2"
    elif kind == "coverage_string":
        kw["min_coverage"] = "all"

    def check(out):
        assert not _WINDOWING_CASES[kind], f"{kind} accepted"
        X, y, groups, trials = out
        assert_distributions(y, len(X))
        if kind == "step_one_sample":
            starts = X.loc[("s0", "t0")].index.to_numpy()
            assert len(set(starts)) == len(starts) == 9
        if kind == "unequal_within_tolerance":
            assert len(X.loc[("s0", "t1")]) == 2  # 3.84 s of bvp: windows 0-2, 1-3
        if kind == "trial_ids_collide":
            assert len(set(trials[:6])) == 2 and trials[0] == "a%2Fb/c" and trials[3] == "a/b/c"

    attempt(
        "make_windows",
        lambda: make_windows(rec, *args, **kw),
        _WINDOWING_CASES[kind] or ("<no error expected>",),
        check,
        hostile_class="windowing",
    )


# ------------------------------------------------------------------------------------------
# loaders: subjects, emotions and options


def _dmer_root(tmp_path_factory, stems=("1", "2", "12")):
    root = tmp_path_factory.mktemp("dmer")
    rng = np.random.default_rng(0)
    for sub in stems:
        savemat(
            root / f"{sub}.mat",
            {
                "feas": rng.normal(size=(2, 913)),
                "vids": np.array([[0.0, 5.0]]),
                "dis_label": rng.integers(1, 6, size=(32, 10)).astype(float),
            },
        )
    return root


def _dmer_raw_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("dmer_raw")
    rng = np.random.default_rng(0)
    for sub in ("1", "2"):
        out = {}
        for m, fs, n_ch in [("eeg", 300, 18), ("gsr", 4, 1), ("ppg", 100, 1)]:
            n = 3 * fs
            out[f"{m}_datas"] = np.vstack([rng.normal(size=(n_ch, n)), np.zeros((1, n))])
        out["dis_label"] = rng.integers(1, 6, size=(32, 10)).astype(float)
        (root / sub).mkdir()
        savemat(root / sub / "datas.mat", out)
    return root


_LOADER_CASES = {
    # (entry, kwargs, words; empty: valid, with the subjects/emotions expected)
    "dmer_one_string": ("load_dmer", {"subjects": "12"}, ("['12']",)),
    "dmer_one_in_list": ("load_dmer", {"subjects": ["12"]}, ()),
    "dmer_missing": ("load_dmer", {"subjects": ["7"]}, ("'7'",)),
    "dmer_empty": ("load_dmer", {"subjects": []}, ("empty",)),
    "dmer_set": ("load_dmer", {"subjects": {"1", "2"}}, ("set", "order")),
    "dmer_twice": ("load_dmer", {"subjects": ["1", 1]}, ("twice",)),
    "dmer_none_entry": ("load_dmer", {"subjects": [None]}, ("ids",)),
    "dmer_int": ("load_dmer", {"subjects": [2]}, ()),
    "dmer_emotions_subset": ("load_dmer", {"emotions": ["Afraid", "Inspired"]}, ()),
    "dmer_emotions_unknown": ("load_dmer", {"emotions": ["Joy", "Afraid"]}, ("joy",)),
    "dmer_emotions_one": ("load_dmer", {"emotions": "Afraid"}, ("emotions",)),
    "dmer_emotions_set": ("load_dmer", {"emotions": {"Afraid", "Upset"}}, ("order",)),
    "dmer_emotions_twice": ("load_dmer", {"emotions": ["Afraid", "Afraid"]}, ("distinct",)),
    "raw_one_string": ("load_dmer_raw", {"subjects": "2"}, ("['2']",)),
    "raw_one_in_list": ("load_dmer_raw", {"subjects": ["2"]}, ()),
    "raw_empty": ("load_dmer_raw", {"subjects": ()}, ("empty",)),
    "raw_rate_zero": ("load_dmer_raw", {"sfreq": {"eeg": 0}}, ("sampling rate",)),
    "raw_rate_string": ("load_dmer_raw", {"sfreq": {"gsr": "4"}}, ("sampling rate",)),
    "raw_rate_unknown": ("load_dmer_raw", {"sfreq": {"ecg": 100.0}}, ("ecg",)),
    "raw_sfreq_list": ("load_dmer_raw", {"sfreq": [300.0]}, ("sfreq",)),
    "raw_emotions_subset": ("load_dmer_raw", {"emotions": ["Upset", "Alert"]}, ()),
    "wesad_one_string": ("load_wesad", {"subjects": "S2"}, ("['s2']",)),
    "wesad_one_in_list": ("load_wesad", {"subjects": ["S2"]}, ("s2",)),
    "wesad_empty": ("load_wesad", {"subjects": []}, ("empty",)),
    "wesad_set": ("load_wesad", {"subjects": {"S2"}}, ("set",)),
    "wesad_emotions_set": ("load_wesad", {"emotions": {"Happy", "Sad"}}, ("order",)),
    "synthetic_emotions": ("make_mixed_emotion_recordings", {"emotions": ["Afraid", "Alert"]}, ()),
    "synthetic_emotions_unknown": (
        "make_mixed_emotion_recordings",
        {"emotions": ["Afraid", "Happy"]},
        ("happy",),
    ),
    "synthetic_too_big": ("make_mixed_emotion_recordings", {"n_subjects": 10**7}, ("gib",)),
    "synthetic_too_long": ("make_mixed_emotion_recordings", {"duration_s": 1e9}, ("gib",)),
}


@pytest.mark.parametrize("kind", sorted(_LOADER_CASES))
def test_loaders_subjects_emotions_options(tmp_path_factory, kind):
    entry, kwargs, words = _LOADER_CASES[kind]
    if entry == "load_dmer":
        root = _dmer_root(tmp_path_factory)
        run = lambda: load_dmer(root, **kwargs)  # noqa: E731
    elif entry == "load_dmer_raw":
        root = _dmer_raw_root(tmp_path_factory)
        run = lambda: load_dmer_raw(root, **kwargs)  # noqa: E731
    elif entry == "load_wesad":
        root = tmp_path_factory.mktemp("wesad")
        _write_wesad_quest(root / "S2")  # no signals: a subject "S2" is looked for and missing
        run = lambda: load_wesad(root, **kwargs)  # noqa: E731
    else:
        base = {"n_subjects": 2, "trials_per_subject": 2, "duration_s": 6.0, "random_state": 0}
        run = lambda: make_mixed_emotion_recordings(**(base | kwargs))  # noqa: E731

    def check(out):
        assert not words, f"{kind} accepted"
        groups = out.groups if hasattr(out, "groups") else [t.subject for t in out.trials]
        emotions = out.emotions
        if kind == "dmer_one_in_list":
            assert set(groups) == {"12"}
        if kind == "dmer_int":
            assert set(groups) == {"2"}
        if kind == "raw_one_in_list":
            assert set(groups) == {"2"}
        if "emotions" in kwargs:
            assert emotions == list(kwargs["emotions"])
            y = out.y if hasattr(out, "y") else np.array([t.label for t in out.trials])
            assert_distributions(y, n_cols=2)
            if hasattr(out, "X"):
                assert out.X.attrs["emotions"] == list(kwargs["emotions"])

    attempt(
        entry,
        run,
        words or ("<no error expected>",),
        check,
        errors=(ValueError, TypeError, FileNotFoundError),
        hostile_class="loaders",
    )


# ------------------------------------------------------------------------------------------
# aliasing: no public function of the data side mutates or aliases its caller's data


def _assert_same(a, b, where):
    """Deep equality of the data structures used here (arrays compared exactly, NaN = NaN)."""
    if isinstance(a, pd.DataFrame):
        assert isinstance(b, pd.DataFrame) and a.shape == b.shape, where
        assert a.index.equals(b.index) and list(a.columns) == list(b.columns), where
        _assert_same(dict(a.attrs), dict(b.attrs), f"{where}.attrs")
        for c in a.columns:
            for x, z in zip(a[c].to_numpy(), b[c].to_numpy()):
                _assert_same(x, z, f"{where}[{c!r}]")
    elif type(a).__name__ == "FeatureTable":
        assert type(b).__name__ == "FeatureTable", where
        for f in ("X", "y", "groups", "trials", "emotions", "behavioural", "report"):
            _assert_same(getattr(a, f), getattr(b, f), f"{where}.{f}")
    elif isinstance(a, Recordings):
        _assert_same(
            (a.sfreq, a.emotions, a.behavioural, a.channel_names, a.report),
            (b.sfreq, b.emotions, b.behavioural, b.channel_names, b.report),
            where,
        )
        assert len(a.trials) == len(b.trials), where
        for s, t in zip(a.trials, b.trials):
            _assert_same(
                (s.subject, s.trial, s.signals, s.label, s.meta),
                (t.subject, t.trial, t.signals, t.label, t.meta),
                where,
            )
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b), where
        for x, z in zip(a, b):
            _assert_same(x, z, where)
    elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert a == b or (a != a and b != b), f"{where}: {a!r} != {b!r}"


def _edit(out) -> int:
    """Edit everything editable in a function's output; returns how many edits were made."""
    n = 0
    if isinstance(out, tuple | list):
        return sum(_edit(o) for o in out)
    if type(out).__name__ == "FeatureTable":
        out.emotions.append("edited")
        out.report.append("edited")
        return _edit(out.X) + _edit(out.y) + _edit(out.groups) + _edit(out.trials) + 2
    if isinstance(out, Recordings):
        for t in out.trials:
            for x in t.signals.values():
                n += _edit(x)
            t.label[:] = 0.0
            t.meta["edited"] = True
        out.sfreq[next(iter(out.sfreq))] = 1.0
        out.emotions.append("edited")
        out.report.append("edited")
        return n + 4
    if isinstance(out, pd.DataFrame):
        for value in out.attrs.values():
            if isinstance(value, dict):
                for k in list(value):
                    value[k] = "edited"
            elif isinstance(value, list):
                value.append("edited")
            n += 1
        for c in out.columns:
            if out[c].dtype == object:
                for cell in out[c].to_numpy():
                    n += _edit(cell)
            else:
                out[c] = -1.0
                n += 1
        return n
    if isinstance(out, np.ndarray) and out.dtype != object:
        if out.flags.writeable:
            out[...] = -7
            return 1
        with pytest.raises(ValueError, match="read-only"):
            out[...] = -7
        return 1
    if isinstance(out, dict):
        for k in list(out):
            n += _edit(out[k])
    return n


def _feature_table(X, y, groups):
    from mpcl_sklearn.datasets import FeatureTable

    return FeatureTable(
        X=X.copy(),
        y=np.array(y),
        groups=np.asarray(groups),
        trials=np.asarray([f"{g}/t" for g in groups]),
        emotions=list(EMOTIONS),
        behavioural=("acc",),
        report=["loaded"],
    )


def _aliasing_cases():
    rec = _recordings()
    X, y, groups = make_windows(rec, 2.0, 1.0)
    X2 = make_windows(_recordings(1, n_subjects=1).subset(["s0"]), 2.0, 1.0)[0]
    X2 = X2.rename(index={"s0": "z0"}, level="subject")
    X2.attrs["report"] = ["another report"]
    F = SignalWindower(scales_s=(0.5,)).fit_transform(X)
    feats = ModalityFeatureExtractor(feature_set="minimal").fit_transform(F)
    w = np.linspace(1, 2, len(y))
    cases = {
        "make_windows": (lambda r: make_windows(r, 2.0, 1.0, return_trials=True), rec),
        "Recordings.subset": (lambda r: r.subset(["s1"]), rec),
        "check_signal_frame": (check_signal_frame, X),
        "SignalWindower": (lambda x: SignalWindower(scales_s=(0.5, 1.0)).fit_transform(x), X),
        "concat_windows": (lambda a: concat_windows(a), [X, X2]),
        "ModalityFeatureExtractor[fast]": (
            lambda f: ModalityFeatureExtractor(feature_set="minimal").fit_transform(f),
            F,
        ),
        "ModalityFeatureExtractor[physio]": (
            lambda x: ModalityFeatureExtractor(backend="physio", modalities=["bvp"]).fit_transform(
                x
            ),
            X,
        ),
        "subject_standardize": (lambda a: subject_standardize(*a), (feats, groups)),
        "metrics.distribution_report": (
            lambda a: distribution_report(*a[:2], sample_weight=a[2]),
            (y, y[::-1], w),
        ),
        "metrics.per_sample_scores": (lambda a: per_sample_scores(*a), (y, y[::-1])),
        "MeanDistributionRegressor": (
            lambda a: MeanDistributionRegressor().fit(a[0], a[1], sample_weight=a[2]),
            (feats.to_numpy(), y, w),
        ),
        # the same names in the same order used to return the very same table
        "select_emotions": (
            lambda d: select_emotions(d, list(d.emotions)),
            _feature_table(feats, y, groups),
        ),
        "select_emotions[subset]": (
            lambda d: select_emotions(d, d.emotions[::-1][:2]),
            _feature_table(feats, y, groups),
        ),
    }
    try:
        import mne
    except ImportError:
        pass
    else:
        from mpcl_sklearn.datasets import recordings_from_mne

        mne.set_log_level("ERROR")
        raw = mne.io.RawArray(
            np.random.default_rng(0).normal(size=(2, 1000)),
            mne.create_info(["Fz", "ECG"], 100.0, ["eeg", "ecg"]),
        )
        raw.set_annotations(mne.Annotations([1.0], [5.0], ["c"]))
        labels = pd.DataFrame({"a": [1.0], "b": [2.0]}, index=["c"])
        cases["recordings_from_mne"] = (
            lambda a: recordings_from_mne(a[0], a[1]),
            (raw, labels),
        )
    return cases


def _snapshot(obj):
    """A deep copy to compare against (MNE objects: their data array)."""
    if isinstance(obj, tuple) and obj and type(obj[0]).__module__.startswith("mne"):
        return (obj[0].get_data().copy(), copy.deepcopy(obj[1]))
    return copy.deepcopy(obj)


def _current(obj):
    if isinstance(obj, tuple) and obj and type(obj[0]).__module__.startswith("mne"):
        return (obj[0].get_data(), obj[1])
    return obj


def test_no_public_function_mutates_or_aliases_its_input():
    for name, (fn, inp) in _aliasing_cases().items():
        before = _snapshot(inp)

        def run(fn=fn, inp=inp):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return fn(inp)

        def check(out, inp=inp, before=before, name=name):
            _assert_same(_current(inp), before, f"{name}: input changed by the call")
            edits = _edit(out)
            _assert_same(_current(inp), before, f"{name}: editing the output changed the input")
            assert edits >= 0

        attempt(name, run, ("<no error expected>",), check, hostile_class="aliasing")


def _fitted_arrays(obj, seen=None, depth=0):
    """Every numpy array (and CPU tensor, as the array it views) reachable from a fitted
    estimator's attributes."""
    import types

    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 25 or obj is None:
        return
    seen.add(id(obj))
    if isinstance(obj, str | bytes | int | float | bool | type | types.ModuleType):
        return
    if isinstance(obj, types.FunctionType | types.BuiltinFunctionType | types.MethodType):
        return
    if isinstance(obj, np.ndarray):
        yield obj
        if obj.dtype == object:
            for v in obj.ravel()[:1000]:
                yield from _fitted_arrays(v, seen, depth + 1)
        return
    if type(obj).__module__.startswith("torch") and hasattr(obj, "detach"):
        t = obj.detach()
        if t.device.type == "cpu" and t.layout.__repr__() == "torch.strided":
            yield t.numpy()
        return
    if isinstance(obj, pd.DataFrame | pd.Series | pd.Index):
        yield obj.to_numpy()
        return
    if isinstance(obj, dict):
        items = list(obj.values())
    elif isinstance(obj, list | tuple | set | frozenset):
        items = list(obj)
    else:
        items = list(getattr(obj, "__dict__", {}).values())
    for v in items:
        yield from _fitted_arrays(v, seen, depth + 1)


def _estimators_for_aliasing():
    from mpcl_sklearn.models import (
        AAKNNRegressor,
        HeLoRegressor,
        MLPDistributionRegressor,
        MPCLDistributionRegressor,
    )

    quick = {"max_epochs": 2, "random_state": 0}
    return {
        "MeanDistributionRegressor": lambda: MeanDistributionRegressor(),
        "SABFGSRegressor": lambda: SABFGSRegressor(max_iter=15),
        "AAKNNRegressor": lambda: AAKNNRegressor(n_neighbors=3, standardize=False),
        "AAKNNRegressor[standardize]": lambda: AAKNNRegressor(n_neighbors=3),
        "MLPDistributionRegressor": lambda: MLPDistributionRegressor(**quick),
        "HeLoRegressor": lambda: HeLoRegressor(**quick),
        "MPCLDistributionRegressor": lambda: MPCLDistributionRegressor(**quick),
    }


@pytest.mark.parametrize("as_frame", [False, True])
@pytest.mark.parametrize("name", sorted(_estimators_for_aliasing()))
def test_fitted_estimators_share_no_memory_with_the_callers_data(name, as_frame):
    """fit keeps no view of the caller's X or y: editing them after fit changes nothing (the
    AA-kNN neighbour search used to keep the caller's y, and X without standardisation)."""
    rng = np.random.default_rng(0)
    X = np.ascontiguousarray(rng.normal(size=(40, 6)))  # float64: validation keeps it as is
    y = np.ascontiguousarray(rng.dirichlet(np.ones(3), size=40))
    cols = [f"eda__f{i}" for i in range(3)] + [f"acc__f{i}" for i in range(3)]
    X_in = pd.DataFrame(X, columns=cols, copy=False) if as_frame else X
    query = X.copy()

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = _estimators_for_aliasing()[name]().fit(X_in, y)
            return est, np.array(est.predict(query), copy=True)

    def check(out):
        est, before = out
        shared = [a.shape for a in _fitted_arrays(est) if np.shares_memory(a, X)]
        shared += [a.shape for a in _fitted_arrays(est) if np.shares_memory(a, y)]
        assert not shared, f"{name}: fitted state shares memory with the caller's data {shared}"
        X[:] = 0.0
        y[:] = np.eye(3)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            np.testing.assert_array_equal(est.predict(query), before)

    attempt(name, run, ("<no error expected>",), check, hostile_class="aliasing")


def test_window_cells_are_read_only_views_of_one_private_copy():
    rec = _recordings()
    X = make_windows(rec, 2.0, 1.0)[0]
    cell = X["bvp"].iloc[0]
    assert not cell.flags.writeable
    assert not np.shares_memory(cell, rec.trials[0].signals["bvp"])
    # overlapping windows share the private copy (memory is not multiplied by the overlap)
    assert np.shares_memory(cell, X["bvp"].iloc[1])
    restored = pickle.loads(pickle.dumps(X))
    _assert_same(restored, X, "pickled window table")


# ------------------------------------------------------------------------------------------
# messages


def test_messages_print_the_sum_and_ask_for_2d():
    y = np.full((4, 2), 0.5)
    y[:, 1] = 0.500002  # rows sum to 1.000002
    X = np.zeros((4, 2))
    for entry, run, words in [
        ("MeanDistributionRegressor", lambda: MeanDistributionRegressor().fit(X, y), ("1.000002",)),
        ("metrics.chebyshev", lambda: chebyshev(y, y), ("1.000002",)),
        (
            "MeanDistributionRegressor",
            lambda: MeanDistributionRegressor().fit(X, np.array([0, 1, 2, 1])),
            ("must be 2-d",),
        ),
        (
            "SABFGSRegressor",
            lambda: SABFGSRegressor(normalize_y=True).fit(X, np.array([0, 1, 2, 1])),
            ("must be 2-d",),
        ),
        ("metrics.chebyshev", lambda: chebyshev([0, 1], [1, 0]), ("must be 2-d",)),
    ]:
        attempt(entry, run, words, lambda out: pytest.fail("accepted"), hostile_class="messages")


def test_messages_say_how_the_caller_normalises():
    """A bad row sum told every caller to "pass normalize_y=True to the estimator": the
    metrics, the figures and the feature-table loader have no such parameter."""
    from mpcl_sklearn.plotting import plot_cooccurrence

    y = np.full((4, 2), 0.6)
    X = np.zeros((4, 2))
    for entry, run, words in [
        ("MeanDistributionRegressor", lambda: MeanDistributionRegressor().fit(X, y), "normalize_y"),
        ("metrics.kl_divergence", lambda: kl_divergence(y, y), "divide each row by its sum"),
        ("plotting", lambda: plot_cooccurrence(y, y), "divide each row by its sum"),
    ]:

        def check_message(exc, entry=entry, words=words):
            text = str(exc)
            assert words in text, text
            if entry != "MeanDistributionRegressor":
                assert "normalize_y" not in text, text

        exc = attempt(
            entry, run, (words,), lambda out: pytest.fail("accepted"), hostile_class="messages"
        )
        check_message(exc)


def test_select_emotions_needs_two():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(6, 2)), columns=["eda__a", "acc__b"])
    data = _feature_table(X, rng.dirichlet(np.ones(3), size=6), np.repeat(["s1", "s2"], 3))
    for emotions, words in [
        (["joy"], "at least 2"),
        ("joy", "at least 2"),
        (["joy", "joy"], "twice"),
    ]:
        attempt(
            "select_emotions",
            lambda e=emotions: select_emotions(data, e),
            (words,),
            lambda out: pytest.fail("accepted"),
            hostile_class="loaders",
        )


def test_features_keep_names_and_metadata(windows):
    """The extractor returns the named DataFrame the models need (issue 14, item 1)."""
    attempt(
        "ModalityFeatureExtractor[fast]",
        lambda: ModalityFeatureExtractor(feature_set="minimal").fit_transform(windows),
        ("<no error expected>",),
        _check_features(len(windows)),
        hostile_class="values and shapes",
    )
