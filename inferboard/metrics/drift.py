"""Drift over a long steady load (soak): how fast the windows' median latency and the server's memory move.

drift_<x>_pct_per_h = 100 × (least-squares slope of the windows' median <x> against the window's start, per hour)
/ the mean of those medians, with a 95% confidence interval from the slope's standard error (Student t, n − 2
degrees of freedom). rss_growth_bytes_per_h is the same slope of the server's process-tree RSS, in bytes per hour.
A drift is significant when its interval excludes 0 and its value is at least SIGNIFICANT_PCT_PER_H. A slope needs
at least MIN_WINDOWS windows with a value spanning at least MIN_SPAN_S.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

MIN_WINDOWS = 10
MIN_SPAN_S = 60.0  # a slope per hour from less than a minute of windows says nothing
SIGNIFICANT_PCT_PER_H = 10.0
#: drift columns of a summary row: (column, the window column it is the slope of, as a percentage of its mean)
DRIFTS: tuple[tuple[str, str, bool], ...] = (
    ("drift_ttft_p50_pct_per_h", "ttft_ms_p50", True),
    ("drift_tpot_p50_pct_per_h", "tpot_ms_p50", True),
    ("rss_growth_bytes_per_h", "server_rss_bytes", False),
)


def slope_per_h(t_s: Sequence[float], y: Sequence[float], relative: bool) -> tuple[float, float, float] | str:
    """(slope, CI low, CI high) per hour (in % of the mean when ``relative``), or why there is none."""
    if len(y) < MIN_WINDOWS:
        return f"{len(y)} windows with a value < {MIN_WINDOWS} needed for a slope"
    if max(t_s) - min(t_s) < MIN_SPAN_S:
        return f"the windows span {max(t_s) - min(t_s):.0f} s < {MIN_SPAN_S:g} s needed for a slope"
    x, v = np.asarray(t_s, dtype=float) / 3600.0, np.asarray(y, dtype=float)
    if np.ptp(x) == 0:
        return "every window at the same time"
    from scipy import stats as sps  # only a soak needs it: not on every command's start-up

    fit = sps.linregress(x, v)
    half = float(sps.t.ppf(0.975, len(v) - 2)) * float(fit.stderr)
    scale = 100.0 / float(np.mean(v)) if relative and np.mean(v) != 0 else 1.0
    s = float(fit.slope) * scale
    return s, s - half * abs(scale), s + half * abs(scale)


def drift_columns(windows: Sequence[dict[str, Any]], nulls: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The drift columns (value, _ci95_low, _ci95_high) of one point's windows, and a flag per significant drift."""
    out: dict[str, Any] = {}
    flags = []
    for col, src, relative in DRIFTS:
        pts = [(w["t_start_s"], w[src]) for w in windows if w.get(src) is not None]
        res = slope_per_h([p[0] for p in pts], [p[1] for p in pts], relative)
        if isinstance(res, str):
            out.update({col: None, f"{col}_ci95_low": None, f"{col}_ci95_high": None})
            nulls[col] = res
            continue
        out[col], out[f"{col}_ci95_low"], out[f"{col}_ci95_high"] = res
        if relative and (res[1] > 0 or res[2] < 0) and abs(res[0]) >= SIGNIFICANT_PCT_PER_H:
            flags.append(f"significant drift: {src.removesuffix('_p50')} median {res[0]:+.0f}%/h "
                         f"(95% CI {res[1]:+.0f} to {res[2]:+.0f})")
    return out, flags
