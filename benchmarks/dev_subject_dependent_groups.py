"""Development check: which groups should reach ``fit`` in the subject-dependent temporal split.

Run::

    .venv/bin/python benchmarks/dev_subject_dependent_groups.py --path ../shared/data/wesad

Uses only each subject's *outer training rows* of ``split="temporal"`` (the first 80% of every
trial), splits them again temporally (80/20 inside each trial) and evaluates the models twice:
with the trial ids as the groups that reach ``fit`` (what the protocol passed before) and with
the temporal blocks it passes now (:func:`mpcl_sklearn.model_selection.temporal_blocks`). The
outer test rows (the last 20% of every trial) are never read, so the choice it informs is made
on development data. Prints the six metrics per model and grouping. Skips with a message when
the data are absent.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from unittest import mock

import numpy as np

from mpcl_sklearn import model_selection
from mpcl_sklearn.experiments import make_model, prepare_dataset
from mpcl_sklearn.experiments.running import behavioural_argument
from mpcl_sklearn.model_selection import SubjectDependentSplitter, subject_dependent_evaluate


def _trial_ids(train, trials, times, n_blocks):
    """The previous grouping: every row's trial id."""
    return np.asarray(trials)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", default="../shared/data/wesad")
    parser.add_argument("--models", default="mpcl,sa-bfgs,aa-knn,helo,mean")
    args = parser.parse_args()
    if not Path(args.path).is_dir():
        print(f"skipped: no WESAD data at {args.path}")
        return
    warnings.filterwarnings("ignore")
    data = prepare_dataset("wesad", args.path)
    subjects = np.asarray(data.groups).astype(str)
    trials = np.asarray(data.trials).astype(str)
    outer = SubjectDependentSplitter("temporal")._subject_folds(subjects, trials)
    rows = np.sort(np.concatenate([train for _, _, train, _ in outer]))
    X, y = data.X.iloc[rows], np.asarray(data.y)[rows]
    print(f"development rows: {len(rows)} of {len(subjects)} (outer training rows only)")
    for grouping in ("trial ids", "temporal blocks"):
        for name in args.models.split(","):
            model = make_model(name, random_state=0, behavioural=behavioural_argument(data))
            with mock.patch.object(
                model_selection,
                "temporal_blocks",
                _trial_ids if grouping == "trial ids" else model_selection.temporal_blocks,
            ):
                result = subject_dependent_evaluate(
                    model, X, y, subjects[rows], trials[rows], split="temporal"
                )
            means = result.summary["mean"]
            print(
                f"{grouping:16s} {name:8s} "
                + " ".join(f"{metric} {value:.4f}" for metric, value in means.items()),
                flush=True,
            )


if __name__ == "__main__":
    main()
