"""Issue 13: two questions about WESAD's features, on development folds only.

``--scr-floor F [F ...]``: the physiological backend's smallest skin conductance response
(``features.physio.SCR_MIN_AMPLITUDE``, 0.01 uS). The WESAD table is computed with each floor
(0 counts every peak neurokit2 keeps, as the backend did before the floor) and tuned SA-BFGS
is scored on ``wesad-dev14`` (reference calibration) and ``wesad-dev14-none``. Also prints
the mean number of responses per minute.

``--context MODE [MODE ...]``: each window's (calibrated) features averaged over the windows
of its trial, appended to its own: ``expanding`` (the trial up to and including the window:
causal), ``rolling5`` (the last five windows of the trial), ``trial`` (the whole trial: not
causal); ``none`` the features alone. Tuned SA-BFGS on ``wesad-dev14``.

``--select MODE [MODE ...]``: feature selection or reduction fitted on each training fold
only: ``kbestK`` keeps the K features with the largest summed squared correlation with the
emotions (``SelectKBest``), ``pcaK`` the first K principal components of the standardised
features (``PCA``); ``none`` all 1300 features. Tuned SA-BFGS on ``wesad-dev14`` and
``wesad-dev14-none``.

Run::

    .venv/bin/python benchmarks/dev_wesad_features.py --scr-floor 0 0.01 --cache /tmp/wf
    .venv/bin/python benchmarks/dev_wesad_features.py --context none expanding rolling5 trial \\
        --cache /tmp/wf
    .venv/bin/python benchmarks/dev_wesad_features.py --select none kbest50 kbest200 kbest500 \\
        pca10 pca30 --cache /tmp/wf

The folds are ``benchmarks/cooc_readout_trials.py``'s ``dev_folds`` (WESAD without S2,
leave-one-subject-out over the other 14; set ``WESAD_DIR``). KL is the mean over the 14 test
subjects; the difference to the first setting is paired, with its standard error over
subjects.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.feature_selection import SelectKBest, r_regression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cooc_readout_trials import dev_folds, row_kl  # noqa: E402

from mpcl_sklearn.experiments import make_model, prepare_dataset  # noqa: E402
from mpcl_sklearn.features import physio  # noqa: E402


def emotion_r2(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Each feature's squared correlation with each emotion, summed over emotions."""
    return np.nansum(np.stack([r_regression(X, y) ** 2 for y in Y.T]), axis=0)


def selector(mode: str):
    """The fold-fitted selection or reduction step of ``mode`` (None for ``none``)."""
    if mode == "none":
        return None
    if mode.startswith("kbest"):
        return SelectKBest(emotion_r2, k=int(mode.removeprefix("kbest")))
    if mode.startswith("pca"):
        return make_pipeline(StandardScaler(), PCA(int(mode.removeprefix("pca")), random_state=0))
    raise SystemExit(f"unknown selection {mode!r}")


def sa_bfgs_kl(X, Y, groups, folds, select: str = "none") -> np.ndarray:
    """Tuned SA-BFGS's mean KL on each test fold, after ``select`` fitted on the training fold."""
    out = []
    for tr, te in folds:
        step = selector(select)
        Xtr, Xte = X.iloc[tr], X.iloc[te]
        if step is not None:
            step.set_output(transform="pandas").fit(Xtr, Y[tr])
            Xtr, Xte = step.transform(Xtr), step.transform(Xte)
        est = make_model("sa-bfgs").fit(Xtr, Y[tr], groups=groups[tr])
        out.append(row_kl(Y[te], est.predict(Xte)).mean())
    return np.asarray(out)


def with_context(X: pd.DataFrame, mode: str) -> pd.DataFrame:
    """``X`` with each window's features averaged over its trial (``mode``) appended."""
    if mode == "none":
        return X
    trials = X.groupby(level=["subject", "trial"], sort=False)
    if mode == "expanding":
        ctx = trials.transform(lambda s: s.expanding().mean())
    elif mode.startswith("rolling"):
        n = int(mode.removeprefix("rolling"))
        ctx = trials.transform(lambda s: s.rolling(n, min_periods=1).mean())
    elif mode == "trial":
        ctx = trials.transform("mean")
    else:
        raise SystemExit(f"unknown context {mode!r}")
    ctx.columns = [f"context_{c}" for c in ctx.columns]
    out = pd.concat([X, ctx], axis=1)
    out.attrs.update(X.attrs)
    return out


def feature_table(cache: Path, floor: float) -> Path:
    """Where the WESAD feature table computed with the response floor ``floor`` is cached."""
    return cache / f"floor{floor:g}" / "wesad_table.pkl"


def report(rows: list[tuple[str, np.ndarray]]) -> None:
    first = rows[0][1]
    for name, kl in rows:
        d = kl - first
        se = d.std(ddof=1) / np.sqrt(len(d))
        print(f"{name:28s} KL {kl.mean():.4f}  vs first {d.mean():+.4f} +- {se:.4f}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scr-floor", type=float, nargs="*", default=[])
    p.add_argument("--context", nargs="*", default=[])
    p.add_argument("--select", nargs="*", default=[])
    p.add_argument("--cache", type=Path, required=True, help="folder for the feature tables")
    args = p.parse_args()
    wesad = os.environ.get("WESAD_DIR", "../shared/data/wesad")
    rows = []
    for floor in args.scr_floor:
        table = feature_table(args.cache, floor)
        if not table.exists():
            table.parent.mkdir(parents=True, exist_ok=True)
            default, physio.SCR_MIN_AMPLITUDE = physio.SCR_MIN_AMPLITUDE, floor
            try:  # in this process (n_jobs=1), where the module constant is patched
                data = prepare_dataset("wesad", wesad, n_jobs=1)
            finally:
                physio.SCR_MIN_AMPLITUDE = default
            table.write_bytes(pickle.dumps(data))
        data = pickle.loads(table.read_bytes())
        counts = [c for c in data.X.columns if "scr_count__pool_mean" in c]
        scales = [c.split("__")[1] for c in counts]  # e.g. "10s"
        per_min = [60 * data.X[c].mean() / float(s[:-1]) for c, s in zip(counts, scales)]
        rates = ", ".join(f"{r:.1f} ({s} frames)" for r, s in zip(per_min, scales))
        print(f"floor {floor:g} uS: responses per minute {rates}", flush=True)
        for spec in ("wesad-dev14", "wesad-dev14-none"):
            rows.append((f"floor {floor:g} {spec}", sa_bfgs_kl(*dev_folds(spec, table))))
    if rows:
        report([r for r in rows if r[0].endswith("dev14")])
        report([r for r in rows if r[0].endswith("none")])
    table = feature_table(args.cache, physio.SCR_MIN_AMPLITUDE)
    table.parent.mkdir(parents=True, exist_ok=True)  # the current floor's table
    if args.context:
        X, Y, groups, folds = dev_folds("wesad-dev14", table)
        report(
            [
                (f"context {mode}", sa_bfgs_kl(with_context(X, mode), Y, groups, folds))
                for mode in args.context
            ]
        )
    for spec in ("wesad-dev14", "wesad-dev14-none") if args.select else ():
        X, Y, groups, folds = dev_folds(spec, table)
        report([(f"{spec} {m}", sa_bfgs_kl(X, Y, groups, folds, m)) for m in args.select])


if __name__ == "__main__":
    main()
