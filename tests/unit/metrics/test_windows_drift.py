"""Windows by scheduled time, recovery from synthetic records, and drift slopes with their confidence intervals."""

from __future__ import annotations

import math
from typing import Any

from inferboard.metrics.drift import drift_columns, slope_per_h
from inferboard.metrics.windows import PhaseSpan, recovery, window_rows

NS = 1_000_000_000


def _rec(t_s: float, ttft_ms: float, *, ok: bool = True, warmup: bool = False, tokens: int = 4) -> dict[str, Any]:
    sched = int(t_s * NS)
    first = sched + int(ttft_ms * 1e6)
    return {"scheduled_ns": sched, "sent_ns": sched, "end_ns": first + 1000, "status": "ok" if ok else "timeout_total",
            "warmup": warmup, "ttft_ms": ttft_ms if ok else None, "tpot_ms": 1.0 if ok else None,
            "ttft_from_scheduled_ms": ttft_ms if ok else None, "chunk_times_ms": [ttft_ms] * tokens if ok else []}


PHASES = (PhaseSpan("baseline", 10, 0, 4), PhaseSpan("spike", 50, 4, 5), PhaseSpan("recovery", 10, 5, 12))


def _timeline(recovered_at: float) -> list[dict[str, Any]]:
    """20 ms TTFT at baseline, 2 s under the spike and until ``recovered_at``, 20 ms after it; 10 requests/s."""
    return [_rec(t / 10, 20.0 if t / 10 < 4 or t / 10 >= recovered_at else 2000.0) for t in range(120)]


def test_windows_count_requests_tokens_and_phases() -> None:
    recs = _timeline(7.0)
    rows = window_rows(recs, window_s=1.0, phases=PHASES, series={"server_rss_bytes": [(NS // 2, 5.0), (3 * NS, 9.0)]})
    assert len(rows) == 12 and [r["phase_name"] for r in rows[3:6]] == ["baseline", "spike", "recovery"]
    assert all(r["requests_started"] == 10 for r in rows)
    assert rows[0]["output_tokens_per_s"] == 40.0  # 10 requests × 4 chunks in the first second
    assert rows[0]["ttft_ms_p50"] is None  # 10 samples < 11 needed for a median
    # a gauge holds its last value for windows without a sample (within 2 s), then is unknown
    assert [r["server_rss_bytes"] for r in rows[:6]] == [5.0, 5.0, 5.0, 9.0, 9.0, 9.0]
    assert rows[6]["server_rss_bytes"] is None


def test_recovery_is_the_first_window_after_which_every_window_is_near_baseline() -> None:
    value, reason = recovery(_timeline(7.0), PHASES, factor=1.5, window_s=0.5)
    assert reason is None and value == 2.0  # spike ends at 5 s, back to 20 ms from 7 s
    slow_end = [r if r["scheduled_ns"] < 11.5 * NS else _rec(r["scheduled_ns"] / NS, 5000.0) for r in _timeline(7.0)]
    value, reason = recovery(slow_end, PHASES, factor=1.5, window_s=0.5)
    assert value is None and "not recovered" in reason  # a slow window at the end: it never stayed recovered
    value, reason = recovery(_timeline(4.0), PHASES, factor=1.5, window_s=0.5)
    assert value == 0.0 and reason is None  # absorbed the spike


def test_failed_requests_count_as_infinitely_slow_for_recovery() -> None:
    recs = [r if not 5 <= r["scheduled_ns"] / NS < 8 else _rec(r["scheduled_ns"] / NS, 0.0, ok=False)
            for r in _timeline(5.0)]
    value, _ = recovery(recs, PHASES, factor=1.5, window_s=1.0)
    assert value == 3.0


def test_drift_slope_and_interval() -> None:
    t = [i * 60.0 for i in range(30)]  # half an hour of one-minute windows
    flat = slope_per_h(t, [100.0 + (i % 2) for i in range(30)], relative=True)
    assert not isinstance(flat, str) and flat[1] < 0 < flat[2]  # no drift: the interval holds 0
    rising = slope_per_h(t, [100.0 * (1 + 0.5 * x / 3600) for x in t], relative=True)
    assert not isinstance(rising, str) and math.isclose(rising[0], 50 / (1 + 0.5 * 0.2417), rel_tol=0.01)
    assert slope_per_h(t[:5], [1.0] * 5, relative=True) == "5 windows with a value < 10 needed for a slope"
    windows = [{"t_start_s": x, "ttft_ms_p50": 100.0 * (1 + x / 3600), "tpot_ms_p50": None,
                "server_rss_bytes": 1e9 + 1e6 * x / 60} for x in t]
    nulls: dict[str, str] = {}
    cols, flags = drift_columns(windows, nulls)
    assert cols["drift_ttft_p50_pct_per_h"] > 10 and flags and "significant drift" in flags[0]
    assert cols["drift_tpot_p50_pct_per_h"] is None and "tpot" in next(iter(nulls))
    assert math.isclose(cols["rss_growth_bytes_per_h"], 60e6, rel_tol=1e-6)
