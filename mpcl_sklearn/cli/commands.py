"""The commands of ``mpcl-sklearn`` (demo, evaluate, ablation) and the checks they run on
their arguments before anything is loaded. Heavy libraries are imported inside the commands."""

from __future__ import annotations

import argparse
import os
import shlex
import time
from pathlib import Path

from ..experiments.registry import MODEL_NAMES

EXIT_USAGE = 2
#: feature sets of the fast backend (``mpcl_sklearn.features.fast.FEATURE_SETS``)
FAST_FEATURE_SETS = ("minimal", "default", "default+entropy")
#: tsfresh's presets, accepted by the tsfresh backend next to the fast sets
TSFRESH_PRESETS = ("minimal", "efficient", "comprehensive")
FEATURE_SETS = tuple(dict.fromkeys(FAST_FEATURE_SETS + TSFRESH_PRESETS))


class CLIError(Exception):
    """A mistake in the command: printed as one line, exit status 2."""


def _log(msg: str) -> None:
    print(msg, flush=True)


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


#: Room left for the suffixes ``write_outputs`` adds to ``--name`` (the longest,
#: ``_distributions_<ablation row>.png``, has 46 bytes) within a 255-byte file name.
_SUFFIX_BYTES = 64


def _check_name(name: str | None) -> None:
    """Refuse a ``--name`` that is not a plain file name stem, before anything is computed.

    The outputs are written as ``<--out>/<name>_<suffix>``: a name with a path separator or
    ``..`` would write elsewhere (or into a folder that does not exist, after the run).
    """
    if name is None:
        return
    seps = {"/", "\\", os.sep, os.altsep} - {None}
    if not name.strip() or any(c in name for c in seps) or name in (".", "..") or "\0" in name:
        raise CLIError(
            f"--name {name!r} must be a plain file name stem, without path separators: the "
            "outputs are written as <--out>/<name>_*.csv/.md/.png; choose the folder with --out"
        )
    if len(os.fsencode(name)) + _SUFFIX_BYTES > 255:
        raise CLIError(
            f"--name is {len(name)} characters long: with their suffixes the output file names "
            f"would exceed 255 bytes; use at most {255 - _SUFFIX_BYTES}"
        )


def _check_device(device: str | None) -> None:
    if device is None:
        return
    from ..training.runtime import resolve_device

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
    elif args.dataset == "ldl":
        if not args.path:
            raise CLIError("--dataset ldl needs --path (the benchmark's .mat file)")
        if not Path(args.path).is_file():
            raise CLIError(f"--path {args.path}: no such file (an LDL benchmark .mat file)")
        if args.subjects is not None:
            raise CLIError("--subjects does not apply to --dataset ldl (rows are instances)")
    elif args.path:
        raise CLIError(
            f"--path is for --dataset wesad, dmer or ldl (the data here: {args.dataset})"
        )
    if table and not Path(args.features).is_file():
        raise CLIError(f"--features {args.features}: no such file")
    table_only = {
        "--subject-column": args.subject_column,
        "--trial-column": args.trial_column,
        "--condition-column": args.condition_column,
        "--emotion-columns": args.emotion_columns,
        "--feature-columns": args.feature_columns,
        "--drop-columns": args.drop_columns,
        "--behavioural": args.behavioural,
        "--normalize-labels": args.normalize_labels or None,
    }
    given = [k for k, v in table_only.items() if v is not None]
    if given and not table:
        raise CLIError(f"{', '.join(given)}: for your own table (--features FILE)")
    if args.feature_columns is not None and args.drop_columns is not None:
        raise CLIError(
            "--feature-columns lists the features, --drop-columns the columns to leave out: "
            "give one of them"
        )
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
    if windowing and args.dataset in ("dmer", "table", "ldl"):
        what = "a --features table" if args.dataset == "table" else f"--dataset {args.dataset}"
        raise CLIError(
            f"{'/'.join(windowing)}: do not apply to {what} (its features are precomputed)"
        )
    from ..experiments.data import DATASET_BACKENDS

    backend = args.backend or DATASET_BACKENDS.get(args.dataset, "fast")
    feature_set = args.feature_set or "default"
    allowed = {
        "fast": FAST_FEATURE_SETS,
        "fast+physio": FAST_FEATURE_SETS,
        "tsfresh": FEATURE_SETS,
    }.get(backend)
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


def _check_calibration_arguments(args: argparse.Namespace) -> None:
    """The calibration and control options, checked before anything is loaded."""
    reference = {
        "--reference-condition": args.reference_condition,
        "--reference-minutes": args.reference_minutes,
    }
    given = [k for k, v in reference.items() if v is not None]
    if given and args.calibration != "reference":
        raise CLIError(f"{' and '.join(given)}: for --calibration reference")
    if len(given) == 2:
        raise CLIError("give --reference-condition or --reference-minutes, not both")
    if args.score_on != "all" and args.calibration != "reference":
        raise CLIError("--score-on non-reference: for --calibration reference")
    if args.calibration != "none" and args.protocol == "kfold":
        raise CLIError(
            "--calibration normalises each subject: not with --protocol kfold (no subjects)"
        )
    if args.calibration == "reference" and not given:
        if args.dataset == "table":
            raise CLIError(
                "--calibration reference on a --features table needs --reference-condition C, "
                "a condition of its --condition-column (a table has no window times for "
                "--reference-minutes)"
            )
        if args.dataset != "wesad":
            raise CLIError(
                f"--calibration reference needs --reference-minutes N for {args.dataset} data "
                "(wesad has a reference condition, Base by default; a --features table has "
                "conditions with --condition-column)"
            )
        args.reference_condition = "Base"


def _run_options(args: argparse.Namespace) -> dict:
    """Keyword arguments shared by ``run_experiment`` and ``run_ablation``."""
    if args.protocol == "subject-dependent" and args.cv is not None:
        raise CLIError("--cv is for the subject-independent protocol (or --protocol kfold)")
    if args.protocol != "subject-dependent" and args.split != "trial":
        raise CLIError("--split is for --protocol subject-dependent")
    if args.protocol == "kfold" and args.cv == "loso":
        raise CLIError("--cv loso: --protocol kfold takes a number of folds (default 10)")
    if args.dataset == "ldl" and args.protocol != "kfold":
        raise CLIError(
            "--dataset ldl has no subjects or trials: use --protocol kfold (--cv folds, default 10)"
        )
    _check_calibration_arguments(args)
    cv = args.cv
    if cv is None:
        cv = 10 if args.protocol == "kfold" else "loso"
    return {
        "protocol": args.protocol,
        "cv": cv,
        "calibration": args.calibration,
        "score_on": args.score_on,
        "permute_labels": args.permute_labels,
        "conditions": not args.no_conditions,
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
    for note in result.notes:
        _log(note)
    _log("")
    _log(result.to_markdown())
    _log("")
    best = result.best()
    first = result.summary["model"].iloc[0]
    wins = sum(model == first for model in best.values())
    _log(f"{first} is best on {wins} of {len(best)} metrics.")


def _demo(args: argparse.Namespace) -> int:
    from ..experiments import prepare_dataset, run_experiment

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
    from ..experiments import prepare_dataset

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
            "trial_column": args.trial_column,
            "condition_column": args.condition_column,
            "emotion_columns": args.emotion_columns,
            "feature_columns": args.feature_columns,
            "drop_columns": args.drop_columns,
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
        backend=args.backend,
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


def _reference(args: argparse.Namespace, data) -> dict:
    """``reference=`` of the runner: the calibration rows of every subject (mode reference)."""
    if args.calibration != "reference":
        return {}
    from ..experiments import reference_rows

    try:
        mask = reference_rows(
            data, condition=args.reference_condition, minutes=args.reference_minutes
        )
    except ValueError as exc:
        flag = "--reference-condition" if args.reference_minutes is None else "--reference-minutes"
        raise CLIError(f"{flag}: {exc}") from None
    _log(f"reference rows: {int(mask.sum())} of {len(mask)} windows")
    return {"reference": mask}


def _write(result, data, args, name: str, final_model=None) -> None:
    from ..experiments import write_outputs

    command = "mpcl-sklearn " + " ".join(shlex.quote(a) for a in args.argv)
    written = write_outputs(
        result, args.out, data=data, name=name, command=command, final_model=final_model
    )
    _print_result(result, data)
    if result.predictions:
        distances = result.correlation_distances()
        _log(
            "emotion co-occurrence of the held-out predictions, Frobenius distance to the "
            "labels' (lower is better): " + ", ".join(f"{m} {v:.3f}" for m, v in distances.items())
        )
    _log("")
    _log("wrote " + ", ".join(str(p) for p in written.values()))


def _stem(args: argparse.Namespace) -> str:
    """Default output stem: the dataset (``features`` for a table, ``ldl_<file>`` for LDL)."""
    if args.dataset == "table":
        return "features"
    if args.dataset == "ldl":
        return "ldl_" + "".join(c if c.isalnum() else "_" for c in Path(args.path).stem)
    return args.dataset


def _prepare(args: argparse.Namespace) -> dict:
    """The checks every experiment command runs before loading anything."""
    _check_data_arguments(args)
    options = _run_options(args)
    _check_device(args.device)
    _check_name(getattr(args, "name", None))
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
    from ..experiments import fit_final_mpcl, run_experiment

    reference = _reference(args, data)
    result = run_experiment(data, args.models, **options, **reference)
    final = None
    if "mpcl" in args.models and not args.no_final_model:
        _log("fitting MPCL on all rows for the learned co-occurrence figure")
        final = fit_final_mpcl(
            data,
            result.labels,
            calibration=args.calibration,
            random_state=args.random_state,
            max_epochs=args.max_epochs,
            device=args.device,
            conditions=not args.no_conditions,
            **reference,
        )
    _write(result, data, args, args.name or f"{_stem(args)}_{args.protocol}", final)
    return 0


def _ablation(args: argparse.Namespace) -> int:
    options = _prepare(args)
    data = _load(args)
    from ..experiments import run_ablation

    result = run_ablation(data, **options, **_reference(args, data))
    _write(result, data, args, args.name or f"{_stem(args)}_ablation")
    return 0
