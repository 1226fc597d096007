"""Issue 13: MPCL's combination weights before and after the fix of ``choose_weights``.

Until 2026-12-02 the three-part search (network, linear read-out, prior) scored each grid
point by the KL of ``(1 - w_prior) (w_net p_net + w_lin p_lin) + w_prior prior``, a mixture of
total mass ``(1 - w_prior)^2 + w_prior < 1`` unless ``w_prior`` is 0 or 1, so a prior weight
between them was hardly ever chosen; the prediction then used ``w_net p_net + w_lin p_lin +
w_prior prior``. This script fits ``MPCLDistributionRegressor(random_state=0)`` on every fold
of a development protocol twice, with the old search (reproduced below) and with the current
one, and prints KL, the paired difference (standard error clustered by test subject), the six
metrics and the weights chosen.

Run::

    .venv/bin/python benchmarks/dev_combination_weights.py demo-100 demo-101 synthetic-100 \\
        ldl-Painting ldl-Music ldl-emotion6 wesad-dev14 wesad-dev14-none --cache /tmp/wf/floor0.01

The protocols are ``benchmarks/cooc_readout_trials.py``'s ``dev_folds`` (WESAD: without S2,
leave-one-subject-out over the other 14; ``--cache`` holds the WESAD feature table).
"""

from __future__ import annotations

import sys
from pathlib import Path
from unittest import mock

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cooc_readout_trials import dev_folds, paired_report, run_protocols  # noqa: E402

from mpcl_sklearn.models import MPCLDistributionRegressor  # noqa: E402
from mpcl_sklearn.models import mpcl as mpcl_module  # noqa: E402
from mpcl_sklearn.models._combination import mixture_kl, simplex_grid  # noqa: E402


def old_choose_weights(Y, parts, step=0.02):
    """The search before the fix (three parts; two parts were already exact)."""
    if len(parts) != 3:
        return mpcl_module.choose_weights(Y, parts, step)
    best, best_w = np.inf, None
    for w in simplex_grid(3, step):
        kl = mixture_kl(Y, w[0] * parts[0] + w[1] * parts[1], parts[2], w[2])
        if kl < best - 1e-15:
            best, best_w = kl, w
    return best_w


def run(spec: str, cache: Path) -> None:
    X, Y, groups, folds = dev_folds(spec, cache / f"{spec}.pkl")
    preds = {"old": np.zeros_like(Y), "fixed": np.zeros_like(Y)}
    weights: dict = {"old": [], "fixed": []}
    tested = np.zeros(len(Y), bool)
    for tr, te in folds:
        for name in preds:
            est = MPCLDistributionRegressor(random_state=0)
            if name == "old":
                with mock.patch.object(mpcl_module, "choose_weights", old_choose_weights):
                    est.fit(X.iloc[tr], Y[tr], groups=groups[tr])
            else:
                est.fit(X.iloc[tr], Y[tr], groups=groups[tr])
            preds[name][te] = est.predict(X.iloc[te])
            w = est.combination_weights_
            weights[name].append(f"{w['network']:.2f}/{w['linear']:.2f}/{w['prior']:.2f}")
        tested[te] = True
    print(f"{spec} ({Y.shape[1]} emotions)")
    paired_report(Y[tested], {k: P[tested] for k, P in preds.items()}, groups[tested], width=6)
    for name, w in weights.items():
        print(f"  {name}: weights network/linear/prior per fold: {' '.join(w)}")


if __name__ == "__main__":
    run_protocols(run, __doc__.splitlines()[0])
