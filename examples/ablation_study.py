"""Ablation study: what each of MPCL's four components contributes.

MPCLDistributionRegressor has one switch per component of our MPCL formulation
(see ``docs/method.md``):

* ``use_memory_fusion``: multi-scale Hopfield memory fusion of the modality/scale tokens;
* ``use_prototype_distillation``: pulling the unimodal branches' prototype relations towards the
  fused branch;
* ``use_cooccurrence_retrieval``: the emotion co-occurrence memory retrieval (and its
  regularisation towards the label correlations);
* ``use_hierarchical_compression``: prototype -> emotion -> affect group -> global pooling.

:func:`mpcl_sklearn.experiments.run_ablation` evaluates the full model, the model with each
switch off in turn, and the model with all four off, under the same subject-independent folds,
and returns one table. (Because the switches are ordinary constructor parameters, the same study
is also a ``GridSearchCV`` over them.)

Run it with ``python examples/ablation_study.py``; ``MPCL_EXAMPLES_QUICK=1`` runs a tiny
version (3 subjects, 2 epochs) in seconds. Differences on this small synthetic set are small and
noisy: read the ± columns before drawing conclusions.
"""

import os
import time

from mpcl_sklearn.experiments import ABLATIONS, prepare_dataset, run_ablation

QUICK = os.environ.get("MPCL_EXAMPLES_QUICK", "") not in ("", "0")


def main() -> None:
    start = time.perf_counter()
    if QUICK:
        size = {"n_subjects": 3, "trials_per_subject": 3, "duration_s": 20.0}
        cv, max_epochs = 3, 2
    else:
        size = {"n_subjects": 8, "trials_per_subject": 8, "duration_s": 40.0}
        cv, max_epochs = 4, None  # None: MPCL's default number of epochs (30)

    # Synthetic recordings -> 10 s windows -> frames of 2 s and 10 s -> the "minimal" feature
    # set per modality and scale. Computed once: it is per window and learns nothing.
    data = prepare_dataset("synthetic", feature_set="minimal", synthetic_params=size)
    print(data.description)
    print(f"switches: {', '.join(ABLATIONS)}\n")

    # 6 variants x `cv` subject folds. `log` prints one line per finished variant.
    result = run_ablation(data, cv=cv, max_epochs=max_epochs, log=print)

    print()
    print(f"Protocol: {result.protocol}")
    print(result.to_markdown())
    print()
    for metric, variant in result.best().items():
        print(f"best on {metric:<14s} {variant}")
    print(f"\ndone in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
