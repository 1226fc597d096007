"""The command line as a user meets it: one-line errors, help, devices, emotions, own tables."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mpcl_sklearn import cli
from mpcl_sklearn.cli import main
from mpcl_sklearn.datasets import load_feature_table
from mpcl_sklearn.experiments import prepare_dataset, select_emotions

SMALL = {"n_subjects": 4, "trials_per_subject": 3, "duration_s": 20.0}
REPO = Path(__file__).resolve().parents[1]


def run(argv, capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors and --help
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(argv, capsys) -> str:
    code, _, err = run(argv, capsys)
    assert code == 2, (argv, code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("mpcl-sklearn"), err
    return lines[0]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """A feature table as a user would write one: ids, features, emotion__ columns."""
    data = prepare_dataset("synthetic", feature_set="minimal", synthetic_params=SMALL)
    frame = data.X.copy()
    frame.insert(0, "subject", data.groups)
    frame.insert(1, "trial", [t.split("/")[-1] for t in data.trials])
    for i, e in enumerate(data.emotions):
        frame[f"emotion__{e}"] = data.y[:, i]
    return frame


@pytest.fixture
def table_file(tmp_path, table) -> Path:
    path = tmp_path / "mytable.csv"
    table.to_csv(path, index=False)
    return path


# ------------------------------------------------------------------------------ errors
def test_mistakes_end_in_one_line_and_exit_2(tmp_path, capsys):
    """Tracebacks of the former CLI: a missing --path, an unknown subject, a bad feature set,
    empty models, bad scales, --subjects for synthetic data, an unwritable --out, devices."""
    missing = str(tmp_path / "nowhere")
    assert "no such folder" in one_line_error(
        ["evaluate", "--dataset", "wesad", "--path", missing], capsys
    )
    wesad = tmp_path / "wesad"
    wesad.mkdir()
    out = str(tmp_path / "out")
    assert "S99" in one_line_error(
        [
            "evaluate",
            "--dataset",
            "wesad",
            "--path",
            str(wesad),
            "--subjects",
            "S99",
            "--out",
            out,
            "--quiet",
        ],
        capsys,
    )
    assert "invalid choice: 'bogus'" in one_line_error(
        ["evaluate", "--feature-set", "bogus"], capsys
    )
    assert "not a feature set of --backend fast" in one_line_error(
        ["evaluate", "--feature-set", "efficient", "--out", out], capsys
    )
    assert "empty items" in one_line_error(["evaluate", "--models", ","], capsys)
    assert "positive frame lengths" in one_line_error(["evaluate", "--scales", "a,b"], capsys)
    assert "positive frame lengths" in one_line_error(["evaluate", "--scales", "2,-1"], capsys)
    assert "--n-subjects" in one_line_error(["evaluate", "--subjects", "S01"], capsys)
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert "cannot write there" in one_line_error(
        ["evaluate", "--out", str(blocker / "sub")], capsys
    )
    assert "mps" in one_line_error(["evaluate", "--device", "mps", "--out", out], capsys)
    assert "cuda:x" in one_line_error(["evaluate", "--device", "cuda:x", "--out", out], capsys)
    assert "--features" in one_line_error(["evaluate", "--subject-column", "who"], capsys)
    assert "lists a model twice" in one_line_error(
        ["evaluate", "--models", "mean,mean", "--out", out], capsys
    )


def test_unwritable_out_is_refused_before_loading(tmp_path, capsys, monkeypatch):
    import mpcl_sklearn.experiments as experiments

    def no_loading(*args, **kwargs):
        raise AssertionError("the data was loaded before --out was checked")

    monkeypatch.setattr(experiments, "prepare_dataset", no_loading)
    blocker = tmp_path / "file"
    blocker.write_text("")
    for command in ("evaluate", "ablation"):
        line = one_line_error([command, "--out", str(blocker / "x"), "--quiet"], capsys)
        assert "cannot write there" in line


def test_traceback_option_shows_the_exception(tmp_path):
    with pytest.raises(FileNotFoundError, match="S99"):
        main(
            [
                "evaluate",
                "--dataset",
                "dmer",
                "--path",
                str(tmp_path),
                "--subjects",
                "S99",
                "--out",
                str(tmp_path / "o"),
                "--traceback",
                "--quiet",
            ]
        )


# ------------------------------------------------------------------------------ help
def test_help_shows_defaults_and_allowed_values(capsys):
    code, out, _ = run(["evaluate", "--help"], capsys)
    assert code == 0
    for text in (
        "(default: loso)",
        "(default: results)",
        "(default: subject-independent)",
        "{fast,tsfresh,physio}",
        "{trial,temporal,random}",
        "--device",
        "cpu, cuda, cuda:<n> or mps",
        "mpcl, helo, sa-bfgs, aa-knn, mlp, mean",
        "--features FILE",
        "emotion__<name>",
        "--emotions",
    ):
        assert text in " ".join(out.split()), text
    code, out, _ = run(["demo", "--help"], capsys)
    assert code == 0 and "(default: 0)" in out and cli.QUICK_DEMO_SECONDS in out


def test_help_imports_no_heavy_library():
    """``mpcl-sklearn --help`` used to import scikit-learn, pandas and torch (5 s)."""
    code = (
        "import sys\n"
        "from mpcl_sklearn.cli import build_parser\n"
        "build_parser().format_help()\n"
        "heavy = ('torch', 'sklearn', 'pandas', 'scipy', 'matplotlib', 'skorch')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_feature_set_names_match_the_backends():
    from mpcl_sklearn.features.fast import FEATURE_SETS
    from mpcl_sklearn.features.tsfresh_backend import _PRESETS

    assert set(cli.FAST_FEATURE_SETS) == set(FEATURE_SETS)
    assert set(cli.TSFRESH_PRESETS) == set(_PRESETS)


# ------------------------------------------------------------------------------ your own table
def test_load_feature_table_convention_and_errors(tmp_path, table, table_file):
    data = load_feature_table(table_file)
    emotions = [c[len("emotion__") :] for c in table.columns if c.startswith("emotion__")]
    assert data.emotions == emotions and data.y.shape == (len(table), len(emotions))
    np.testing.assert_allclose(data.y.sum(1), 1.0)
    assert data.X.shape[1] == table.shape[1] - 2 - len(emotions)
    assert data.X.attrs["emotions"] == emotions
    assert set(data.behavioural) == {"acc", "face"}  # acc/face/video present in the table
    assert len(set(data.trials)) == 12 and set(data.groups) == set(table["subject"])
    # explicit emotion columns, ratings rescaled, a subject subset
    ratings = table.rename(columns={f"emotion__{e}": e for e in emotions})
    ratings[emotions] *= 7.0
    path = tmp_path / "ratings.csv"
    ratings.to_csv(path, index=False)
    with pytest.raises(ValueError, match="sum to 1"):
        load_feature_table(path, emotion_columns=emotions)
    sub = load_feature_table(
        path, emotion_columns=emotions[:3], normalize=True, subjects=[table["subject"].iloc[0]]
    )
    assert sub.emotions == emotions[:3] and len(set(sub.groups)) == 1
    np.testing.assert_allclose(sub.y.sum(1), 1.0)
    with pytest.raises(ValueError, match="not in the feature table"):
        load_feature_table(table_file, subjects=["nobody"])
    with pytest.raises(ValueError, match="no subject column 'who'"):
        load_feature_table(table_file, subject_column="who")
    with pytest.raises(ValueError, match="no emotion columns"):
        load_feature_table(path)
    bad = table.assign(note="x")
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match=r"\['note'\] are not numeric"):
        load_feature_table(tmp_path / "bad.csv")
    with pytest.raises(ValueError, match="unknown file type"):
        load_feature_table(table_file.rename(tmp_path / "t.xlsx"))
    with pytest.raises(FileNotFoundError):
        load_feature_table(tmp_path / "none.csv")


def test_parquet_needs_pyarrow_or_reads(tmp_path, table):
    path = tmp_path / "t.parquet"
    try:
        table.to_parquet(path)
    except ImportError:
        path.write_bytes(b"PAR1")
        with pytest.raises(ImportError, match="pyarrow"):
            load_feature_table(path)
    else:
        assert load_feature_table(path).X.shape[0] == len(table)


def test_evaluate_your_own_table_gives_the_outputs_of_a_dataset(tmp_path, table_file, capsys):
    out = tmp_path / "out"
    keep = ["Inspired", "Alert", "Afraid"]
    argv = [
        "evaluate", "--features", str(table_file), "--emotions", ",".join(keep),
        "--models", "mpcl,sa-bfgs,mean", "--cv", "2", "--max-epochs", "2", "--device", "cpu",
        "--quiet", "--out", str(out),
    ]  # fmt: skip
    code, stdout, err = run(argv, capsys)
    assert code == 0, err
    assert "feature table mytable.csv; 4 subjects, 12 trials" in stdout
    stem = out / "features_subject-independent"
    for suffix in (
        ".md", "_folds.csv", "_summary.csv", "_meta.json", "_predictions.csv",
        "_per_emotion.csv", "_metrics.png", "_cooccurrence_mpcl.png", "_cooccurrence_mean.png",
        "_distributions_sa_bfgs.png", "_learned_cooccurrence.png",
    ):  # fmt: skip
        assert Path(f"{stem}{suffix}").stat().st_size > 0, suffix
    meta = json.loads(Path(f"{stem}_meta.json").read_text())
    assert meta["emotions"] == keep
    assert meta["command"].startswith("mpcl-sklearn evaluate --features")
    for lib in ("mpcl_sklearn", "torch", "scikit-learn", "numpy"):
        assert meta["versions"][lib], lib
    per_emotion = pd.read_csv(f"{stem}_per_emotion.csv", index_col="model")
    assert list(per_emotion.columns) == keep and list(per_emotion.index) == [
        "mpcl", "sa-bfgs", "mean"
    ]  # fmt: skip
    preds = pd.read_csv(f"{stem}_predictions.csv")
    assert [c for c in preds.columns if c.startswith("pred:")] == [f"pred:{e}" for e in keep]
    assert "Emotions: Inspired, Alert, Afraid." in Path(f"{stem}.md").read_text()
    # subject-dependent: the trial column gives the trials
    code, stdout, err = run(
        ["evaluate", "--features", str(table_file), "--protocol", "subject-dependent",
         "--models", "mean", "--quiet", "--out", str(out)],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "subject-dependent" in stdout


def test_emotions_select_and_renormalise():
    data = prepare_dataset("synthetic", feature_set="minimal", synthetic_params=SMALL)
    kept = select_emotions(data, ["Afraid", "Inspired"])
    assert kept.emotions == ["Afraid", "Inspired"] and kept.X.attrs["emotions"] == kept.emotions
    expected = data.y[:, [5, 0]] / data.y[:, [5, 0]].sum(1, keepdims=True)
    np.testing.assert_allclose(kept.y, expected)
    assert data.y.shape[1] == 10  # the input is left alone
    with pytest.raises(ValueError, match="unknown emotions"):
        select_emotions(data, ["Joy"])
    same = prepare_dataset(
        "synthetic", feature_set="minimal", synthetic_params=SMALL, emotions=["Afraid", "Inspired"]
    )
    np.testing.assert_allclose(same.y, kept.y)
    with pytest.raises(ValueError, match="subjects="):
        prepare_dataset("synthetic", subjects=["S01"], synthetic_params=SMALL)


def test_device_reaches_the_neural_models():
    from mpcl_sklearn.experiments import make_model

    assert make_model("mpcl", device="cpu").device == "cpu"
    assert make_model("mlp", device="cuda:1").device == "cuda:1"
    assert make_model("mean", device="cuda").get_params().get("device") is None
