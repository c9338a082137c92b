"""Time windows of a load point: what the server did second by second, and when it recovered from an overload.

A window is ``window_s`` wide and placed by scheduled time from the load point's origin (the earliest scheduled
request: the first arrival of an open loop, the start of a closed loop). A request belongs to the window its
scheduled time falls in; a content chunk to the window it arrived in; a sample of a server gauge to the window
its scrape time falls in. Percentiles follow the suite's minimum-sample rule (``core.stats.percentile``).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from inferboard.core.stats import percentile, pname

NS = 1_000_000_000
WINDOW_PERCENTILES: tuple[float, ...] = (50.0, 90.0, 99.0)
#: per-window latency columns (ok requests scheduled in the window)
WINDOW_LATENCIES: tuple[str, ...] = ("ttft_ms", "tpot_ms", "ttft_from_scheduled_ms")
#: server gauges per window (max of the samples in the window), by the names ``series`` are given under
WINDOW_GAUGES: tuple[str, ...] = ("server_rss_bytes", "gpu_memory_used_bytes", "kv_cache_usage",
                                  "waiting_requests", "running_requests")
MAX_WINDOWS = 100_000
_FAR = 2**61  # offsets are clipped here: 73 years in ns, past any window of a sane point (clamped to the last)
GAUGE_HOLD_NS = 2 * NS  # a gauge sample stands for the windows after it for this long (scrapes are ~1 s apart)


@dataclass(frozen=True, slots=True)
class PhaseSpan:
    """A phase of a phased load: its name, offered rate and [start, end) in seconds from the origin."""

    name: str
    rate: float
    start_s: float
    end_s: float


def origin_ns(records: Iterable[dict[str, Any]]) -> int | None:
    """The load point's origin: its earliest scheduled time (None without records)."""
    return min((r["scheduled_ns"] for r in records), default=None)


def phase_of(t_s: float, phases: Sequence[PhaseSpan]) -> int | None:
    """Index of the phase that ``t_s`` (seconds from the origin) falls in; None outside every phase."""
    return next((i for i, p in enumerate(phases) if p.start_s <= t_s < p.end_s), None)


def window_rows(records: Sequence[dict[str, Any]], *, window_s: float, phases: Sequence[PhaseSpan] = (),
                series: dict[str, list[tuple[int, float]]] | None = None) -> list[dict[str, Any]]:
    """One row per window of one (trial, load point), from its first scheduled request to its last response.

    ``records`` are every issued request of the point (warm-up included: the windows describe the server's
    timeline); ``series`` maps a WINDOW_GAUGES name to (t_ns, value) samples.
    """
    t0 = origin_ns(records)
    if t0 is None:
        return []
    width = int(window_s * NS)
    last = max(max(r["end_ns"] or r["sent_ns"], r["scheduled_ns"]) for r in records)
    if phases:
        last = max(last, t0 + int(phases[-1].end_s * NS) - 1)
    n = min(MAX_WINDOWS, (last - t0) // width + 1)
    by_sched: dict[int, list[dict[str, Any]]] = defaultdict(list)
    ended_ok, ended_failed = [0] * n, [0] * n
    for r in records:
        by_sched[min(n - 1, (r["scheduled_ns"] - t0) // width)].append(r)
        if r["end_ns"] is not None:
            w = min(n - 1, (r["end_ns"] - t0) // width)
            (ended_ok if r["status"] == "ok" else ended_failed)[w] += 1
    tokens = _chunk_counts(records, t0, width, n)
    gauges: dict[str, list[float | None]] = {g: [None] * n for g in WINDOW_GAUGES}
    for name, samples in (series or {}).items():
        col = gauges[name]
        before: tuple[int, float] | None = None  # the last sample before the first window
        for t, v in sorted(samples):
            w = (t - t0) // width
            if w < 0:
                before = (t, v)
            elif w < n and ((held := col[w]) is None or v > held):
                col[w] = v
        # a window without a sample of its own holds the gauge's last value (sampled within GAUGE_HOLD_NS)
        last = before if before is not None and t0 - before[0] <= GAUGE_HOLD_NS else None
        last_v = last[1] if last else None
        last_w = -1 if last else None
        for w in range(n):
            if col[w] is not None:
                last_v, last_w = col[w], w
            elif last_w is not None and (w - last_w) * width <= GAUGE_HOLD_NS:
                col[w] = last_v
    rows = []
    for w in range(n):
        start = w * window_s
        k = phase_of(start, phases)
        rs = by_sched.get(w, [])
        ok = [r for r in rs if r["status"] == "ok"]
        row: dict[str, Any] = {
            "window": w, "t_start_s": start, "t_end_s": start + window_s,
            "phase": k, "phase_name": phases[k].name if k is not None else None,
            "offered_rate": phases[k].rate if k is not None else None,
            "requests_started": len(rs), "requests_finished": ended_ok[w], "requests_failed": ended_failed[w],
            "output_tokens_per_s": tokens[w] / window_s,
        }
        for name in WINDOW_LATENCIES:
            vals = [r[name] for r in ok if r[name] is not None]
            for q in WINDOW_PERCENTILES:
                row[f"{name}_{pname(q)}"] = percentile(vals, q)[0]
        row.update({g: gauges[g][w] for g in WINDOW_GAUGES})
        rows.append(row)
    return rows


def _chunk_counts(records: Sequence[dict[str, Any]], t0: int, width: int, n: int) -> list[int]:
    """Content chunks per window by arrival time (sent + chunk time, truncated to whole ns; clamped to the
    windows), counted with numpy: a cell holds up to hundreds of thousands of chunks."""
    sizes = [len(r["chunk_times_ms"]) for r in records]
    total = sum(sizes)
    if not total:
        return [0] * n
    times = np.fromiter(itertools.chain.from_iterable(r["chunk_times_ms"] for r in records), np.float64, total)
    # clipped to ±_FAR so that the int64 sums cannot overflow
    sent = np.repeat(np.array([min(max(r["sent_ns"] - t0, -_FAR), _FAR) for r in records], np.int64), sizes)
    after = np.clip(np.nan_to_num(times * 1e6, nan=0.0), -_FAR, _FAR).astype(np.int64)
    counts: list[int] = np.bincount(np.clip((sent + after) // width, 0, n - 1), minlength=n).tolist()
    return counts


def censored_median(records: Sequence[dict[str, Any]], name: str = "ttft_from_scheduled_ms") -> float:
    """Median of ``name`` over ``records`` with every failed request counted as infinitely slow."""
    vals = [r[name] if r["status"] == "ok" and r[name] is not None else math.inf for r in records]
    return float(np.median(vals)) if vals else math.nan


def recovery(records: Sequence[dict[str, Any]], phases: Sequence[PhaseSpan], *, factor: float,
             window_s: float) -> tuple[float | None, str | None]:
    """Seconds from the end of the overload phase until the server is back near its baseline, or a reason.

    recovery_s = start of the first window (``window_s`` wide, counted from the end of the overload phase, by
    scheduled time) from which every later window with a request has a median TTFT-from-scheduled (failed
    requests as +inf) at most ``factor`` × the first phase's median; the overload phase is the one with the
    highest rate, and it must be above the first phase's rate and followed by another phase.
    """
    if not phases:
        return None, "not a phased load"
    peak = max(range(len(phases)), key=lambda i: (phases[i].rate, -i))
    if phases[peak].rate <= phases[0].rate or peak == len(phases) - 1:
        return None, "no phase above the first phase's rate followed by another phase"
    t0 = origin_ns(records)
    assert t0 is not None
    measured = [r for r in records if not r["warmup"]]
    base = [r for r in measured if phase_of((r["scheduled_ns"] - t0) / NS, phases) == 0]
    base_ok = [r["ttft_from_scheduled_ms"] for r in base if r["status"] == "ok" and r["ttft_from_scheduled_ms"]]
    med, reason = percentile(base_ok, 50.0)
    if med is None:
        return None, f"baseline phase: {reason}"
    bound = factor * med
    end_ns = t0 + int(phases[peak].end_s * NS)
    width = int(window_s * NS)
    after: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in measured:
        if r["scheduled_ns"] >= end_ns:
            after[(r["scheduled_ns"] - end_ns) // width].append(r)
    if not after:
        return None, "no request scheduled after the overload phase"
    recovered_from = None
    for w in sorted(after):
        if censored_median(after[w]) <= bound:
            recovered_from = w if recovered_from is None else recovered_from
        else:
            recovered_from = None
    if recovered_from is None:
        return None, (f"not recovered: the last window's median TTFT from scheduled is above {factor:g} × the "
                      f"baseline median ({bound:.4g} ms)")
    return recovered_from * window_s, None
