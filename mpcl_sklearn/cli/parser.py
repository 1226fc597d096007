"""The argument parser of ``mpcl-sklearn``: options with their defaults and allowed values,
argument types that refuse bad values in one line."""

from __future__ import annotations

import argparse
import math

from ..experiments.registry import MODEL_NAMES
from .commands import (
    EXIT_USAGE,
    FAST_FEATURE_SETS,
    FEATURE_SETS,
    TSFRESH_PRESETS,
    _ablation,
    _demo,
    _evaluate,
)

__all__ = [
    "BACKENDS",
    "DATASETS",
    "FAST_FEATURE_SETS",
    "FEATURE_SETS",
    "QUICK_DEMO_SECONDS",
    "TSFRESH_PRESETS",
    "build_parser",
]

DATASETS = ("synthetic", "wesad", "dmer", "ldl")
BACKENDS = ("fast", "tsfresh", "physio", "fast+physio")
#: wall time of ``mpcl-sklearn demo --quick`` on the 2-core development machine (idle to busy),
#: start-up included (README, "Set-up"); the run itself prints its own time
QUICK_DEMO_SECONDS = "6-14"


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


def _positive(unit: str):
    """An argparse type: a positive, finite number of ``unit``."""

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and number > 0):
            raise argparse.ArgumentTypeError(f"expected a positive number of {unit}, got {value!r}")
        return number

    parse.__name__ = unit  # argparse names the type in its messages
    return parse


_seconds = _positive("seconds")
_minutes = _positive("minutes")


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
    data.add_argument(
        "--path",
        help="dataset folder (wesad: holds S2..S17; dmer: the release); ldl: the benchmark's "
        ".mat file",
    )
    data.add_argument(
        "--subjects", type=_names_argument, help="comma-separated subject ids (default: all)"
    )
    data.add_argument(
        "--emotions",
        type=_names_argument,
        help="comma-separated emotion names to keep (at least 2), in this order (each row "
        "renormalised over them), for every dataset; 'all' keeps every emotion (the default, "
        "except wesad); wesad: its PANAS items, default 'dmer10' (DMER's 10 items), 'all' its "
        "24 items",
    )
    data.add_argument("--n-subjects", type=_count(2), help="synthetic: number of subjects")
    data.add_argument("--trials-per-subject", type=_count(1), help="synthetic: trials per subject")
    data.add_argument("--duration-s", type=_seconds, help="synthetic: trial length in seconds")

    own = p.add_argument_group(
        "your own feature table",
        "--features FILE (.csv or .parquet): one row per window; a subject column, optionally "
        "a trial column (ids read as text), at least 2 emotion columns (named "
        "'emotion__<name>', or listed with --emotion-columns), every other column a numeric, "
        "finite feature that must be named '<modality>__<feature>' or "
        "'<modality>__<scale>__<feature>': a column named otherwise (an id, a note) is "
        "refused, not used; leave it out with --drop-columns or list the features with "
        "--feature-columns (a condition code: name it with --condition-column). A first "
        "column without a header (the index DataFrame.to_csv writes) is read as the row index",
    )
    own.add_argument("--features", metavar="FILE", help="the feature table")
    own.add_argument("--subject-column", help="subject column (default: subject)")
    own.add_argument(
        "--trial-column",
        help="trial column, which must exist (default: the column 'trial' when present; "
        "without one every subject is one trial)",
    )
    own.add_argument(
        "--condition-column",
        help="experimental-condition column, shared across subjects (a protocol phase or "
        "stimulus; may be the trial column): trains MPCL's condition read-out and allows "
        "--calibration reference --reference-condition C (default: none)",
    )
    own.add_argument(
        "--emotion-columns",
        type=_names_argument,
        help="comma-separated emotion columns (default: the columns named emotion__<name>)",
    )
    own.add_argument(
        "--feature-columns",
        type=_names_argument,
        help="comma-separated feature columns: exactly these are the features, the other "
        "columns are left out (default: every column that is not an id or emotion)",
    )
    own.add_argument(
        "--drop-columns",
        type=_names_argument,
        help="comma-separated columns to leave out (not with --feature-columns)",
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
    feats.add_argument(
        "--backend",
        choices=BACKENDS,
        help="feature backend (default: fast; wesad: fast+physio, the fast statistics and the "
        "physiological features)",
    )
    feats.add_argument(
        "--subject-normalize",
        action="store_true",
        help="z-score features within each subject (transductive: uses the test subjects' "
        "unlabelled features)",
    )

    calib = p.add_argument_group(
        "subject calibration and controls",
        "--calibration puts a SubjectCalibrator first in every model's pipeline, fitted in "
        "each training fold; the test subject is normalised by its own rows",
    )
    calib.add_argument(
        "--calibration",
        choices=("none", "reference", "transductive"),
        default="none",
        help="per-subject feature normalisation: by each subject's reference rows, or by all "
        "its rows (transductive: the test subject's unlabelled windows)",
    )
    calib.add_argument(
        "--reference-condition",
        help="reference: the condition whose windows calibrate each subject (default for "
        "wesad: Base, its resting baseline)",
    )
    calib.add_argument(
        "--reference-minutes",
        type=_minutes,
        help="reference: calibrate each subject by the windows within its first N minutes of "
        "recording (wesad, synthetic) instead of a condition",
    )
    calib.add_argument(
        "--score-on",
        choices=("all", "non-reference"),
        default="all",
        help="score every test window, or only those outside the reference segment (which "
        "the calibration centres at 0); the table says which",
    )
    calib.add_argument(
        "--no-conditions",
        action="store_true",
        help="do not give MPCL the training windows' experimental conditions (wesad: Base, "
        "TSST, Fun, ...; a --features table: its --condition-column; by default they train "
        "its condition read-out; test windows' conditions are never used)",
    )
    calib.add_argument(
        "--permute-labels",
        action="store_true",
        help="label-permutation control: label vectors shuffled between (subject, trial) "
        "units (seeded by --random-state) before evaluation",
    )

    proto = p.add_argument_group("protocol and models")
    proto.add_argument(
        "--protocol",
        choices=("subject-independent", "subject-dependent", "kfold"),
        default="subject-independent",
        help="evaluation protocol; kfold: shuffled KFold over rows without groups (LDL)",
    )
    proto.add_argument(
        "--cv",
        type=_cv_argument,
        help="subject-independent: 'loso' or a number of GroupKFold folds (default: loso); "
        "kfold: the number of folds (default: 10)",
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
