"""The Recordings structure: validation, subset and a short repr."""

from __future__ import annotations

import numpy as np
import pytest

from mpcl_sklearn import Recordings, Trial
from mpcl_sklearn.datasets import make_mixed_emotion_recordings


def _rec(n_subjects=3, sfreq=None, behavioural=()):
    rng = np.random.default_rng(0)
    sfreq = sfreq or {"eda": 4.0, "bvp": 64.0}
    n_times = {"eda": 32, "bvp": 512}  # 8 s at the usual rates
    trials = [
        Trial(
            f"s{s}",
            f"t{k}",
            {m: rng.normal(size=(1, n_times[m])) for m in sfreq},
            np.array([0.5, 0.5]),
        )
        for s in range(n_subjects)
        for k in range(2)
    ]
    return Recordings(trials, dict(sfreq), ["joy", "fear"], behavioural=behavioural)


def test_repr_is_a_short_summary():
    rec = make_mixed_emotion_recordings(12, 2, duration_s=8, random_state=0)
    text = repr(rec)
    assert len(text) < 400, len(text)
    assert text.startswith("Recordings(24 trials of 12 subjects, 3.2 min; modalities eeg 128 Hz")
    assert "acc 32 Hz x3 ch" in text and "10 emotions" in text
    t = repr(rec.trials[0])
    assert len(t) < 400 and t.startswith("Trial('sub01', 't01'; signals eeg (8, 1024)")
    assert "array(" not in text + t


@pytest.mark.parametrize(
    "rate, match",
    [
        (0, "sampling rate of modality 'eda'"),
        (-4.0, "positive"),
        (float("nan"), "positive"),
        (float("inf"), "finite"),
        ("4", "str"),
        (None, "NoneType"),
        (True, "bool"),
    ],
)
def test_sampling_rates_are_positive_finite_numbers(rate, match):
    with pytest.raises(ValueError, match=match):
        _rec(sfreq={"eda": rate, "bvp": 64.0})


def test_ids_names_and_labels_are_checked():
    rec = _rec()
    with pytest.raises(ValueError, match="'__'"):
        Recordings(
            [Trial("s", "t", {"e__da": np.zeros((1, 8))}, [0.5, 0.5])], {"e__da": 4.0}, ["a", "b"]
        )
    with pytest.raises(ValueError, match="distinct"):
        Recordings(rec.trials, rec.sfreq, ["joy", "joy"])
    with pytest.raises(ValueError, match="strings or integers"):
        Recordings([Trial(("s",), "t", rec.trials[0].signals, [0.5, 0.5])], rec.sfreq, ["a", "b"])
    with pytest.raises(ValueError, match="complex"):
        Recordings([Trial("s", "t", rec.trials[0].signals, [0.5 + 1j, 0.5])], rec.sfreq, ["a", "b"])
    # a string is not read as its letters
    with pytest.raises(ValueError, match=r"not the string 'eda'; pass \('eda',\)"):
        Recordings(rec.trials, rec.sfreq, ["joy", "fear"], behavioural="eda")


def test_subset_copies_and_refuses_a_string():
    rec = _rec()
    with pytest.raises(TypeError, match=r"not the string 's1'; for one, pass \['s1'\]"):
        rec.subset("s1")
    sub = rec.subset(["s1"])
    assert sub.subjects == ["s1"] and len(sub) == 2
    sub.trials[0].signals["eda"][:] = 7.0
    assert not np.any(rec.trials[2].signals["eda"] == 7.0)
    with pytest.raises(ValueError, match=r"Unknown subjects \['s9'\]"):
        rec.subset(["s9"])
    with pytest.raises(ValueError, match="empty"):
        rec.subset([])
