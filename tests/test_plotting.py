"""Figures render with titles, labels and emotion names; bad input is refused."""

import subprocess
import sys
from pathlib import Path

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


def test_figures_are_pyplot_figures_and_outputs_close_them(tmp_path):
    """Every plotting function returns a pyplot-managed figure (so ``plt.show()`` shows it in
    a script and notebooks display it); ``write_outputs`` closes each figure it saves; no
    library code calls ``matplotlib.use``: the user's backend (here "template") stays."""
    code = f"""
import matplotlib
def refuse(*args, **kwargs):
    raise AssertionError("matplotlib.use was called")
matplotlib.use = refuse
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from mpcl_sklearn.experiments import ExperimentResult, FeatureTable, write_outputs
from mpcl_sklearn.metrics import METRICS
from mpcl_sklearn.plotting import (plot_cooccurrence, plot_distributions,
    plot_learned_cooccurrence, plot_metric_comparison)
rng = np.random.default_rng(0)
y = rng.dirichlet(np.ones(3), 12)
summary = pd.DataFrame({{"model": ["m"] * 2, "metric": ["kl_divergence", "cosine"],
                        "mean": [0.1, 0.9], "std": [0.01, 0.02], "higher_is_better": [0, 1]}})
figs = [plot_cooccurrence(y, y[::-1]), plot_distributions(y, y[::-1]),
        plot_learned_cooccurrence(np.full((3, 3), 1 / 3)), plot_metric_comparison(summary)]
assert sorted(plt.get_fignums()) == sorted(f.number for f in figs), plt.get_fignums()
plt.close("all")
result = ExperimentResult(scores=summary, summary=summary, protocol="p", seconds={{"m": 1.0}},
                          predictions={{"m": y[::-1]}})
data = FeatureTable(X=pd.DataFrame(rng.normal(size=(12, 2))), y=y, groups=np.zeros(12),
                    trials=np.zeros(12), emotions=["a", "b", "c"])
written = write_outputs(result, {str(tmp_path)!r}, data=data, final_model=np.eye(3))
assert all(p.stat().st_size > 0 for p in written.values()), written
assert "learned_cooccurrence" in written and "cooccurrence_m" in written
assert plt.get_fignums() == [], plt.get_fignums()
assert matplotlib.get_backend() == "template", matplotlib.get_backend()
print("ok")
"""
    env = {"MPLBACKEND": "template", "PYTHONPATH": ":".join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_library_never_selects_a_backend():
    root = Path(__file__).resolve().parents[1] / "mpcl_sklearn"
    offenders = [p for p in root.rglob("*.py") if "matplotlib.use(" in p.read_text()]
    assert offenders == []


def _texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_learned_cooccurrence_has_a_fixed_documented_scale():
    """A nearly uniform learned matrix (0.197-0.203) is drawn on [0, 1], not stretched over
    its own range, and annotated with enough digits to tell the cells apart."""
    from matplotlib import pyplot as plt

    M = np.full((5, 5), 0.2)
    M[0, 0], M[0, 1], M[1, 1], M[1, 0] = 0.203, 0.197, 0.201, 0.199
    fig = plot_learned_cooccurrence(M, list("abcde"))
    image = fig.axes[0].images[0]
    assert image.get_clim() == (0.0, 1.0)
    assert {"0.203", "0.197", "0.201", "0.199", "0.200"} <= set(_texts(fig.axes[0]))
    # a correlation-like matrix (negative entries) is drawn on [-1, 1]
    fig2 = plot_learned_cooccurrence(np.array([[1.0, -0.3], [-0.3, 1.0]]))
    assert fig2.axes[0].images[0].get_clim() == (-1.0, 1.0)
    plt.close("all")


def test_constant_predictions_are_undefined_not_plus_minus_one():
    """The mean predictor's out-of-fold predictions are constant within each fold: correlating
    the fold means gives values near +-1 that describe nothing. With folds= those cells are
    masked (grey, 'n/a') and the panel says why; a model whose predictions vary is drawn."""
    from matplotlib import pyplot as plt

    rng = np.random.default_rng(1)
    y = rng.dirichlet(np.ones(4), 60)
    folds = np.repeat(np.arange(4), 15)
    fold_means = rng.dirichlet(np.ones(4) * 20, 4)
    mean_pred = fold_means[folds]
    assert np.nanmax(np.abs(emotion_correlation(mean_pred) - np.eye(4))) > 0.5  # the artefact
    fig = plot_cooccurrence(y, mean_pred, NAMES, folds=folds)
    pred_ax = fig.axes[1]
    assert pred_ax.get_title() == "predicted distributions"
    assert set(_texts(pred_ax)) == {"n/a"}
    assert "undefined" in pred_ax.get_xlabel() and "constant" in pred_ax.get_xlabel()
    assert fig.axes[0].images[0].get_clim() == pred_ax.images[0].get_clim() == (-1.0, 1.0)
    # a single constant prediction (no folds given) is undefined as well
    fig = plot_cooccurrence(y, np.tile(y.mean(0), (60, 1)), NAMES)
    assert set(_texts(fig.axes[1])) == {"n/a"} and "undefined" in fig.axes[1].get_xlabel()
    # predictions that vary within folds are drawn as usual
    varying = rng.dirichlet(np.ones(4), 60)
    fig = plot_cooccurrence(y, varying, NAMES, folds=folds)
    assert "n/a" not in _texts(fig.axes[1]) and fig.axes[1].get_xlabel() == ""
    with pytest.raises(ValueError, match="one entry per row"):
        plot_cooccurrence(y, varying, folds=folds[:-1])
    plt.close("all")


def test_figures_take_emotion_names_from_data_and_estimators(dists):
    from matplotlib import pyplot as plt

    t, p = dists
    fig = plot_cooccurrence(pd.DataFrame(t, columns=NAMES), p)
    assert [x.get_text() for x in fig.axes[0].get_xticklabels()] == NAMES
    fig = plot_distributions(t, pd.DataFrame(p, columns=NAMES), indices=[0])
    assert [x.get_text() for x in fig.axes[-1].get_xticklabels()] == NAMES

    class Fitted:
        cooccurrence_ = np.full((4, 4), 0.25)
        emotions_ = np.asarray(NAMES, dtype=object)

    fig = plot_learned_cooccurrence(Fitted())
    assert [x.get_text() for x in fig.axes[0].get_yticklabels()] == NAMES
    # explicit names win; without any, the axes say so
    fig = plot_learned_cooccurrence(Fitted(), list("wxyz"))
    assert [x.get_text() for x in fig.axes[0].get_yticklabels()] == list("wxyz")
    fig = plot_cooccurrence(t, p)
    assert fig.axes[0].get_xticklabels()[0].get_text() == "emotion 0"
    plt.close("all")
