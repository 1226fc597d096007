"""Save a fitted Pipeline to a safe model file and serve it from a fresh Python process.

A fitted scikit-learn model saved with ``pickle`` or ``joblib`` is a program: loading it runs
whatever the file says. :func:`mpcl_sklearn.io.save_model` writes a `skops` file instead (a zip
holding a JSON description and the numpy arrays: MPCL's network weights are stored as plain
arrays, no pickled torch objects), and :func:`mpcl_sklearn.io.load_model` refuses to build any
type outside an allowlist (scikit-learn, numpy, mpcl_sklearn's own classes) before constructing
anything.

This script

1. fits the complete Pipeline (windows -> frames -> features -> MPCL) on synthetic windows;
2. saves it with ``save_model`` and lists the types a loader would have to trust
   (``untrusted_types``: empty, so the default allowlist is enough);
3. starts a *fresh* Python interpreter (as a model server would be) that loads the file with
   ``load_model`` and predicts new windows it receives as plain numpy arrays;
4. checks that the served predictions are identical, bit for bit, to the original model's.

Usage::

    python examples/save_and_serve.py [OUTPUT_DIR]     # default: examples_output/

``MPCL_EXAMPLES_QUICK=1`` runs a tiny version in seconds.

Training on a GPU: fit with ``MPCLDistributionRegressor(device="cuda")`` and save exactly as
below. The file holds the weights as numpy arrays, so it does not depend on CUDA; on a machine
without a GPU, ``load_model`` rebuilds the network on the CPU (the loaded estimator keeps its
parameter ``device="cuda"`` but its weights live on ``device_ == "cpu"``) and ``predict`` runs
there. Serving code does not change. (GPU and CPU arithmetic differ in the last bits, so
compare a GPU-trained model's CPU predictions with a tolerance, not bit for bit.)
"""

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
from sklearn.pipeline import Pipeline

from mpcl_sklearn.datasets import make_mixed_emotion_recordings
from mpcl_sklearn.features import ModalityFeatureExtractor
from mpcl_sklearn.io import save_model, untrusted_types
from mpcl_sklearn.models import MPCLDistributionRegressor
from mpcl_sklearn.windowing import SignalWindower, make_windows

QUICK = os.environ.get("MPCL_EXAMPLES_QUICK", "") not in ("", "0")

# What runs in the serving process. It knows nothing of the training script: it gets a model
# file and windows of raw signal (one (n_windows, n_channels, n_times) array per modality and the
# sampling rates), and writes the predicted emotion distributions.
SERVE_CODE = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import pandas as pd
    from mpcl_sklearn.io import load_model

    model_path, windows_path, rates_path, out_path = sys.argv[1:5]
    # trusted=None (the default): only the allowlist. A file that references anything else
    # (e.g. a function from another package) raises UntrustedModelError naming those types;
    # pass them as trusted=[...] only if you trust the file's author as much as your own code.
    model = load_model(model_path, trusted=None)

    # Rebuild the window table the Pipeline expects: one row per window, one column per
    # modality, each cell an (n_channels, n_times) array; the rates go in X.attrs["sfreq"].
    arrays = np.load(windows_path)
    X = pd.DataFrame({m: list(arrays[m]) for m in arrays.files})
    X.attrs["sfreq"] = json.loads(open(rates_path).read())

    np.save(out_path, model.predict(X))
    print(f"served {len(X)} windows with {type(model).__name__} "
          f"({' -> '.join(name for name, _ in model.steps)})")
    """
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", nargs="?", default="examples_output", help="output folder")
    out = Path(parser.parse_args().out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    # Training data: the first subjects' windows; "incoming" data: the last subject's.
    if QUICK:
        size = {"n_subjects": 3, "trials_per_subject": 3, "duration_s": 20.0}
    else:
        size = {"n_subjects": 8, "trials_per_subject": 8, "duration_s": 40.0}
    recordings = make_mixed_emotion_recordings(**size, random_state=0)
    X, y, groups = make_windows(recordings, window_s=10.0, step_s=5.0)
    new = groups == groups[-1]
    X_train, y_train, X_new = X[~new], y[~new], X[new]

    pipe = Pipeline(
        [
            ("frames", SignalWindower(scales_s=(2.0, 5.0))),
            ("features", ModalityFeatureExtractor(backend="fast", feature_set="minimal")),
            (
                "model",
                MPCLDistributionRegressor(
                    max_epochs=3 if QUICK else 30,
                    random_state=0,
                    # device="cuda" here trains on a GPU; the saved file is served the same way.
                ),
            ),
        ]
    )
    pipe.fit(X_train, y_train)
    print(f"fitted on {len(X_train)} windows in {time.perf_counter() - start:.1f} s")
    mpcl = pipe[-1]
    print(
        f"MPCL: {len(mpcl.tokens_)} tokens (modality, scale), e.g. {mpcl.tokens_[:2]}; "
        f"behavioural: {mpcl.behavioural_modalities_}"
    )

    # Save. The write is atomic: an interrupted save never leaves a truncated file.
    model_path = save_model(pipe, out / "mpcl_pipeline.skops")
    print(f"saved {model_path} ({model_path.stat().st_size / 1024:.0f} KiB)")
    print(f"types outside the allowlist: {untrusted_types(model_path)}")

    # Hand the new windows over as plain arrays (no pickle on this side either).
    windows_path = out / "new_windows.npz"
    rates_path = out / "sfreq.json"
    np.savez(windows_path, **{m: np.stack(X_new[m].to_list()) for m in X_new.columns})
    rates_path.write_text(json.dumps(X_new.attrs["sfreq"]))

    # Serve from a fresh interpreter: nothing from this process is reused.
    pred_path = out / "served_predictions.npy"
    subprocess.run(
        [sys.executable, "-c", SERVE_CODE, model_path, windows_path, rates_path, pred_path],
        check=True,
    )

    served = np.load(pred_path)
    local = pipe.predict(X_new)
    identical = np.array_equal(served, local)
    print(
        f"served predictions: shape {served.shape}, rows sum to 1: "
        f"{np.allclose(served.sum(axis=1), 1.0)}"
    )
    print(f"identical to the original model's predictions: {identical}")
    print(
        f"first window, predicted distribution over {recordings.emotions[:3]} ...: "
        f"{np.round(served[0, :3], 3)}"
    )
    print(f"\ndone in {time.perf_counter() - start:.1f} s")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
