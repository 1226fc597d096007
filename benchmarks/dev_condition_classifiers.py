"""Issue 13: other classifiers for MPCL's condition read-out, on WESAD's development folds only.

MPCL's condition read-out mixes the training conditions' mean label distributions by the
probabilities of a multinomial ``LogisticRegression`` onto the training rows' conditions
(``models._combination.condition_fit``). On WESAD it carries nearly all of MPCL's gain, and
its 4-5-condition accuracy (about two thirds) is what separates it from the oracle that knows
every test window's condition. This script asks whether another classifier of the same
features would close that gap: for each classifier, fitted on every development fold's
training rows (features standardised on them and clipped to +-5), it prints the test rows'
KL of the read-out alone, ``predict_proba(X) @ M``, and the classification accuracy. Two
oracles bound it: the conditions' means given each test window's true condition, and the
same with a tuned SA-BFGS fitted inside each condition (does anything beyond the condition
help?). Fixed hyper-parameters, not chosen in-fold: an upper bound on what each would give.

Run (``--cache``: the folder of the WESAD feature table; set ``WESAD_DIR``)::

    .venv/bin/python benchmarks/dev_condition_classifiers.py wesad-dev14 --cache /tmp/wf/floor0.01

With ``--variants`` it keeps the logistic read-out (C 0.001) and changes what is not the
classifier: its probabilities sharpened by a temperature, its weights refitted to the labels'
KL (what the read-out is scored by) instead of the conditions, and its features averaged with
the neighbouring windows of the subject's timeline (across trial boundaries, which a deployed
model does not know).

The protocols are ``benchmarks/cooc_readout_trials.py``'s ``dev_folds`` (WESAD without S2,
leave-one-subject-out over the other 14; reference calibration, or none with
``wesad-dev14-none``).
"""

from __future__ import annotations

import argparse
import pickle
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.special import softmax
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import (
    ExtraTreesClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cooc_readout_trials import dev_folds  # noqa: E402

from mpcl_sklearn.metrics import kl_divergence  # noqa: E402
from mpcl_sklearn.models import SABFGSRegressor  # noqa: E402
from mpcl_sklearn.models._combination import CONDITION_CS, condition_fit  # noqa: E402


def classifiers() -> dict:
    """Factories of the classifiers tried, by row label."""
    made = {
        f"logistic C={C:g}": lambda C=C: LogisticRegression(C=C, max_iter=1000)
        for C in CONDITION_CS
    }
    made["logistic C=0.001, balanced class weights"] = lambda: LogisticRegression(
        C=0.001, class_weight="balanced", max_iter=1000
    )
    made["LDA, shrinkage auto"] = lambda: LinearDiscriminantAnalysis(
        solver="lsqr", shrinkage="auto"
    )
    made["extra trees"] = lambda: ExtraTreesClassifier(
        300, min_samples_leaf=3, n_jobs=2, random_state=0
    )
    made["random forest"] = lambda: RandomForestClassifier(
        300, min_samples_leaf=3, n_jobs=2, random_state=0
    )
    made["gradient boosting"] = lambda: HistGradientBoostingClassifier(
        max_iter=100, learning_rate=0.05, max_leaf_nodes=8, random_state=0
    )
    for k in (30, 100, 300):
        made[f"SelectKBest({k}) + logistic C=0.001"] = lambda k=k: make_pipeline(
            SelectKBest(f_classif, k=k), LogisticRegression(C=0.001, max_iter=1000)
        )
    return made


def standardised(Z: np.ndarray, tr, te) -> tuple[np.ndarray, np.ndarray]:
    """Training and test rows of ``Z`` standardised on the training rows, clipped to +-5 (as
    MPCL standardises its inputs)."""
    scaler = StandardScaler().fit(Z[tr])
    return tuple(np.nan_to_num(np.clip(scaler.transform(Z[r]), -5, 5)) for r in (tr, te))


def subject_timeline_means(X: np.ndarray, groups, times_s, n: int, centred: bool) -> np.ndarray:
    """Each row of ``X`` (features, or log-probabilities) averaged with its ``n - 1`` neighbours
    on its subject's timeline (the ones before it, or around it with ``centred``), across trial
    boundaries."""
    out = np.empty_like(X)
    for subject in np.unique(groups):
        at = np.flatnonzero(groups == subject)
        at = at[np.argsort(times_s[at], kind="stable")]
        frame = pd.DataFrame(X[at]).rolling(n, min_periods=1, center=centred).mean()
        out[at] = frame.to_numpy()
    return out


def fit_to_labels(A, Y, means, coef, intercept, lam: float):
    """The logistic read-out's weights refitted to the labels' KL, ``softmax(A W + b) @ means``
    against ``Y``, plus ``lam * |W|^2`` (L-BFGS from the logistic solution)."""
    A, Y, M = (torch.as_tensor(a, dtype=torch.float64) for a in (A, Y, means))
    W = torch.tensor(np.ascontiguousarray(coef.T), dtype=torch.float64, requires_grad=True)
    b = torch.tensor(intercept, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([W, b], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        Q = torch.softmax(A @ W + b, dim=1) @ M
        loss = -(Y * torch.log(Q.clamp_min(1e-12))).sum(1).mean() + lam * (W**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return W.detach().numpy(), b.detach().numpy()


def read_out_variants(spec: str, cache: Path) -> None:
    """The logistic read-out (C 0.001) changed where it is not a classifier choice: its
    probabilities sharpened, its weights fitted to the labels' KL instead of the conditions,
    and its features averaged over neighbouring windows of the subject's timeline."""
    X, Y, g, folds = dev_folds(spec, cache / f"{spec}.pkl")
    # the subject timeline (dev_folds keeps the rows of every subject but S2, in table order)
    table = pickle.loads(cache.joinpath("wesad_table.pkl").read_bytes())
    times = np.asarray(table.times_s, dtype=np.float64)[
        np.asarray(table.groups).astype(str) != "S2"
    ]
    cond = X.index.get_level_values("trial").to_numpy().astype(str)
    Xv = np.asarray(X, dtype=np.float64)
    inputs = {"own window": Xv}
    for n, centred in ((3, False), (5, False), (5, True)):
        where = "around it" if centred else "before it"
        inputs[f"mean with the {n - 1} windows {where}"] = subject_timeline_means(
            Xv, g, times, n, centred
        )
    P, hits = {}, {}
    for tr, te in folds:
        classes = np.unique(cond[tr])
        for what, Z in inputs.items():
            A, B = standardised(Z, tr, te)
            # MPCL's own read-out (models._combination), at a fixed C
            coef, intercept, means = condition_fit(A, Y[tr], cond[tr], classes, 0.001)
            Z_te = B @ coef.T + intercept
            logits = {f"features: {what}": Z_te}
            if what == "own window":
                for T in (1.5, 2.0):
                    logits[f"probabilities sharpened, T={T:g}"] = T * Z_te
                for lam in (0.01, 0.1):
                    W, b = fit_to_labels(A, Y[tr], means, coef, intercept, lam)
                    logits[f"weights fitted to the labels' KL, lambda {lam:g}"] = B @ W + b
            for name, z in logits.items():
                p = softmax(z, axis=1)
                P.setdefault(name, np.zeros_like(Y))[te] = p @ means
                hits[name] = hits.get(name, 0) + int(np.sum(classes[p.argmax(1)] == cond[te]))
    tested = np.concatenate([te for _, te in folds])
    print(f"{spec}: the logistic read-out (C 0.001), changed")
    for name in P:
        kl = kl_divergence(Y[tested], P[name][tested])
        print(f"  {name:50s} KL {kl:.4f}  accuracy {hits[name] / len(tested):.3f}", flush=True)


def run(spec: str, cache: Path) -> None:
    X, Y, _, folds = dev_folds(spec, cache / f"{spec}.pkl")
    cond = X.index.get_level_values("trial").to_numpy().astype(str)  # WESAD: the condition
    physio = np.array(["__ch" not in c for c in X.columns])  # the physiological backend's
    Xv = np.asarray(X, dtype=np.float64)
    made = classifiers()
    rows = [
        *made,
        "logistic C=0.01, physiological features only",
        "mean of logistic C=0.001 and extra trees",
        "oracle: the true condition's mean",
        "oracle + SA-BFGS inside the condition (alpha 10)",
        "oracle + SA-BFGS inside the condition (alpha 100)",
    ]
    P = {name: np.zeros_like(Y) for name in rows}
    hits = {name: 0 for name in rows}
    for tr, te in folds:
        A, B = standardised(Xv, tr, te)
        classes = np.unique(cond[tr])
        means = np.stack([Y[tr][cond[tr] == c].mean(axis=0) for c in classes])
        proba = {name: make().fit(A, cond[tr]).predict_proba(B) for name, make in made.items()}
        proba[rows[len(made)]] = (
            LogisticRegression(C=0.01, max_iter=1000)
            .fit(A[:, physio], cond[tr])
            .predict_proba(B[:, physio])
        )
        proba[rows[len(made) + 1]] = (proba["logistic C=0.001"] + proba["extra trees"]) / 2
        for name, p in proba.items():
            P[name][te] = p @ means
            hits[name] += int(np.sum(classes[p.argmax(axis=1)] == cond[te]))
        for c in np.unique(cond[te]):
            at, on = te[cond[te] == c], cond[tr] == c
            P[rows[-3]][at] = Y[tr][on].mean(axis=0)
            for name, alpha in ((rows[-2], 10.0), (rows[-1], 100.0)):
                fitted = SABFGSRegressor(alpha=alpha).fit(A[on], Y[tr][on])
                P[name][at] = fitted.predict(B[cond[te] == c])
            for name in rows[-3:]:
                hits[name] += len(at)
    tested = np.concatenate([te for _, te in folds])
    print(f"{spec}: {len(tested)} test windows, {len(folds)} folds")
    for name in rows:
        kl = kl_divergence(Y[tested], P[name][tested])
        print(f"  {name:50s} KL {kl:.4f}  accuracy {hits[name] / len(tested):.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="+", help="wesad-dev14 and/or wesad-dev14-none")
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument(
        "--variants",
        action="store_true",
        help="instead of other classifiers: the logistic read-out sharpened, fitted to the "
        "labels' KL, or on features averaged over neighbouring windows",
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")  # convergence of the small-C fits
    for spec in args.specs:
        (read_out_variants if args.variants else run)(spec, args.cache)


if __name__ == "__main__":
    main()
