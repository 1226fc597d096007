"""The documentation builds with Sphinx, warnings treated as errors (what ``make docs`` runs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_docs_build_without_warnings(tmp_path):
    for module in ("sphinx", "numpydoc", "myst_parser"):
        pytest.importorskip(module, reason=f"the docs build needs {module} (extra 'docs')")
    html = tmp_path / "html"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-b",
            "html",
            "-d",
            str(tmp_path / "doctrees"),
            str(REPO / "docs"),
            str(html),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"sphinx-build failed:\n{proc.stdout[-4000:]}\n{proc.stderr}"
    api = (html / "api.html").read_text(encoding="utf-8")
    for name in (
        "MPCLDistributionRegressor",
        "make_windows",
        "ModalityFeatureExtractor",
        "subject_independent_evaluate",
        "load_model",
        "dask_backend",
    ):
        assert name in api, name
    assert (html / "results.html").is_file()
