"""Roofline limits and the plausibility check that rejects rows above them."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from inferboard.cli.app import main
from inferboard.hardware.roofline import roofline, row_limits
from inferboard.hardware.sku import load_skus
from inferboard.models.catalog import load_models
from inferboard.results.summarize import validity

ROOT = Path(__file__).resolve().parents[3]
GPU_CELL = ROOT / "tests/gpu/results/h200-sxm/transformers/llama-3.1-8b-instruct-random/gpu-check"


def test_llama8b_h100_batch1_is_about_208_tokens_per_s() -> None:
    r = roofline(load_models()["llama-3.1-8b-instruct"], load_skus()["h100-sxm"], batch=1)
    assert r["decode_tokens_per_s"] == pytest.approx(208, rel=0.10)
    assert r["bound"] == "memory" and r["prefill_ttft_ms"] > 0


def test_batch_and_context_move_the_limit_the_right_way() -> None:
    m, s = load_models()["llama-3.1-8b-instruct"], load_skus()["h100-sxm"]
    one, many = roofline(m, s, batch=1), roofline(m, s, batch=64)
    assert many["decode_tokens_per_s"] > 30 * one["decode_tokens_per_s"]  # weights amortised over the batch
    assert roofline(m, s, batch=64, context_tokens=8192)["decode_tokens_per_s"] < many["decode_tokens_per_s"]
    assert roofline(m, s, gpus=2)["decode_tokens_per_s"] == pytest.approx(2 * one["decode_tokens_per_s"])
    assert roofline(m, s, prompt_tokens=8192)["prefill_ttft_ms"] > 8 * one["prefill_ttft_ms"]


def test_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ex:
        main(["roofline", "--model", "llama-3.1-8b-instruct", "--sku", "h100-sxm", "--batch", "1", "--json"])
    assert ex.value.code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["decode_tokens_per_s"] == pytest.approx(208, rel=0.1) and out["prefill_ttft_ms"] > 0


def test_cli_unknown_sku_names_the_field(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ex:
        main(["roofline", "--model", "llama-3.1-8b-instruct", "--sku", "h999"])
    assert ex.value.code == 2 and "--sku" in capsys.readouterr().err


def _row(tokens_per_s: float) -> dict:
    return {"load_kind": "concurrency", "load_value": 1.0, "requests_per_s": 0.2, "gpu_count": 1,
            "input_tokens_per_s": 0.0, "output_tokens_per_s": tokens_per_s, "e2e_ms_mean": 5000.0}


def test_row_at_twice_its_limit_is_rejected_with_a_reason() -> None:
    m, s = load_models()["llama-3.1-8b-instruct"], load_skus()["h100-sxm"]
    limit = roofline(m, s, batch=1)["decode_tokens_per_s"]
    row = {**_row(2 * limit), "target_rate": None, "scheduled_rate": None, "achieved_rate": None,
           "error_rate": 0.0, "requests_total": 10, "send_lag_ms_p99": None}
    row.update(row_limits(row, m, s))
    assert row["roofline_efficiency_pct"] == pytest.approx(200, rel=0.02)
    reasons = validity(row, [])
    assert any("implausible" in r and "roofline" in r for r in reasons)


def test_cpu_rows_have_no_roofline_and_say_why() -> None:
    lim = row_limits(_row(10.0), load_models()["tiny-llama-2l"], load_skus()["cpu-host"])
    assert lim["roofline_efficiency_pct"] is None and lim["roofline_reason"] == "no GPU SKU"


def test_published_gpu_cell_is_below_its_limit() -> None:
    rows = pq.read_table(GPU_CELL / "summary.parquet").to_pylist()
    assert rows and all(0 < r["roofline_efficiency_pct"] < 100 and r["valid"] for r in rows)
    assert all(r["energy_j"] > 0 and r["joules_per_output_token"] > 0 for r in rows)
    assert all(r["sku"] == "h200-sxm" and r["sku_verified"] and r["gpu_name"] == "NVIDIA H200" for r in rows)
    assert all(r["power_mean_w"] <= r["power_limit_w"] for r in rows)
