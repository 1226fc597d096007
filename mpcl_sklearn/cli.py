"""Command line entry point: ``mpcl-sklearn demo`` and friends."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np


def _demo(args: argparse.Namespace) -> int:
    from .baselines import MeanDistributionRegressor
    from .model_selection import subject_independent_evaluate

    rng = np.random.default_rng(args.random_state)
    n_subjects, per_subject, n_emotions = 8, 40, 10
    groups = np.repeat(np.arange(n_subjects), per_subject)
    latent = rng.normal(size=(len(groups), 3))
    X = latent @ rng.normal(size=(3, 20)) + rng.normal(scale=0.5, size=(len(groups), 20))
    logits = latent @ rng.normal(size=(3, n_emotions))
    y = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    result = subject_independent_evaluate(MeanDistributionRegressor(), X, y, groups, cv=4)
    print("MeanDistributionRegressor on a small built-in problem")
    print(result.format_summary())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``mpcl-sklearn``."""
    parser = argparse.ArgumentParser(prog="mpcl-sklearn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="subject-independent CV on the built-in data")
    demo.add_argument("--random-state", type=int, default=0)
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line interface."""
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
