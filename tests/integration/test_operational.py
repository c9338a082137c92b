"""The operational load patterns against real CPU runtimes (short versions): one server per runtime per session
(`inferboard serve`), each workload a cell through `inferboard run --endpoint`; the cold start through
`inferboard run --runtime`, which starts and restarts llama-server itself."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import psutil
import pyarrow.parquet as pq
import pytest
import yaml

from inferboard.runtimes.runner import load_runner
from inferboard.scenario.trace import read_trace
from inferboard.scenario.workload import TraceDataset, parse_workload
from tests.integration.conftest import ISOLATE, RUNTIMES, Cell, require_env

pytestmark = pytest.mark.integration
PARAMS = {"vllm": ["--param", "cpu_threads_bind=0"], "llamacpp": ["--param", "threads=1"]}
CLIENT = ["--client-cpus", "1"] if ISOLATE else []
BASE: dict[str, Any] = {"schema_version": 1, "version": 1, "seed": 0, "api": "completions",
                        "dataset": {"kind": "fixed", "input_tokens": 256, "output_tokens": 8},
                        "slo": {"ttft_ms": 500, "tpot_ms": 50},
                        "timeouts": {"connect_s": 10, "first_token_s": 30, "between_chunks_s": 30, "total_s": 60}}
WORKLOADS: dict[str, dict[str, Any]] = {
    "ops-phases": {"load": {"kind": "phases", "phases": [{"name": "baseline", "rate": 4, "duration_s": 4},
                                                         {"name": "spike", "rate": 60, "duration_s": 2},
                                                         {"name": "recovery", "rate": 4, "duration_s": 6}]},
                   "requests": 300, "warmup_requests": 1, "window_s": 1.0},
    "ops-search": {"load": {"kind": "search", "start_rate": 8, "max_rate": 256, "max_probes": 4}, "requests": 40},
    "ops-burst": {"load": {"kind": "rate", "rate": [8, 8], "burstiness": [1.0, 0.25]}, "requests": 30},
    "ops-trace": {"dataset": {"kind": "trace", "file": "workflows/traces/azure-format-synthetic.csv",
                              "sha256": "effca344091dd5bf86ceedc2bfb3deb459521a6aefa798ae7dd10db5fab34df7",
                              "max_input_tokens": 512, "max_output_tokens": 16},
                  "load": {"kind": "trace", "time_scale": 10.0}, "requests": 80},
}


@pytest.fixture(scope="session", params=RUNTIMES)
def served(request: pytest.FixtureRequest, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[str, str]]:
    """(runtime, URL) of a real server started once per session by `inferboard serve`, stopped with Ctrl-C."""
    runtime = request.param
    require_env(runtime)
    log = tmp_path_factory.mktemp(f"serve-{runtime}") / "server.log"
    proc = subprocess.Popen([sys.executable, "-m", "inferboard.cli", "serve", runtime, "--model", str(tiny_model),
                             "--log", str(log), *PARAMS[runtime]], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("http://127.0.0.1:"), (line, log.read_text()[-2000:] if log.exists() else "")
        yield runtime, line.split()[0]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)


def _cell(served: tuple[str, str], name: str, tmp_path: Path) -> Cell:
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(yaml.safe_dump({**BASE, "name": name, **WORKLOADS[name]}))
    out = tmp_path / name
    proc = subprocess.run([sys.executable, "-m", "inferboard.cli", "run", "--endpoint", served[1], "--model",
                           "tiny-llama-2l", "--workload", str(spec), "--out", str(out), "--no-progress", *CLIENT],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Cell(out, proc)


def _server_nodelay(port: int) -> bool:
    """TCP_NODELAY on the server's side of a fresh connection to ``port``: a copy of its socket taken from the
    server process (pidfd_getfd, Linux 5.6+)."""
    libc = ctypes.CDLL(None, use_errno=True)
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
        client.recv(65536)  # accepted and served: the server holds the socket
        mine = client.getsockname()
        ours = [c for c in psutil.net_connections("tcp") if c.raddr and tuple(c.raddr) == mine and c.pid]
        assert len(ours) == 1, f"no visible server process holds the other end of {mine}: {ours}"
        (conn,) = ours
        pidfd = libc.syscall(434, conn.pid, 0)  # pidfd_open
        fd = libc.syscall(438, pidfd, conn.fd, 0)  # pidfd_getfd
        assert pidfd >= 0 and fd >= 0, ctypes.get_errno()
        try:
            with socket.socket(fileno=fd) as theirs:
                return bool(theirs.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        finally:
            os.close(pidfd)


def test_the_runners_nodelay_declaration_holds(served: tuple[str, str]) -> None:
    """A runner that declares tcp_nodelay lets the client read in bulk, which would stall a server with Nagle on:
    the declaration is checked against the running server's own socket."""
    runtime, url = served
    assert load_runner(runtime).api.tcp_nodelay is True
    port = urlsplit(url).port
    assert port is not None and _server_nodelay(port) is True


def _aggregates(cell: Cell) -> list[dict[str, Any]]:
    return [r for r in cell.summary if r["row_kind"] == "aggregate"]


def test_phases_measure_the_spike_and_the_recovery(served: tuple[str, str], tmp_path: Path) -> None:
    cell = _cell(served, "ops-phases", tmp_path)
    (agg,) = _aggregates(cell)
    assert agg["load_kind"] == "phases" and agg["overload_error_rate"] is not None
    assert agg["recovery_s"] is not None or "recover" in (agg["null_reasons"] or "")
    windows = pq.read_table(cell.out / "windows.parquet").to_pylist()
    by_phase = {w["phase_name"] for w in windows}
    assert {"baseline", "spike", "recovery"} <= by_phase
    spike = sum(w["requests_started"] for w in windows if w["phase_name"] == "spike")
    base = sum(w["requests_started"] for w in windows if w["phase_name"] == "baseline")
    assert spike > 3 * base / 2  # 60 req/s for 2 s against 4 req/s for 4 s


def test_search_probes_until_its_rule_stops(served: tuple[str, str], tmp_path: Path) -> None:
    cell = _cell(served, "ops-search", tmp_path)
    probes = cell.provenance["search_probes"]
    aggs = _aggregates(cell)
    assert 2 <= len(probes) <= 4 and [p["rate"] for p in probes] == [r["load_value"] for r in aggs]
    assert probes[0]["rate"] == 8 and all(p["passed"] is not None for p in probes)
    found = aggs[0]["max_rate_at_slo_rps"]
    passing = [p["rate"] for p in probes if p["passed"]]
    assert found == (max(passing) if passing else None)
    assert aggs[0]["search_requests"] == sum(r["requests_total"] + r["warmup_requests"] for r in aggs)


def test_burst_and_poisson_side_by_side(served: tuple[str, str], tmp_path: Path) -> None:
    cell = _cell(served, "ops-burst", tmp_path)
    aggs = _aggregates(cell)
    assert [(r["load_value"], r["burstiness"]) for r in aggs] == [(8.0, 1.0), (8.0, 0.25)]
    assert all(r["requests_ok"] == 30 for r in aggs)
    # the bursty schedule's gaps vary twice as much (CV 2 vs 1): its scheduled gaps show it
    cvs = []
    for lp in (0, 1):
        sched = sorted(r["scheduled_ns"] for r in cell.requests if r["load_point"] == lp)
        gaps = np.diff(sched)
        cvs.append(float(gaps.std() / gaps.mean()))
    assert cvs[1] > cvs[0]


def test_trace_replays_arrivals_and_lengths(served: tuple[str, str], tmp_path: Path) -> None:
    cell = _cell(served, "ops-trace", tmp_path)
    reqs = sorted(cell.requests, key=lambda r: r["scheduled_ns"])
    assert len(reqs) == 80 and {r["status"] for r in reqs} == {"ok"}
    assert max(r["max_tokens"] for r in reqs) <= 16 and max(r["output_tokens"] for r in reqs) <= 16
    span_s = (reqs[-1]["scheduled_ns"] - reqs[0]["scheduled_ns"]) / 1e9
    w = parse_workload({**BASE, "name": "ops-trace", **WORKLOADS["ops-trace"]}, source="test")
    assert isinstance(w.dataset, TraceDataset)
    assert abs(span_s - read_trace(w.dataset, 80)[-1].offset_s / 10.0) < 0.05  # time scale 10


def test_llama_server_cold_start_restarts_and_samples_its_memory(tiny_model: Path, tmp_path: Path) -> None:
    require_env("llamacpp")
    spec = tmp_path / "ops-cold.yaml"
    spec.write_text(yaml.safe_dump({**BASE, "name": "ops-cold", "load": {"kind": "concurrency", "concurrency": [1]},
                                    "requests": 6, "trials": 2, "fresh_server_per_trial": True,
                                    "server_caches": "reuse"}))
    out = tmp_path / "cold"
    proc = subprocess.run([sys.executable, "-m", "inferboard.cli", "run", "--runtime", "llamacpp", "--model",
                           str(tiny_model), "--workload", str(spec), "--out", str(out), "--sku", "cpu-host",
                           "--no-progress", "--param", "threads=1", *ISOLATE],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cell = Cell(out, proc)
    trials = [r for r in cell.summary if r["row_kind"] == "trial"]
    assert len(trials) == 2 and len(cell.provenance["servers"]) == 2
    assert all(r["cold_start_s"] > 0 and r["cold_ttft_ms"] > 0 for r in trials)
    assert all(r["server_rss_max_bytes"] > 10_000_000 for r in trials)  # the server's own memory, sampled
    assert all(r["server_caches"] is None for r in trials)  # llama-server has no compile caches to reuse


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_several_models_share_one_server(runtime: str, tiny_model: Path, tmp_path: Path) -> None:
    """The tiny model and its two LoRA adapters behind one server `inferboard run --runtime` starts with them:
    every request addressed one of the three, and each has its own summary row."""
    require_env(runtime)
    spec = tmp_path / "ops-multi.yaml"
    split = {"split": "round_robin", "targets": [{"name": "base"}, {"name": "lora-a"}, {"name": "lora-b"}]}
    spec.write_text(yaml.safe_dump({**BASE, "name": "ops-multi", "load": {"kind": "concurrency", "concurrency": [3]},
                                    "requests": 36, "warmup_requests": 3, "models": split}))
    out = tmp_path / "multi"
    proc = subprocess.run([sys.executable, "-m", "inferboard.cli", "run", "--runtime", runtime, "--model",
                           str(tiny_model), "--workload", str(spec), "--out", str(out), "--sku", "cpu-host",
                           "--no-progress", *PARAMS[runtime], *ISOLATE],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cell = Cell(out, proc)
    assert cell.provenance["runtime"]["adapters"] == {"lora-a": 8, "lora-b": 8}
    assert {r["status"] for r in cell.requests} == {"ok"}
    assert [r["target"] for r in sorted(cell.requests, key=lambda r: r["session_id"])][:4] == [
        "base", "lora-a", "lora-b", "base"]
    targets = {r["target"]: r for r in cell.summary if r["row_kind"] == "target"}
    assert sorted(targets) == ["base", "lora-a", "lora-b"]
    assert all(r["requests_ok"] == 12 and r["ttft_ms_p50"] > 0 for r in targets.values())  # p50 needs 11
    (agg,) = _aggregates(cell)
    assert agg["adapter_ttft_penalty_pct"] is not None  # 12 base against 24 adapter requests
