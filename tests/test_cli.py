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


def test_name_is_checked_before_loading_and_cannot_leave_out(tmp_path, capsys, monkeypatch):
    """``--name nodir/x`` used to fail after the whole run; ``--name ../../escape`` wrote its
    files two folders above --out."""
    import mpcl_sklearn.experiments as experiments

    def no_loading(*args, **kwargs):
        raise AssertionError("the data was loaded before --name was checked")

    monkeypatch.setattr(experiments, "prepare_dataset", no_loading)
    out = tmp_path / "a" / "b" / "out"
    for name in ("nodir/x", "../../escape", "..", "a\\b", ""):
        for command in ("evaluate", "ablation"):
            line = one_line_error([command, "--name", name, "--out", str(out), "--quiet"], capsys)
            assert "--name" in line and "path separators" in line, line
    assert "255 bytes" in one_line_error(
        ["evaluate", "--name", "x" * 200, "--out", str(out), "--quiet"], capsys
    )
    assert not list(tmp_path.rglob("*escape*"))


def test_each_warning_is_shown_once_without_source_lines(capsys):
    """The CLI prints each distinct warning once (they used to repeat for every fold, with
    the source line that raised them)."""
    import warnings

    from mpcl_sklearn.cli import _each_warning_once

    with _each_warning_once():
        for fold in range(3):
            with warnings.catch_warnings():  # libraries reset the registry: shown again
                warnings.warn("same in every fold", UserWarning, stacklevel=1)
            warnings.warn(f"fold {fold // 2}", RuntimeWarning, stacklevel=1)
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "mpcl-sklearn: warning: UserWarning: same in every fold",
        "mpcl-sklearn: warning: RuntimeWarning: fold 0",
        "mpcl-sklearn: warning: RuntimeWarning: fold 1",
    ]
    assert warnings.showwarning is not None and "mpcl" not in repr(warnings.showwarning)


def test_a_warning_of_every_fold_is_printed_once(tmp_path, table, capsys, monkeypatch):
    """A warning raised in every fold's fit reaches the terminal once, as one line."""
    import warnings

    from mpcl_sklearn.models import MeanDistributionRegressor

    fit = MeanDistributionRegressor.fit

    def warning_fit(self, X, y, sample_weight=None):
        warnings.warn("the same in every fold", UserWarning, stacklevel=2)
        return fit(self, X, y, sample_weight)

    monkeypatch.setattr(MeanDistributionRegressor, "fit", warning_fit)
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    argv = [
        "evaluate", "--features", str(path), "--models", "mean", "--cv", "loso", "--quiet",
        "--out", str(tmp_path / "o"),
    ]  # fmt: skip
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert "4 subjects" in out  # 4 folds, each warned
    assert err.splitlines() == ["mpcl-sklearn: warning: UserWarning: the same in every fold"]


def test_inferred_behavioural_modalities_are_not_told_to_check_their_spelling():
    """The behavioural modalities a loader inferred reach the models as the table's metadata,
    not as names the user wrote: for a table whose names fall back to one token, MPCL used to
    warn "behavioural_modalities names ['acc'] ... check the spelling" (in every fold)."""
    import warnings

    from mpcl_sklearn.datasets import FeatureTable
    from mpcl_sklearn.experiments import run_experiment
    from mpcl_sklearn.models import ModalityLayoutWarning

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(40, 4)), columns=["a", "b", "c", "d"])  # one token
    X.attrs["behavioural"] = ["acc"]
    data = FeatureTable(
        X=X,
        y=rng.dirichlet(np.ones(3), size=40),
        groups=np.repeat(["s1", "s2", "s3", "s4"], 10),
        trials=np.repeat(["t1", "t2", "t3", "t4"], 10),
        emotions=["x", "y", "z"],
        behavioural=("acc",),
    )
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        run_experiment(data, ["mpcl"], cv=2, max_epochs=1)
    messages = [str(w.message) for w in rec if issubclass(w.category, ModalityLayoutWarning)]
    assert any("single token" in m for m in messages), messages  # the columns' own warning
    assert not any("check the spelling" in m for m in messages), messages


def test_own_table_columns_that_are_not_features(tmp_path, table, capsys):
    """The reviewer's table with the trial column named ``clip``: it used to become a feature
    (a label leak: the clip decides the emotion); now it is refused until named."""
    path = tmp_path / "clips.csv"
    clips = table.rename(columns={"trial": "clip"}).assign(notes="x").reset_index(drop=True)
    clips.to_csv(path)  # with its row index, as to_csv writes by default
    base = ["evaluate", "--features", str(path), "--models", "mean", "--quiet"]
    base += ["--out", str(tmp_path / "o")]
    line = one_line_error(base, capsys)
    assert "['clip', 'notes'] are not named" in line and "--trial-column" in line
    code, out, err = run(
        [*base, "--trial-column", "clip", "--drop-columns", "notes", "--protocol",
         "subject-dependent"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "'Unnamed: 0'" in out and "read as the row index" in out  # the report
    assert "columns left out (not features): ['notes']" in out
    assert "12 trials" in out
    features = [c for c in table.columns if "__" in c and not c.startswith("emotion__")]
    code, out, err = run(
        [*base, "--trial-column", "clip", "--feature-columns", ",".join(features[:3]), "--cv",
         "2"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "3 features" in out


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
        "{fast,tsfresh,physio,fast+physio}",
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
    with pytest.raises(ValueError, match="not named '<modality>__<feature>'"):
        # the other emotions' ratings would be features: a label leak (they used to be)
        load_feature_table(path, emotion_columns=emotions[:3], normalize=True)
    sub = load_feature_table(
        path,
        emotion_columns=emotions[:3],
        drop_columns=emotions[3:],
        normalize=True,
        subjects=[table["subject"].iloc[0]],
    )
    assert sub.emotions == emotions[:3] and len(set(sub.groups)) == 1
    assert list(sub.X.columns) == [c for c in table.columns if "__" in c and "emotion" not in c]
    np.testing.assert_allclose(sub.y.sum(1), 1.0)
    with pytest.raises(ValueError, match="not in the feature table"):
        load_feature_table(table_file, subjects=["nobody"])
    with pytest.raises(ValueError, match="no subject column 'who'"):
        load_feature_table(table_file, subject_column="who")
    with pytest.raises(ValueError, match="no emotion columns"):
        load_feature_table(path)
    bad = table.assign(note="x")
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match=r"\['note'\] are not named"):
        load_feature_table(tmp_path / "bad.csv")
    bad.assign(eda__note="x").to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match=r"\['eda__note'\] are not numeric"):
        load_feature_table(tmp_path / "bad.csv", drop_columns=["note"])
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


def test_condition_column_feeds_the_read_out_and_reference_calibration(tmp_path, table, capsys):
    """A condition shared by subjects (here: rest on each subject's first trial, task on the
    others) becomes ``conditions``: not a feature, read as text, and usable as the reference."""
    frame = table.reset_index(drop=True)
    first = frame.groupby("subject")["trial"].transform("first")
    frame["phase"] = np.where(frame["trial"] == first, "rest", "task")
    path = tmp_path / "phases.csv"
    frame.to_csv(path, index=False)
    data = load_feature_table(path, condition_column="phase")
    np.testing.assert_array_equal(data.conditions, frame["phase"].to_numpy())
    assert "phase" not in data.X.columns and data.X.shape[1] == table.shape[1] - 2 - 10
    assert "conditions from column 'phase': ['rest', 'task']" in data.report
    assert load_feature_table(path, drop_columns=["phase"]).conditions is None
    as_trial = load_feature_table(path, condition_column="trial", drop_columns=["phase"])
    np.testing.assert_array_equal(as_trial.conditions, table["trial"].astype(str).to_numpy())
    # a per-subject id is reported as such; missing, unknown or clashing columns are refused
    per_subject = frame.assign(phase=frame["subject"] + "-" + frame["phase"])
    per_subject.to_csv(tmp_path / "ids.csv", index=False)
    report = load_feature_table(tmp_path / "ids.csv", condition_column="phase").report
    assert any("occur in one subject only" in line for line in report)
    holes = frame.astype({"phase": object})
    holes.loc[3, "phase"] = None
    holes.to_csv(tmp_path / "holes.csv", index=False)
    with pytest.raises(ValueError, match="condition column 'phase' has missing values"):
        load_feature_table(tmp_path / "holes.csv", condition_column="phase")
    with pytest.raises(ValueError, match="no condition column 'stage'"):
        load_feature_table(path, condition_column="stage")
    with pytest.raises(ValueError, match="subject and the condition column"):
        load_feature_table(path, condition_column="subject", drop_columns=["phase"])
    with pytest.raises(ValueError, match="cannot be emotion columns"):
        load_feature_table(path, condition_column="emotion__Alert")
    # the command line: the read-out gets the conditions, a condition calibrates each subject
    out = tmp_path / "out"
    base = ["evaluate", "--features", str(path), "--models", "mpcl,mean", "--cv", "2",
            "--max-epochs", "2", "--device", "cpu", "--quiet", "--out", str(out)]  # fmt: skip
    assert "needs --reference-condition C" in one_line_error(
        [*base, "--condition-column", "phase", "--calibration", "reference"], capsys
    )
    assert "--condition-column" in one_line_error(
        ["evaluate", "--condition-column", "phase"], capsys
    )
    assert "no conditions" in one_line_error(
        [*base, "--drop-columns", "phase", "--calibration", "reference",
         "--reference-condition", "rest"],
        capsys,
    )  # fmt: skip
    code, stdout, err = run(
        [*base, "--condition-column", "phase", "--calibration", "reference",
         "--reference-condition", "rest", "--name", "phases"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    n_rest = int((frame["phase"] == "rest").sum())
    assert f"reference rows: {n_rest} of {len(frame)} windows" in stdout
    text = (out / "phases.md").read_text()
    assert "Conditions: the training rows' experimental conditions" in text


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


def test_label_set_names_on_every_dataset():
    """``--emotions all`` (a list ["all"] from the CLI) keeps every emotion on every dataset;
    the help used to offer it for wesad only, where the list reached the loader as an unknown
    emotion name 'all'; 'dmer10' is WESAD's only."""
    from mpcl_sklearn.experiments.data import _label_set

    assert _label_set(["all"], "wesad") == "all" and _label_set(["dmer10"], "wesad") == "dmer10"
    assert _label_set(["all"], "dmer") is None and _label_set("all", "table") is None
    assert _label_set(["Joy", "Fear"], "dmer") == ["Joy", "Fear"]
    with pytest.raises(ValueError, match="WESAD"):
        _label_set(["dmer10"], "synthetic")
    data = prepare_dataset(
        "synthetic", feature_set="minimal", synthetic_params=SMALL, emotions=["all"]
    )
    assert len(data.emotions) == 10
    with pytest.raises(ValueError, match="at least 2 emotions"):
        prepare_dataset(
            "synthetic", feature_set="minimal", synthetic_params=SMALL, emotions=["Afraid"]
        )


def test_device_reaches_the_neural_models():
    from mpcl_sklearn.experiments import make_model

    assert make_model("mpcl", device="cpu").device == "cpu"
    assert make_model("mlp", device="cuda:1").device == "cuda:1"
    assert make_model("mean", device="cuda").get_params().get("device") is None
