"""Run the hostile-input suite and print how many generated cases each entry point got.

Usage::

    .venv/bin/python benchmarks/hostile_counts.py [--json counts.json]

Runs ``tests/test_hostile_inputs.py`` with pytest (sequentially, so the counts are complete)
and prints, per public entry point, the number of cases tried and how each ended (a correct
result, or which clear exception). Exit status: pytest's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", help="also write the counts here")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "counts.json"
        env = dict(os.environ, MPCL_HOSTILE_COUNTS=str(out))
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "tests/test_hostile_inputs.py",
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
    print(f"{'entry point':36s} {'cases':>6s}  outcomes")
    for name, row in counts.items():
        detail = ", ".join(f"{k} {v}" for k, v in row.items() if k != "cases")
        print(f"{name:36s} {row['cases']:6d}  {detail}")
    print(f"{'total':36s} {sum(r['cases'] for r in counts.values()):6d}")
    print(f"pytest: {tail[-1] if tail else res.stdout[-500:]} (wall {wall:.1f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(counts, indent=1))
    return res.returncode


if __name__ == "__main__":
    sys.exit(main())
