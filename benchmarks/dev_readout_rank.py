"""Issue 13: the rank of MPCL's read-out (``readout_rank``) on development data only.

Fits ``MPCLDistributionRegressor()`` (defaults, ``readout_rank="auto"``) on every fold of a
development protocol and scores its test rows without the projection and with the rank that
each gate (``--gates``: standard errors the chosen rank's out-of-fold gain must exceed; the
default model uses 2) chooses, all from the same fit. Prints KL, the difference to no
projection (standard error over test subjects, paired), the ranks chosen and the six metrics.

Run::

    .venv/bin/python benchmarks/dev_readout_rank.py demo-100 demo-101 synthetic-100 \\
        ldl-Painting ldl-Music ldl-emotion6 wesad-dev14 wesad-dev14-none

The protocols are those of ``benchmarks/cooc_readout_trials.py`` (``dev_folds``): the demo's
data settings at a development seed with its ``GroupKFold(4)``; the full-size synthetic set,
leave-one-subject-out over every third subject; the first reported LDL fold's training part
with inner ``KFold(5)``; WESAD without S2, reference calibration (``wesad-dev14``) or none
(``wesad-dev14-none``), leave-one-subject-out.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cooc_readout_trials import dev_folds, row_kl  # noqa: E402

from mpcl_sklearn._stats import clustered_standard_error  # noqa: E402
from mpcl_sklearn.metrics import distribution_report  # noqa: E402
from mpcl_sklearn.models import MPCLDistributionRegressor  # noqa: E402
from mpcl_sklearn.models._combination import (  # noqa: E402
    choose_readout_rank,
    label_directions,
)


class ProbedMPCL(MPCLDistributionRegressor):
    """MPCL that keeps what its read-out rank is chosen on (``probe_``)."""

    def _fit_readout_rank(self, Y):
        oof = self._oof_combined
        self.probe_ = (Y, oof, self._member_masks, self._fit_groups)
        super()._fit_readout_rank(Y)


def run(spec: str, cache: Path, gates: tuple[float, ...]) -> None:
    X, Y, groups, folds = dev_folds(spec, cache / f"{spec}.pkl")
    preds = {z: np.zeros_like(Y) for z in ("none", *gates)}
    ranks: dict = {z: [] for z in gates}
    tested = np.zeros(len(Y), bool)
    for tr, te in folds:
        m = ProbedMPCL(random_state=0).fit(X.iloc[tr], Y[tr], groups=groups[tr])
        Ytr, (rows, P), masks, g = m.probe_
        U = label_directions(Ytr)
        chosen = {"none": Y.shape[1]}
        for z in gates:
            chosen[z], _ = choose_readout_rank(Ytr, P, rows, masks, g, n_standard_errors=z)
            ranks[z].append(chosen[z])
        for z, k in chosen.items():  # the same fit, predicting with each gate's basis
            m.readout_basis_ = U[:, :k] if k < Y.shape[1] else None
            preds[z][te] = m.predict(X.iloc[te])
        tested[te] = True
    Yt, g = Y[tested], groups[tested]
    base = row_kl(Yt, preds["none"][tested])
    print(f"{spec} ({Y.shape[1]} emotions)")
    for z, P in preds.items():
        r = row_kl(Yt, P[tested])
        six = " ".join(f"{v:.4f}" for v in distribution_report(Yt, P[tested]).values())
        gate = "no projection" if z == "none" else f"gate {z:g} SE"
        diff = f"{r.mean() - base.mean():+.4f} +- {clustered_standard_error(r - base, g):.4f}"
        rk = "" if z == "none" else f" ranks {ranks[z]}"
        print(f"  {gate:14s} KL {r.mean():.4f} ({diff})  {six}{rk}", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("protocols", nargs="+")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument(
        "--gates",
        type=float,
        nargs="+",
        default=[0.0, 1.0, 2.0, 3.0],
        help="standard errors the chosen rank's out-of-fold gain must exceed",
    )
    args = parser.parse_args(argv)
    for spec in args.protocols:
        run(spec, args.cache, tuple(args.gates))


if __name__ == "__main__":
    main()
