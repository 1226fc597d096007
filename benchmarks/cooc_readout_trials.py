"""Issue 13 trials: can a change of MPCL's read-out bring the correlation of its held-out
predictions closer to the labels' without costing KL? (docs/method.md, "Co-occurrence of the
predictions: read-out trials".) Development data only.

Run::

    # 1. fit MPCL (defaults), tuned SA-BFGS and HeLo on development folds; save MPCL's parts
    .venv/bin/python benchmarks/cooc_readout_trials.py probe wesad-dev14 /tmp/cooc/wesad.pkl
    .venv/bin/python benchmarks/cooc_readout_trials.py probe synthetic-100 /tmp/cooc/syn100.pkl
    .venv/bin/python benchmarks/cooc_readout_trials.py probe ldl-Painting /tmp/cooc/paint.pkl
    # 2. post-process them (read-out variants chosen out of fold) and score the test folds
    .venv/bin/python benchmarks/cooc_readout_trials.py analyze /tmp/cooc/*.pkl

Folds. ``wesad-dev14``: WESAD without S2 (the outer fold that holds S2 out), reference
calibration by the baseline condition, leave-one-subject-out over the other 14 (set
``WESAD_DIR``; the features are cached next to the output). ``synthetic-SEED``:
``prepare_dataset("synthetic", random_state=SEED)``, leave-one-subject-out over every third
subject (4 of 12 test subjects). ``demo-SEED``: the demo's data settings (8 subjects x 8
trials x 40 s, ``minimal`` features) at ``random_state=SEED`` and its ``GroupKFold(4)``.
``ldl-NAME``: the training part of the first reported fold (``KFold(10, shuffle=True,
random_state=0)``), inner ``KFold(5, shuffle=True, random_state=1)``.

Variants (applied to MPCL's prediction ``p`` with the fold's label prior ``q``, deviation
``d = p - q``; every choice made on the members' out-of-fold predictions of the training
rows): ``rank``: ``d`` projected on the top-k principal directions of the training labels, k
by out-of-fold KL; ``pcscale``: ``d``'s coordinates in those directions rescaled, the scales
by out-of-fold KL; ``colorG``: ``d ((1 - G) I + G M)`` with ``M = c S_d^-1/2 S_y^1/2``
mapping the out-of-fold covariance of ``d`` onto the labels' (``c`` keeps its trace), at fixed
``G`` (the trade-off curve) and ``color_1se`` (the largest ``G`` whose out-of-fold KL is within
one subject-clustered standard error of the best); ``weights_1se``: the combination's weights
of network and linear read-out (prior weight kept), among those within one standard error of
the chosen combination's out-of-fold KL, the one with the lowest out-of-fold Frobenius
distance.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from mpcl_sklearn._stats import clustered_standard_error
from mpcl_sklearn.metrics import correlation_distance, distribution_report
from mpcl_sklearn.models import MPCLDistributionRegressor
from mpcl_sklearn.models._combination import (
    label_directions,
    linear_predict,
    out_of_fold_mean,
    out_of_fold_prior,
)

EPS = 1e-6
GAMMAS = np.linspace(0.0, 1.0, 11)


class ProbedMPCL(MPCLDistributionRegressor):
    """MPCL that keeps the out-of-fold parts its combination is chosen on (``probe_``)."""

    def _fit_shrinkage(self, module, X, Y):
        s = super()._fit_shrinkage(module, X, Y)
        masks = self._member_masks
        rows, net = out_of_fold_mean(self._member_predictions(module, X), masks)
        self.probe_ = {
            "rows": rows,
            "net": net,
            "lin": out_of_fold_mean(linear_predict(X, *self._linear_folds), masks)[1],
            "prior": out_of_fold_prior(Y, masks)[1],
            "Y": Y[rows],
            "fold": np.argmax(~masks, axis=1)[rows],  # a member that held the row out
        }
        return s


# ---------------------------------------------------------------------------------- data
def dev_folds(spec: str, cache: Path):
    """``(X, Y, groups, [(train, test), ...])`` of one development protocol."""
    from sklearn.model_selection import KFold

    from mpcl_sklearn.experiments import prepare_dataset, reference_rows
    from mpcl_sklearn.preprocessing import SubjectCalibrator

    kind, _, arg = spec.partition("-")
    if kind == "wesad":
        table = cache.with_name("wesad_table.pkl")
        if not table.exists():
            data = prepare_dataset("wesad", os.environ.get("WESAD_DIR", "../shared/data/wesad"))
            table.write_bytes(pickle.dumps(data))
        data = pickle.loads(table.read_bytes())
        g = np.asarray(data.groups).astype(str)
        calib = SubjectCalibrator(mode="reference").set_output(transform="pandas")
        if arg == "dev14-none":  # the same folds without calibration
            X = data.X.copy()
        else:
            X = calib.fit_transform(
                data.X, groups=g, reference=reference_rows(data, condition="Base")
            )
        keep = np.flatnonzero(g != "S2")
        X, Y, g = X.iloc[keep], np.asarray(data.y, float)[keep], g[keep]
        X.attrs.update(data.X.attrs)
        return X, Y, g, [(np.flatnonzero(g != s), np.flatnonzero(g == s)) for s in np.unique(g)]
    if kind == "synthetic":
        data = prepare_dataset("synthetic", random_state=int(arg))
        g = np.asarray(data.groups).astype(str)
        folds = [(np.flatnonzero(g != s), np.flatnonzero(g == s)) for s in np.unique(g)[::3]]
        return data.X, np.asarray(data.y, float), g, folds
    if kind == "demo":  # the demo's generator settings and protocol (GroupKFold(4))
        from sklearn.model_selection import GroupKFold

        params = {"n_subjects": 8, "trials_per_subject": 8, "duration_s": 40.0}
        data = prepare_dataset(
            "synthetic", feature_set="minimal", synthetic_params=params, random_state=int(arg)
        )
        g = np.asarray(data.groups).astype(str)
        folds = list(GroupKFold(4).split(data.X, groups=g))
        return data.X, np.asarray(data.y, float), g, folds
    if kind == "ldl":
        data = prepare_dataset("ldl", f"../shared/data/ldl/{arg}.mat")
        Y = np.asarray(data.y, float)
        train, _ = next(KFold(10, shuffle=True, random_state=0).split(Y))
        X = data.X.iloc[train]
        X.attrs.update(data.X.attrs)
        folds = list(KFold(5, shuffle=True, random_state=1).split(train))
        return X, Y[train], np.asarray(data.groups).astype(str)[train], folds
    raise SystemExit(f"unknown protocol {spec!r}")


def paired_report(Y, preds: dict, groups, width: int = 18) -> None:
    """KL of each prediction in ``preds`` (first: the reference), its paired difference to the
    first with the standard error clustered by ``groups``, and the six metrics."""
    from mpcl_sklearn._stats import clustered_standard_error
    from mpcl_sklearn.metrics import distribution_report

    base = row_kl(Y, next(iter(preds.values())))
    for name, P in preds.items():
        r = row_kl(Y, P)
        six = " ".join(f"{v:.4f}" for v in distribution_report(Y, P).values())
        diff = f"{r.mean() - base.mean():+.4f} +- {clustered_standard_error(r - base, groups):.4f}"
        print(f"  {name:{width}s} KL {r.mean():.4f} ({diff})  {six}", flush=True)


def run_protocols(run, description: str, argv=None) -> None:
    """Command line of the development scripts: ``run(spec, cache)`` for each protocol."""
    import tempfile

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("protocols", nargs="+")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args(argv)
    for spec in args.protocols:
        run(spec, args.cache)


def probe(spec: str, out: Path) -> None:
    """Fit MPCL, SA-BFGS and HeLo on every fold of ``spec``; pickle what ``analyze`` needs."""
    from mpcl_sklearn.experiments import make_model

    X, Y, groups, folds = dev_folds(spec, out)
    res = {"Y": Y, "groups": groups, "folds": []}
    for i, (tr, te) in enumerate(folds):
        t0 = time.time()
        m = ProbedMPCL(random_state=0).fit(X.iloc[tr], Y[tr], groups=groups[tr])
        Xs = m._standardize(np.asarray(X.iloc[te], dtype=np.float64))
        rec = {
            "train": tr,
            "test": te,
            "weights": dict(m.combination_weights_),
            "oof": m.probe_,
            "prior": m.label_prior_,
            "test_net": m._network_distribution(Xs),
            "test_lin": linear_predict(Xs, m.linear_coef_, m.linear_intercept_),
            "mpcl_pred": m.predict(X.iloc[te]),
        }
        for name in ("sa-bfgs", "helo"):
            est = make_model(name, random_state=0).fit(X.iloc[tr], Y[tr], groups=groups[tr])
            rec[f"{name}_pred"] = est.predict(X.iloc[te])
        res["folds"].append(rec)
        out.write_bytes(pickle.dumps(res))
        print(f"fold {i}: {time.time() - t0:.0f} s, weights {rec['weights']}", flush=True)


# ------------------------------------------------------------------------------ variants
def renorm(P: np.ndarray) -> np.ndarray:
    P = np.clip(P, EPS, None)
    return P / P.sum(axis=1, keepdims=True)


def row_kl(Y: np.ndarray, P: np.ndarray) -> np.ndarray:
    P = renorm(P)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(Y > 0, Y * (np.log(np.where(Y > 0, Y, 1.0)) - np.log(P)), 0.0)
    return terms.sum(axis=1)


def psd_power(S: np.ndarray, power: float) -> np.ndarray:
    vals, vecs = np.linalg.eigh(S)
    keep = vals > 1e-10 * vals.max()
    d = np.zeros_like(vals)
    d[keep] = vals[keep] ** power
    return (vecs * d) @ vecs.T


def color_matrix(D: np.ndarray, Sy: np.ndarray) -> np.ndarray:
    Sd = np.cov(D.T)
    M = psd_power(Sd, -0.5) @ psd_power(Sy, 0.5)
    spread = np.trace(M.T @ Sd @ M)
    if not spread > 0:  # no out-of-fold variation to map (a constant prediction): unchanged
        return np.eye(len(Sd))
    return M * np.sqrt(np.trace(Sd) / spread)


def fold_variants(f: dict, Ytr: np.ndarray, oof_groups: np.ndarray) -> dict:
    """Every variant's test prediction for one fold (choices made out of fold)."""
    o, w, prior = f["oof"], f["weights"], f["prior"]
    C = len(prior)
    eye = np.eye(C)

    def mix(net, lin, pri, a):  # network weight a, prior weight as chosen
        return a * net + (1 - w["prior"] - a) * lin + w["prior"] * pri

    Po, Pt = mix(o["net"], o["lin"], o["prior"], w["network"]), f["mpcl_pred"]
    D, Dt = Po - o["prior"], Pt - prior
    out = {"mpcl": Pt, "sa-bfgs": f["sa-bfgs_pred"], "helo": f["helo_pred"]}
    U = label_directions(Ytr)
    ranks = {k: row_kl(o["Y"], o["prior"] + D @ U[:, :k] @ U[:, :k].T).mean() for k in range(1, C)}
    ranks[C] = row_kl(o["Y"], Po).mean()
    k = min(ranks, key=ranks.get)
    out["rank"] = prior + Dt @ U[:, :k] @ U[:, :k].T
    V = U[:, : C - 1]
    fit = minimize(
        lambda s: row_kl(o["Y"], o["prior"] + (D @ V * s) @ V.T).mean(),
        np.ones(C - 1),
        method="L-BFGS-B",
        bounds=[(0.0, 3.0)] * (C - 1),
    )
    out["pcscale"] = prior + (Dt @ V * fit.x) @ V.T
    M = color_matrix(D, np.cov(Ytr.T))
    kls = {g: row_kl(o["Y"], o["prior"] + D @ ((1 - g) * eye + g * M)) for g in GAMMAS}
    best = min(kls, key=lambda g: kls[g].mean())
    ok = [
        g
        for g in GAMMAS
        if kls[g].mean() - kls[best].mean()
        <= clustered_standard_error(kls[g] - kls[best], oof_groups)
    ]
    for g in (0.1, 0.25, 0.5, 0.75, 1.0):
        out[f"color{g:g}"] = prior + Dt @ ((1 - g) * eye + g * M)
    out["color_1se"] = prior + Dt @ ((1 - max(ok)) * eye + max(ok) * M)
    base = row_kl(o["Y"], Po)
    close = []
    for a in np.arange(0.0, 1.0 - w["prior"] + 1e-9, 0.02):
        r = row_kl(o["Y"], mix(o["net"], o["lin"], o["prior"], a))
        if r.mean() - base.mean() <= clustered_standard_error(r - base, oof_groups):
            frob = correlation_distance(
                renorm(mix(o["net"], o["lin"], o["prior"], a)),
                o["Y"],
                folds=o.get("fold", o.get("oof_fold")),
            )
            close.append((frob, a))
    a = min(close)[1] if close else w["network"]
    out["weights_1se"] = mix(f["test_net"], f["test_lin"], prior, a)
    return {n: renorm(P) for n, P in out.items()}


def analyze(path: Path) -> None:
    res = pickle.loads(path.read_bytes())
    G = np.asarray(res["groups"])
    preds: dict[str, list] = {}
    Ys, folds, groups = [], [], []
    for i, f in enumerate(res["folds"]):
        Ytr = res["Y"][f["train"]]
        oof_groups = G[f["train"]][f["oof"]["rows"]]
        for name, P in fold_variants(f, Ytr, oof_groups).items():
            preds.setdefault(name, []).append(P)
        Ys.append(res["Y"][f["test"]])
        folds.append(np.full(len(f["test"]), i))
        groups.append(G[f["test"]])
    Y, folds, groups = np.concatenate(Ys), np.concatenate(folds), np.concatenate(groups)
    base = row_kl(Y, np.concatenate(preds["mpcl"]))
    mean_pred = np.tile(Y.mean(0), (len(Y), 1))
    print(
        f"{path} ({len(Y)} test rows, {len(res['folds'])} folds); constant predictor "
        f"Frobenius {correlation_distance(mean_pred, Y, folds=folds):.3f}"
    )
    print(f"  {'variant':12s} {'KL':>7s} {'vs MPCL (SE)':>17s} {'Frob':>6s}  six metrics")
    for name, Ps in preds.items():
        P = np.concatenate(Ps)
        r = row_kl(Y, P)
        six = " ".join(f"{v:.4f}" for v in distribution_report(Y, P).values())
        diff = f"{r.mean() - base.mean():+.4f} ({clustered_standard_error(r - base, groups):.4f})"
        frob = correlation_distance(P, Y, folds=folds)
        print(f"  {name:12s} {r.mean():7.4f} {diff:>17s} {frob:6.3f}  {six}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("probe")
    p.add_argument("protocol", help="wesad-dev14, synthetic-SEED, demo-SEED or ldl-NAME")
    p.add_argument("output", type=Path)
    a = sub.add_parser("analyze")
    a.add_argument("results", type=Path, nargs="+")
    args = parser.parse_args(argv)
    if args.command == "probe":
        probe(args.protocol, args.output)
    else:
        for path in args.results:
            analyze(path)


if __name__ == "__main__":
    sys.exit(main())
