"""Command line entry point: ``mpcl-sklearn demo | evaluate | ablation``.

``demo`` is the README's main job: subject-independent cross-validation of MPCL against two
baselines on the built-in synthetic recordings, printing the six metrics. ``evaluate`` runs any
models on synthetic data, WESAD, DMER or your own feature table (``--features FILE``) under one
protocol and writes tables and figures; ``ablation`` does the same for the four MPCL switches.

Mistakes in the command (a missing folder, an unknown subject, a bad option value, an
unwritable ``--out``) end in a one-line ``mpcl-sklearn: error: ...`` and exit status 2, checked
before the (slow) loading where possible; ``--traceback`` shows the full traceback instead.
Importing this module is cheap (no scikit-learn, pandas or torch), so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .experiments.registry import MODEL_NAMES

DATASETS = ("synthetic", "wesad", "dmer")
BACKENDS = ("fast", "tsfresh", "physio")
#: feature sets of the fast backend (``mpcl_sklearn.features.fast.FEATURE_SETS``)
FAST_FEATURE_SETS = ("minimal", "default", "default+entropy")
#: tsfresh's presets, accepted by the tsfresh backend next to the fast sets
TSFRESH_PRESETS = ("minimal", "efficient", "comprehensive")
FEATURE_SETS = tuple(dict.fromkeys(FAST_FEATURE_SETS + TSFRESH_PRESETS))
#: wall time of ``mpcl-sklearn demo --quick`` on the 2-core development machine, start-up
#: included (README, "Set-up"); the run itself prints its own time
QUICK_DEMO_SECONDS = "6-8"
EXIT_USAGE = 2


class CLIError(Exception):
    """A mistake in the command: printed as one line, exit status 2."""


def _log(msg: str) -> None:
    print(msg, flush=True)


# ------------------------------------------------------------------------------ argument types
def _cv_argument(value: str):
    """``--cv``: ``loso`` or a number (>= 2) of GroupKFold folds."""
    if value.strip().lower() == "loso":
        return "loso"
    try:
        folds = int(value)
    except ValueError:
        folds = 0
    if folds < 2:
        raise argparse.ArgumentTypeError(
            f"expected 'loso' or a number of folds >= 2, got {value!r}"
        )
    return folds


def _names_argument(value: str) -> list[str]:
    """A comma-separated list of non-empty names."""
    names = [v.strip() for v in value.split(",")]
    if not value.strip() or any(not n for n in names):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated names without empty items, got {value!r}"
        )
    return names


def _seconds(value: str) -> float:
    """A positive, finite number of seconds."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {value!r}")
    return seconds


def _scales_argument(value: str) -> list[float]:
    """``--scales``: comma-separated positive durations in seconds."""
    try:
        return [_seconds(v.strip()) for v in value.split(",")]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive frame lengths in seconds, e.g. 2,10; got {value!r}"
        ) from None


def _count(minimum: int):
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = minimum - 1
        if number < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value!r}")
        return number

    parse.__name__ = f"integer >= {minimum}"
    return parse


def _n_jobs(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number == 0 or number < -1:
        raise argparse.ArgumentTypeError(f"expected a number of jobs >= 1 or -1, got {value!r}")
    return number


# ------------------------------------------------------------------------------ checks
def _check_out(out: str) -> None:
    """Refuse an ``--out`` that cannot be written, before anything is computed."""
    import tempfile

    path = Path(out)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".mpcl-sklearn-write-test-"):
            pass
    except OSError as exc:
        raise CLIError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None


def _check_device(device: str | None) -> None:
    if device is None:
        return
    from .training.runtime import resolve_device

    try:
        resolve_device(device)
    except (TypeError, ValueError) as exc:
        raise CLIError(f"--device: {exc}") from None


def _check_data_arguments(args: argparse.Namespace) -> None:
    """Everything about the data that can be checked without loading it."""
    table = args.features is not None
    if table and args.dataset is not None:
        raise CLIError("--features reads your own table: leave out --dataset")
    args.dataset = "table" if table else (args.dataset or "synthetic")
    if args.dataset in ("wesad", "dmer"):
        if not args.path:
            raise CLIError(f"--dataset {args.dataset} needs --path (the dataset folder)")
        if not Path(args.path).is_dir():
            raise CLIError(f"--path {args.path}: no such folder")
    elif args.path:
        raise CLIError(f"--path is for --dataset wesad or dmer (the data here: {args.dataset})")
    if table and not Path(args.features).is_file():
        raise CLIError(f"--features {args.features}: no such file")
    table_only = {
        "--subject-column": args.subject_column,
        "--trial-column": args.trial_column,
        "--emotion-columns": args.emotion_columns,
        "--behavioural": args.behavioural,
        "--normalize-labels": args.normalize_labels or None,
    }
    given = [k for k, v in table_only.items() if v is not None]
    if given and not table:
        raise CLIError(f"{', '.join(given)}: for your own table (--features FILE)")
    synthetic = [
        flag
        for flag, value in (
            ("--n-subjects", args.n_subjects),
            ("--trials-per-subject", args.trials_per_subject),
            ("--duration-s", args.duration_s),
        )
        if value is not None
    ]
    if synthetic and args.dataset != "synthetic":
        raise CLIError(f"{'/'.join(synthetic)}: for --dataset synthetic")
    if args.subjects is not None and args.dataset == "synthetic":
        raise CLIError(
            "--subjects selects subjects of wesad, dmer or a --features table; the synthetic "
            "data takes --n-subjects"
        )
    windowing = [
        flag
        for flag, value in (
            ("--window-s", args.window_s),
            ("--step-s", args.step_s),
            ("--scales", args.scales),
            ("--feature-set", args.feature_set),
            ("--backend", args.backend),
        )
        if value is not None
    ]
    if windowing and args.dataset in ("dmer", "table"):
        raise CLIError(
            f"{'/'.join(windowing)}: do not apply to "
            f"{'--dataset dmer' if args.dataset == 'dmer' else 'a --features table'} "
            "(its features are precomputed)"
        )
    backend = args.backend or "fast"
    feature_set = args.feature_set or "default"
    allowed = {"fast": FAST_FEATURE_SETS, "tsfresh": FEATURE_SETS}.get(backend)
    if allowed is not None and feature_set not in allowed:
        raise CLIError(
            f"--feature-set {feature_set!r} is not a feature set of --backend {backend}; "
            f"choose from {', '.join(allowed)}"
        )
    if args.window_s and args.scales and max(args.scales) > args.window_s:
        raise CLIError(
            f"--scales {args.scales}: a frame cannot be longer than the window "
            f"(--window-s {args.window_s:g})"
        )


def _run_options(args: argparse.Namespace) -> dict:
    """Keyword arguments shared by ``run_experiment`` and ``run_ablation``."""
    if args.protocol == "subject-dependent" and args.cv != "loso":
        raise CLIError("--cv is for the subject-independent protocol")
    if args.protocol == "subject-independent" and args.split != "trial":
        raise CLIError("--split is for --protocol subject-dependent")
    return {
        "protocol": args.protocol,
        "cv": args.cv,
        "split": args.split,
        "random_state": args.random_state,
        "max_epochs": args.max_epochs,
        "device": args.device,
        "n_jobs": args.n_jobs,
        "progress": not args.quiet,
        "log": _log,
    }


# ------------------------------------------------------------------------------ commands
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
    from .experiments import prepare_dataset, run_experiment

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


def _load(args: argparse.Namespace):
    from .experiments import prepare_dataset

    start = time.perf_counter()
    synthetic = {
        key: value
        for key, value in (
            ("n_subjects", args.n_subjects),
            ("trials_per_subject", args.trials_per_subject),
            ("duration_s", args.duration_s),
        )
        if value is not None
    }
    table = None
    if args.dataset == "table":
        table = {
            "subject_column": args.subject_column or "subject",
            "trial_column": args.trial_column or "trial",
            "emotion_columns": args.emotion_columns,
            "normalize": args.normalize_labels,
            "behavioural": args.behavioural,
        }
    data = prepare_dataset(
        args.dataset,
        args.features if args.dataset == "table" else args.path,
        window_s=args.window_s,
        step_s=args.step_s,
        scales_s=args.scales,
        feature_set=args.feature_set or "default",
        backend=args.backend or "fast",
        subjects=args.subjects,
        synthetic_params=synthetic or None,
        random_state=args.random_state,
        subject_normalize=args.subject_normalize,
        progress=not args.quiet,
        emotions=args.emotions,
        table_options=table,
    )
    _log(f"{data.description} ({time.perf_counter() - start:.1f} s)")
    for line in data.report:
        _log(f"  report: {line}")
    return data


def _write(result, data, args, name: str, final_model=None) -> None:
    from .experiments import write_outputs

    command = "mpcl-sklearn " + " ".join(shlex.quote(a) for a in args.argv)
    written = write_outputs(
        result, args.out, data=data, name=name, command=command, final_model=final_model
    )
    _print_result(result, data)
    _log("")
    _log("wrote " + ", ".join(str(p) for p in written.values()))


def _prepare(args: argparse.Namespace) -> dict:
    """The checks every experiment command runs before loading anything."""
    _check_data_arguments(args)
    options = _run_options(args)
    _check_device(args.device)
    _check_out(args.out)
    return options


def _evaluate(args: argparse.Namespace) -> int:
    unknown = [m for m in args.models if m not in MODEL_NAMES]
    if unknown:
        raise CLIError(f"unknown models {unknown}; choose from {', '.join(MODEL_NAMES)}")
    if len(set(args.models)) != len(args.models):
        raise CLIError(f"--models lists a model twice: {','.join(args.models)}")
    options = _prepare(args)
    data = _load(args)
    from .experiments import make_model, run_experiment

    result = run_experiment(data, args.models, **options)
    final = None
    if "mpcl" in args.models and not args.no_final_model:
        import pandas as pd

        _log("fitting MPCL on all subjects for the learned co-occurrence figure")
        y = data.y
        if len(data.emotions) == y.shape[1]:
            y = pd.DataFrame(y, columns=[str(e) for e in data.emotions])
        final = make_model(
            "mpcl",
            random_state=args.random_state,
            behavioural=data.behavioural,
            max_epochs=args.max_epochs,
            device=args.device,
        ).fit(data.X, y, groups=data.groups)
    stem = "features" if args.dataset == "table" else args.dataset
    _write(result, data, args, args.name or f"{stem}_{args.protocol}", final)
    return 0


def _ablation(args: argparse.Namespace) -> int:
    options = _prepare(args)
    data = _load(args)
    from .experiments import run_ablation

    result = run_ablation(data, **options)
    stem = "features" if args.dataset == "table" else args.dataset
    _write(result, data, args, args.name or f"{stem}_ablation")
    return 0


# ------------------------------------------------------------------------------ the parser
class _Parser(argparse.ArgumentParser):
    """argparse's parser, its errors one line (the usage is in ``--help``)."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults in the help, but not ``(default: None)`` for options without one."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or "(default" in action.help:
            return action.help
        return super()._get_help_string(action)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--random-state", type=int, default=0, help="seed of data and models")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--traceback", action="store_true", help="show the full traceback on errors")


def _add_data_arguments(p: argparse.ArgumentParser) -> None:
    data = p.add_argument_group("data")
    data.add_argument("--dataset", choices=DATASETS, help="built-in data (default: synthetic)")
    data.add_argument("--path", help="dataset folder (wesad: holds S2..S17; dmer: the release)")
    data.add_argument(
        "--subjects", type=_names_argument, help="comma-separated subject ids (default: all)"
    )
    data.add_argument(
        "--emotions",
        type=_names_argument,
        help="comma-separated emotion names to keep, in this order (each row renormalised "
        "over them); wesad also takes 'dmer10' (its default) or 'all'",
    )
    data.add_argument("--n-subjects", type=_count(2), help="synthetic: number of subjects")
    data.add_argument("--trials-per-subject", type=_count(1), help="synthetic: trials per subject")
    data.add_argument("--duration-s", type=_seconds, help="synthetic: trial length in seconds")

    own = p.add_argument_group(
        "your own feature table",
        "--features FILE (.csv or .parquet): one row per window; a subject column, optionally "
        "a trial column, emotion columns (named 'emotion__<name>', or listed with "
        "--emotion-columns), every other column a numeric feature named "
        "'<modality>__<feature>' or '<modality>__<scale>__<feature>'",
    )
    own.add_argument("--features", metavar="FILE", help="the feature table")
    own.add_argument("--subject-column", help="subject column (default: subject)")
    own.add_argument("--trial-column", help="trial column (default: trial, when present)")
    own.add_argument(
        "--emotion-columns",
        type=_names_argument,
        help="comma-separated emotion columns (default: the columns named emotion__<name>)",
    )
    own.add_argument(
        "--normalize-labels",
        action="store_true",
        help="rescale each row of emotion values to sum to 1 (e.g. raw ratings)",
    )
    own.add_argument(
        "--behavioural",
        type=_names_argument,
        help="comma-separated behavioural modalities (default: acc, face, video when present)",
    )

    feats = p.add_argument_group("windows and features (synthetic, wesad)")
    feats.add_argument("--window-s", type=_seconds, help="window length in seconds")
    feats.add_argument("--step-s", type=_seconds, help="window step in seconds")
    feats.add_argument(
        "--scales", type=_scales_argument, help="comma-separated frame lengths in seconds"
    )
    feats.add_argument(
        "--feature-set",
        choices=FEATURE_SETS,
        help="fast: minimal, default, default+entropy; tsfresh: these and efficient, "
        "comprehensive; physio: ignored (default: default)",
    )
    feats.add_argument("--backend", choices=BACKENDS, help="feature backend (default: fast)")
    feats.add_argument(
        "--subject-normalize",
        action="store_true",
        help="z-score features within each subject (transductive: uses the test subjects' "
        "unlabelled features)",
    )

    proto = p.add_argument_group("protocol and models")
    proto.add_argument(
        "--protocol",
        choices=("subject-independent", "subject-dependent"),
        default="subject-independent",
        help="evaluation protocol",
    )
    proto.add_argument(
        "--cv", type=_cv_argument, default="loso", help="'loso' or a number of GroupKFold folds"
    )
    proto.add_argument(
        "--split",
        choices=("trial", "temporal", "random"),
        default="trial",
        help="subject-dependent split",
    )
    proto.add_argument("--max-epochs", type=_count(1), help="override the neural models' epochs")
    proto.add_argument(
        "--device",
        help="device of the neural models: cpu, cuda, cuda:<n> or mps (default: cpu)",
    )
    proto.add_argument("--n-jobs", type=_n_jobs, help="folds in parallel (joblib; -1: all cores)")
    proto.add_argument("--out", default="results", help="output folder")
    _add_common(p)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``mpcl-sklearn``."""
    parser = _Parser(
        prog="mpcl-sklearn",
        description="Mixed emotion recognition as emotion distribution learning.",
        formatter_class=_Formatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo",
        help="MPCL vs baselines, subject-independent, built-in data",
        formatter_class=_Formatter,
    )
    demo.add_argument(
        "--quick",
        action="store_true",
        help=f"a tiny run (smoke test, about {QUICK_DEMO_SECONDS} s with start-up)",
    )
    _add_common(demo)
    demo.set_defaults(func=_demo)

    evaluate = sub.add_parser(
        "evaluate", help="compare models under one protocol", formatter_class=_Formatter
    )
    _add_data_arguments(evaluate)
    evaluate.add_argument(
        "--models",
        type=_names_argument,
        default=list(MODEL_NAMES),
        help=f"comma-separated, from {', '.join(MODEL_NAMES)} (default: all)",
    )
    evaluate.add_argument("--name", help="output file stem (default: <dataset>_<protocol>)")
    evaluate.add_argument(
        "--no-final-model",
        action="store_true",
        help="skip fitting MPCL on all data for the learned co-occurrence figure",
    )
    evaluate.set_defaults(func=_evaluate)

    ablation = sub.add_parser(
        "ablation",
        help="MPCL with each component switched off",
        formatter_class=_Formatter,
    )
    _add_data_arguments(ablation)
    ablation.add_argument("--name", help="output file stem (default: <dataset>_ablation)")
    ablation.set_defaults(func=_ablation)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line interface; returns the exit status (2 for a mistake in the
    command, printed as one line)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        if args.traceback:
            raise
        print(f"mpcl-sklearn: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, TypeError, OSError, ImportError) as exc:
        if args.traceback:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"mpcl-sklearn: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("mpcl-sklearn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
