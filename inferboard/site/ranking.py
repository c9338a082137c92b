"""Which entries a leaderboard ranks, and by what: goodput at the SLO per GPU of each entry's best valid point.

A speed figure is ranked only beside its accuracy figure and only against the workload as defined today; every
other entry is shown apart, in a group that says why (RANK_GROUPS).
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any

from inferboard.metrics.accuracy import AccuracyExactShare
from inferboard.scenario.workload import standard_hash

if TYPE_CHECKING:
    from inferboard.site.data import PublishedCell

#: the groups of a leaderboard table (see rank_groups): only "ranked" is ranked, the others are shown apart
RANK_GROUPS: tuple[str, ...] = ("ranked", "unchecked", "earlier", "unverified", "invalid", "custom", "local")


def finite(v: Any) -> float | None:
    """A float, or None for null/NaN/inf."""
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def rank_value(row: dict[str, Any]) -> float | None:
    """Goodput at the SLO per GPU (per host on CPU hosts, which have no GPU) in requests/s."""
    return rank_figure(row)[0]


def best_point(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The valid load point with the highest goodput per GPU (ties: lower load point); None if none is valid. Where
    some valid point has its p99 TTFT (enough requests: a workload's headline point), only those are candidates: a
    light point of 16 requests, whose goodput is as noisy as its arrivals and whose tail is unknown, is not what an
    entry is ranked by."""
    ok = [r for r in rows if r.get("valid") and rank_value(r) is not None]
    if not ok:
        return None
    tails = [r for r in ok if finite(r.get("ttft_ms_p99")) is not None]
    return max(tails or ok, key=lambda r: (rank_value(r), -r["load_point"]))


@functools.cache
def _today(workload: str) -> str | None:
    return standard_hash(workload)


def earlier_version(c: PublishedCell) -> bool:
    """Measured with an earlier definition of a standard workload (its content hash is not today's): kept and
    shown, never ranked against the workload as it is defined now."""
    today = _today(c.workload)
    return today is not None and any(r.get("workload_hash") not in (None, today) for r in c.rows)


def accuracy_measured(row: dict[str, Any]) -> bool:
    """The row has its accuracy figure (the share of the gate's prompts answered exactly as the reference)."""
    return finite(row.get(AccuracyExactShare.name)) is not None


def rank_groups(cells: list[PublishedCell]) -> dict[str, list[PublishedCell]]:
    """Entries split into RANK_GROUPS: 'ranked' (submitted, standard workload as defined today, a valid load point
    with its accuracy figure, verified SKU; best first), 'unchecked' (no accuracy figure: a model without
    reference answers, such as random weights), 'earlier' (an earlier version of the workload), 'unverified',
    'invalid', 'custom' (custom workload) and 'local' (not submitted)."""
    out: dict[str, list[PublishedCell]] = {k: [] for k in RANK_GROUPS}
    for c in cells:
        if c.local:
            out["local"].append(c)
        elif c.custom_workload:
            out["custom"].append(c)
        elif c.best is None:
            out["invalid"].append(c)
        elif earlier_version(c):
            out["earlier"].append(c)
        elif not c.verified:
            out["unverified"].append(c)
        elif not accuracy_measured(c.best):
            out["unchecked"].append(c)
        else:
            out["ranked"].append(c)
    for k in out:
        out[k].sort(key=lambda c: (-(rank_value(c.best) or 0.0), c.entry_id) if c.best else (0.0, c.entry_id))
    return out


def figure_with_ci(row: dict[str, Any] | None, key: str) -> tuple[float | None, float | None, float | None]:
    """(value, 95% CI low, high) of column ``key`` in ``row``; the CI where the row has one (across trials)."""
    if row is None:
        return None, None, None
    return finite(row.get(key)), finite(row.get(f"{key}_ci95_low")), finite(row.get(f"{key}_ci95_high"))


def rank_figure(row: dict[str, Any] | None) -> tuple[float | None, float | None, float | None]:
    """The ranked figure of a leaderboard row (see rank_value) with its 95% CI where it has one."""
    if row is None:
        return None, None, None
    if row.get("gpu_count"):
        return figure_with_ci(row, "goodput_requests_per_s_per_gpu")
    return figure_with_ci(row, "goodput_requests_per_s")


def _same_figure(a: tuple[float | None, float | None, float | None],
                 b: tuple[float | None, float | None, float | None]) -> bool:
    """Two entries' figures (value, 95% CI low, high) that no reader could tell apart: the same to the three
    significant digits shown, or 95% confidence intervals that overlap."""
    if a[0] is None or b[0] is None:
        return False
    if f"{a[0]:.3g}" == f"{b[0]:.3g}":
        return True
    lows = [v for v in (a[1], b[1]) if v is not None]
    highs = [v for v in (a[2], b[2]) if v is not None]
    return len(lows) == len(highs) == 2 and max(lows) <= min(highs)


def rank_labels(figures: list[tuple[float | None, float | None, float | None]]) -> list[str]:
    """The rank shown for each entry of a ranked table (best first): its position, or "=k" where its figure cannot be
    told apart from the one above it (the same shown value, or overlapping 95% CIs), k being the first rank of that
    run of ties. A tie is a tie, not a win."""
    out: list[str] = []
    first = 1
    for i, fig in enumerate(figures):
        if i and _same_figure(figures[i - 1], fig):
            out.append(f"={first}")
            if not out[-2].startswith("="):
                out[-2] = f"={first}"
        else:
            first = i + 1
            out.append(str(first))
    return out
