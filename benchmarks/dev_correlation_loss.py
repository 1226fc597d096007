"""Issue 13 trial: a label-correlation term in MPCL's training loss (HeLo's idea), on
development folds only. Does it bring the correlation of the held-out predictions closer to
the labels' (Frobenius distance, ``metrics.correlation_distance``) without costing KL?

The term is ``lam * ||corr(P_b) - corr(Y_b)||_F^2 / C^2`` on every member's training batch
``b`` (Pearson correlation between the emotion columns of the batch's predicted and true
distributions), added to the members' KL during training only (the validation loss that
early stopping watches stays the KL). It is patched into ``MemberKLDivLoss`` for this trial;
MPCL has no parameter for it.

Run::

    .venv/bin/python benchmarks/dev_correlation_loss.py synthetic-100 wesad-dev14 \\
        --lam 0 1 10 --cache /tmp/wf/floor0.01

For each protocol and weight: MPCL's test KL (mean over test folds), the Frobenius distance of
its pooled test predictions (``folds`` given), the same two for the network part alone
(``_network_distribution``), and the network's mean weight in the combination. Folds as in
``benchmarks/cooc_readout_trials.py`` (``dev_folds``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cooc_readout_trials import dev_folds, row_kl  # noqa: E402

from mpcl_sklearn.metrics import correlation_distance  # noqa: E402
from mpcl_sklearn.models import MPCLDistributionRegressor  # noqa: E402
from mpcl_sklearn.training import members  # noqa: E402

KL_FORWARD = members.MemberKLDivLoss.forward


def batch_correlation(P: torch.Tensor) -> torch.Tensor:
    """Pearson correlation between the columns of ``(..., batch, C)``, per leading index."""
    D = P - P.mean(-2, keepdim=True)
    cov = D.transpose(-1, -2) @ D
    sd = torch.sqrt(torch.diagonal(cov, dim1=-2, dim2=-1).clamp_min(1e-12))
    return cov / (sd.unsqueeze(-1) * sd.unsqueeze(-2))


def with_correlation_term(lam: float):
    """``MemberKLDivLoss.forward`` plus the correlation term (training batches only)."""

    def forward(self, log_pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = KL_FORWARD(self, log_pred, target)
        if lam == 0 or log_pred.dim() != 3:  # a validation pass is (batch, C): KL alone
            return loss
        diff = batch_correlation(log_pred.exp()) - batch_correlation(target)
        C = target.shape[-1]
        return loss + lam * (diff**2).sum((-1, -2)).sum() / C**2

    return forward


def run(spec: str, lam: float, cache: Path) -> dict[str, float]:
    X, Y, groups, folds = dev_folds(spec, cache / "wesad_table.pkl")
    members.MemberKLDivLoss.forward = with_correlation_term(lam)
    try:
        kl, kl_net, w_net, preds, nets, fold_of = [], [], [], [], [], []
        for i, (tr, te) in enumerate(folds):
            m = MPCLDistributionRegressor(random_state=0).fit(X.iloc[tr], Y[tr], groups=groups[tr])
            P = m.predict(X.iloc[te])
            N = m._network_distribution(m._standardize(np.asarray(X.iloc[te], dtype=np.float64)))
            kl.append(row_kl(Y[te], P).mean())
            kl_net.append(row_kl(Y[te], N).mean())
            w_net.append(m.combination_weights_["network"])
            preds.append(P)
            nets.append(N)
            fold_of.append(np.full(len(te), i))
    finally:
        members.MemberKLDivLoss.forward = KL_FORWARD
    test = np.concatenate([te for _, te in folds])
    f = np.concatenate(fold_of)
    return {
        "KL": float(np.mean(kl)),
        "Frobenius": correlation_distance(np.vstack(preds), Y[test], folds=f),
        "network KL": float(np.mean(kl_net)),
        "network Frobenius": correlation_distance(np.vstack(nets), Y[test], folds=f),
        "network weight": float(np.mean(w_net)),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("specs", nargs="+")
    p.add_argument("--lam", type=float, nargs="+", default=[0.0, 1.0, 10.0])
    p.add_argument("--cache", type=Path, required=True, help="folder of WESAD's feature table")
    args = p.parse_args()
    for spec in args.specs:
        for lam in args.lam:
            t0 = time.time()
            r = run(spec, lam, args.cache)
            cells = "  ".join(f"{k} {v:.4f}" for k, v in r.items())
            print(f"{spec} lam {lam:g}: {cells}  ({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
