"""A phased load past a known capacity: the fake server's capacity model (S slots, a FIFO queue) makes the queue's
growth and drain computable from the planned arrivals, and the measured recovery_s and windows must match it."""

from __future__ import annotations

import heapq
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from inferboard.scenario.schedule import phase_arrivals, planned_requests
from inferboard.scenario.workload import PhasesLoad
from tests.helpers import run, workload

SLOTS, TTFT_MS, ITL_MS, OUT_TOKENS = 4, 40.0, 10.0, 7
SERVICE_S = (TTFT_MS + (OUT_TOKENS - 1) * ITL_MS) / 1000  # 0.1 s a request: capacity 40 req/s
PHASES = [{"name": "baseline", "rate": 10, "duration_s": 3}, {"name": "spike", "rate": 120, "duration_s": 1},
          {"name": "recovery", "rate": 10, "duration_s": 6}]
FACTOR, WINDOW_S = 1.5, 0.25


def _overload(**over: object):
    fields: dict[str, object] = {
        "dataset": {"kind": "fixed", "input_tokens": 8, "output_tokens": OUT_TOKENS},
        "load": {"kind": "phases", "phases": PHASES, "recovery_factor": FACTOR}, "requests": 800,
        "warmup_requests": 2, "window_s": WINDOW_S, "seed": 3}
    return workload(**{**fields, **over})


def _model_ttft_from_scheduled(arrivals: list[float]) -> list[float]:
    """TTFT from the scheduled time of each arrival through S FIFO slots of fixed service time (seconds)."""
    free = [0.0] * SLOTS
    out = []
    for a in arrivals:
        start = max(a, heapq.heappop(free))
        heapq.heappush(free, start + SERVICE_S)
        out.append(start - a + TTFT_MS / 1000)
    return out


def _computed_drain_s(w) -> tuple[float, int]:
    """Seconds from the spike's end until every later arrival's TTFT is within FACTOR × the baseline median, by
    the capacity model; and the peak queue length."""
    load = w.load
    assert isinstance(load, PhasesLoad)
    arr = phase_arrivals(load, w.seed, planned_requests(w))
    ttft = _model_ttft_from_scheduled(arr)
    base = float(np.median([t for a, t in zip(arr[w.warmup_requests:], ttft[w.warmup_requests:], strict=True)
                            if a < 3.0]))
    spike_end = 4.0
    late = [a for a, t in zip(arr, ttft, strict=True) if a >= spike_end and t > FACTOR * base]
    queue = max(sum(1 for b, t in zip(arr, ttft, strict=True) if b <= a and b + t - TTFT_MS / 1000 > a) - SLOTS
                for a in arr)
    return (max(late) - spike_end if late else 0.0), queue


def test_recovery_matches_the_capacity_models_drain_time(server, tmp_path: Path) -> None:
    server.configure(ttft_ms=TTFT_MS, itl_ms=ITL_MS, slots=SLOTS)
    w = _overload()
    drain, queue = _computed_drain_s(w)
    assert 1.5 < drain < 4.0 and queue > 40  # the spike (120 req/s for 1 s vs 40 req/s) really queues
    rows = run(server.url, tmp_path, w)
    agg = next(r for r in rows if r["row_kind"] == "aggregate")
    assert agg["load_kind"] == "phases" and agg["overload_error_rate"] == 0.0
    assert abs(agg["recovery_s"] - drain) <= 0.2 * drain, (agg["recovery_s"], drain)
    win = pq.read_table(tmp_path / "windows.parquet").to_pylist()
    assert [w_["phase_name"] for w_ in win[:12]] == ["baseline"] * 12 and win[12]["phase_name"] == "spike"
    # every request planned was started in the window of its scheduled time, and every one finished
    assert sum(w_["requests_started"] for w_ in win) == planned_requests(w) == agg["requests_planned"]
    assert sum(w_["requests_finished"] for w_ in win) == planned_requests(w)
    # the spike's windows wait far longer than the baseline's: the queue shows in TTFT from the scheduled time
    spike_p50 = max(w_["ttft_from_scheduled_ms_p50"] or 0 for w_ in win if w_["phase_name"] == "spike")
    assert spike_p50 > 10 * TTFT_MS


def test_shedding_server_recovers_at_once_and_scores_better(server, tmp_path: Path) -> None:
    """With a queue limit the same spike is shed (503s) instead of queued: errors under overload, no queue left
    behind, so recovery is immediate; the queueing server above takes seconds."""
    server.configure(ttft_ms=TTFT_MS, itl_ms=ITL_MS, slots=SLOTS, queue_limit=2)
    rows = run(server.url, tmp_path, _overload())
    agg = next(r for r in rows if r["row_kind"] == "aggregate")
    assert agg["overload_shed_rate"] > 0.3 and agg["overload_error_rate"] == agg["overload_shed_rate"]
    assert agg["recovery_s"] is not None and agg["recovery_s"] <= WINDOW_S
    # errors under overload are the measurement, not a broken run (a loaded machine may still lag the client)
    assert "error rate" not in (agg["invalid_reason"] or "")


def test_a_server_that_never_drains_has_no_recovery_and_says_why(server, tmp_path: Path) -> None:
    server.configure(ttft_ms=TTFT_MS, itl_ms=ITL_MS, slots=1)  # capacity 10 req/s: the baseline alone fills it
    rows = run(server.url, tmp_path, _overload(
        load={"kind": "phases", "phases": [{"name": "baseline", "rate": 5, "duration_s": 3},
                                           {"name": "spike", "rate": 60, "duration_s": 1},
                                           {"name": "recovery", "rate": 9, "duration_s": 2}]},
        timeouts={"connect_s": 5, "first_token_s": 30, "between_chunks_s": 5, "total_s": 60}))
    agg = next(r for r in rows if r["row_kind"] == "aggregate")
    assert agg["recovery_s"] is None
    assert "not recovered" in agg["null_reasons"]


def _model_passes(arrivals: list[float], slo_ttft_s: float, target: float, warmup: int) -> bool:
    ttft = _model_ttft_from_scheduled(arrivals)[warmup:]
    return sum(1 for t in ttft if t <= slo_ttft_s) / len(ttft) >= target


def test_search_finds_the_capacity_limited_rate(server, tmp_path: Path) -> None:
    """S slots of 0.1 s each serve 40 req/s; the search's answer is the one the capacity model gives for the same
    planned arrivals, probe by probe, and lies within the search's resolution below the capacity."""
    from inferboard.scenario.schedule import _arrivals
    from inferboard.scenario.search import next_rate, result

    server.configure(ttft_ms=TTFT_MS, itl_ms=ITL_MS, slots=SLOTS)
    slo_ttft_ms = 4 * TTFT_MS
    w = workload(dataset={"kind": "fixed", "input_tokens": 8, "output_tokens": OUT_TOKENS},
                 load={"kind": "search", "start_rate": 5, "max_rate": 160}, requests=150, warmup_requests=2,
                 slo={"ttft_ms": slo_ttft_ms}, seed=5)
    rows = run(server.url, tmp_path, w)
    agg = [r for r in rows if r["row_kind"] == "aggregate"]
    found = agg[0]["max_rate_at_slo_rps"]
    # the capacity model's own search over the same arrivals
    probes: list[tuple[float, bool]] = []
    while (rate := next_rate(w.load, probes)) is not None:
        probes.append((rate, _model_passes(_arrivals(w.seed, 152, rate, 1.0), slo_ttft_ms / 1000, 0.99, 2)))
    expected = result(probes)
    assert expected is not None and 0.5 * SLOTS / SERVICE_S < expected <= SLOTS / SERVICE_S
    assert found is not None and abs(found - expected) <= w.load.resolution * expected, (found, expected, probes)
    assert agg[0]["search_probes"] == len(agg) and agg[0]["search_requests"] == len(agg) * 152
    assert agg[0]["fixed_sweep_requests"] > agg[0]["search_requests"]
    prov = json.loads((tmp_path / "provenance.json").read_text())  # each probe sent its own prompts
    assert prov["trial_schedule_hashes"] == [prov["load_point_schedule_hashes"]]
    assert len(set(prov["load_point_schedule_hashes"])) == len(agg)
