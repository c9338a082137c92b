"""A whole cell against the test server: outputs, statistics rules, bounds, trials, crash safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from testkit.cell_runs import requests_rows, run, workload

REQUEST_COLUMNS = ("request_id status http_status scheduled_ns sent_ns first_token_ns end_ns ttft_ms tpot_ms "
                   "e2e_ms prompt_tokens output_tokens chunk_times_ms error").split()
SUMMARY_COLUMNS = ("requests_total requests_ok requests_failed error_rate ttft_ms_p50 ttft_ms_p90 ttft_ms_p99 "
                   "tpot_ms_p50 tpot_ms_p99 itl_ms_p50 itl_ms_p99 e2e_ms_p50 e2e_ms_p99 output_tokens_per_s "
                   "requests_per_s goodput_requests_per_s send_lag_ms_p99 target_rate achieved_rate valid "
                   "invalid_reason").split()


def test_outputs_schema_and_provenance(server, tmp_path: Path, tokenizer_dir: Path) -> None:
    server.configure(ttft_ms=2, itl_ms=1)
    run(server.url, tmp_path, workload(requests=100, warmup_requests=5), tokenizer=tokenizer_dir)
    req = pq.read_table(tmp_path / "requests.parquet")
    summ = pq.read_table(tmp_path / "summary.parquet")
    assert set(REQUEST_COLUMNS) <= set(req.column_names)
    assert set(SUMMARY_COLUMNS) <= set(summ.column_names)
    assert req.schema.field("chunk_times_ms").type.value_type.bit_width == 64
    for t in (req, summ):
        assert t.schema.metadata[b"inferboard.schema_version"] == b"1"
        assert json.loads(t.schema.metadata[b"inferboard.provenance"])["complete"] is True
    prov = json.loads((tmp_path / "provenance.json").read_text())
    assert prov["workload"]["workload_hash"].startswith("sha256:")
    assert prov["schedule_hash"].startswith("sha256:")
    assert prov["tokenizer"]["kind"] == "hf-tokenizers" and prov["hardware"]["host"]["cpu_logical_cores"] >= 1
    assert prov["runtime"] == {"name": "endpoint", "mode": "endpoint", "verified": False}
    assert prov["client"]["timestamps"].startswith("kernel receive time")
    rows = req.to_pylist()
    assert len(rows) == 105 and sum(r["warmup"] for r in rows) == 5
    assert all(r["prompt_tokens_target"] == 8 and r["output_tokens"] == 20 for r in rows)
    assert not (tmp_path / "requests.partial.jsonl").exists()


def test_percentiles_need_enough_samples(server, tmp_path: Path) -> None:
    server.configure(ttft_ms=1, itl_ms=0.2)
    rows = run(server.url, tmp_path, workload(requests=100, load={"kind": "concurrency", "concurrency": [4]}))
    trial = next(r for r in rows if r["row_kind"] == "trial")
    assert trial["ttft_ms_count"] == 100
    assert trial["ttft_ms_p90"] is not None and trial["ttft_ms_p50"] is not None
    assert trial["ttft_ms_p99"] is None and trial["e2e_ms_p99"] is None
    reasons = json.loads(trial["null_reasons"])
    assert reasons["ttft_ms_p99"] == "100 samples < 662 needed for p99"
    assert trial["itl_ms_p99"] is not None  # 1900 pooled gaps
    assert trial["vllm_tpot_ms_p50"] == trial["tpot_ms_p50"] == trial["guidellm_inter_token_latency_ms_p50"]
    assert trial["aiperf_inter_chunk_latency_ms_p50"] == trial["itl_ms_p50"]
    assert trial["guidellm_time_per_output_token_ms_p50"] == trial["ntpot_ms_p50"]


def test_same_seed_same_schedule_hash(server, tmp_path: Path) -> None:
    server.configure(ttft_ms=1, itl_ms=0.5)
    hashes = []
    for i, seed in enumerate((1, 1, 2)):
        run(server.url, tmp_path / str(i), workload(requests=10, seed=seed))
        hashes.append(json.loads((tmp_path / str(i) / "provenance.json").read_text())["schedule_hash"])
    assert hashes[0] == hashes[1] != hashes[2]
    a, b = requests_rows(tmp_path / "0"), requests_rows(tmp_path / "1")
    assert [r["prompt_tokens_target"] for r in a] == [r["prompt_tokens_target"] for r in b]


def test_trials_give_an_aggregate_row_with_ci(server, tmp_path: Path) -> None:
    server.configure(ttft_ms=3, itl_ms=1)
    rows = run(server.url, tmp_path, workload(requests=20, trials=3, load={"kind": "concurrency",
                                                                          "concurrency": [1, 2]}))
    trials = [r for r in rows if r["row_kind"] == "trial"]
    aggs = [r for r in rows if r["row_kind"] == "aggregate"]
    assert len(trials) == 6 and len(aggs) == 2
    for a in aggs:
        vals = sorted(t["output_tokens_per_s"] for t in trials if t["load_point"] == a["load_point"])
        assert a["output_tokens_per_s"] == pytest.approx(vals[1])
        assert a["output_tokens_per_s_ci95_low"] <= a["output_tokens_per_s"] <= a["output_tokens_per_s_ci95_high"]
        assert a["output_tokens_per_s_cv"] is not None and a["trial"] is None
    # each trial sends its own prompts: its own schedule hashes, recorded in provenance and on its rows
    prov = json.loads((tmp_path / "provenance.json").read_text())
    per_trial = prov["trial_schedule_hashes"]
    assert [len(h) for h in per_trial] == [2, 2, 2] and len({h for hs in per_trial for h in hs}) == 6
    assert per_trial[0] == prov["load_point_schedule_hashes"]
    assert all(t["schedule_hash"] == per_trial[t["trial"]][t["load_point"]] for t in trials)


def test_open_loop_keeps_the_schedule(server, tmp_path: Path) -> None:
    server.configure(ttft_ms=5, itl_ms=1)
    rows = run(server.url, tmp_path, workload(requests=60, load={"kind": "rate", "rate": [40.0]}))
    trial = rows[0]
    assert trial["target_rate"] == 40.0 and trial["valid"], trial["invalid_reason"]
    assert trial["achieved_rate"] == pytest.approx(trial["scheduled_rate"], rel=0.05)
    assert trial["send_lag_ms_max"] < 10
    reqs = requests_rows(tmp_path)
    assert all(r["send_lag_ms"] >= 0 for r in reqs)
    assert reqs[-1]["ttft_from_scheduled_ms"] >= reqs[-1]["ttft_ms"]


def test_duration_bound_stops_issuing_and_records_everything_issued(server, tmp_path: Path) -> None:
    server.configure(ttft_ms=50, itl_ms=10)
    rows = run(server.url, tmp_path, workload(requests=500, duration_s=1.0))
    reqs = requests_rows(tmp_path)
    assert 2 <= len(reqs) < 10 and len(reqs) == len(server.records())
    assert rows[0]["requests_not_issued"] == 500 - len(reqs)


def test_multi_turn_chat_sends_growing_histories(server, tmp_path: Path, tokenizer_dir: Path) -> None:
    server.configure(ttft_ms=2, itl_ms=1)
    w = workload(api="chat", requests=6, dataset={"kind": "multi_turn", "turns": 3, "user_tokens": 5,
                                                  "output_tokens": 4, "think_time_s": 0.05,
                                                  "think_time_dist": "fixed"})
    run(server.url, tmp_path, w, tokenizer=tokenizer_dir)
    reqs = sorted(requests_rows(tmp_path), key=lambda r: (r["session_id"], r["turn"]))
    assert [r["turn"] for r in reqs] == [0, 1, 2, 0, 1, 2] and all(r["status"] == "ok" for r in reqs)
    assert [r["prompt_tokens_target"] for r in reqs[:3]] == [5, 14, 23]
    gap = (reqs[1]["scheduled_ns"] - reqs[0]["end_ns"]) / 1e6
    assert 49 <= gap <= 51  # think time after the previous answer


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "inferboard.cli", *args]


def _start_cli(server, out: Path, requests: int = 400) -> subprocess.Popen[bytes]:
    return subprocess.Popen(_cli("run", "--endpoint", server.url, "--model", "fake", "--workload", "smoke",
                                 "--concurrency", "8", "--requests", str(requests), "--out", str(out),
                                 "--no-progress"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_journal(out: Path, lines: int) -> None:
    journal = out / "requests.partial.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_bytes().count(b"\n") >= lines:
            return
        time.sleep(0.05)
    raise AssertionError("journal did not grow")


def test_interrupt_writes_everything_issued(server, tmp_path: Path) -> None:
    server.configure(ttft_ms=20, itl_ms=10)
    proc = _start_cli(server, tmp_path)
    _wait_for_journal(tmp_path, 10)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    reqs = requests_rows(tmp_path)
    assert len(reqs) == len(server.records())  # in-flight requests were recorded as aborted
    assert any(r["error"] == "aborted: run interrupted" for r in reqs)
    assert json.loads((tmp_path / "provenance.json").read_text())["complete"] is False


def test_crash_loses_nothing_already_measured(server, tmp_path: Path) -> None:
    server.configure(ttft_ms=20, itl_ms=10)
    proc = _start_cli(server, tmp_path)
    _wait_for_journal(tmp_path, 10)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    journaled = (tmp_path / "requests.partial.jsonl").read_bytes().count(b"\n")
    again = subprocess.run(_cli("run", "--endpoint", server.url, "--model", "fake", "--workload", "smoke",
                                "--out", str(tmp_path)), capture_output=True, text=True)
    assert again.returncode == 2 and "inferboard finalize" in again.stderr  # never overwrites
    done = subprocess.run(_cli("finalize", str(tmp_path)), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(requests_rows(tmp_path)) == journaled >= 10


def test_a_new_run_replaces_the_previous_cell(server, tmp_path: Path) -> None:
    server.configure(ttft_ms=1, itl_ms=0.5)
    run(server.url, tmp_path, workload(requests=12))
    run(server.url, tmp_path, workload(requests=5))
    assert len(requests_rows(tmp_path)) == 5
