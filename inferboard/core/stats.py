"""Percentiles with a minimum-sample rule, bootstrap confidence intervals and the coefficient of variation."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np

PERCENTILES: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0, 99.9)
EARLY_STOP_CONFIDENCE = 0.99
EARLY_STOP_MISSES = 1
CV_FLAG = 0.05


def pname(q: float) -> str:
    """Column suffix of a percentile: 50 → ``p50``, 99.9 → ``p99.9``."""
    return "p" + f"{q:g}".replace(".", "_")


@cache
def min_samples(q: float, confidence: float = EARLY_STOP_CONFIDENCE, misses: int = EARLY_STOP_MISSES) -> int:
    """Smallest n for which the ``q``-th percentile is bounded with ``confidence`` allowing ``misses``.

    MLPerf-style early stopping: the smallest n with P[Binomial(n, 1 - q/100) <= misses] <= 1 - confidence,
    i.e. if the true tail fraction were 1 - q/100, seeing at most ``misses`` samples beyond the reported
    value would happen less than 1% of the time. Gives p90: 64, p99: 662, p99.9: 6636.
    """
    if not 0 <= q < 100 or not 0 < confidence < 1:
        raise ValueError(f"min_samples: q {q} must be in [0, 100) and confidence {confidence} in (0, 1)")
    tail = 1.0 - q / 100.0
    alpha = 1.0 - confidence
    lo = misses + 1
    while True:  # the cdf falls as n grows: the first n of a doubling block where it is <= alpha
        ns = np.arange(lo, 2 * lo + 64)
        hits = np.flatnonzero(_binom_cdf(misses, ns, tail) <= alpha)
        if hits.size:
            return int(ns[hits[0]])
        lo = int(ns[-1]) + 1


def _binom_cdf(k: int, ns: np.ndarray, p: float) -> np.ndarray:
    """P[Binomial(n, p) <= k] for each n of ``ns``: the sum of the first k + 1 terms, each from the one before
    (term 0 = (1 - p)^n; term j + 1 = term j × (n - j) / (j + 1) × p / (1 - p)). Exact enough for the small k of
    early stopping, and no scipy import on a run's path (scipy.stats alone took a second to import)."""
    n = ns.astype(float)
    term = np.power(1.0 - p, n)
    total = term.copy()
    for j in range(k):
        term = term * (n - j) / (j + 1) * (p / (1.0 - p))
        total += term
    return np.asarray(total, dtype=float)


def percentile(values: Sequence[float] | np.ndarray, q: float) -> tuple[float | None, str | None]:
    """The ``q``-th percentile (linear interpolation), or None and the reason when samples are too few."""
    n = len(values)
    need = min_samples(q)
    if n == 0:
        return None, "no samples"
    if n < need:
        return None, f"{n} samples < {need} needed for {pname(q)}"
    with np.errstate(invalid="ignore"):  # interpolating next to +inf (failed requests) gives nan
        v = float(np.percentile(np.asarray(values, dtype=float), q))
    if not np.isfinite(v):
        return None, f"{pname(q)} falls on failed requests"
    return v, None


def bootstrap_ci(values: Sequence[float], *, confidence: float = 0.95, n_resamples: int = 2000,
                 seed: int = 0) -> tuple[float | None, float | None, str | None]:
    """Percentile-bootstrap CI of the median across trials; None and a reason with fewer than 2 values."""
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if len(arr) < 2:
        return None, None, f"{len(arr)} trial(s): no confidence interval"
    if np.all(arr == arr[0]):
        return float(arr[0]), float(arr[0]), None
    from scipy import stats as sps  # imported where used: a second of start-up for every command otherwise

    res = sps.bootstrap((arr,), np.median, confidence_level=confidence, n_resamples=n_resamples,
                        method="percentile", rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high), None


def coefficient_of_variation(values: Sequence[float]) -> float | None:
    """Sample standard deviation over mean (ddof=1); None with fewer than 2 values or a zero mean."""
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if len(arr) < 2 or arr.mean() == 0:
        return None
    return float(arr.std(ddof=1) / abs(arr.mean()))
