"""MPCL against two baselines on the real WESAD data, across people.

WESAD (Schmidt et al., 2018) recorded 15 people with a chest and a wrist device. This script
uses the wrist (Empatica E4) signals: blood volume pulse at 64 Hz, electrodermal activity and
skin temperature at 4 Hz, 3-axis acceleration at 32 Hz.
After each condition (baseline, amusement, stress, meditation) every participant rated PANAS
emotion items; :func:`mpcl_sklearn.datasets.load_wesad` turns the 10 items that WESAD shares with
DMER into an emotion distribution per condition.

This script

1. loads the recordings, cuts them into 60 s windows (30 s step), frames each window at 10 s and
   30 s and computes features per modality and scale, once (this learns nothing from the data,
   so it cannot leak across folds);
2. evaluates MPCL, SA-BFGS (maximum-entropy label distribution learning, its regularisation
   chosen by an inner cross-validation over the training subjects) and the mean-distribution
   baseline on the same subject-independent folds;
3. prints the markdown table (mean ± std over folds, best per column in bold).

Usage::

    python examples/wesad_subject_independent.py [PATH] [--cv loso|N] [--max-epochs N]
                                                 [--feature-set minimal|default] [--n-jobs N]

``PATH`` is the folder holding ``S2`` ... ``S17`` (each with ``SX_quest.csv`` and the E4 export,
``SX_E4_Data/`` or ``SX_E4_Data.zip``); by default ``../shared/data/wesad`` beside the
repository, resolved from this script's location. When the folder is missing the script says so
and exits with status 0, so it is safe to run on a machine without the data.

The defaults (leave-one-subject-out, the "minimal" feature set, folds on 2 cores) took about
100 s on a 2-core machine. ``--cv 5`` (GroupKFold over subjects) takes about a third of that.
``--feature-set default`` (1248 instead of 240 features) takes much longer, mostly in the SA-BFGS
inner search. ``MPCL_EXAMPLES_QUICK=1`` runs a tiny version: 4 subjects, 2 folds, 3 epochs,
MPCL and the mean baseline only.
"""

import argparse
import os
import sys
import time
from pathlib import Path

from mpcl_sklearn.experiments import prepare_dataset, run_experiment

QUICK = os.environ.get("MPCL_EXAMPLES_QUICK", "") not in ("", "0")
# examples/ sits in the repository root; the data lives beside the repository.
DEFAULT_PATH = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "wesad"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "path", nargs="?", default=str(DEFAULT_PATH), help=f"WESAD folder (default {DEFAULT_PATH})"
    )
    parser.add_argument(
        "--cv", default="loso", help="'loso' (leave one subject out) or a number of folds"
    )
    parser.add_argument(
        "--max-epochs", type=int, default=None, help="MPCL epochs (default: its own, 30)"
    )
    parser.add_argument("--feature-set", default="minimal", help="minimal, default, ...")
    parser.add_argument("--n-jobs", type=int, default=2, help="folds run in parallel")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    path = Path(args.path)
    if not path.is_dir():
        print(
            f"WESAD data not found at {path}.\n"
            "WESAD is distributed by its authors (University of Siegen) and by the UCI Machine "
            "Learning Repository (dataset 465). Unpack it and pass the folder holding S2 ... S17 "
            "as the first argument. Nothing to do: exiting with status 0."
        )
        return 0

    start = time.perf_counter()
    if QUICK:
        subjects, cv, max_epochs = ["S2", "S3", "S4", "S5"], 2, 3
        models = ["mpcl", "mean"]
    else:
        subjects, cv, max_epochs = None, args.cv, args.max_epochs
        models = ["mpcl", "sa-bfgs", "mean"]
    cv = cv if cv == "loso" else int(cv)

    # Load, window and featurise once. The loader aligns the E4 signals with the protocol
    # timestamps and reports what it had to decide (clock offsets, missing ratings, ...).
    data = prepare_dataset("wesad", path, subjects=subjects, feature_set=args.feature_set)
    print(data.description)
    for line in data.report:
        print(f"  loader: {line}")
    print(f"features ready in {time.perf_counter() - start:.1f} s\n")

    # Every model sees the same folds. Standardisation and the baselines' hyper-parameter
    # searches are fitted inside the training subjects of each fold.
    result = run_experiment(
        data,
        models,
        cv=cv,
        max_epochs=max_epochs,
        n_jobs=1 if QUICK else args.n_jobs,
        log=print,
    )
    print()
    print(f"Protocol: {result.protocol}")
    print(result.to_markdown())
    print(f"\ndone in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
