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
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

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


@contextmanager
def _each_warning_once() -> Iterator[None]:
    """Show each distinct warning (category and text) once, as one line without source lines.

    A warning raised in every fold (a model's, a library's) is otherwise printed once per fold,
    with the line of code that raised it.
    """
    seen: set[tuple[type, str]] = set()
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        if (category, text) in seen:
            return
        seen.add((category, text))
        print(f"mpcl-sklearn: warning: {category.__name__}: {text}", file=file or sys.stderr)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line interface; returns the exit status (2 for a mistake in the
    command, printed as one line)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        with _each_warning_once():
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
