"""Reading a WESAD ``SX/SX.pkl`` safely: a restricted unpickler and the signals it holds.

The synchronised pickle of the release was written by Python 2. Unpickling a downloaded file
with :mod:`pickle` can run any code it names, so :class:`WesadUnpickler` resolves only the
numpy and container globals such a file needs and refuses everything else.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from .release import WESADFormatError

#: Pickle chest key -> modality name.
_CHEST_KEYS: dict[str, str] = {
    "ECG": "chest_ecg",
    "EMG": "chest_emg",
    "EDA": "chest_eda",
    "Temp": "chest_temp",
    "Resp": "chest_resp",
    "ACC": "chest_acc",
}
_PICKLE_WRIST_RATES = {"bvp": 64.0, "eda": 4.0, "temp": 4.0, "acc": 32.0}
#: Sampling rate of the chest recorder and of the pickle's ``label`` array.
CHEST_RATE = 700.0


#: Globals a WESAD ``SX.pkl`` may name: numpy array, dtype and scalar reconstruction (numpy 1.x
#: writes ``numpy.core``, 2.x ``numpy._core``), ``_codecs.encode`` (bytes in protocol-2 pickles
#: written by Python 3) and plain containers. Anything else (``os.system``, ``builtins.eval``,
#: arbitrary classes) is refused: unpickling must never run code from a downloaded file.
_PICKLE_CONTAINERS = ("dict", "list", "tuple", "set", "frozenset", "str", "bytes", "bytearray")
_PICKLE_CONTAINERS += ("int", "float", "complex", "bool")
#: Python 2 builtins -> Python 3 names.
_PY2_BUILTINS = {"unicode": "str", "long": "int"}
_PICKLE_ALLOWED: frozenset[tuple[str, str]] = frozenset(
    [
        (core + ".multiarray", name)
        for core in ("numpy.core", "numpy._core")
        for name in ("_reconstruct", "scalar")
    ]
    + [(core + ".numeric", "_frombuffer") for core in ("numpy.core", "numpy._core")]
    + [("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")]
    + [("builtins", name) for name in _PICKLE_CONTAINERS]
    + [("__builtin__", name) for name in (*_PICKLE_CONTAINERS, *_PY2_BUILTINS)]
)


_NUMPY2 = int(np.__version__.split(".")[0]) >= 2


class WesadUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals in :data:`_PICKLE_ALLOWED`."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _PICKLE_ALLOWED:
            raise pickle.UnpicklingError(
                f"refused global {module}.{name}: a WESAD pickle holds only numpy arrays, "
                "dicts and strings (the file may be corrupt or malicious)"
            )
        if module.startswith("numpy.core") and _NUMPY2:
            module = "numpy._core" + module[len("numpy.core") :]  # avoid the deprecated alias
        elif module == "__builtin__":  # written by Python 2
            module, name = "builtins", _PY2_BUILTINS.get(name, name)
        return super().find_class(module, name)


def load_wesad_pickle(path: str | Path) -> dict:
    """Read a WESAD ``SX.pkl`` (written by Python 2: ``encoding="latin1"``) safely.

    Only numpy arrays, dicts, lists and strings are reconstructed (:class:`WesadUnpickler`);
    a pickle naming any other global raises :class:`WESADFormatError` without running it.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        try:
            data = WesadUnpickler(fh, encoding="latin1").load()
        except Exception as exc:  # noqa: BLE001 - re-raised with the file name
            raise WESADFormatError(
                f"{path}: cannot unpickle ({type(exc).__name__}: {exc})"
            ) from exc
    if not isinstance(data, dict) or not {"signal", "label"} <= set(data):
        raise WESADFormatError(f"{path}: expected a dict with 'signal' and 'label' keys")
    return data


def label_runs(label: np.ndarray, code: int) -> list[tuple[int, int]]:
    """(start, end) sample indices of every run of ``code`` in the 700 Hz ``label`` array."""
    m = np.concatenate([[False], label == code, [False]])
    d = np.flatnonzero(np.diff(m.astype(int)))
    return list(zip(d[::2], d[1::2]))


def pickle_signals(
    data: dict, pkl: Path, chest: bool
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Wrist (and with ``chest``, chest) signals of a loaded pickle as (n_channels, n_times)
    arrays, and their sampling rates."""
    try:
        wrist = data["signal"]["wrist"]
    except (KeyError, TypeError):
        raise WESADFormatError(f"{pkl}: no signal['wrist']") from None
    sigs, sf = {}, {}
    for key, m in (("BVP", "bvp"), ("EDA", "eda"), ("TEMP", "temp"), ("ACC", "acc")):
        if key not in wrist:
            raise WESADFormatError(f"{pkl}: signal['wrist'] has no {key!r}")
        sigs[m] = np.asarray(wrist[key], dtype=float).reshape(len(wrist[key]), -1).T
        sf[m] = _PICKLE_WRIST_RATES[m]
    if chest:
        ch = data["signal"].get("chest", {})
        for key, m in _CHEST_KEYS.items():
            if key in ch:
                sigs[m] = np.asarray(ch[key], dtype=float).reshape(len(ch[key]), -1).T
                sf[m] = CHEST_RATE
    return sigs, sf
