"""Quickstart: from raw multimodal recordings to subject-independent scores.

The whole workflow in one script:

1. simulate continuous multimodal recordings of several people watching emotional clips
   (each clip rated on 10 PANAS emotions, normalised into a distribution);
2. cut the recordings into labelled windows (one row per window, one column per modality);
3. build a scikit-learn Pipeline: frame each window at two temporal scales, compute features per
   modality and scale, and fit MPCL on them;
4. cross-validate it across people (no person in both train and test) and print the six
   emotion-distribution metrics.

Run it with ``python examples/quickstart.py``; set ``MPCL_EXAMPLES_QUICK=1`` for a tiny version
that finishes in seconds.
"""

import os
import time

from sklearn.pipeline import Pipeline

from mpcl_sklearn.datasets import make_mixed_emotion_recordings
from mpcl_sklearn.features import ModalityFeatureExtractor
from mpcl_sklearn.model_selection import subject_independent_evaluate
from mpcl_sklearn.models import MPCLDistributionRegressor
from mpcl_sklearn.windowing import SignalWindower, make_windows

QUICK = os.environ.get("MPCL_EXAMPLES_QUICK", "") not in ("", "0")


def main() -> None:
    start = time.perf_counter()

    # 1. Recordings: a list of trials (one per subject and clip), each with one signal per
    #    modality at that modality's own sampling rate, and one emotion distribution per trial.
    #    Real data comes from load_wesad(path) or load_dmer(path) in the same structure.
    if QUICK:
        size = {"n_subjects": 4, "trials_per_subject": 3, "duration_s": 20.0}
        feature_set, max_epochs, n_folds = "minimal", 3, 2
    else:
        size = {"n_subjects": 12, "trials_per_subject": 12, "duration_s": 60.0}
        feature_set, max_epochs, n_folds = "default", 30, 4
    recordings = make_mixed_emotion_recordings(**size, random_state=0)
    print(f"{len(recordings)} trials of {len(recordings.subjects)} subjects")
    print(f"modalities and rates (Hz): {recordings.sfreq}")
    print(f"emotions: {recordings.emotions}")

    # 2. Windows: 10 s windows every 5 s. X is a DataFrame (one row per window, one column per
    #    modality, each cell a (n_channels, n_times) array); y holds each window's emotion
    #    distribution (its trial's); groups the subject of each window, for the splits.
    X, y, groups = make_windows(recordings, window_s=10.0, step_s=5.0)
    print(f"{len(X)} windows, y has shape {y.shape}")

    # 3. The model. Everything that looks at the data lives inside the Pipeline, so the
    #    cross-validation below refits it on the training subjects of every fold only.
    #    - SignalWindower frames each window into 2 s and 5 s sub-windows (half overlap);
    #    - ModalityFeatureExtractor computes tsfresh-style features per frame with the fast
    #      vectorised backend ("minimal": summary statistics; "default" adds spectral,
    #      autocorrelation and shape features) and pools them over the frames (mean and std),
    #      giving a DataFrame with columns named "<modality>__<scale>__..." that carries the
    #      recordings' emotion names and behavioural modalities (acc and face) in its attrs;
    #    - MPCL reads those names to form one token per (modality, scale), and treats the
    #      behavioural modalities the recordings declare as behavioural, the rest as
    #      physiological (behavioural_modalities="auto", the default).
    model = MPCLDistributionRegressor(max_epochs=max_epochs, random_state=0)
    pipe = Pipeline(
        [
            ("frames", SignalWindower(scales_s=(2.0, 5.0))),
            ("features", ModalityFeatureExtractor(backend="fast", feature_set=feature_set)),
            ("model", model),
        ]
    )

    # 4. Subject-independent evaluation: GroupKFold over subjects. Metrics are averaged over
    #    the windows of each test fold, then summarised as mean ± std over folds.
    #    The same with plain scikit-learn:
    #        from sklearn.model_selection import GroupKFold, cross_validate
    #        from mpcl_sklearn.metrics import distribution_scorers
    #        cross_validate(pipe, X, y, groups=groups, cv=GroupKFold(4),
    #                       scoring=distribution_scorers())
    result = subject_independent_evaluate(pipe, X, y, groups, cv=n_folds)

    print()
    print("Per fold:")
    print(result.scores.to_string(index=False, float_format="{:.4f}".format))
    print()
    # Chebyshev, Clark, Canberra and KL are distances (lower is better); cosine and
    # intersection are similarities (higher is better).
    print(result.format_summary())
    print(f"\ndone in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
