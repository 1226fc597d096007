"""The scripts in examples/ run end to end (reduced size: MPCL_EXAMPLES_QUICK=1)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
WESAD = REPO.parent / "shared" / "data" / "wesad"
METRICS = ("chebyshev", "clark", "canberra", "kl_divergence", "cosine", "intersection")


def run_example(name: str, *args: str, cwd: Path, quick: bool = True) -> str:
    env = os.environ.copy()
    env["MPLBACKEND"] = "Agg"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if quick:
        env["MPCL_EXAMPLES_QUICK"] = "1"
    else:
        env.pop("MPCL_EXAMPLES_QUICK", None)
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,  # a temporary folder: default outputs must not land in the repository
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, (
        f"{name} exited with {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n"
        f"{proc.stderr}"
    )
    return proc.stdout


def test_quickstart(tmp_path):
    out = run_example("quickstart.py", cwd=tmp_path)
    assert "subject-independent, GroupKFold(2) over 4 subjects" in out
    for metric in METRICS:
        assert metric in out
    assert "Per fold:" in out


@pytest.mark.skipif(not WESAD.is_dir(), reason=f"WESAD data not found at {WESAD}")
def test_wesad_subject_independent(tmp_path):
    out = run_example("wesad_subject_independent.py", str(WESAD), cwd=tmp_path)
    assert "WESAD wrist signals" in out
    assert "4 subjects" in out
    assert "| mpcl |" in out and "| mean |" in out
    for metric in METRICS:
        assert metric in out


def test_wesad_without_data_exits_cleanly(tmp_path):
    missing = tmp_path / "no_wesad_here"
    out = run_example("wesad_subject_independent.py", str(missing), cwd=tmp_path, quick=False)
    assert "WESAD data not found" in out
    assert str(missing) in out


def test_ablation_study(tmp_path):
    out = run_example("ablation_study.py", cwd=tmp_path)
    for variant in (
        "| full |",
        "| no memory fusion |",
        "| no prototype distillation |",
        "| no cooccurrence retrieval |",
        "| no hierarchical compression |",
        "| none (all off) |",
    ):
        assert variant in out
    for metric in METRICS:
        assert metric in out


def test_plot_cooccurrence(tmp_path):
    figures = tmp_path / "figures"
    out = run_example("plot_cooccurrence.py", str(figures), cwd=tmp_path)
    for name in ("cooccurrence_heldout", "learned_cooccurrence", "distributions_heldout"):
        png = figures / f"{name}.png"
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"wrote {png}" in out
    for metric in METRICS:
        assert metric in out


def test_save_and_serve(tmp_path):
    out = run_example("save_and_serve.py", cwd=tmp_path)  # default output: ./examples_output
    assert (tmp_path / "examples_output" / "mpcl_pipeline.skops").is_file()
    assert "types outside the allowlist: []" in out
    assert "served 9 windows with Pipeline (frames -> features -> model)" in out
    assert "identical to the original model's predictions: True" in out
