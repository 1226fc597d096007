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

import sys
from collections.abc import Sequence

from .commands import EXIT_USAGE, CLIError
from .parser import (
    BACKENDS,
    DATASETS,
    FAST_FEATURE_SETS,
    FEATURE_SETS,
    QUICK_DEMO_SECONDS,
    TSFRESH_PRESETS,
    build_parser,
)

__all__ = [
    "BACKENDS",
    "DATASETS",
    "EXIT_USAGE",
    "FAST_FEATURE_SETS",
    "FEATURE_SETS",
    "QUICK_DEMO_SECONDS",
    "TSFRESH_PRESETS",
    "CLIError",
    "build_parser",
    "main",
]


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
