"""recordings_from_mne: Recordings from MNE Raw (annotated trials) and Epochs, in one call.

Skipped when MNE-Python is not installed (extra ``mne``; part of ``dev``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

mne = pytest.importorskip("mne")

from mpcl_sklearn import make_windows  # noqa: E402
from mpcl_sklearn.datasets import recordings_from_mne  # noqa: E402

SFREQ = 100.0
RATINGS = pd.DataFrame(
    {"joy": [4.0, 1.0, 2.0], "fear": [1.0, 5.0, 2.0], "calm": [5.0, 1.0, 4.0]},
    index=["clip1", "clip2", "clip3"],
)


def _raw(seed=0, n_s=60.0, his_id=None):
    """EEG x2, ECG, GSR and a trigger channel; each sample's value encodes its time."""
    mne.set_log_level("ERROR")
    info = mne.create_info(
        ["Fz", "Cz", "ECG", "GSR", "STI"], SFREQ, ["eeg", "eeg", "ecg", "gsr", "stim"]
    )
    if his_id is not None:
        info["subject_info"] = {"his_id": his_id}
    n = int(n_s * SFREQ)
    t = np.arange(n) / SFREQ
    rng = np.random.default_rng(seed)
    data = np.vstack([t, t + 1000, rng.normal(size=n), rng.normal(size=n), np.zeros(n)])
    raw = mne.io.RawArray(data, info)
    raw.set_annotations(
        mne.Annotations(
            [2.0, 20.0, 35.0, 50.0], [10.0, 10.0, 2.0, 8.0], ["clip1", "clip2", "BAD_x", "clip1"]
        )
    )
    return raw


def test_raw_annotations_become_trials_with_modalities_from_channel_types():
    rec = recordings_from_mne(_raw(), RATINGS, subject="P01")
    assert rec.subjects == ["P01"]
    assert [t.trial for t in rec] == ["clip1", "clip2", "clip1#2"]
    assert rec.sfreq == {"eeg": SFREQ, "ecg": SFREQ, "gsr": SFREQ}  # stim left out
    assert rec.channel_names == {"eeg": ["Fz", "Cz"], "ecg": ["ECG"], "gsr": ["GSR"]}
    assert rec.emotions == ["joy", "fear", "calm"]
    first = rec.trials[0]
    assert first.signals["eeg"].shape == (2, 1000)
    # the trial starts at the annotation's onset (sample value = time in seconds)
    assert first.signals["eeg"][0, 0] == pytest.approx(2.0)
    assert first.signals["eeg"][1, 0] == pytest.approx(1002.0)
    np.testing.assert_allclose(first.label, np.array([4, 1, 5]) / 10)
    np.testing.assert_allclose(rec.trials[2].label, first.label)
    assert rec.trials[2].signals["eeg"][0, 0] == pytest.approx(50.0)
    assert first.meta == {"name": "clip1", "onset_s": 2.0, "duration_s": 10.0}
    assert any("BAD_x" in line for line in rec.report)
    X, y, groups = make_windows(rec, 2.0)
    assert len(X) == 5 + 5 + 4 and set(groups) == {"P01"}
    assert X.attrs["emotions"] == ["joy", "fear", "calm"]


@pytest.mark.parametrize("meas_date", [True, False])
@pytest.mark.parametrize("crop", [None, (1.0, 59.0), (5.0, None), (1.234, 58.0)])
def test_trials_start_at_their_annotation_cropped_or_not(meas_date, crop):
    """A trial starts at its annotation, with or without a measurement date, cropped or not.

    Without a measurement date a cropped Raw (first_samp > 0) used to be cut first_samp samples
    late: ``time_as_index`` read the onsets from the cropped data's first sample, whereas MNE
    counts them from sample 0 of the acquisition (annotation at 2 s, crop(1.0): the trial
    started at the value 3.0). The start is compared with ``mne.events_from_annotations`` and
    with the data (each sample's value is its time in seconds).
    """
    import datetime

    raw = _raw()
    if meas_date:
        raw.set_meas_date(datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    if crop is not None:
        raw.crop(crop[0], crop[1])
    assert raw.first_samp == (0 if crop is None else round(crop[0] * SFREQ))
    rec = recordings_from_mne(raw, RATINGS, subject="P01")
    events, ids = mne.events_from_annotations(raw, event_id={"clip1": 1, "clip2": 2})
    starts = events[:, 0] - raw.first_samp  # indices into the (cropped) data
    assert [t.meta["onset_s"] for t in rec][1:] == [20.0, 50.0]  # crop(5.0) moves the first
    for trial, start in zip(rec, starts, strict=True):
        onset = trial.meta["onset_s"]
        assert trial.signals["eeg"][0, 0] == pytest.approx(onset)
        np.testing.assert_array_equal(
            trial.signals["eeg"][0],
            raw.get_data(picks=[0])[0, start : start + 1000][: trial.signals["eeg"].shape[1]],
        )


def test_epochs_and_metadata_labels_and_several_subjects():
    raw = _raw()
    events, event_id = mne.events_from_annotations(raw, event_id={"clip1": 1, "clip2": 2})
    epochs = mne.Epochs(raw, events, event_id, tmin=0.0, tmax=4.99, baseline=None, preload=True)
    rec = recordings_from_mne({"A": epochs, "B": epochs.copy()}, RATINGS[["fear", "joy"]])
    assert rec.subjects == ["A", "B"] and rec.emotions == ["fear", "joy"]
    assert [t.trial for t in rec if t.subject == "A"] == ["clip1", "clip2", "clip1#2"]
    assert rec.trials[1].signals["eeg"].shape == (2, 500)
    assert rec.trials[1].signals["eeg"][0, 0] == pytest.approx(20.0)
    np.testing.assert_allclose(rec.trials[1].label, [5 / 6, 1 / 6])
    # labels from the epochs' metadata, one row per epoch
    epochs.metadata = pd.DataFrame({"joy": [1.0, 2.0, 3.0], "sad": [3.0, 2.0, 1.0]})
    rec = recordings_from_mne(epochs, None, emotions=["joy", "sad"], subject=7)
    np.testing.assert_allclose([t.label for t in rec], [[0.25, 0.75], [0.5, 0.5], [0.75, 0.25]])


def test_channel_types_map_and_merge_and_behavioural():
    ratings = {"clip1": [1, 1], "clip2": [3, 1]}
    rec = recordings_from_mne(
        _raw(his_id="H7"),
        ratings,
        emotions=["a", "b"],
        channel_types={"eeg": "brain", "ecg": "brain", "gsr": "eda"},
        behavioural=["eda"],
    )
    assert rec.subjects == ["H7"]
    assert rec.channel_names == {"brain": ["Fz", "Cz", "ECG"], "eda": ["GSR"]}
    assert rec.behavioural == ("eda",)


def test_errors_name_the_problem():
    raw = _raw()
    with pytest.raises(TypeError, match="mne.io.Raw or mne.Epochs"):
        recordings_from_mne(np.zeros((3, 100)), RATINGS)
    with pytest.raises(ValueError, match="no trial has a label"):
        recordings_from_mne(raw, RATINGS.rename(index=lambda s: s + "x"))
    with pytest.raises(ValueError, match="no columns"):
        recordings_from_mne(raw, RATINGS, emotions=["joy", "anger"])
    with pytest.raises(ValueError, match="give the emotion names"):
        recordings_from_mne(raw, {"clip1": [1, 2, 3]})
    with pytest.raises(ValueError, match="lacks"):
        recordings_from_mne(raw, RATINGS, channel_types={"meg": "meg"})
    bad = raw.copy()
    bad.set_annotations(mne.Annotations([5.0], [0.0], ["clip1"]))
    with pytest.raises(ValueError, match="no duration"):
        recordings_from_mne(bad, RATINGS)
    neg = RATINGS.copy()
    neg.iloc[0, 0] = -1
    with pytest.raises(ValueError, match="non-negative"):
        recordings_from_mne(raw, neg)
    other = _raw().resample(50.0)
    with pytest.raises(ValueError, match="resample"):
        recordings_from_mne({"A": raw, "B": other}, RATINGS)
