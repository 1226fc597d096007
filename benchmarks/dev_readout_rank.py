"""Issue 13: the rank of MPCL's read-out (``readout_rank``) on development data only.

Fits ``MPCLDistributionRegressor()`` (defaults, ``readout_rank="auto"``) on every fold of a
development protocol and scores its test rows with and without the projection (the network,
the combination and the rank choice are the same fit; ``readout_rank=None`` differs only in
dropping the projection). Prints KL, the difference (standard error over test subjects,
paired), the ranks chosen and the six metrics.

Run::

    .venv/bin/python benchmarks/dev_readout_rank.py demo-100 demo-101 synthetic-100 \\
        ldl-Painting ldl-Music ldl-emotion6 wesad-dev14

The protocols are those of ``benchmarks/cooc_readout_trials.py`` (``dev_folds``): the demo's
data settings at a development seed with its ``GroupKFold(4)``; the full-size synthetic set,
leave-one-subject-out over every third subject; the first reported LDL fold's training part
with inner ``KFold(5)``; WESAD without S2, reference calibration, leave-one-subject-out.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cooc_readout_trials import clustered_se, dev_folds, row_kl  # noqa: E402

from mpcl_sklearn.metrics import distribution_report  # noqa: E402
from mpcl_sklearn.models import MPCLDistributionRegressor  # noqa: E402


def run(spec: str, cache: Path) -> None:
    X, Y, groups, folds = dev_folds(spec, cache / f"{spec}.pkl")
    with_rank, without, ranks = np.zeros_like(Y), np.zeros_like(Y), []
    tested = np.zeros(len(Y), bool)
    for tr, te in folds:
        m = MPCLDistributionRegressor(random_state=0).fit(X.iloc[tr], Y[tr], groups=groups[tr])
        with_rank[te] = m.predict(X.iloc[te])
        ranks.append(m.readout_rank_)
        m.readout_basis_ = None  # the same fit without the projection
        without[te] = m.predict(X.iloc[te])
        tested[te] = True
    Yt, g = Y[tested], groups[tested]
    a, b = row_kl(Yt, with_rank[tested]), row_kl(Yt, without[tested])
    print(f"{spec}: ranks {ranks} of {Y.shape[1]}")
    print(
        f"  KL none {b.mean():.4f} -> auto {a.mean():.4f} ({a.mean() - b.mean():+.4f} +- "
        f"{clustered_se(a - b, g):.4f})"
    )
    for name, P in (("none", without), ("auto", with_rank)):
        six = " ".join(f"{v:.4f}" for v in distribution_report(Yt, P[tested]).values())
        print(f"  {name:5s} {six}", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("protocols", nargs="+")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args(argv)
    for spec in args.protocols:
        run(spec, args.cache)


if __name__ == "__main__":
    main()
