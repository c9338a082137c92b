"""A phased overload and a max-rate search against the fake server's capacity model (testkit/fakecapacity.py), and
what the model, and the server's own record, say their results should be. Shared by
tests/unit/cell/test_overload_recovery.py (bounds that hold on a busy host) and
benchmarks/capacity_model_agreement.py (how close a quiet host comes to the model)."""

from __future__ import annotations

from typing import Any

from inferboard.cell.timeline import phase_spans
from inferboard.metrics.windows import recovery
from inferboard.scenario.prompts import load_tokenizer
from inferboard.scenario.schedule import phase_arrivals, planned_requests, probe_point
from inferboard.scenario.search import Probe, next_rate, result
from inferboard.scenario.workload import PhasesLoad, SearchLoad, Workload
from testkit.cell_runs import workload
from testkit.fakecapacity import fifo_ttft

SLOTS, TTFT_MS, ITL_MS, OUT_TOKENS = 4, 40.0, 10.0, 7
SERVICE_S = (TTFT_MS + (OUT_TOKENS - 1) * ITL_MS) / 1000  # 0.1 s a request: capacity 40 req/s
CAPACITY_RPS = SLOTS / SERVICE_S
SERVER = {"ttft_ms": TTFT_MS, "itl_ms": ITL_MS, "slots": SLOTS}  # the fake server's control settings
# 20 req/s (half the capacity) puts ~10 requests in each 0.5 s window, so that no window's median hangs on the one
# or two requests a descheduled process delays
PHASES = [{"name": "baseline", "rate": 20, "duration_s": 3}, {"name": "spike", "rate": 100, "duration_s": 1},
          {"name": "recovery", "rate": 20, "duration_s": 5}]
FACTOR, WINDOW_S = 1.5, 0.5
CONFIRM = 200  # measured requests of the search's confirmation point


def overload(**over: object) -> Workload:
    """The phased load: 100 req/s for 1 s between two stretches at half the capacity."""
    fields: dict[str, object] = {
        "dataset": {"kind": "fixed", "input_tokens": 8, "output_tokens": OUT_TOKENS},
        "load": {"kind": "phases", "phases": PHASES, "recovery_factor": FACTOR}, "requests": 800,
        "warmup_requests": 2, "window_s": WINDOW_S, "seed": 3}
    return workload(**{**fields, **over})


def search() -> Workload:
    """The search: 90% of 150 requests within 4 × TTFT from the scheduled time, from 10 req/s; then 200 requests
    at the rate it found."""
    return workload(dataset={"kind": "fixed", "input_tokens": 8, "output_tokens": OUT_TOKENS},
                    load={"kind": "search", "start_rate": 10, "max_rate": 160, "goodput_target": 0.9,
                          "confirm_requests": CONFIRM},
                    requests=150, warmup_requests=2, slo={"ttft_ms": 4 * TTFT_MS}, seed=5)


def recovery_of(w: Workload, scheduled_ns: list[int], ttft_ms: list[float | None]) -> float | None:
    """recovery_s by the suite's definition over these TTFTs from the scheduled time (None: a failed request)."""
    recs = [{"scheduled_ns": s, "warmup": i < w.warmup_requests, "status": "ok" if t is not None else "error",
             "ttft_from_scheduled_ms": t} for i, (s, t) in enumerate(zip(scheduled_ns, ttft_ms, strict=True))]
    return recovery(recs, phase_spans(w), factor=FACTOR, window_s=WINDOW_S)[0]


def model_recovery(w: Workload) -> tuple[float | None, int]:
    """The capacity model's recovery_s for the planned arrivals, and its peak queue length."""
    assert isinstance(w.load, PhasesLoad)
    arr = phase_arrivals(w.load, w.seed, planned_requests(w))
    ttft = fifo_ttft(arr, SLOTS, SERVICE_S, TTFT_MS / 1000)
    queue = max(sum(1 for b, t in zip(arr, ttft, strict=True) if b <= a and b + t - TTFT_MS / 1000 > a) - SLOTS
                for a in arr)
    return recovery_of(w, [round(a * 1e9) for a in arr], [t * 1000 for t in ttft]), queue


def servers_recovery(w: Workload, rows: list[dict[str, Any]], truth: dict[str, dict[str, Any]]) -> float | None:
    """recovery_s from the server's record of when it wrote each first token (the client's clock is the same)."""
    rows = sorted(rows, key=lambda r: r["scheduled_ns"])
    first = [truth[r["request_id"]]["sent_ns"] for r in rows]
    return recovery_of(w, [r["scheduled_ns"] for r in rows],
                       [(s[0] - r["scheduled_ns"]) / 1e6 if r["status"] == "ok" and s else None
                        for r, s in zip(rows, first, strict=True)])


def model_search(w: Workload) -> tuple[float | None, list[Probe]]:
    """The capacity model's own search over the probes' planned arrivals: its answer and probes."""
    assert isinstance(w.load, SearchLoad) and w.slo is not None and w.slo.ttft_ms is not None
    target, slo_s = w.load.goodput_target, w.slo.ttft_ms / 1000
    probes: list[Probe] = []
    while (rate := next_rate(w.load, probes)) is not None:
        arr = [s.arrival_s or 0.0 for s in probe_point(w, load_tokenizer(None), 0, len(probes), rate).sessions]
        ttft = fifo_ttft(arr, SLOTS, SERVICE_S, TTFT_MS / 1000)[w.warmup_requests:]
        probes.append((rate, sum(1 for t in ttft if t <= slo_s) / len(ttft) >= target))
    return result(probes), probes
