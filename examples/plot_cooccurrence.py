"""Plot emotion co-occurrence: in the labels, in MPCL's predictions and in MPCL's memory.

Mixed emotions are emotions that occur together: in the synthetic data (as in DMER) the five
positive items rise and fall together, as do the five negative ones. This script

1. computes features of synthetic recordings and holds out two subjects;
2. fits MPCL on the other subjects;
3. saves three figures:

   * ``cooccurrence_heldout.png``: correlation between emotions across the held-out windows,
     true distributions next to MPCL's predictions (does the model reproduce which emotions
     go together, for people it never saw?);
   * ``learned_cooccurrence.png``: MPCL's learned co-occurrence matrix ``cooccurrence_`` (the
     retrieval weights of its co-occurrence memory, averaged over the training windows);
   * ``distributions_heldout.png``: true and predicted distributions of a few held-out windows.

Usage::

    python examples/plot_cooccurrence.py [OUTPUT_DIR]     # default: examples_output/

``MPCL_EXAMPLES_QUICK=1`` runs a tiny version in seconds.
"""

import argparse
import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed: figures go to files

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mpcl_sklearn.experiments import prepare_dataset  # noqa: E402
from mpcl_sklearn.metrics import distribution_report  # noqa: E402
from mpcl_sklearn.models import MPCLDistributionRegressor  # noqa: E402
from mpcl_sklearn.plotting import (  # noqa: E402
    plot_cooccurrence,
    plot_distributions,
    plot_learned_cooccurrence,
)

QUICK = os.environ.get("MPCL_EXAMPLES_QUICK", "") not in ("", "0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", nargs="?", default="examples_output", help="figure folder")
    out = Path(parser.parse_args().out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    if QUICK:
        size = {"n_subjects": 4, "trials_per_subject": 4, "duration_s": 20.0}
    else:
        size = {"n_subjects": 10, "trials_per_subject": 10, "duration_s": 40.0}
    data = prepare_dataset("synthetic", feature_set="minimal", synthetic_params=size)
    print(data.description)

    # Hold out the last two subjects: every window of a person is on one side only.
    subjects = np.unique(data.groups)
    test = np.isin(data.groups, subjects[-2:])
    X_train, y_train = data.X[~test], data.y[~test]
    X_test, y_test = data.X[test], data.y[test]
    print(
        f"train: {len(subjects) - 2} subjects, {len(X_train)} windows; "
        f"test: subjects {', '.join(subjects[-2:])}, {len(X_test)} windows"
    )

    model = MPCLDistributionRegressor(
        behavioural_modalities=data.behavioural,
        max_epochs=3 if QUICK else 30,
        random_state=0,
    ).fit(X_train, y_train)
    y_pred = model.predict(X_test)  # rows are distributions: non-negative, summing to 1

    print("\nheld-out scores:")
    for metric, value in distribution_report(y_test, y_pred).items():
        print(f"  {metric:<14s} {value:.4f}")

    figures = {
        "cooccurrence_heldout.png": plot_cooccurrence(
            y_test,
            y_pred,
            data.emotions,
            title="Emotion co-occurrence of held-out subjects: true vs MPCL",
        ),
        "learned_cooccurrence.png": plot_learned_cooccurrence(model, data.emotions),
        "distributions_heldout.png": plot_distributions(y_test, y_pred, data.emotions, n_samples=4),
    }
    print()
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        print(f"wrote {out / name}")
    print(f"\ndone in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
