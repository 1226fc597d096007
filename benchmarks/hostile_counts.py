"""Run the hostile-input and hostile model-file suites and print how the cases ended.

Usage::

    .venv/bin/python benchmarks/hostile_counts.py [--json counts.json]

Runs ``tests/test_hostile_inputs.py`` and ``tests/test_model_files.py`` with pytest
(sequentially, so the counts are complete) and prints, per public entry point, the number of
cases tried and how each ended (a correct result, or which clear exception); for the model
files, per entry point and per class of attack, with the number of unexplained outcomes (a
crafted file accepted). Exit status: pytest's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Entry points of the usercli side of issues 12 and 14, by class of hostile input (the
#: classes of issue 12); printed as a per-class summary after the per-entry table.
USERCLI_CLASSES = {
    "MPCLDistributionRegressor state": "estimator state",
    "HeLoRegressor state": "estimator state",
    "set_output(predict=)": "estimator state",
    "protocols (groups, cv)": "protocols and CLI",
    "cli": "protocols and CLI",
    "load_feature_table": "own feature tables (CLI --features)",
    "plotting": "figures",
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", help="also write the counts here")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "counts.json"
        files_out = Path(tmp) / "model_files.json"
        env = dict(os.environ, MPCL_HOSTILE_COUNTS=str(out), MPCL_MODEL_FILE_COUNTS=str(files_out))
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "tests/test_hostile_inputs.py",
            "tests/test_model_files.py",
            "-q",
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
        ]
        print("command:", " ".join(cmd))
        t0 = time.perf_counter()
        res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        tail = [ln for ln in res.stdout.splitlines() if " passed" in ln or " failed" in ln]
        counts = json.loads(out.read_text()) if out.exists() else {}
        files = json.loads(files_out.read_text()) if files_out.exists() else {}
    print(f"{'entry point':36s} {'cases':>6s}  outcomes")
    for name, row in counts.items():
        detail = ", ".join(f"{k} {v}" for k, v in row.items() if k != "cases")
        print(f"{name:36s} {row['cases']:6d}  {detail}")
    print(f"{'total':36s} {sum(r['cases'] for r in counts.values()):6d}")
    _class_table(counts, USERCLI_CLASSES)
    unexplained = _model_file_table(files)
    print(f"pytest: {tail[-1] if tail else res.stdout[-500:]} (wall {wall:.1f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps({"inputs": counts, "model_files": files}, indent=1))
    return res.returncode or int(unexplained > 0)


def _class_table(counts: dict[str, dict[str, int]], classes: dict[str, str]) -> None:
    """Print the cases of the entry points in ``classes`` summed per class."""
    per_class: dict[str, Counter] = {}
    for entry, row in counts.items():
        if entry in classes:
            per_class.setdefault(classes[entry], Counter()).update(
                {k: v for k, v in row.items() if k != "cases"}
            )
    if not per_class:
        return
    print()
    print(f"{'class (issues 12, 14: usercli side)':36s} {'cases':>6s}  outcomes")
    for name, row in per_class.items():
        detail = ", ".join(f"{k} {v}" for k, v in sorted(row.items()))
        print(f"{name:36s} {sum(row.values()):6d}  {detail}")


def _model_file_table(files: dict[str, dict[str, int]]) -> int:
    """Print the model-file attacks per entry point and class; return the unexplained count."""
    print()
    print(f"{'model files: entry point | attack':48s} {'cases':>6s}  outcomes")
    per_entry: Counter = Counter()
    per_attack: Counter = Counter()
    for key, row in files.items():
        entry, _, attack = key.partition(" | ")
        n = sum(row.values())
        per_entry[entry] += n
        per_attack[attack] += n
        print(f"{key:48s} {n:6d}  {', '.join(f'{k} {v}' for k, v in row.items())}")
    print("per entry point: " + ", ".join(f"{k} {v}" for k, v in sorted(per_entry.items())))
    print("per attack: " + ", ".join(f"{k} {v}" for k, v in sorted(per_attack.items())))
    unexplained = sum(row.get("accepted", 0) for row in files.values())
    print(f"model-file cases {sum(per_entry.values())}, unexplained (file accepted) {unexplained}")
    return unexplained


if __name__ == "__main__":
    sys.exit(main())
