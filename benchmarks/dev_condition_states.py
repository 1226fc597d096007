"""Issue 13: MPCL's condition read-out, on WESAD's development folds only.

WESAD's windows carry their experimental condition (``FeatureTable.conditions``: Base, TSST,
Fun, Medi 1, Medi 2), shared by all subjects. Given the training rows' conditions,
``MPCLDistributionRegressor.fit(..., conditions=...)`` adds a fourth part to its validated
combination: a multinomial logistic regression from the features onto the conditions,
predicting the mixture of the conditions' mean label distributions (training rows only; the
test rows' conditions are never used). This script fits ``MPCLDistributionRegressor(
random_state=0)`` on every fold with and without the conditions and prints, for the test rows:
KL and the paired difference to MPCL without conditions (standard error over the test
subjects), the six metrics, the condition read-out alone (``conditions only``) and tuned
SA-BFGS, and the weights and ``C`` chosen per fold.

Run (``--cache``: the folder of the WESAD feature table; set ``WESAD_DIR``)::

    .venv/bin/python benchmarks/dev_condition_states.py wesad-dev14 wesad-dev14-none \\
        --cache /tmp/wf/floor0.01

The protocols are ``benchmarks/cooc_readout_trials.py``'s ``dev_folds`` (WESAD without S2,
leave-one-subject-out over the other 14; reference calibration or none).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cooc_readout_trials import dev_folds, paired_report, run_protocols  # noqa: E402

from mpcl_sklearn.experiments import make_model  # noqa: E402
from mpcl_sklearn.models import MPCLDistributionRegressor  # noqa: E402
from mpcl_sklearn.models._combination import condition_predict  # noqa: E402


def run(spec: str, cache: Path) -> None:
    X, Y, groups, folds = dev_folds(spec, cache / f"{spec}.pkl")
    cond = X.index.get_level_values("trial").to_numpy().astype(str)  # WESAD: the condition
    names = ("mpcl", "mpcl + conditions", "conditions only", "sa-bfgs")
    preds = {name: np.zeros_like(Y) for name in names}
    info = []
    tested = np.zeros(len(Y), bool)
    for tr, te in folds:
        Xtr, Xte = X.iloc[tr], X.iloc[te]
        est = MPCLDistributionRegressor(random_state=0).fit(Xtr, Y[tr], groups=groups[tr])
        preds["mpcl"][te] = est.predict(Xte)
        est = MPCLDistributionRegressor(random_state=0)
        est.fit(Xtr, Y[tr], groups=groups[tr], conditions=cond[tr])
        preds["mpcl + conditions"][te] = est.predict(Xte)
        Xs = est.scaler_.transform_bounded(np.asarray(Xte, dtype=np.float64))
        preds["conditions only"][te] = condition_predict(
            Xs, est.condition_coef_, est.condition_intercept_, est.condition_means_
        )
        w = est.combination_weights_
        info.append(
            f"{w['network']:.2f}/{w['linear']:.2f}/{w['conditions']:.2f}/{w['prior']:.2f} "
            f"C={est.condition_C_:g}"
        )
        sa = make_model("sa-bfgs").fit(Xtr, Y[tr], groups=groups[tr])
        preds["sa-bfgs"][te] = sa.predict(Xte)
        tested[te] = True
    print(f"{spec} ({Y.shape[1]} emotions)")
    paired_report(Y[tested], {k: P[tested] for k, P in preds.items()}, groups[tested])
    print("  weights network/linear/conditions/prior per fold:", "; ".join(info), flush=True)


if __name__ == "__main__":
    run_protocols(run, __doc__.splitlines()[0])
