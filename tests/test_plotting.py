"""Figures render with titles, labels and emotion names; bad input is refused."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from mpcl_sklearn.metrics import METRICS
from mpcl_sklearn.plotting import (
    emotion_correlation,
    plot_cooccurrence,
    plot_distributions,
    plot_learned_cooccurrence,
    plot_metric_comparison,
)

NAMES = ["Happy", "Excited", "Sad", "Afraid"]


@pytest.fixture
def dists():
    rng = np.random.default_rng(0)
    return rng.dirichlet(np.ones(4), 50), rng.dirichlet(np.ones(4), 50)


def test_emotion_correlation_matches_numpy(dists):
    t, _ = dists
    np.testing.assert_allclose(emotion_correlation(t), np.corrcoef(t.T), atol=1e-12)


def test_emotion_correlation_constant_emotion_is_nan_off_diagonal():
    y = np.array([[0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.5, 0.25, 0.25]])
    corr = emotion_correlation(y)
    assert corr[0, 0] == 1.0 and np.isnan(corr[0, 1])
    assert corr[1, 2] == pytest.approx(-1.0)


def test_cooccurrence_figure_has_names_and_titles(dists):
    fig = plot_cooccurrence(*dists, NAMES)
    titles = [ax.get_title() for ax in fig.axes]
    assert "true distributions" in titles and "predicted distributions" in titles
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == NAMES
    assert fig._suptitle.get_text()


def test_learned_cooccurrence_accepts_estimator_like(dists):
    class Fitted:
        cooccurrence_ = np.eye(4) * 0.7 + 0.1

    fig = plot_learned_cooccurrence(Fitted(), NAMES)
    assert "co-occurrence" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="square"):
        plot_learned_cooccurrence(np.ones((2, 3)))


def test_distributions_and_comparison(dists):
    fig = plot_distributions(*dists, NAMES, indices=[0, 5])
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["sample 0", "sample 5"]
    rows = [
        {"model": m, "metric": k, "mean": 0.5, "std": 0.1}
        for m in ["mpcl", "mean"]
        for k in METRICS
    ]
    fig = plot_metric_comparison(pd.DataFrame(rows))
    assert {ax.get_title() for ax in fig.axes} >= {"kl_divergence (lower is better)"}
    with pytest.raises(ValueError, match="lacks columns"):
        plot_metric_comparison(pd.DataFrame({"model": ["a"]}))


def test_wrong_names_and_shapes(dists):
    t, p = dists
    with pytest.raises(ValueError, match="3 emotion names for 4"):
        plot_cooccurrence(t, p, NAMES[:3])
    with pytest.raises(ValueError, match="shape"):
        plot_distributions(t, p[:10])


def test_figures_leave_the_backend_and_pyplot_alone(tmp_path):
    """Making and saving every figure (as write_outputs does) selects no backend, imports no
    pyplot and opens no window: run where the user chose a backend of their own."""
    code = f"""
import sys
import matplotlib
import numpy as np
import pandas as pd
from mpcl_sklearn.experiments import ExperimentResult, FeatureTable, write_outputs
rng = np.random.default_rng(0)
y = rng.dirichlet(np.ones(3), 12)
summary = pd.DataFrame({{"model": ["m"] * 2, "metric": ["kl_divergence", "cosine"],
                        "mean": [0.1, 0.9], "std": [0.01, 0.02], "higher_is_better": [0, 1]}})
result = ExperimentResult(scores=summary, summary=summary, protocol="p", seconds={{"m": 1.0}},
                          predictions={{"m": y[::-1]}})
data = FeatureTable(X=pd.DataFrame(rng.normal(size=(12, 2))), y=y, groups=np.zeros(12),
                    trials=np.zeros(12), emotions=["a", "b", "c"])
written = write_outputs(result, {str(tmp_path)!r}, data=data, final_model=np.eye(3))
assert all(p.stat().st_size > 0 for p in written.values()), written
assert "learned_cooccurrence" in written and "cooccurrence_m" in written
assert matplotlib.get_backend() == "template", matplotlib.get_backend()
assert "matplotlib.pyplot" not in sys.modules
print("ok")
"""
    env = {"MPLBACKEND": "template", "PYTHONPATH": ":".join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
