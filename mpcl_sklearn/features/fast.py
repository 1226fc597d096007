"""Vectorised re-implementation of a subset of tsfresh's feature calculators.

Every calculator takes a 2-D float array ``(n_series, n_times)`` (one row per frame x channel) and
returns ``{feature_name: values of shape (n_series,)}``, where the feature names are exactly the
names tsfresh gives (``"quantile__q_0.1"``, ``'linear_trend__attr_"slope"'``, ...) and the values
equal tsfresh's (tested to 1e-6 relative / 1e-9 absolute against ``tsfresh.extract_features``).

Feature sets are tsfresh-style settings dicts ``{calculator: None | [param dict, ...]}``; the same
dict passed to the ``"tsfresh"`` backend computes the same columns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from copy import deepcopy
from typing import Any

import numpy as np
from scipy import signal, special

Settings = Mapping[str, list[dict[str, Any]] | None]

# --------------------------------------------------------------------------------------------
# naming (as tsfresh.feature_extraction.extraction._do_extraction_on_chunk does)


def _param_name(params: dict[str, Any]) -> str:
    parts = []
    for key, value in sorted(params.items()):
        text = f'"{value}"' if isinstance(value, str) else str(value)
        parts.append(f"{key}_{text}")
    return "__".join(parts)


def feature_name(calculator: str, params: dict[str, Any] | None = None) -> str:
    """tsfresh's name of one feature: ``calculator`` or ``calculator__<key>_<value>``."""
    if not params:
        return calculator
    return f"{calculator}__{_param_name(params)}"


# --------------------------------------------------------------------------------------------
# simple calculators


def _moment_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = x.shape[1]
    mean = x.mean(axis=1)
    d = x - mean[:, None]
    m2 = np.einsum("ij,ij->i", d, d) / n
    return mean, d, m2


def _pandas_moment_rules() -> tuple[float, float]:
    """How the installed pandas (so tsfresh) treats degenerate skewness/kurtosis.

    Returns ``(constant, zero_below)``: the value given for a series whose central moments
    vanish, and the absolute size under which pandas rounds a moment sum to zero. pandas < 3
    zeroes sums below 1e-14 (so a signal of amplitude ~1e-6, e.g. EEG in volts, gets skewness 0
    and kurtosis 0) and returns 0; pandas >= 3 keeps every non-zero sum and returns NaN
    (undefined) only for an exactly constant series. We follow the installed pandas so the fast
    backend keeps matching tsfresh.
    """
    import pandas as pd

    constant = float(pd.Series([1.0, 1.0, 1.0, 1.0, 1.0]).skew())
    tiny = float(pd.Series([0.0, 1e-6, 3e-6]).skew())  # its third-moment sum is ~1e-18
    return constant, (1e-14 if tiny == 0 else 0.0)


_CONSTANT_MOMENT, _ZERO_BELOW = _pandas_moment_rules()


def _skewness(x: np.ndarray) -> np.ndarray:
    # pandas.Series.skew: adjusted Fisher-Pearson G1, degenerate series see
    # _pandas_moment_rules, NaN if n < 3
    n = x.shape[1]
    if n < 3:
        return np.full(x.shape[0], np.nan)
    mean = x.mean(axis=1)
    d = x - mean[:, None]
    d2 = d * d
    m2 = d2.sum(axis=1)
    m3 = np.einsum("ij,ij->i", d2, d)
    m2 = np.where(np.abs(m2) < _ZERO_BELOW, 0.0, m2)
    m3 = np.where(np.abs(m3) < _ZERO_BELOW, 0.0, m3)
    with np.errstate(invalid="ignore", divide="ignore"):
        res = (n * (n - 1) ** 0.5 / (n - 2)) * (m3 / m2**1.5)
    return np.where(m2 == 0, _CONSTANT_MOMENT, res)


def _kurtosis(x: np.ndarray) -> np.ndarray:
    # pandas.Series.kurtosis: adjusted excess kurtosis G2, degenerate series see
    # _pandas_moment_rules, NaN if n < 4
    n = x.shape[1]
    if n < 4:
        return np.full(x.shape[0], np.nan)
    mean = x.mean(axis=1)
    d = x - mean[:, None]
    d2 = d**2
    m2 = d2.sum(axis=1)
    m4 = (d2**2).sum(axis=1)
    adj = 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))
    numerator = n * (n + 1) * (n - 1) * m4
    denominator = (n - 2) * (n - 3) * m2**2
    numerator = np.where(np.abs(numerator) < _ZERO_BELOW, 0.0, numerator)
    denominator = np.where(np.abs(denominator) < _ZERO_BELOW, 0.0, denominator)
    with np.errstate(invalid="ignore", divide="ignore"):
        res = numerator / denominator - adj
    return np.where(denominator == 0, _CONSTANT_MOMENT, res)


def _mean_change(x: np.ndarray) -> np.ndarray:
    n = x.shape[1]
    if n < 2:
        return np.full(x.shape[0], np.nan)
    return (x[:, -1] - x[:, 0]) / (n - 1)


def _mean_abs_change(x: np.ndarray) -> np.ndarray:
    if x.shape[1] < 2:
        return np.full(x.shape[0], np.nan)
    return np.abs(np.diff(x, axis=1)).mean(axis=1)


def _sample_entropy(x: np.ndarray, *, block: int = 256) -> np.ndarray:
    """tsfresh's ``sample_entropy`` (m=2, r=0.2*std, Chebyshev distance, n-m+1 templates).

    Counts template pairs lag by lag (pairs (i, i+k) for k >= 1; ordered pairs are twice
    those), which needs O(n) memory per series instead of tsfresh's O(n^2) loop.
    """
    n_series, n = x.shape
    out = np.full(n_series, np.nan)
    if n < 3:
        return out
    tol = 0.2 * x.std(axis=1)
    for start in range(0, n_series, block):
        xb = x[start : start + block]
        r = tol[start : start + block, None]
        A = np.zeros(len(xb), dtype=np.int64)
        B = np.zeros(len(xb), dtype=np.int64)
        for k in range(1, n - 1):
            close = np.abs(xb[:, k:] - xb[:, :-k]) <= r  # |x_i - x_(i+k)| <= r
            both = close[:, :-1] & close[:, 1:]  # templates of length 2 match
            B += np.count_nonzero(both, axis=1)
            A += np.count_nonzero(both[:, :-1] & close[:, 2:], axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[start : start + block] = -np.log(A / B)  # (2A) / (2B)
    out[np.isnan(x).any(axis=1)] = np.nan
    return out


_SIMPLE: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sum_values": lambda x: x.sum(axis=1),
    "median": lambda x: _sorted_median(np.sort(x, axis=1)),
    "mean": lambda x: x.mean(axis=1),
    "length": lambda x: np.full(x.shape[0], float(x.shape[1])),
    "standard_deviation": lambda x: x.std(axis=1),
    "variance": lambda x: x.var(axis=1),
    "root_mean_square": lambda x: np.sqrt(np.mean(np.square(x), axis=1)),
    "maximum": lambda x: x.max(axis=1),
    "absolute_maximum": lambda x: np.abs(x).max(axis=1),
    "minimum": lambda x: x.min(axis=1),
    "abs_energy": lambda x: np.einsum("ij,ij->i", x, x),
    "mean_abs_change": _mean_abs_change,
    "mean_change": _mean_change,
    "skewness": _skewness,
    "kurtosis": _kurtosis,
    "sample_entropy": _sample_entropy,
}

# --------------------------------------------------------------------------------------------
# parametrised calculators: (x, list of params) -> list of (name, values)


def _autocorrelation(x: np.ndarray, params: list[dict]) -> list[tuple[str, np.ndarray]]:
    n = x.shape[1]
    mean, d, var = _moment_stats(x)
    out = []
    for p in params:
        lag = int(p["lag"])
        if n < lag:
            values = np.full(x.shape[0], np.nan)
        else:
            sp = np.einsum("ij,ij->i", d[:, : n - lag], d[:, lag:])
            with np.errstate(divide="ignore", invalid="ignore"):
                values = sp / ((n - lag) * var)
            values = np.where(np.isclose(var, 0), np.nan, values)
        out.append((feature_name("autocorrelation", p), values))
    return out


def _sorted_quantile(xs: np.ndarray, q: float) -> np.ndarray:
    """numpy's default ("linear") quantile of each row of the row-sorted array ``xs``."""
    n = xs.shape[1]
    if n == 0:
        return np.full(xs.shape[0], np.nan)
    idx = q * (n - 1)
    lo = int(np.floor(idx))
    hi = min(lo + 1, n - 1)
    gamma = idx - lo
    a, b = xs[:, lo], xs[:, hi]
    # numpy's _lerp: a + (b - a) * g, computed from the nearer end
    return np.where(gamma >= 0.5, b - (b - a) * (1 - gamma), a + (b - a) * gamma)


def _sorted_median(xs: np.ndarray) -> np.ndarray:
    n = xs.shape[1]
    if n == 0:
        return np.full(xs.shape[0], np.nan)
    return (xs[:, (n - 1) // 2] + xs[:, n // 2]) / 2.0


def _quantile(x: np.ndarray, params: list[dict]) -> list[tuple[str, np.ndarray]]:
    xs = np.sort(x, axis=1)
    return [(feature_name("quantile", p), _sorted_quantile(xs, float(p["q"]))) for p in params]


def _linear_trend(x: np.ndarray, params: list[dict]) -> list[tuple[str, np.ndarray]]:
    n = x.shape[1]
    t = np.arange(n, dtype=float)
    tm = t.mean()
    ssxm = np.mean((t - tm) ** 2)
    ym = x.mean(axis=1)
    dy = x - ym[:, None]
    ssym = np.einsum("ij,ij->i", dy, dy) / n
    ssxym = dy @ (t - tm) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(
            (ssxm == 0) | (ssym == 0),
            np.where(ssxym == 0, np.nan, 0.0),
            ssxym / np.sqrt(ssxm * ssym),
        )
        r = np.clip(r, -1.0, 1.0)
        slope = ssxym / ssxm
        intercept = ym - slope * tm
        if n == 2:
            pvalue = np.where(x[:, 0] == x[:, 1], 1.0, 0.0)
            stderr = np.zeros(x.shape[0])
        else:
            df = n - 2
            tiny = 1.0e-20
            tstat = r * np.sqrt(df / ((1.0 - r + tiny) * (1.0 + r + tiny)))
            pvalue = 2.0 * special.stdtr(df, -np.abs(tstat))
            pvalue = np.clip(pvalue, 0.0, 1.0)
            stderr = np.sqrt((1 - r**2) * ssym / ssxm / df)
    attrs = {
        "pvalue": pvalue,
        "rvalue": r,
        "intercept": intercept,
        "slope": slope,
        "stderr": stderr,
    }
    return [(feature_name("linear_trend", p), attrs[p["attr"]]) for p in params]


def _window_max(xt: np.ndarray, n: int, table: dict[int, np.ndarray]) -> np.ndarray:
    """``out[s] = max(xt[s : s + n])`` along axis 0 via a sparse table of power-of-two maxima.

    ``xt`` is time-major ``(n_times, n_series)`` so every slice is contiguous.
    """
    p = 1
    while 2 * p <= n:
        if 2 * p not in table:
            prev = table[p]
            table[2 * p] = np.maximum(prev[:-p], prev[p:])
        p *= 2
    m = table[p]
    width = xt.shape[0] - n + 1
    return np.maximum(m[:width], m[n - p : n - p + width])


def _number_peaks(x: np.ndarray, params: list[dict]) -> list[tuple[str, np.ndarray]]:
    # a peak of support n at c: x[c] > max(x[c-n:c]) and x[c] > max(x[c+1:c+n+1])
    n_t = x.shape[1]
    xt = np.ascontiguousarray(x.T)
    table = {1: xt}
    out = []
    for p in params:
        n = int(p["n"])
        if n_t - 2 * n <= 0:
            out.append((feature_name("number_peaks", p), np.zeros(x.shape[0])))
            continue
        run_max = _window_max(xt, n, table)  # windows of length n, by start
        centre = xt[n : n_t - n]
        res = (centre > run_max[: n_t - 2 * n]) & (centre > run_max[n + 1 : n_t - n + 1])
        out.append((feature_name("number_peaks", p), np.count_nonzero(res, axis=0).astype(float)))
    return out


def _number_crossing_m(x: np.ndarray, params: list[dict]) -> list[tuple[str, np.ndarray]]:
    out = []
    for p in params:
        positive = x > p["m"]
        values = np.count_nonzero(positive[:, 1:] != positive[:, :-1], axis=1).astype(float)
        out.append((feature_name("number_crossing_m", p), values))
    return out


def welch_density(x: np.ndarray, nperseg: int) -> np.ndarray:
    """``scipy.signal.welch(x, nperseg=nperseg, axis=1)[1]`` (fs=1, Hann, 50% overlap,
    constant detrend, one-sided density, mean over segments), vectorised without padding."""
    n = x.shape[1]
    nperseg = min(nperseg, n)
    step = nperseg - nperseg // 2
    win = signal.get_window("hann", nperseg)
    segs = np.lib.stride_tricks.sliding_window_view(x, nperseg, axis=1)[:, ::step]
    segs = segs - segs.mean(axis=2, keepdims=True)
    spec = np.abs(np.fft.rfft(segs * win, axis=2)) ** 2 / (win**2).sum()
    if nperseg % 2:
        spec[..., 1:] *= 2
    else:
        spec[..., 1:-1] *= 2
    return spec.mean(axis=1)


def _spkt_welch_density(x: np.ndarray, params: list[dict]) -> list[tuple[str, np.ndarray]]:
    pxx = welch_density(x, 256)
    out = []
    for p in params:
        c = int(p["coeff"])
        values = pxx[:, c] if c < pxx.shape[1] else np.full(x.shape[0], np.nan)
        out.append((feature_name("spkt_welch_density", p), values))
    return out


def _fft_aggregated(x: np.ndarray, params: list[dict]) -> list[tuple[str, np.ndarray]]:
    y = np.abs(np.fft.rfft(x, axis=1))
    k = np.arange(y.shape[1], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        total = y.sum(axis=1)
        m1 = y @ k / total
        m2 = y @ k**2 / total
        m3 = y @ k**3 / total
        m4 = y @ k**4 / total
        var = m2 - m1**2
        skew = (m3 - 3 * m1 * var - m1**3) / var**1.5
        # tsfresh's formula, kept as is (including its "- 3 * centroid" term)
        kurt = (m4 - 4 * m1 * m3 + 6 * m2 * m1**2 - 3 * m1) / var**2
    skew = np.where(var < 0.5, np.nan, skew)
    kurt = np.where(var < 0.5, np.nan, kurt)
    values = {"centroid": m1, "variance": var, "skew": skew, "kurtosis": kurt}
    return [(feature_name("fft_aggregated", p), values[p["aggtype"]]) for p in params]


_COMBINER: dict[str, Callable[[np.ndarray, list[dict]], list[tuple[str, np.ndarray]]]] = {
    "autocorrelation": _autocorrelation,
    "quantile": _quantile,
    "linear_trend": _linear_trend,
    "number_peaks": _number_peaks,
    "number_crossing_m": _number_crossing_m,
    "spkt_welch_density": _spkt_welch_density,
    "fft_aggregated": _fft_aggregated,
}

#: Every calculator the fast backend implements.
SUPPORTED_CALCULATORS: tuple[str, ...] = tuple(_SIMPLE) + tuple(_COMBINER)

# --------------------------------------------------------------------------------------------
# feature sets

_MINIMAL: dict[str, Any] = {
    "sum_values": None,
    "median": None,
    "mean": None,
    "length": None,
    "standard_deviation": None,
    "variance": None,
    "root_mean_square": None,
    "maximum": None,
    "absolute_maximum": None,
    "minimum": None,
}

_EXTRA: dict[str, Any] = {
    "abs_energy": None,
    "mean_abs_change": None,
    "mean_change": None,
    "skewness": None,
    "kurtosis": None,
    "autocorrelation": [{"lag": k} for k in (1, 2, 3, 4, 5, 6, 7, 8, 9)],
    "quantile": [{"q": q} for q in (0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9)],
    "linear_trend": [{"attr": a} for a in ("pvalue", "rvalue", "intercept", "slope", "stderr")],
    "number_peaks": [{"n": n} for n in (1, 3, 5, 10, 50)],
    "number_crossing_m": [{"m": m} for m in (0, -1, 1)],
    "spkt_welch_density": [{"coeff": c} for c in (2, 5, 8)],
    "fft_aggregated": [{"aggtype": a} for a in ("centroid", "variance", "skew", "kurtosis")],
}

#: Named feature sets of the fast backend (tsfresh settings dicts).
FEATURE_SETS: dict[str, dict[str, Any]] = {
    "minimal": dict(_MINIMAL),
    "default": dict(_MINIMAL) | {k: v for k, v in _EXTRA.items()},
    "default+entropy": dict(_MINIMAL) | _EXTRA | {"sample_entropy": None},
}


def resolve_settings(feature_set: str | Settings) -> dict[str, Any]:
    """Return the settings dict of a named feature set, or validate a custom dict.

    Raises
    ------
    ValueError
        For an unknown set name or a calculator the fast backend does not implement.
    """
    if isinstance(feature_set, str):
        if feature_set not in FEATURE_SETS:
            raise ValueError(
                f"unknown fast feature_set {feature_set!r}; use one of {sorted(FEATURE_SETS)} "
                "or a dict {calculator: None | [params, ...]}"
            )
        return deepcopy(FEATURE_SETS[feature_set])
    if not isinstance(feature_set, Mapping):
        raise ValueError(f"feature_set must be a name or a dict, got {type(feature_set).__name__}")
    unknown = [k for k in feature_set if k not in SUPPORTED_CALCULATORS]
    if unknown:
        raise ValueError(
            f"the fast backend does not implement {unknown}; supported: "
            f"{list(SUPPORTED_CALCULATORS)} (use backend='tsfresh' for the others)"
        )
    for k, v in feature_set.items():
        if k in _COMBINER and not v:
            raise ValueError(f"calculator {k!r} needs a list of parameter dicts, got {v!r}")
    return {k: deepcopy(v) for k, v in feature_set.items()}


def feature_names(settings: Settings) -> list[str]:
    """Feature names (without channel prefix) a settings dict produces, in output order."""
    names = []
    for calc, params in settings.items():
        if calc in _SIMPLE:
            names.append(calc)
        else:
            names.extend(feature_name(calc, p) for p in params)
    return names


def compute_features(x: np.ndarray, settings: Settings, *, block: int = 256) -> np.ndarray:
    """Compute the features of every row of ``x``.

    Parameters
    ----------
    x : ndarray of shape (n_series, n_times)
        One time series per row.
    settings : dict
        A settings dict accepted by :func:`resolve_settings`.
    block : int, default=256
        Series computed together (bounds the temporaries).

    Returns
    -------
    ndarray of shape (n_series, n_features), columns in :func:`feature_names` order.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D (n_series, n_times) array, got shape {x.shape}")
    if x.shape[0] > block:
        # blocks of series keep temporaries small (cache-resident, no page faults)
        return np.vstack(
            [compute_features(x[i : i + block], settings) for i in range(0, x.shape[0], block)]
        )
    cols = []
    for calc, params in settings.items():
        if calc in _SIMPLE:
            cols.append(_SIMPLE[calc](x))
        else:
            cols.extend(v for _, v in _COMBINER[calc](x, list(params)))
    return np.column_stack(cols).astype(np.float64, copy=False)
