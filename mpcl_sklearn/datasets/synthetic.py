"""A synthetic multimodal mixed-emotion dataset with physiologically plausible signals.

Every trial has a latent positive and negative affect intensity (positive, negative or mixed
trials), from which follow

* the trial's emotion distribution: integer 1-5 ratings of DMER's 10 PANAS items (item loadings on
  positive/negative affect and arousal, shared noise inside each valence group so that items of one
  valence co-occur), normalised to sum to 1;
* the signals, whose parameters depend on valence and arousal through subject-specific baselines
  and responsiveness (so that a model must generalise across people):

  ========  ========  =====================================================================
  modality  rate      what carries affect
  ========  ========  =====================================================================
  eeg       128 Hz    8 channels, 1/f background + theta/alpha/beta/gamma bumps; alpha falls
                      and beta rises with arousal; frontal alpha asymmetry follows valence
  ppg       64 Hz     ``neurokit2.ppg_simulate``: heart rate rises, variability falls with
                      arousal
  eda       4 Hz      tonic level + skin-conductance responses (rate and size rise with arousal)
  rsp       16 Hz     ``neurokit2.rsp_simulate``: breathing faster and shallower with arousal
  temp      4 Hz      peripheral temperature drops under negative arousal
  acc       32 Hz     3-axis wrist accelerometer (gravity + movement bursts with arousal)
  face      10 Hz     6 facial action-unit intensities (AU6/AU12 smile with positive affect,
                      AU1/AU4/AU20 with negative affect, AU26 with surprise/arousal)
  ========  ========  =====================================================================

``acc`` and ``face`` are behavioural, the rest physiological.
"""

from __future__ import annotations

import numbers
import time
import warnings
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from .._neurokit import neurokit_length_error
from ..recordings import Recordings, Trial
from .emotions import DMER_EMOTIONS, select_emotions

#: Sampling rate (Hz) of every modality the generator can produce.
SYNTHETIC_SFREQ: dict[str, float] = {
    "eeg": 128.0,
    "ppg": 64.0,
    "eda": 4.0,
    "rsp": 16.0,
    "temp": 4.0,
    "acc": 32.0,
    "face": 10.0,
}

#: Channel names per modality.
SYNTHETIC_CHANNELS: dict[str, list[str]] = {
    "eeg": ["F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2"],
    "ppg": ["ppg"],
    "eda": ["eda"],
    "rsp": ["rsp"],
    "temp": ["temp"],
    "acc": ["x", "y", "z"],
    "face": ["AU1", "AU4", "AU6", "AU12", "AU20", "AU26"],
}

_BEHAVIOURAL = ("acc", "face")

#: The generator refuses to produce more signal data than this (bytes, float64 samples).
MAX_SYNTHETIC_BYTES = 8 * 2**30

# Item loadings: rating intensity = w_pos * pos + w_neg * neg + w_ar * arousal (then noise).
_LOADINGS = {
    #               pos   neg   arousal
    "Inspired": (0.85, 0.00, 0.05),
    "Alert": (0.40, 0.25, 0.45),
    "Excited": (0.70, 0.05, 0.35),
    "Enthusiastic": (0.90, 0.00, 0.10),
    "Determined": (0.60, 0.10, 0.15),
    "Afraid": (0.00, 0.85, 0.20),
    "Upset": (0.00, 0.90, -0.10),
    "Nervous": (0.05, 0.60, 0.40),
    "Scared": (0.00, 0.90, 0.20),
    "Distressed": (0.00, 0.80, 0.05),
}


def _trial_affect(kind: str, rng: np.random.Generator) -> tuple[float, float]:
    """Latent (positive, negative) affect intensities in [0, 1] for a trial kind."""
    if kind == "positive":
        return rng.uniform(0.55, 1.0), rng.uniform(0.0, 0.2)
    if kind == "negative":
        return rng.uniform(0.0, 0.2), rng.uniform(0.55, 1.0)
    return rng.uniform(0.35, 0.9), rng.uniform(0.35, 0.9)  # mixed


def _ratings(
    pos: float, neg: float, arousal: float, style: float, rng: np.random.Generator
) -> np.ndarray:
    """Integer 1-5 ratings of the 10 items, with valence-group co-occurrence noise."""
    w = np.array([_LOADINGS[e] for e in DMER_EMOTIONS])
    latent = w @ np.array([pos, neg, arousal])
    group_noise = np.repeat(rng.normal(0.0, 0.08, size=2), 5)  # shared within each valence group
    item_noise = rng.normal(0.0, 0.08, size=len(DMER_EMOTIONS))
    intensity = np.clip(latent + group_noise + item_noise + style, 0.0, 1.0)
    return np.clip(np.rint(1.0 + 4.0 * intensity), 1, 5)


def _subject_params(rng: np.random.Generator) -> dict[str, float]:
    """Baselines and responsiveness of one simulated person."""
    return {
        "hr0": rng.uniform(58, 85),  # resting heart rate, bpm
        "hrv0": rng.uniform(0.05, 0.15),  # IBI randomness at rest
        "scl0": rng.lognormal(np.log(4.0), 0.5),  # tonic skin conductance, uS
        "rr0": rng.uniform(11, 17),  # breaths per minute
        "temp0": rng.uniform(31.0, 34.5),  # wrist skin temperature, degC
        "eeg_gain": rng.lognormal(0.0, 0.3),  # overall EEG amplitude
        "alpha0": rng.uniform(2.0, 6.0),  # resting alpha bump height
        "eeg_exp": rng.uniform(1.2, 2.0),  # 1/f exponent
        "gain": rng.lognormal(0.0, 0.3),  # autonomic responsiveness
        "face_gain": rng.lognormal(0.0, 0.4),  # facial expressiveness
        "move0": rng.uniform(0.5, 2.0),  # fidgeting bursts per minute at rest
        "asym0": rng.normal(0.0, 0.2),  # trait frontal alpha asymmetry
        "face_rest": rng.uniform(0.0, 0.8),  # resting facial-muscle tone (AU baseline)
        "style": rng.normal(0.0, 0.06),  # rating style (shifts every item)
        "noise": rng.uniform(0.5, 1.5),  # sensor noise multiplier
    }


def _eeg(n, sf, p, arousal, valence, rng):
    """Coloured-noise EEG with band bumps shaped in the frequency domain."""
    n_ch = len(SYNTHETIC_CHANNELS["eeg"])
    f = np.fft.rfftfreq(n, 1.0 / sf)
    bump = lambda fc, bw: np.exp(-0.5 * ((f - fc) / bw) ** 2)  # noqa: E731
    alpha = p["alpha0"] * (1.0 - 0.45 * arousal * p["gain"] / (1 + 0.3 * p["gain"]))
    beta = 0.6 + 1.0 * arousal * p["gain"]
    theta = 1.0 + 0.4 * (1.0 - arousal)
    gamma = 0.1 + 0.3 * arousal
    psd = np.empty((n_ch, f.size))
    for c, name in enumerate(SYNTHETIC_CHANNELS["eeg"]):
        a = alpha * (1.6 if name[0] in "PO" else 1.0)
        if name == "F3":  # approach/positive valence -> less left-frontal alpha
            a *= np.exp(-p["asym0"]) * (1.0 - 0.3 * valence)
        elif name == "F4":
            a *= np.exp(p["asym0"]) * (1.0 + 0.3 * valence)
        psd[c] = (
            30.0 / (1.0 + f) ** p["eeg_exp"]
            + theta * bump(6.0, 1.2)
            + a * bump(10.0, 1.3)
            + beta * bump(20.0, 4.0)
            + gamma * bump(40.0, 5.0)
        )
    spec = np.fft.rfft(rng.standard_normal((n_ch, n)), axis=1) * np.sqrt(psd)
    x = np.fft.irfft(spec, n=n, axis=1)
    x *= 10.0 * p["eeg_gain"] / x.std(axis=1, keepdims=True).mean()
    return x + rng.normal(0.0, 1.0 * p["noise"], size=x.shape)  # uV


def _eda(n, sf, p, arousal, neg, duration, rng):
    """Tonic level plus skin-conductance responses (bi-exponential kernels)."""
    t = np.arange(n) / sf
    level = p["scl0"] * (1.0 + 0.5 * p["gain"] * arousal + 0.2 * neg)
    drift = np.cumsum(rng.normal(0.0, 0.003 * p["scl0"], size=n))
    tonic = level * (1.0 + 0.04 * arousal * t / max(duration, 1.0)) + drift
    rate = (1.0 + 7.0 * arousal * p["gain"]) / 60.0  # SCRs per second
    n_scr = rng.poisson(rate * duration)
    impulses = np.zeros(n)
    onsets = rng.integers(0, n, size=n_scr)
    amps = rng.gamma(2.0, 0.05 * p["scl0"] * (0.5 + arousal), size=n_scr)
    np.add.at(impulses, onsets, amps)
    tk = np.arange(int(20 * sf)) / sf
    kernel = np.exp(-tk / 3.0) - np.exp(-tk / 0.7)
    kernel /= kernel.max()
    phasic = np.convolve(impulses, kernel)[:n]
    x = tonic + phasic + rng.normal(0.0, 0.01 * p["noise"], size=n)
    return np.clip(x, 0.01, None)[None, :]


def _simulate_at_least(
    simulate: Callable[[int], np.ndarray], n: int, duration: float
) -> np.ndarray:
    """The first ``n`` samples of ``simulate(duration_s)``, lengthening the simulation if needed.

    neurokit2's simulators can fail on short durations (``rsp_simulate``'s breathmetrics model
    smooths with a 0.5-s window over whole breaths: a TypeError for 2-5 s) and can return fewer
    samples than asked (it builds whole breaths). The requested duration is tried first (so
    the output of durations that work is unchanged), then longer ones with the same seed,
    cropped to ``n``.
    """
    d = int(np.ceil(duration))
    for _ in range(12):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                x = np.asarray(simulate(d), dtype=float)
        except TypeError as exc:  # neurokit2 reports a too-short signal as a TypeError
            if not neurokit_length_error(exc):
                raise
            x = np.zeros(0)
        if x.size >= n:
            return x[:n]
        d = max(2 * d, 10)
    raise RuntimeError(f"neurokit2 simulation returned fewer than {n} samples up to {d} s")


def _ppg(n, sf, p, arousal, valence, duration, seed):
    import neurokit2 as nk

    hr = p["hr0"] + 18.0 * arousal * p["gain"] - 2.0 * valence
    hrv = max(p["hrv0"] * (1.0 - 0.5 * arousal), 0.01)
    x = _simulate_at_least(
        lambda d: nk.ppg_simulate(
            duration=d,
            sampling_rate=int(sf),
            heart_rate=hr,
            frequency_modulation=0.1 + 0.2 * (1.0 - arousal),
            ibi_randomness=hrv,
            drift=0.1,
            motion_amplitude=0.05 * p["noise"] * (1.0 + arousal),
            powerline_amplitude=0.0,
            random_state=seed,
        ),
        n,
        duration,
    )
    return x[None, :], hr


def _rsp(n, sf, p, arousal, duration, seed):
    import neurokit2 as nk

    rr = p["rr0"] + 7.0 * arousal * p["gain"]
    x = _simulate_at_least(
        lambda d: nk.rsp_simulate(
            duration=d,
            sampling_rate=int(sf),
            respiratory_rate=rr,
            method="breathmetrics",
            noise=0.02 * p["noise"],
            random_state=seed,
        ),
        n,
        duration,
    )
    x = x * (1.0 - 0.3 * arousal)
    return x[None, :], rr


def _temp(n, sf, p, arousal, neg, rng):
    t = np.arange(n) / sf
    target = p["temp0"] - 0.8 * p["gain"] * arousal * (0.3 + neg)
    tau = 40.0
    x = target + (p["temp0"] - target) * np.exp(-t / tau)
    x = x + np.cumsum(rng.normal(0.0, 0.002, size=n)) + rng.normal(0, 0.02 * p["noise"], size=n)
    return x[None, :]


def _acc(n, sf, p, arousal, duration, rng):
    g = rng.normal(0.0, 1.0, size=3)
    g = 64.0 * g / np.linalg.norm(g)  # gravity, 1/64 g units like the E4
    x = np.repeat(g[:, None], n, axis=1)
    n_moves = rng.poisson(p["move0"] * (1.0 + 3.0 * arousal) * duration / 60.0)
    t = np.arange(n) / sf
    for _ in range(n_moves):
        t0, width = rng.uniform(0, duration), rng.uniform(0.3, 2.0)
        env = np.exp(-0.5 * ((t - t0) / width) ** 2)
        freq = rng.uniform(1.0, 4.0)
        x += (
            rng.normal(0, 15.0, size=(3, 1))
            * env
            * np.sin(2 * np.pi * freq * t + rng.uniform(0, 6.3))
        )
    return x + rng.normal(0.0, 1.0 * p["noise"], size=x.shape)


def _face(n, sf, p, pos, neg, arousal, duration, rng):
    """Action-unit intensities (0-5 scale) as smoothed expression events."""
    t = np.arange(n) / sf
    drive = {
        "AU1": 0.6 * neg + 0.2 * arousal,
        "AU4": 0.9 * neg,
        "AU6": 0.8 * pos,
        "AU12": 1.0 * pos,
        "AU20": 0.7 * neg * arousal,
        "AU26": 0.3 * arousal + 0.2 * pos,
    }
    out = np.empty((len(SYNTHETIC_CHANNELS["face"]), n))
    for c, au in enumerate(SYNTHETIC_CHANNELS["face"]):
        d = drive[au] * p["face_gain"]
        n_ev = rng.poisson((0.5 + 6.0 * d) * duration / 60.0)
        x = np.full(n, 0.1 + p["face_rest"] * (1.0 if au in ("AU4", "AU6") else 0.5))
        for _ in range(n_ev):
            t0, width = rng.uniform(0, duration), rng.uniform(0.5, 3.0)
            x += rng.uniform(0.5, 1.5) * (0.5 + 2.0 * d) * np.exp(-0.5 * ((t - t0) / width) ** 2)
        out[c] = x
    out += rng.normal(0.0, 0.15 * p["noise"], size=out.shape)
    return np.clip(out, 0.0, 5.0)


def _check_int(name: str, value) -> int:
    """An integer >= 1 (Python or numpy integer, not bool), else a message naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= 1, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _check_real(name: str, value, what: str) -> float:
    """A real number (not bool, not a string), else a TypeError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {what}, got {value!r} ({type(value).__name__})")
    return float(value)


def make_mixed_emotion_recordings(
    n_subjects: int = 12,
    trials_per_subject: int = 12,
    duration_s: float = 60.0,
    modalities: Sequence[str] | None = None,
    *,
    mixed_fraction: float = 1 / 3,
    emotions: str | Sequence[str] = "dmer10",
    random_state: int | np.random.Generator | None = None,
) -> Recordings:
    """Generate a synthetic multimodal mixed-emotion dataset.

    Trials are positive, negative or mixed (both affects present); each has an emotion
    distribution over DMER's 10 PANAS items and physiological/behavioural signals whose parameters
    depend on the trial's valence and arousal through subject-specific baselines and
    responsiveness. See the module docstring for the modalities.

    Parameters
    ----------
    n_subjects : int, default=12
        Number of simulated people.
    trials_per_subject : int, default=12
        Trials per person.
    duration_s : float, default=60.0
        Length of every trial in seconds, at least 2 (all trials equally long, so duration
        carries no label information).
    modalities : sequence of str, optional
        Subset of ``("eeg", "ppg", "eda", "rsp", "temp", "acc", "face")``; all by default.
    mixed_fraction : float, default=1/3
        Fraction of mixed trials; the rest is split evenly between positive and negative.
    emotions : {"dmer10", "all"} or list of str, default="dmer10"
        The label set, by name: all 10 DMER items, or a list of some of them in the order
        wanted (as :func:`load_dmer` and :func:`load_wesad` take it). All 10 ratings are drawn
        whatever the choice (the signals do not change), then the chosen ones are normalised.
    random_state : int, numpy Generator or None
        Seed; the same seed gives identical data.

    Returns
    -------
    Recordings
        ``emotions`` are the chosen DMER items; each trial's ``meta`` holds ``kind``
        (positive/negative/mixed), latent ``pos``, ``neg``, ``valence`` (-1..1), ``arousal``
        (0..1), SAM-like ``valence_sam``/``arousal_sam`` (1..9), the integer ``ratings`` of the
        chosen emotions and the heart and breathing rates used. ``info`` holds each subject's
        simulated baselines.

    Raises
    ------
    TypeError
        A parameter of the wrong type (e.g. ``n_subjects="three"``); the message names it.
    ValueError
        A parameter out of range (``n_subjects < 1``, ``duration_s < 2``, an unknown emotion,
        more than :data:`MAX_SYNTHETIC_BYTES` of signals, ...).

    Examples
    --------
    >>> from mpcl_sklearn.datasets import make_mixed_emotion_recordings
    >>> rec = make_mixed_emotion_recordings(n_subjects=2, trials_per_subject=3, duration_s=10,
    ...                                     random_state=0)
    >>> len(rec), rec.emotions[:2]
    (6, ['Inspired', 'Alert'])
    """
    if modalities is None:
        modalities = list(SYNTHETIC_SFREQ)
    if isinstance(modalities, str | bytes | set | frozenset) or not isinstance(
        modalities, Iterable
    ):  # a set has no fixed order: the data would depend on string hashing
        raise TypeError(
            f"modalities must be a list of names from {list(SYNTHETIC_SFREQ)}, got {modalities!r}"
        )
    modalities = list(modalities)
    unknown = [m for m in modalities if m not in SYNTHETIC_SFREQ]
    if unknown or not modalities:
        raise ValueError(
            f"unknown modalities {unknown}; choose from {list(SYNTHETIC_SFREQ)}"
            if unknown
            else "modalities must not be empty"
        )
    if len(set(modalities)) != len(modalities):
        raise ValueError(f"duplicate modalities in {modalities}")
    n_subjects = _check_int("n_subjects", n_subjects)
    trials_per_subject = _check_int("trials_per_subject", trials_per_subject)
    duration_s = _check_real("duration_s", duration_s, "a finite number of seconds >= 2")
    if not np.isfinite(duration_s) or duration_s < 2.0:
        raise ValueError(f"duration_s must be >= 2 seconds, got {duration_s!r}")
    mixed_fraction = _check_real("mixed_fraction", mixed_fraction, "a number in [0, 1]")
    if not 0.0 <= mixed_fraction <= 1.0:
        raise ValueError(f"mixed_fraction must be in [0, 1], got {mixed_fraction!r}")
    names = select_emotions(
        emotions,
        DMER_EMOTIONS,
        dataset="synthetic (DMER)",
        presets={"dmer10": DMER_EMOTIONS, "all": DMER_EMOTIONS},
    )
    chosen = [DMER_EMOTIONS.index(e) for e in names]
    size = (
        8.0
        * n_subjects
        * trials_per_subject
        * sum(
            len(SYNTHETIC_CHANNELS[m]) * round(duration_s * SYNTHETIC_SFREQ[m]) for m in modalities
        )
    )
    if size > MAX_SYNTHETIC_BYTES:
        raise ValueError(
            f"n_subjects={n_subjects} x trials_per_subject={trials_per_subject} x duration_s="
            f"{duration_s:g} s of {modalities} would take {size / 2**30:.3g} GiB of signals, "
            f"more than MAX_SYNTHETIC_BYTES ({MAX_SYNTHETIC_BYTES / 2**30:g} GiB); make fewer or "
            "shorter trials"
        )

    t_start = time.perf_counter()
    try:
        rng = np.random.default_rng(random_state)
    except (TypeError, ValueError) as exc:  # a wrong type, or a negative seed
        raise type(exc)(
            "random_state must be None, a non-negative integer or a numpy Generator, got "
            f"{random_state!r} ({type(random_state).__name__})"
        ) from exc
    sfreq = {m: SYNTHETIC_SFREQ[m] for m in modalities}
    n_times = {m: int(round(duration_s * sfreq[m])) for m in modalities}
    trials: list[Trial] = []
    info_rows = []
    n_mixed = int(round(mixed_fraction * trials_per_subject))
    n_pos = (trials_per_subject - n_mixed + 1) // 2
    kinds0 = ["mixed"] * n_mixed + ["positive"] * n_pos
    kinds0 += ["negative"] * (trials_per_subject - len(kinds0))
    for s in range(int(n_subjects)):
        subject = f"sub{s + 1:02d}"
        p = _subject_params(rng)
        info_rows.append({"subject": subject} | p)
        for k, kind in enumerate(rng.permutation(kinds0)):
            pos, neg = _trial_affect(str(kind), rng)
            arousal = float(np.clip(0.15 + 0.6 * max(pos, neg) + 0.2 * min(pos, neg), 0, 1))
            arousal = float(np.clip(arousal + rng.normal(0, 0.05), 0.0, 1.0))
            valence = float(pos - neg)
            ratings = _ratings(pos, neg, arousal, p["style"], rng)[chosen]
            seed_ppg, seed_rsp = (int(v) for v in rng.integers(0, 2**31 - 1, size=2))
            sig: dict[str, np.ndarray] = {}
            meta: dict[str, object] = {}
            for m in modalities:
                n = n_times[m]
                sf = sfreq[m]
                if m == "eeg":
                    sig[m] = _eeg(n, sf, p, arousal, valence, rng)
                elif m == "ppg":
                    sig[m], meta["heart_rate"] = _ppg(
                        n, sf, p, arousal, valence, duration_s, seed_ppg
                    )
                elif m == "eda":
                    sig[m] = _eda(n, sf, p, arousal, neg, duration_s, rng)
                elif m == "rsp":
                    sig[m], meta["breathing_rate"] = _rsp(n, sf, p, arousal, duration_s, seed_rsp)
                elif m == "temp":
                    sig[m] = _temp(n, sf, p, arousal, neg, rng)
                elif m == "acc":
                    sig[m] = _acc(n, sf, p, arousal, duration_s, rng)
                else:
                    sig[m] = _face(n, sf, p, pos, neg, arousal, duration_s, rng)
                sig[m] = np.ascontiguousarray(sig[m], dtype=np.float64)
            meta |= {
                "kind": str(kind),
                "pos": float(pos),
                "neg": float(neg),
                "valence": valence,
                "arousal": arousal,
                "valence_sam": float(np.clip(np.rint(5 + 4 * valence), 1, 9)),
                "arousal_sam": float(np.clip(np.rint(1 + 8 * arousal), 1, 9)),
                "ratings": ratings.astype(int),
            }
            trials.append(
                Trial(
                    subject=subject,
                    trial=f"t{k + 1:02d}",
                    signals=sig,
                    label=ratings / ratings.sum(),
                    meta=meta,
                )
            )
    elapsed = time.perf_counter() - t_start
    report = [
        f"synthetic: {n_subjects} subjects x {trials_per_subject} trials x {duration_s:g} s, "
        f"modalities {modalities}, random_state={random_state!r}; generated in {elapsed:.2f} s",
        f"labels: integer 1-5 ratings of {len(names)} of DMER's 10 PANAS items, normalised per "
        "trial",
    ]
    return Recordings(
        trials=trials,
        sfreq=sfreq,
        emotions=list(names),
        behavioural=tuple(m for m in modalities if m in _BEHAVIOURAL),
        channel_names={m: list(SYNTHETIC_CHANNELS[m]) for m in modalities},
        report=report,
        info=pd.DataFrame(info_rows).set_index("subject"),
    )
