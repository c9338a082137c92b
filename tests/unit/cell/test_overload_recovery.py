"""A phased load past a known capacity: the fake server's capacity model (S slots, a FIFO queue) makes the queue's
growth and drain computable from the planned arrivals.

What these tests assert holds on a busy machine: the recovery the client measures is the one the server's own record
of when it wrote each first token gives (same clock, same definition), and never shorter than the capacity model's
(a server slowed by the host's other work only drains later); the search's verdicts, probes and answer follow from
its measured probes, and its answer lies between a rate the model serves with a wide margin and the model's answer;
its confirmation point follows at that rate.
How closely a quiet host matches the model is a precision figure: benchmarks/capacity_model_agreement.py. The
scenarios and the model are testkit/overload_scenarios.py."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from inferboard.scenario.schedule import planned_requests
from inferboard.scenario.search import next_rate, result
from testkit.cell_runs import requests_rows, run
from testkit.overload_scenarios import (
    CAPACITY_RPS,
    CONFIRM,
    SERVER,
    TTFT_MS,
    WINDOW_S,
    model_recovery,
    model_search,
    overload,
    search,
    servers_recovery,
)


def test_recovery_is_what_the_server_did_and_no_faster_than_its_capacity(server, tmp_path: Path) -> None:
    server.configure(**SERVER)
    w = overload()
    model, queue = model_recovery(w)
    assert model is not None and 1.0 < model < 4.0 and queue > 40  # the spike (100 vs 40 req/s) really queues
    rows = run(server.url, tmp_path, w)
    agg = next(r for r in rows if r["row_kind"] == "aggregate")
    assert agg["load_kind"] == "phases" and agg["overload_error_rate"] == 0.0
    truth = servers_recovery(w, requests_rows(tmp_path), server.records())
    assert truth is not None and agg["recovery_s"] is not None
    assert abs(agg["recovery_s"] - truth) <= WINDOW_S, (agg["recovery_s"], truth)
    assert agg["recovery_s"] >= model - WINDOW_S, (agg["recovery_s"], model)
    win = pq.read_table(tmp_path / "windows.parquet").to_pylist()
    assert [w_["phase_name"] for w_ in win[:6]] == ["baseline"] * 6 and win[6]["phase_name"] == "spike"
    # every request planned was started in the window of its scheduled time, and every one finished
    assert sum(w_["requests_started"] for w_ in win) == planned_requests(w) == agg["requests_planned"]
    assert sum(w_["requests_finished"] for w_ in win) == planned_requests(w)
    # the spike's windows wait far longer than the baseline's: the queue shows in TTFT from the scheduled time
    spike_p50 = max(w_["ttft_from_scheduled_ms_p50"] or 0 for w_ in win if w_["phase_name"] == "spike")
    assert spike_p50 > 10 * TTFT_MS


def test_shedding_server_recovers_at_once_and_scores_better(server, tmp_path: Path) -> None:
    """With a queue limit the same spike is shed (503s) instead of queued: errors under overload, no queue left
    behind, so recovery is immediate; the queueing server above takes seconds."""
    server.configure(**SERVER, queue_limit=2)
    rows = run(server.url, tmp_path, overload())
    agg = next(r for r in rows if r["row_kind"] == "aggregate")
    assert agg["overload_shed_rate"] > 0.3 and agg["overload_error_rate"] == agg["overload_shed_rate"]
    assert agg["recovery_s"] is not None and agg["recovery_s"] <= WINDOW_S
    # errors under overload are the measurement, not a broken run (a loaded machine may still lag the client)
    assert "error rate" not in (agg["invalid_reason"] or "")


def test_a_server_that_never_drains_has_no_recovery_and_says_why(server, tmp_path: Path) -> None:
    server.configure(**{**SERVER, "slots": 1})  # capacity 10 req/s: the baseline alone fills it
    rows = run(server.url, tmp_path, overload(
        load={"kind": "phases", "phases": [{"name": "baseline", "rate": 5, "duration_s": 3},
                                           {"name": "spike", "rate": 60, "duration_s": 1},
                                           {"name": "recovery", "rate": 9, "duration_s": 2}]},
        timeouts={"connect_s": 5, "first_token_s": 30, "between_chunks_s": 5, "total_s": 60}))
    agg = next(r for r in rows if r["row_kind"] == "aggregate")
    assert agg["recovery_s"] is None
    assert "not recovered" in agg["null_reasons"]


def test_search_answer_follows_its_probes_and_the_servers_capacity(server, tmp_path: Path) -> None:
    """S slots of 0.1 s each serve 40 req/s. Each probe's verdict is its measured goodput against the target, each
    next rate the search's rule applied to the verdicts so far, the answer the highest passing rate below every
    failing one; and it lies between half the capacity (where the model meets the SLO for every request, with
    three times the TTFT to spare) and the capacity model's own answer for the same arrivals (a busy host only
    slows the server)."""
    server.configure(**SERVER)
    w = search()
    expected, model_probes = model_search(w)
    half = 0.5 * CAPACITY_RPS
    assert expected is not None and half < expected <= CAPACITY_RPS, model_probes
    rows = run(server.url, tmp_path, w)
    *agg, confirm = [r for r in rows if r["row_kind"] == "aggregate"]
    probes = [(r["load_value"], r["goodput_fraction_scheduled"] >= 0.9) for r in agg]
    assert [p[0] for p in probes] == [next_rate(w.load, probes[:i]) for i in range(len(probes))]
    assert next_rate(w.load, probes) is None
    found = agg[0]["max_rate_at_slo_rps"]
    assert found == result(probes) and found is not None
    assert half <= found <= expected * (1 + w.load.resolution), (found, expected, probes, model_probes)
    # then the confirmation point measures the answer with its own, larger count; the answer stays the search's
    assert confirm["load_value"] == found and confirm["requests_total"] == CONFIRM
    assert confirm["max_rate_at_slo_rps"] == found and confirm["search_probes"] == len(agg)
    assert agg[0]["search_probes"] == len(agg) and agg[0]["search_requests"] == len(agg) * 152
    assert agg[0]["fixed_sweep_requests"] > agg[0]["search_requests"]
    prov = json.loads((tmp_path / "provenance.json").read_text())  # each point sent its own prompts
    assert [p.get("confirmation", False) for p in prov["search_probes"]] == [False] * len(agg) + [True]
    assert prov["trial_schedule_hashes"] == [prov["load_point_schedule_hashes"]]
    assert len(set(prov["load_point_schedule_hashes"])) == len(agg) + 1
