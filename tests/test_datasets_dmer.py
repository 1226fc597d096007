"""Tests of the DMER loader on small files written in the DMER layout with scipy.io.savemat."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.io import savemat

from mpcl_sklearn import Recordings
from mpcl_sklearn.datasets import DMER_EMOTIONS, FeatureTable
from mpcl_sklearn.datasets.dmer import (
    DMERFormatError,
    dmer_feature_names,
    load_dmer,
    load_dmer_raw,
)

RNG = np.random.default_rng(0)


def _dis_label(n_trials=32):
    return RNG.integers(1, 6, size=(n_trials, 10)).astype(float)  # 1-5 ratings


def write_features(root, sub, vids, *, dis_label=None, n_cols=913, **overrides):
    feas = RNG.normal(size=(len(vids), n_cols))
    feas[:, 0] = np.asarray(vids)  # makes rows traceable in the test
    fields = {
        "feas": feas,
        "vids": np.asarray(vids, dtype=float)[None, :],  # MATLAB row vector
        "dis_label": _dis_label() if dis_label is None else dis_label,
    } | overrides
    savemat(root / f"{sub}.mat", fields)
    return fields


def test_feature_names():
    names = dmer_feature_names()
    assert len(names) == 913 and len(set(names)) == 913
    assert names[0] == "eeg__ch01_delta" and names[5] == "eeg__ch02_delta"
    assert names[89].startswith("eeg__") and names[90].startswith("gsr__")
    assert names[117].startswith("gsr__") and names[118].startswith("ppg__")
    assert names[144].startswith("ppg__") and names[145].startswith("video__")


def test_features_form(tmp_path):
    vids1 = [0, 0, 0, 9, 9, 20]
    f1 = write_features(tmp_path, "1", vids1)
    f2 = write_features(tmp_path, "2", [31, 31], dis_label=_dis_label().T)  # (10, 32) layout
    data = load_dmer(tmp_path)
    X, y = data.X, data.y
    assert X.shape == (8, 913)
    assert list(data.groups) == ["1"] * 6 + ["2"] * 2
    assert list(data.trials[:4]) == ["1:vid00", "1:vid00", "1:vid00", "1:vid09"]
    assert data.emotions == list(DMER_EMOTIONS) and data.behavioural == ("video",)
    np.testing.assert_allclose(X.iloc[:6].to_numpy(), f1["feas"])
    np.testing.assert_allclose(y[3], f1["dis_label"][9] / f1["dis_label"][9].sum())
    np.testing.assert_allclose(y[-1], f2["dis_label"][:, 31] / f2["dis_label"][:, 31].sum())
    np.testing.assert_allclose(y.sum(1), 1.0)
    assert any("transposed" in line for line in data.report)
    prefixes = {c.split("__")[0] for c in X.columns}
    assert prefixes == {"eeg", "gsr", "ppg", "video"}
    assert isinstance(data, FeatureTable)
    only2 = load_dmer(tmp_path, ["2"])
    assert only2.X.shape == (2, 913) and list(only2.groups) == ["2", "2"]


def test_features_form_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no DMER"):
        load_dmer(tmp_path)
    write_features(tmp_path, "1", [0, 1])
    with pytest.raises(FileNotFoundError, match="'7'"):
        load_dmer(tmp_path, subjects=["1", "7"])
    write_features(tmp_path, "3", [0, 1], n_cols=900)
    with pytest.raises(DMERFormatError, match=r"3.mat: feas has shape \(2, 900\)"):
        load_dmer(tmp_path, subjects=["3"])
    write_features(tmp_path, "4", [0, 40])
    with pytest.raises(DMERFormatError, match=r"4.mat: vids \[40\] have no row"):
        load_dmer(tmp_path, subjects=["4"])
    savemat(tmp_path / "5.mat", {"feas": np.zeros((2, 913)), "vids": np.zeros(2)})
    with pytest.raises(DMERFormatError, match=r"5.mat: missing field\(s\) \['dis_label'\]"):
        load_dmer(tmp_path, subjects=["5"])
    lab = _dis_label()
    lab[1] = 0
    write_features(tmp_path, "6", [0, 1], dis_label=lab)
    with pytest.raises(DMERFormatError, match="vid 1"):
        load_dmer(tmp_path, subjects=["6"])
    # one return type per loader: the raw form has its own function, no form= switch
    with pytest.raises(TypeError, match="form"):
        load_dmer(tmp_path, form="raw")
    with pytest.raises(TypeError, match="not the string 'raw'"):
        load_dmer(tmp_path, "raw")


def write_raw(root, sub, segments, *, dis_label=None):
    """segments: list of (vid, seconds); end-aligned concatenation like AlignAllData.py."""
    out = {}
    for m, fs, n_ch in [("eeg", 300, 18), ("gsr", 4, 1), ("ppg", 100, 1)]:
        blocks = []
        for vid, sec in segments:
            n = int(sec * fs) + (3 if m == "eeg" else 0)  # EEG a few samples longer
            x = RNG.normal(size=(n_ch, n)) + vid
            blocks.append(np.vstack([x, np.full((1, n), vid)]))
        out[f"{m}_datas"] = np.hstack(blocks)
    out["dis_label"] = _dis_label() if dis_label is None else dis_label
    (root / sub).mkdir()
    savemat(root / sub / "datas.mat", out)
    return out


def test_raw_form(tmp_path):
    f = write_raw(tmp_path, "1", [(40, 3), (0, 2), (17, 5)])
    write_raw(tmp_path, "2", [(8, 2.5)])
    rec = load_dmer_raw(tmp_path)
    assert isinstance(rec, Recordings)
    assert rec.sfreq == {"eeg": 300.0, "gsr": 4.0, "ppg": 100.0}
    assert [(t.subject, t.trial) for t in rec] == [("1", "vid00"), ("1", "vid17"), ("2", "vid08")]
    t = rec.trials[1]
    assert t.signals["eeg"].shape == (18, 1500)
    assert t.signals["gsr"].shape == (1, 20) and t.signals["ppg"].shape == (1, 500)
    assert t.meta["kind"] == "mixed" and rec.trials[2].meta["kind"] == "negative"
    # the vid row is not a channel; signals are the vid's own samples
    assert abs(t.signals["eeg"].mean() - 17) < 0.2
    np.testing.assert_allclose(t.label, f["dis_label"][17] / f["dis_label"][17].sum())
    assert any("resting state" in line for line in rec.report)


def test_raw_form_errors(tmp_path):
    write_raw(tmp_path, "1", [(0, 2)])
    with pytest.raises(FileNotFoundError, match="datas.mat"):
        load_dmer_raw(tmp_path, subjects=["1", "9"])
    (tmp_path / "2").mkdir()
    savemat(
        tmp_path / "2" / "datas.mat",
        {
            "eeg_datas": np.zeros((5, 10)),
            "gsr_datas": np.zeros((2, 10)),
            "ppg_datas": np.zeros((2, 10)),
            "dis_label": _dis_label(),
        },
    )
    with pytest.raises(DMERFormatError, match=r"eeg_datas has shape \(5, 10\)"):
        load_dmer_raw(tmp_path, subjects=["2"])


def test_emotions_choose_the_label_set_by_name(tmp_path):
    f = write_features(tmp_path, "1", [0, 9])
    data = load_dmer(tmp_path, emotions=["Afraid", "Inspired"])
    assert data.emotions == ["Afraid", "Inspired"]
    assert data.X.attrs == {"emotions": ["Afraid", "Inspired"], "behavioural": ("video",)}
    lab = f["dis_label"][9][[5, 0]]
    np.testing.assert_allclose(data.y[1], lab / lab.sum())
    assert load_dmer(tmp_path, emotions="all").emotions == list(DMER_EMOTIONS)
    with pytest.raises(ValueError, match=r"unknown DMER emotion names \['Joy'\]"):
        load_dmer(tmp_path, emotions=["Joy", "Afraid"])
    with pytest.raises(TypeError, match="no order"):
        load_dmer(tmp_path, emotions={"Afraid", "Upset"})
    write_raw(tmp_path, "r1", [(3, 2)])
    rec = load_dmer_raw(tmp_path, subjects=["r1"], emotions=["Upset", "Alert"])
    assert rec.emotions == ["Upset", "Alert"] and rec.trials[0].label.shape == (2,)


def test_subjects_are_a_list(tmp_path):
    write_features(tmp_path, "1", [0])
    write_features(tmp_path, "2", [0])
    write_features(tmp_path, "12", [0])
    with pytest.raises(TypeError, match=r"not the string '12'; for one, pass \['12'\]"):
        load_dmer(tmp_path, subjects="12")
    assert set(load_dmer(tmp_path, subjects=["12"]).groups) == {"12"}
    with pytest.raises(ValueError, match="empty"):
        load_dmer(tmp_path, subjects=[])
    with pytest.raises(ValueError, match="twice"):
        load_dmer(tmp_path, subjects=["1", 1])
    with pytest.raises(ValueError, match="sampling rate of modality 'gsr'"):
        load_dmer_raw(tmp_path, sfreq={"gsr": 0})
    with pytest.raises(ValueError, match=r"unknown modalities \['ecg'\]"):
        load_dmer_raw(tmp_path, sfreq={"ecg": 100})
