"""Command line entry point: ``mpcl-sklearn demo | evaluate | ablation``.

``demo`` is the README's main job: subject-independent cross-validation of MPCL against two
baselines on the built-in synthetic recordings, printing the six metrics. ``evaluate`` runs any
models on synthetic data, WESAD or DMER under one protocol and writes tables and figures;
``ablation`` does the same for the four MPCL switches.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Sequence

from .experiments import (
    MODEL_NAMES,
    make_model,
    prepare_dataset,
    run_ablation,
    run_experiment,
    write_outputs,
)


def _log(msg: str) -> None:
    print(msg, flush=True)


def _print_result(result, data) -> None:
    _log("")
    _log(f"Data: {data.description}")
    _log(f"Protocol: {result.protocol}")
    _log("")
    _log(result.to_markdown())
    _log("")
    best = result.best()
    first = result.summary["model"].iloc[0]
    wins = sum(model == first for model in best.values())
    _log(f"{first} is best on {wins} of {len(best)} metrics.")


def _demo(args: argparse.Namespace) -> int:

    start = time.perf_counter()
    _log("mpcl-sklearn demo: MPCL vs baselines on built-in synthetic mixed-emotion recordings")
    params = {"n_subjects": 8, "trials_per_subject": 8, "duration_s": 40.0}
    if args.quick:
        params = {"n_subjects": 4, "trials_per_subject": 4, "duration_s": 20.0}
    data = prepare_dataset(
        "synthetic",
        feature_set="minimal",
        synthetic_params=params,
        random_state=args.random_state,
    )
    _log(f"features ready in {time.perf_counter() - start:.1f} s: {data.X.shape}")
    result = run_experiment(
        data,
        ["mpcl", "sa-bfgs", "mean"],
        cv=4 if not args.quick else 2,
        random_state=args.random_state,
        max_epochs=5 if args.quick else None,
        progress=not args.quiet,
        log=_log,
    )
    _print_result(result, data)
    _log(f"total {time.perf_counter() - start:.1f} s")
    return 0


def _cv_argument(value: str):
    """``--cv``: ``loso`` or a number (>= 2) of GroupKFold folds."""
    if value == "loso":
        return value
    try:
        folds = int(value)
    except ValueError:
        folds = 0
    if folds < 2:
        raise argparse.ArgumentTypeError(
            f"expected 'loso' or a number of folds >= 2, got {value!r}"
        )
    return folds


def _add_data_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", choices=("synthetic", "wesad", "dmer"), default="synthetic")
    p.add_argument("--path", help="dataset folder (wesad: holds S2..S17; dmer: the release)")
    p.add_argument("--subjects", help="comma-separated subject ids (default: all)")
    p.add_argument(
        "--protocol",
        choices=("subject-independent", "subject-dependent"),
        default="subject-independent",
    )
    p.add_argument(
        "--cv", type=_cv_argument, default="loso", help="'loso' or a number of GroupKFold folds"
    )
    p.add_argument(
        "--split",
        choices=("trial", "temporal", "random"),
        default="trial",
        help="subject-dependent split",
    )
    p.add_argument("--n-subjects", type=int, help="synthetic: number of subjects")
    p.add_argument("--trials-per-subject", type=int, help="synthetic: trials per subject")
    p.add_argument("--duration-s", type=float, help="synthetic: trial length in seconds")
    p.add_argument("--window-s", type=float, help="window length in seconds")
    p.add_argument("--step-s", type=float, help="window step in seconds")
    p.add_argument("--scales", help="comma-separated frame scales in seconds")
    p.add_argument("--feature-set", default="default")
    p.add_argument("--backend", default="fast", choices=("fast", "tsfresh", "physio"))
    p.add_argument(
        "--subject-normalize",
        action="store_true",
        help="z-score features within each subject (transductive: uses the test subjects' "
        "unlabelled features)",
    )
    p.add_argument("--max-epochs", type=int, help="override the neural models' epochs")
    p.add_argument("--random-state", type=int, default=0)
    p.add_argument("--n-jobs", type=int, help="folds in parallel (joblib)")
    p.add_argument("--out", default="results", help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _load(args: argparse.Namespace):
    if args.dataset in ("wesad", "dmer") and not args.path:
        raise SystemExit(f"mpcl-sklearn: --dataset {args.dataset} needs --path")
    synthetic = {
        key: value
        for key, value in (
            ("n_subjects", args.n_subjects),
            ("trials_per_subject", args.trials_per_subject),
            ("duration_s", args.duration_s),
        )
        if value is not None
    }
    if synthetic and args.dataset != "synthetic":
        raise SystemExit(
            "mpcl-sklearn: --n-subjects/--trials-per-subject/--duration-s are "
            "for --dataset synthetic"
        )
    if args.dataset == "dmer" and (args.window_s or args.step_s or args.scales):
        raise SystemExit(
            "mpcl-sklearn: --window-s/--step-s/--scales do not apply to --dataset dmer "
            "(its features are precomputed)"
        )
    start = time.perf_counter()
    data = prepare_dataset(
        args.dataset,
        args.path,
        window_s=args.window_s,
        step_s=args.step_s,
        scales_s=None if not args.scales else [float(s) for s in args.scales.split(",")],
        feature_set=args.feature_set,
        backend=args.backend,
        subjects=None if not args.subjects else args.subjects.split(","),
        synthetic_params=synthetic or None,
        random_state=args.random_state,
        subject_normalize=args.subject_normalize,
        progress=not args.quiet,
    )
    _log(f"{data.description} ({time.perf_counter() - start:.1f} s)")
    for line in data.report:
        _log(f"  report: {line}")
    return data


def _run_options(args: argparse.Namespace) -> dict:
    """Keyword arguments shared by ``run_experiment`` and ``run_ablation``."""
    if args.protocol == "subject-dependent" and args.cv != "loso":
        raise SystemExit("mpcl-sklearn: --cv is for the subject-independent protocol")
    if args.protocol == "subject-independent" and args.split != "trial":
        raise SystemExit("mpcl-sklearn: --split is for --protocol subject-dependent")
    return {
        "protocol": args.protocol,
        "cv": args.cv,
        "split": args.split,
        "random_state": args.random_state,
        "max_epochs": args.max_epochs,
        "n_jobs": args.n_jobs,
        "progress": not args.quiet,
        "log": _log,
    }


def _write(result, data, args, name: str, final_model=None) -> None:

    command = "mpcl-sklearn " + " ".join(shlex.quote(a) for a in args.argv)
    written = write_outputs(
        result, args.out, data=data, name=name, command=command, final_model=final_model
    )
    _print_result(result, data)
    _log("")
    _log("wrote " + ", ".join(str(p) for p in written.values()))


def _evaluate(args: argparse.Namespace) -> int:
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(models).difference(MODEL_NAMES))
    if unknown:
        raise SystemExit(f"mpcl-sklearn: unknown models {unknown}; choose from {MODEL_NAMES}")
    options = _run_options(args)  # checked before the (slow) loading
    data = _load(args)
    result = run_experiment(data, models, **options)
    final = None
    if "mpcl" in models and not args.no_final_model:
        _log("fitting MPCL on all subjects for the learned co-occurrence figure")
        final = make_model(
            "mpcl",
            random_state=args.random_state,
            behavioural=data.behavioural,
            max_epochs=args.max_epochs,
        ).fit(data.X, data.y)
    _write(result, data, args, args.name or f"{args.dataset}_{args.protocol}", final)
    return 0


def _ablation(args: argparse.Namespace) -> int:

    options = _run_options(args)
    data = _load(args)
    result = run_ablation(data, **options)
    _write(result, data, args, args.name or f"{args.dataset}_ablation")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``mpcl-sklearn``."""
    parser = argparse.ArgumentParser(
        prog="mpcl-sklearn",
        description="Mixed emotion recognition as emotion distribution learning.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="MPCL vs baselines, subject-independent, built-in data")
    demo.add_argument("--random-state", type=int, default=0)
    demo.add_argument("--quick", action="store_true", help="a tiny run (smoke test)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(func=_demo)

    evaluate = sub.add_parser("evaluate", help="compare models under one protocol")
    _add_data_arguments(evaluate)
    evaluate.add_argument(
        "--models", default=",".join(MODEL_NAMES), help=f"comma-separated: {MODEL_NAMES}"
    )
    evaluate.add_argument("--name", help="output file stem")
    evaluate.add_argument(
        "--no-final-model",
        action="store_true",
        help="skip fitting MPCL on all data for the learned co-occurrence figure",
    )
    evaluate.set_defaults(func=_evaluate)

    ablation = sub.add_parser("ablation", help="MPCL with each component switched off")
    _add_data_arguments(ablation)
    ablation.add_argument("--name", help="output file stem")
    ablation.set_defaults(func=_ablation)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line interface."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
