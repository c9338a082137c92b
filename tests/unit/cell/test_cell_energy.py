"""A cell on a (faked-NVML) GPU host: energy per load point, samples, fingerprint columns on every row."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from inferboard.core.errors import InferboardError
from inferboard.measure.client import StreamingClient
from inferboard.runtimes.envs import system_env
from inferboard.runtimes.runner import load_runner
from inferboard.scenario.workload import Sampling
from testkit.cell_runs import run, workload
from tests import fake_nvml


def test_gpu_cell_records_energy_and_fingerprint(server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # counter readings (mJ): the fingerprint's support probe, then point 0 start/end, point 1 start/end
    h = dict(fake_nvml.H100, energy_mj=[900_000, 1_000_000, 1_200_000, 1_200_000, 1_500_000], power_mw=300000)
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml.make(gpus=[h]))
    server.configure(ttft_ms=2, itl_ms=1)
    w = workload(requests=12, warmup_requests=2, load={"kind": "concurrency", "concurrency": [1, 2]})
    rows = run(server.url, tmp_path, w, gpus=[0], gpu_count=1, sku="h100-sxm", sku_verified=True)
    trial = sorted((r for r in rows if r["row_kind"] == "trial"), key=lambda r: r["load_point"])
    assert [r["energy_j"] for r in trial] == [200.0, 300.0]
    tokens = 14 * 20  # measured + warm-up requests of a point, 20 tokens each
    assert trial[0]["joules_per_output_token"] == pytest.approx(200.0 / tokens)
    for r in rows:
        assert r["gpu_name"] == "NVIDIA H100 80GB HBM3" and r["gpu_driver"] == "580.159.04"
        assert r["hardware_fingerprint"].startswith("sha256:") and r["power_limit_w"] == 700.0
        assert r["power_mean_w"] == 300.0 and r["power_over_limit"] is False and r["energy_method"]
    samples = pq.read_table(tmp_path / "gpu_samples.parquet").to_pylist()
    assert {s["load_point"] for s in samples} == {0, 1} and all(s["power_w"] == 300.0 for s in samples)
    prov = json.loads((tmp_path / "provenance.json").read_text())
    assert prov["hardware"]["gpus"][0]["name"] == "NVIDIA H100 80GB HBM3" and prov["sku_verified"] is True
    assert len(prov["gpu_windows"]) == 2 and not (tmp_path / "gpu-samples.partial.jsonl").exists()


def test_cpu_cell_says_why_energy_is_null(server, tmp_path: Path) -> None:
    server.configure(ttft_ms=2, itl_ms=1)
    rows = run(server.url, tmp_path, workload(requests=4))
    assert all(r["energy_j"] is None and "no GPU monitored" in r["energy_null_reason"] for r in rows)
    assert all(r["joules_per_output_token"] is None and r["host_cpu_model"] for r in rows)


def test_generation_config_length_control() -> None:
    c = StreamingClient("http://127.0.0.1:1", "/models/m", sampling=Sampling(), length_control="generation_config")
    body = json.loads(c.body(prompt="hi", messages=None, max_tokens=7))
    assert "ignore_eos" not in body and "min_tokens" not in body
    assert json.loads(body["generation_config"]) == {"max_new_tokens": 7, "min_new_tokens": 7, "do_sample": False}
    vllm = json.loads(StreamingClient("http://127.0.0.1:1", "m").body(prompt="hi", messages=None, max_tokens=7))
    assert vllm["ignore_eos"] is True and vllm["min_tokens"] == 7


def test_system_env_checks_and_records_packages() -> None:
    runner = load_runner("transformers")
    assert runner.api.request_model == "model_path" and runner.local is not None
    local = runner.local.model_copy(update={"requires": {"pyarrow": ">=1"}})
    info = system_env(runner, local)
    assert info["kind"] == "system" and info["python"] == sys.executable and "pyarrow" in info["packages"]
    with pytest.raises(InferboardError, match="no-such-package"):
        system_env(runner, local.model_copy(update={"requires": {"no-such-package": ""}}))
    with pytest.raises(InferboardError, match="does not satisfy"):
        system_env(runner, local.model_copy(update={"requires": {"pyarrow": "<1"}}))


def test_kv_cache_usage_is_summarized_over_the_point() -> None:
    from inferboard.results.summarize import kv_cache_columns

    recs = [{"sent_ns": 100, "end_ns": 200}, {"sent_ns": 150, "end_ns": 300}]
    cols = kv_cache_columns([(50, 0.9), (120, 0.2), (250, 0.4), (400, 1.0)], recs)
    assert cols == {"kv_cache_usage_max": 0.4, "kv_cache_usage_mean": pytest.approx(0.3)}
    assert kv_cache_columns([], recs)["kv_cache_usage_max"] is None
