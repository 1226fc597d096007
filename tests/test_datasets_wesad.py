"""Tests of the WESAD loader: generated files in the WESAD layout, and the real data."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mpcl_sklearn.datasets import DMER_EMOTIONS, WESAD_PANAS_ITEMS
from mpcl_sklearn.datasets.wesad import (
    WESADFormatError,
    load_wesad,
    parse_minutes_seconds,
    read_wesad_quest,
)

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "wesad"

ORDER = ["Base", "TSST", "Medi 1", "Fun", "Medi 2", "sRead", "fRead"]
START = ["1", "4", "6.3", "7.3", "9", "3.2", "7.1"]  # minutes.seconds
END = ["3", "6", "7", "8.3", "9.3", "3.5", "7.2"]  # last END = 9:30 = 570 s
RNG = np.random.default_rng(0)


def _panas(n, shift=0):
    return [str(1 + (i + shift) % 5) for i in range(n)]


def write_quest(path: Path, subject: str, *, panas=None):
    pad = ";" * 3
    rows = [
        f"# Subj;{subject}{pad}",
        "# ORDER;" + ";".join(ORDER) + pad,
        "# START;" + ";".join(START) + pad,
        "# END;" + ";".join(END) + pad,
        ";;;;",
    ]
    if panas is None:
        panas = [_panas(26 if c == "TSST" else 24, k) for k, c in enumerate(ORDER[:5])]
    rows += ["# PANAS;" + ";".join(p) + ";;" for p in panas]
    rows += [";;;;"] + ["# STAI;1;2;3;4;3;2" + pad] * 5
    rows += [";;;;"] + [f"# DIM;{k + 3};{9 - k}" + pad for k in range(5)]
    rows += [";;;;", "# SSSQ;5;4;3;2;1;2" + pad]
    path.write_text("\n".join(rows) + "\n")


def e4_files(duration_s: float, tap_at: float | None, eda_bump=None) -> dict[str, str]:
    out = {}
    for name, fs, n_ch in [("ACC", 32, 3), ("BVP", 64, 1), ("EDA", 4, 1), ("TEMP", 4, 1)]:
        n = int(duration_s * fs)
        x = RNG.normal(0, 1, size=(n, n_ch)).round(2)
        if name == "ACC":
            x = np.rint(x + [10, -5, 60])
            if tap_at is not None:
                for t in (tap_at, tap_at + 0.4):
                    x[int(t * fs)] += [150, 150, 0]
        if name == "EDA":
            x = np.abs(x) * 0.01 + 1.0
            if eda_bump is not None:
                lo, hi = (int(v * fs) for v in eda_bump)
                x[lo:hi] += 2.0
        head = ", ".join(["1500000000.000000"] * n_ch) + "\n" + ", ".join([f"{fs}.000000"] * n_ch)
        body = "\n".join(",".join(f"{v:g}" for v in row) for row in x)
        out[f"{name}.csv"] = head + "\n" + body + "\n"
    return out


def make_subject(
    root: Path,
    subject="S2",
    *,
    duration_s=750.0,
    tap_at=100.0,
    as_zip=False,
    eda_bump=None,
    panas=None,
):
    sdir = root / subject
    sdir.mkdir(parents=True)
    write_quest(sdir / f"{subject}_quest.csv", subject, panas=panas)
    files = e4_files(duration_s, tap_at, eda_bump)
    if as_zip:
        with zipfile.ZipFile(sdir / f"{subject}_E4_Data.zip", "w") as zf:
            for name, text in files.items():
                zf.writestr(name, text)
    else:
        (sdir / f"{subject}_E4_Data").mkdir()
        for name, text in files.items():
            (sdir / f"{subject}_E4_Data" / name).write_text(text)
    return sdir


# --------------------------------------------------------------------------- unit tests ---


@pytest.mark.parametrize(
    "token,seconds", [("39.55", 2395), ("50.3", 3030), ("22", 1320), ("7.08", 428), ("0.5", 50)]
)
def test_minutes_seconds(token, seconds):
    assert parse_minutes_seconds(token) == seconds


@pytest.mark.parametrize("token", ["7.75", "abc", "-1", "1.234"])
def test_minutes_seconds_rejects(token):
    with pytest.raises(WESADFormatError, match="here"):
        parse_minutes_seconds(token, where="here")


def test_quest_parse(tmp_path):
    write_quest(tmp_path / "q.csv", "S2")
    q = read_wesad_quest(tmp_path / "q.csv")
    assert q.subject == "S2" and q.order == ORDER
    assert q.start_s["Medi 1"] == 390 and q.end_s["Medi 2"] == 570
    assert q.panas["TSST"].size == 26 and q.panas["Base"].size == 24
    assert q.dim["Fun"].tolist() == [6.0, 6.0]
    assert q.sssq is not None and q.sssq.size == 6
    assert not q.notes


def test_load_generated_e4(tmp_path):
    make_subject(tmp_path, "S2", tap_at=100.0, eda_bump=(100 + 240, 100 + 360))
    make_subject(tmp_path, "S3", tap_at=None, as_zip=True)
    rec = load_wesad(tmp_path)
    assert rec.subjects == ["S2", "S3"]
    assert rec.emotions == list(DMER_EMOTIONS)
    assert rec.sfreq == {"bvp": 64.0, "eda": 4.0, "temp": 4.0, "acc": 32.0}
    assert rec.behavioural == ("acc",)
    info = rec.info
    # S2: the double tap at 100 s is found; S3 has none -> end heuristic 750 - (570 + 60) = 120
    assert info.loc["S2", "offset_method"] == "tap"
    assert info.loc["S2", "offset_s"] == pytest.approx(100.0, abs=0.1)
    assert info.loc["S3", "offset_method"] == "end-heuristic"
    assert info.loc["S3", "offset_s"] == pytest.approx(120.0)
    assert info.loc["S3", "source"].endswith(".zip")
    assert any("S2: E4 offset 100.0 s (tap" in line for line in rec.report)
    tr = {(t.subject, t.trial): t for t in rec}
    tsst = tr[("S2", "TSST")]
    assert tsst.signals["bvp"].shape == (1, 120 * 64)
    assert tsst.signals["acc"].shape == (3, 120 * 32)
    # the EDA bump was placed exactly on the TSST segment (E4 time 340-460 s)
    assert tsst.signals["eda"].mean() > 2.5 > tr[("S2", "Base")].signals["eda"].mean()
    # labels: the DMER items, Upset read from WESAD's Annoyed column (index 4)
    k = ORDER.index("TSST")
    raw = np.array(_panas(26, k), dtype=float)
    names = list(WESAD_PANAS_ITEMS[:23]) + ["Angry", "Irritated", "Sad"]
    want = np.array([raw[names.index("Annoyed" if e == "Upset" else e)] for e in DMER_EMOTIONS])
    np.testing.assert_allclose(tsst.label, want / want.sum())
    assert tsst.meta["condition"] == "stress" and tsst.meta["valence"] == 3 + k
    assert tsst.meta["sssq_motivated"] == 3.0 and tsst.meta["stai_relaxed"] == 4.0


def test_offsets_override_and_errors(tmp_path):
    make_subject(tmp_path, "S2")
    rec = load_wesad(tmp_path, offsets={"S2": 150.0}, conditions=["Base"])
    assert rec.info.loc["S2", "offset_method"] == "user" and len(rec) == 1
    assert rec.trials[0].meta["e4_start_s"] == 150 + 60
    with pytest.raises(WESADFormatError, match=r"'Medi 2'.*outside the E4 recording"):
        load_wesad(tmp_path, offsets={"S2": 200.0})
    with pytest.raises(ValueError, match="not loaded"):
        load_wesad(tmp_path, offsets={"S9": 1.0})


def test_recording_shorter_than_condition(tmp_path):
    make_subject(tmp_path, "S2", duration_s=500.0, tap_at=None)  # protocol needs 570 s
    with pytest.raises(WESADFormatError, match=r"S2: condition .* outside the E4 recording"):
        load_wesad(tmp_path)


def test_emotion_sets(tmp_path):
    make_subject(tmp_path, "S2")
    assert load_wesad(tmp_path, emotions="all").emotions == list(WESAD_PANAS_ITEMS)
    rec = load_wesad(tmp_path, emotions=["Happy", "Sad", "Upset"])
    assert rec.emotions == ["Happy", "Sad", "Upset"]
    with pytest.raises(ValueError, match=r"unknown WESAD emotion names \['Joy'\].*valid names"):
        load_wesad(tmp_path, emotions=["Happy", "Joy"])
    with pytest.raises(ValueError, match="only after TSST"):
        load_wesad(tmp_path, emotions=["Happy", "Angry"])
    with pytest.raises(ValueError, match="same WESAD item twice"):
        load_wesad(tmp_path, emotions=["Upset", "Annoyed"])


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="S7"):
        make_subject(tmp_path, "S2")
        load_wesad(tmp_path, subjects=["S2", "S7"])
    (tmp_path / "S2" / "S2_E4_Data" / "EDA.csv").unlink()
    with pytest.raises(FileNotFoundError, match="EDA.csv"):
        load_wesad(tmp_path)
    with pytest.raises(FileNotFoundError, match="quest"):
        (tmp_path / "S4").mkdir()
        load_wesad(tmp_path, subjects=["S4"])


def test_malformed_rows_name_file_and_line(tmp_path):
    panas = [_panas(26 if c == "TSST" else 24, k) for k, c in enumerate(ORDER[:5])]
    panas[2][3] = "x3"
    make_subject(tmp_path, "S2", panas=panas)
    with pytest.raises(WESADFormatError, match=r"S2_quest.csv:8: PANAS value 4 is 'x3'"):
        load_wesad(tmp_path)
    panas[2] = panas[2][:20]
    (tmp_path / "S2" / "S2_quest.csv").unlink()
    write_quest(tmp_path / "S2" / "S2_quest.csv", "S2", panas=panas)
    with pytest.raises(WESADFormatError, match=r"S2_quest.csv:8: PANAS row has 20 values"):
        load_wesad(tmp_path)


def test_missing_rating_drop_or_raise(tmp_path):
    panas = [_panas(26 if c == "TSST" else 24, k) for k, c in enumerate(ORDER[:5])]
    panas[2][15] = "Nan"  # Nervous, like the real S5
    make_subject(tmp_path, "S2", panas=panas)
    rec = load_wesad(tmp_path)
    assert sorted(t.trial for t in rec) == ["Base", "Fun", "Medi 2", "TSST"]
    assert any("['Nervous'] missing" in line and "dropped" in line for line in rec.report)
    with pytest.raises(WESADFormatError, match=r"S2_quest.csv:8"):
        load_wesad(tmp_path, on_missing_rating="raise")
    # the missing item is not selected: the trial is kept, and the gap is still reported
    rec = load_wesad(tmp_path, emotions=["Happy", "Sad"])
    assert len(rec) == 5 and any("missing value" in line for line in rec.report)


def write_pickle(sdir, *, dur=620.0, wrist_dur=620.0):
    label = np.zeros(int(dur * 700), dtype=int)
    for cond, code in [("Base", 1), ("TSST", 2), ("Medi 1", 4), ("Fun", 3), ("Medi 2", 4)]:
        i = ORDER.index(cond)
        label[
            int(parse_minutes_seconds(START[i]) * 700) : int(parse_minutes_seconds(END[i]) * 700)
        ] = code
    wrist = {
        k: np.full((int(wrist_dur * fs), n), v, dtype=float)
        for k, fs, n, v in [
            ("BVP", 64, 1, 0.5),
            ("EDA", 4, 1, 2.0),
            ("TEMP", 4, 1, 33.0),
            ("ACC", 32, 3, 1.0),
        ]
    }
    wrist["EDA"][int(240 * 4) : int(360 * 4)] = 7.0  # TSST on the synchronised clock
    chest = {
        k: np.zeros((label.size, 3 if k == "ACC" else 1))
        for k in ["ACC", "ECG", "EMG", "EDA", "Temp", "Resp"]
    }
    with open(sdir / "S2.pkl", "wb") as fh:
        pickle.dump(
            {"signal": {"chest": chest, "wrist": wrist}, "label": label, "subject": "S2"},
            fh,
            protocol=2,
        )


def test_pickle_source(tmp_path):
    write_pickle(make_subject(tmp_path, "S2"))
    rec = load_wesad(tmp_path)
    assert rec.info.loc["S2", "offset_method"].startswith("pickle")
    assert rec.sfreq["chest_ecg"] == 700.0 and set(rec.behavioural) == {"acc", "chest_acc"}
    tr = {t.trial: t for t in rec}
    assert tr["TSST"].signals["eda"].mean() == pytest.approx(7.0)
    assert tr["Base"].signals["eda"].mean() == pytest.approx(2.0)
    assert tr["Medi 2"].signals["chest_ecg"].shape == (1, 30 * 700)
    dec = load_wesad(tmp_path, chest_decimate=7)
    assert dec.sfreq["chest_ecg"] == 100.0 and dec.sfreq["bvp"] == 64.0
    assert {t.trial: t for t in dec}["Medi 2"].signals["chest_ecg"].shape == (1, 30 * 100)
    assert load_wesad(tmp_path, chest=False).modalities == ["bvp", "eda", "temp", "acc"]
    assert load_wesad(tmp_path, source="e4").info.loc["S2", "offset_method"] == "tap"


def _py2_pickle(obj) -> bytes:
    """``obj`` (dicts, str, int, numpy arrays) pickled as Python 2 with numpy 1.x wrote WESAD.

    Protocol 2, ``GLOBAL numpy.core.multiarray._reconstruct``, Python 2 ``str`` (BINSTRING)
    keys and raw array bytes: what ``pickle.load(fh, encoding="latin1")`` meets in a real
    ``SX.pkl``.
    """
    import struct

    def s(b: bytes) -> bytes:
        return (b"U" + bytes([len(b)]) if len(b) < 256 else b"T" + struct.pack("<I", len(b))) + b

    def enc(o) -> bytes:
        if isinstance(o, dict):
            return b"}(" + b"".join(enc(k) + enc(v) for k, v in o.items()) + b"u"
        if isinstance(o, str):
            return s(o.encode("latin1"))
        if isinstance(o, int):
            return b"J" + struct.pack("<i", o)
        a = np.ascontiguousarray(o)
        order, code = a.dtype.str[0], a.dtype.str[1:]
        shape = b"(" + b"".join(enc(int(n)) for n in a.shape) + b"t"
        dtype = (
            b"cnumpy\ndtype\n" + s(code.encode()) + b"K\x00K\x01\x87R"
            b"(K\x03" + s(order.encode()) + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
        )
        return (
            b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R"
            b"(K\x01" + shape + dtype + b"\x89" + s(a.tobytes()) + b"tb"
        )

    return b"\x80\x02" + enc(obj) + b"."


def test_pickle_written_by_python2_loads(tmp_path):
    """The restricted unpickler still reads numpy arrays pickled by Python 2 (real SX.pkl)."""
    sdir = make_subject(tmp_path, "S2")
    write_pickle(sdir)
    with open(sdir / "S2.pkl", "rb") as fh:
        data = pickle.load(fh)
    data["label"] = data["label"].astype("<i4")  # int32 on the 2017 machines
    raw = _py2_pickle(data)
    assert b"numpy.core.multiarray" in raw and b"numpy._core" not in raw
    assert pickle.loads(raw, encoding="latin1")["signal"]["wrist"]["ACC"].shape == (620 * 32, 3)
    (sdir / "S2.pkl").write_bytes(raw)
    rec = load_wesad(tmp_path)
    assert rec.info.loc["S2", "offset_method"].startswith("pickle")
    tr = {t.trial: t for t in rec}
    assert tr["TSST"].signals["eda"].mean() == pytest.approx(7.0)
    assert tr["Medi 2"].signals["chest_ecg"].shape == (1, 30 * 700)


@pytest.mark.parametrize(
    "payload",
    [
        b"\x80\x02}(U\x06signalcos\nsystem\nU\x04true\x85RU\x05label}u.",
        b"\x80\x02}(U\x06signalc__builtin__\neval\nU\x04None\x85RU\x05label}u.",
        b"\x80\x02}(U\x06signalcsubprocess\nPopen\nU\x04true\x85RU\x05label}u.",
        pickle.dumps({"signal": np.lib.stride_tricks.as_strided, "label": 0}),
    ],
    ids=["os.system", "eval", "Popen", "other-numpy-function"],
)
def test_pickle_refuses_other_globals(tmp_path, monkeypatch, payload):
    import os

    calls = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a))
    sdir = make_subject(tmp_path, "S2")
    (sdir / "S2.pkl").write_bytes(payload)
    with pytest.raises(WESADFormatError, match=r"S2.pkl: cannot unpickle.*refused global"):
        load_wesad(tmp_path, source="pickle")
    assert not calls


# ------------------------------------------------------------------------------ real data ---


@pytest.mark.wesad
@pytest.mark.skipif(not REAL.is_dir(), reason=f"real WESAD data not found at {REAL}")
def test_real_wesad_all_subjects(capsys):
    rec = load_wesad(REAL)
    assert rec.subjects == [f"S{i}" for i in (2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17)]
    # S5's Medi 1 PANAS lacks the Nervous rating: dropped and reported, not hidden
    assert len(rec) == 74
    assert any(line.startswith("S5 Medi 1: rating of ['Nervous'] missing") for line in rec.report)
    info = rec.info
    assert info["offset_s"].between(15 * 60, 31 * 60).all(), info["offset_s"]
    assert set(info["offset_method"]) <= {"tap", "end-heuristic"}
    assert info["age"].between(18, 60).all() and set(info["gender"]) == {"male", "female"}
    for t in rec:
        # every condition lies inside the E4 recording and is fully covered
        assert 0 <= t.meta["e4_start_s"] < t.meta["e4_end_s"] <= info.loc[t.subject, "duration_s"]
        expected = t.meta["protocol_end_s"] - t.meta["protocol_start_s"]
        assert t.duration_s(rec.sfreq) == pytest.approx(expected, abs=0.5)
        assert np.isclose(t.label.sum(), 1) and len(t.label) == 10
    # physiological sanity: more skin conductance during the TSST than during baseline
    fails = []
    for s in rec.subjects:
        tr = {t.trial: t for t in rec if t.subject == s}
        if not tr["TSST"].signals["eda"].mean() > tr["Base"].signals["eda"].mean():
            fails.append(s)
    with capsys.disabled():
        print(
            f"\nWESAD: EDA(TSST) <= EDA(Base) for {fails or 'no subject'}; offsets (s): "
            + ", ".join(
                f"{s}={o:.0f}({m})"
                for s, o, m in zip(info.index, info["offset_s"], info["offset_method"])
            )
        )
    assert len(fails) <= 3, fails
    # the one-liner: the recordings go straight into make_windows
    from mpcl_sklearn.windowing import make_windows

    X, y, groups = make_windows(rec, window_s=60, step_s=30)
    assert len(X) == len(y) == len(groups) > 1000
    assert set(groups) == set(rec.subjects)
    assert X.attrs["sfreq"] == {"bvp": 64.0, "eda": 4.0, "temp": 4.0, "acc": 32.0}
    assert X.iloc[0]["bvp"].shape == (1, 60 * 64)


@given(st.integers(0, 300), st.integers(0, 59))
def test_minutes_seconds_roundtrip(minutes, seconds):
    token = f"{minutes}.{seconds:02d}"
    assert parse_minutes_seconds(token) == 60 * minutes + seconds
    # spreadsheets drop trailing zeros: 50.30 -> 50.3, 22.00 -> 22
    short = token.rstrip("0").rstrip(".")
    assert parse_minutes_seconds(short) == 60 * minutes + seconds


def test_malformed_e4_and_times(tmp_path):
    sdir = make_subject(tmp_path, "S2")
    eda = sdir / "S2_E4_Data" / "EDA.csv"
    lines = eda.read_text().splitlines()
    lines[10] = "abc"
    eda.write_text("\n".join(lines) + "\n")
    with pytest.raises(WESADFormatError, match=r"EDA.csv:11: expected 1 number\(s\), got 'abc'"):
        load_wesad(tmp_path)
    eda.write_text("1500000000.0\n")
    with pytest.raises(WESADFormatError, match=r"EDA.csv: fewer than 3 lines"):
        load_wesad(tmp_path)
    quest = sdir / "S2_quest.csv"
    quest.write_text(quest.read_text().replace("# START;1;4;", "# START;1.75;4;"))
    with pytest.raises(WESADFormatError, match=r"S2_quest.csv:3: '1.75' has 75 seconds"):
        load_wesad(tmp_path)


def test_pickle_wrist_shorter_than_condition(tmp_path):
    write_pickle(make_subject(tmp_path, "S2"), wrist_dur=500.0)  # Fun ends at 510 s
    with pytest.raises(WESADFormatError, match=r"S2.pkl 'bvp' for 'Fun'.*does not cover"):
        load_wesad(tmp_path)
