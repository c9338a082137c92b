"""Several client processes for one load point: the same requests and ids as one process, merged into one
requests.parquet, each record naming its process, the schedule kept, and no process left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from inferboard.cell.api import run_cell
from inferboard.cell.system import PreparedSystem
from inferboard.measure.loadgen import owner, session_slots, share
from inferboard.results.summarize import send_lag_percentile, send_lag_reasons
from inferboard.scenario.prompts import load_tokenizer
from inferboard.scenario.scenario import Scenario
from inferboard.scenario.schedule import build_plan
from testkit.cell_runs import requests_rows, workload

ROOT = Path(__file__).resolve().parents[3]


def _run(url: str, out: Path, w, procs: int) -> list[dict]:
    system = PreparedSystem(url=url, model="fake", tokenizer=load_tokenizer(None))
    return run_cell(system, Scenario(w), out, client_procs=procs).rows


def test_slots_and_shares_match_one_process() -> None:
    w = workload(requests=7, warmup_requests=2, load={"kind": "concurrency", "concurrency": [5]})
    plan = build_plan(w, load_tokenizer(None)).points[0]
    slots = session_slots(plan)
    assert [list(r) for r in slots if len(r)] == [[i] for i in range(9)]  # one turn each, bounded at 2 + 7
    assert [share(5, i, 2) for i in range(2)] == [3, 2] and sum(share(7, i, 3) for i in range(3)) == 7
    # each process's sessions follow its streams: concurrency 3 over 2 processes is 2 + 1 streams, 2/3 + 1/3
    counts = [sum(owner(k, 3, 2) == p for k in range(300)) for p in range(2)]
    assert counts == [200, 100] and [share(3, p, 2) for p in range(2)] == [2, 1]
    assert [owner(k, None, 3) for k in range(6)] == [0, 1, 2, 0, 1, 2]  # an open loop without a limit


def test_a_client_process_that_cannot_start_is_one_clear_error(tmp_path: Path) -> None:
    import asyncio

    from inferboard.cell.clients import ClientSetup, run_parts
    from inferboard.core.errors import InferboardError
    from inferboard.scenario.workload import Sampling, Timeouts

    w = workload(requests=4, load={"kind": "concurrency", "concurrency": [2]})
    plan = build_plan(w, load_tokenizer(None)).points[0]
    setup = ClientSetup("ftp://nowhere", "fake", api="completions", timeouts=Timeouts(), sampling=Sampling())
    with pytest.raises(InferboardError, match="did not start"):  # the URL fails in the child before it is ready
        asyncio.run(run_parts(setup, plan, 0, [None, None], tmp_path, asyncio.Event(), lambda r: None))
    assert not list(tmp_path.glob("requests.*.jsonl"))


def test_closed_loop_over_two_processes_sends_the_same_requests(server, tmp_path: Path) -> None:
    server.configure(ttft_ms=2, itl_ms=1)
    w = workload(requests=60, warmup_requests=4, load={"kind": "concurrency", "concurrency": [4]})
    one = _run(server.url, tmp_path / "one", w, 1)
    two = _run(server.url, tmp_path / "two", w, 2)
    a, b = requests_rows(tmp_path / "one"), requests_rows(tmp_path / "two")
    assert sorted(r["request_id"] for r in a) == sorted(r["request_id"] for r in b)
    assert {r["request_id"]: r["prompt_tokens_target"] for r in a} == \
        {r["request_id"]: r["prompt_tokens_target"] for r in b}
    assert {r["client_proc"] for r in a} == {None} and {r["client_proc"] for r in b} == {0, 1}
    assert sorted(r["request_id"] for r in b if r["warmup"]) == sorted(r["request_id"] for r in a if r["warmup"])
    assert all(r["status"] == "ok" for r in b) and two[0]["valid"], two[0]["invalid_reason"]
    assert one[0]["requests_total"] == two[0]["requests_total"] == 60
    provs = [json.loads((tmp_path / d / "provenance.json").read_text()) for d in ("one", "two")]
    assert provs[0]["schedule_hash"] == provs[1]["schedule_hash"] and provs[1]["client"]["procs"] == 2
    assert not list((tmp_path / "two").glob("requests.*.jsonl"))  # every journal merged and removed


def test_open_loop_over_three_processes_keeps_one_schedule(server, tmp_path: Path) -> None:
    server.configure(ttft_ms=3, itl_ms=1)
    w = workload(requests=90, load={"kind": "rate", "rate": [60.0]})
    rows = _run(server.url, tmp_path, w, 3)
    reqs = requests_rows(tmp_path)
    assert len(reqs) == 90 and {r["client_proc"] for r in reqs} == {0, 1, 2}
    plan = build_plan(w, load_tokenizer(None)).points[0]
    arrivals = {f"t0-p0-{k:06d}": s.arrival_s for k, s in enumerate(plan.sessions)}
    t0 = min(r["scheduled_ns"] - arrivals[r["request_id"]] * 1e9 for r in reqs)
    for r in reqs:  # every process scheduled from the same start: the plan's arrivals, on one clock
        assert r["scheduled_ns"] == pytest.approx(t0 + arrivals[r["request_id"]] * 1e9, abs=2e3)
    assert rows[0]["achieved_rate"] == pytest.approx(rows[0]["scheduled_rate"], rel=0.05)
    assert rows[0]["valid"], rows[0]["invalid_reason"]


def test_saturation_is_judged_per_process() -> None:
    fine = [{"send_lag_ms": 0.5, "client_proc": 0}] * 700
    late = [{"send_lag_ms": 40.0, "client_proc": 1}] * 10 + [{"send_lag_ms": 0.5, "client_proc": 1}] * 690
    assert send_lag_reasons(fine + late) == ["client process 1: p99 send lag 40.0 ms > 10 ms"]
    assert send_lag_reasons(fine) == []


def test_saturation_is_judged_at_the_percentile_the_requests_bound() -> None:
    """The p99 of 96 requests is their largest lag: two stalls of the host do not make the client saturated, a
    tenth of the requests late does; below 64 requests the median is held to the bound."""
    def point(n: int, late: int) -> list[dict[str, object]]:
        return [{"send_lag_ms": 40.0, "client_proc": None}] * late + [{"send_lag_ms": 0.5, "client_proc": None}] * (
            n - late)

    assert send_lag_percentile(700) == 99.0 and send_lag_percentile(96) == 90.0 and send_lag_percentile(16) == 50.0
    assert send_lag_reasons(point(96, 2)) == []
    assert send_lag_reasons(point(96, 20)) == ["p90 send lag 40.0 ms > 10 ms"]
    assert send_lag_reasons(point(700, 10)) == ["p99 send lag 40.0 ms > 10 ms"]
    assert send_lag_reasons(point(3, 3)) == ["p50 send lag 40.0 ms > 10 ms"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_no_client_process_outlives_the_command(server, tmp_path: Path, sig: signal.Signals) -> None:
    """Interrupted (SIGINT) the run records what was in flight; killed outright (SIGKILL), its client processes
    still end (they die with their parent) and what they journaled is kept for ``inferboard finalize``."""
    server.configure(ttft_ms=20, itl_ms=10)
    cli = [sys.executable, "-m", "inferboard.cli", "run", "--endpoint", server.url, "--model", "fake",
           "--workload", "smoke", "--concurrency", "4", "--requests", "400", "--client-procs", "2",
           "--out", str(tmp_path), "--no-progress"]
    proc = subprocess.Popen(cli, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(server.records()) < 10 and time.monotonic() < deadline:
        time.sleep(0.1)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert len(children) >= 2
    os.kill(proc.pid, sig)
    proc.communicate(timeout=30)
    _, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, [p.cmdline() for p in alive]
    if sig == signal.SIGINT:
        assert proc.returncode == 130
    else:
        done = subprocess.run([sys.executable, "-m", "inferboard.cli", "finalize", str(tmp_path)], cwd=ROOT,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    reqs = requests_rows(tmp_path)
    assert len(reqs) == len(server.records())  # in flight when it stopped: recorded as aborted
    assert {r["client_proc"] for r in reqs} == {0, 1}
