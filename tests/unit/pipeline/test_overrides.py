"""Matrix overrides are the workload's own override model: every field can be set from the config and reaches the run.

Each case goes the way a pipeline cell goes: the config block is validated (typed overrides), the cell travels to
its job as JSON, ``run_matrix_cell`` resolves the scenario and runs it (here against the fake server) and the
effect is read back from what the cell wrote: the workload definition in provenance.json and the measured rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from inferboard.cell.system import PreparedSystem
from inferboard.core.errors import InferboardError
from inferboard.pipeline.jobs import run_matrix_cell
from inferboard.pipeline.matrix import MatrixCell, parse_config
from inferboard.scenario.prompts import load_tokenizer
from inferboard.scenario.scenario import IDENTITY_FIELDS, Scenario, WorkloadOverrides
from inferboard.scenario.workload import Workload, load_workload

BASE = {"name": "ovr", "version": 1, "dataset": {"kind": "fixed", "input_tokens": 8, "output_tokens": 6},
        "load": {"kind": "concurrency", "concurrency": [1]}, "requests": 4, "warmup_requests": 0,
        "timeouts": {"connect_s": 5, "first_token_s": 10, "between_chunks_s": 5, "total_s": 60}}
OPEN = {**BASE, "name": "ovr-open", "load": {"kind": "rate", "rate": [40.0]}}

Check = Callable[[dict[str, Any], list[dict[str, Any]]], bool]


def _definition(prov: dict[str, Any]) -> dict[str, Any]:
    return prov["workload"]["definition"]


def _agg(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["row_kind"] == "aggregate"]


#: field → (base workload, override value, check on (provenance, summary rows))
CASES: dict[str, tuple[dict[str, Any], Any, Check]] = {
    "dataset": (BASE, {"kind": "fixed", "input_tokens": 5, "output_tokens": 3},
                lambda p, rows: _agg(rows)[0]["output_tokens_per_s"] > 0
                and _definition(p)["dataset"]["output_tokens"] == 3),
    "load": (BASE, {"kind": "rate", "rate": [30.0]},
             lambda p, rows: [(r["load_kind"], r["load_value"]) for r in _agg(rows)] == [("rate", 30.0)]),
    "concurrency": (BASE, [1, 2], lambda p, rows: [r["load_value"] for r in _agg(rows)] == [1.0, 2.0]),
    "rate": (BASE, [25.0], lambda p, rows: [(r["load_kind"], r["load_value"]) for r in _agg(rows)] == [("rate", 25.0)]),
    "burstiness": (OPEN, 0.5, lambda p, rows: _definition(p)["load"]["burstiness"] == 0.5),
    "max_concurrency": (OPEN, 2, lambda p, rows: _definition(p)["load"]["max_concurrency"] == 2),
    "requests": (BASE, 3, lambda p, rows: _agg(rows)[0]["requests_total"] == 3),
    "duration_s": (BASE, 30.0, lambda p, rows: _definition(p)["duration_s"] == 30.0),
    "warmup_requests": (BASE, 2, lambda p, rows: _agg(rows)[0]["warmup_requests"] == 2),
    "trials": (BASE, 2, lambda p, rows: sum(r["row_kind"] == "trial" for r in rows) == 2),
    "fresh_server_per_trial": (BASE, True, lambda p, rows: _definition(p)["fresh_server_per_trial"] is True),
    "seed": (BASE, 7, lambda p, rows: p["seed"] == 7),
    "api": (BASE, "chat", lambda p, rows: _definition(p)["api"] == "chat" and _agg(rows)[0]["requests_ok"] == 4),
    # an SLO no request can meet: goodput falls to zero, so the bound reached the measurement
    "slo": (BASE, {"ttft_ms": 0.001}, lambda p, rows: _agg(rows)[0]["goodput_requests_per_s"] == 0
            and _definition(p)["slo"]["ttft_ms"] == 0.001),
    "timeouts": (BASE, {"total_s": 30.0}, lambda p, rows: _definition(p)["timeouts"]["total_s"] == 30.0
                 and _definition(p)["timeouts"]["connect_s"] == 5),  # merged: the others are kept
    "sampling": (BASE, {"temperature": 0.5}, lambda p, rows: _definition(p)["sampling"]["temperature"] == 0.5),
    "server_caches": (BASE, "reuse", lambda p, rows: _definition(p)["server_caches"] == "reuse"),
    "window_s": (BASE, 0.5, lambda p, rows: _definition(p)["window_s"] == 0.5),
    "models": (BASE, {"split": "round_robin", "targets": [{"name": "base"}, {"name": "lora-a"}]},
               lambda p, rows: sorted(r["target"] for r in rows if r["row_kind"] == "target") == ["base", "lora-a"]),
}


def test_every_workload_field_can_be_overridden() -> None:
    fields = set(Workload.model_fields) - IDENTITY_FIELDS
    assert fields <= set(WorkloadOverrides.model_fields), fields - set(WorkloadOverrides.model_fields)
    assert set(CASES) == set(WorkloadOverrides.model_fields)  # a case per override below


@pytest.mark.parametrize("field", sorted(CASES))
def test_override_from_the_config_reaches_the_run(field: str, server, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    base, value, check = CASES[field]
    server.configure(ttft_ms=1, itl_ms=0.5)
    (tmp_path / "workloads").mkdir()
    (tmp_path / "workloads" / f"{base['name']}.yaml").write_text(yaml.safe_dump(base))
    monkeypatch.setenv("INFERBOARD_WORKLOADS_DIR", str(tmp_path / "workloads"))
    block = {"runtimes": ["vllm"], "models": ["tiny-llama-2l"], "workloads": [base["name"]], "skus": ["cpu-host"],
             "overrides": {field: value}}
    cfg = parse_config({"schema_version": 1, "matrix": [block]})
    cell = MatrixCell("fake", "m", base["name"], "cpu-host", "local", (), cfg.matrix[0].overrides)
    cell = MatrixCell.from_json(cell.to_json())  # as Snakemake hands it to the job
    system = PreparedSystem(url=server.url, model="fake", tokenizer=load_tokenizer(None))
    status = run_matrix_cell(cell, tmp_path / "results", system=system)
    out = tmp_path / "results" / cell.id
    assert status["status"] in ("ok", "invalid"), status
    prov = json.loads((out / "provenance.json").read_text())
    rows = pq.read_table(out / "summary.parquet").to_pylist()
    assert prov["workload"]["overrides"] == {field: value}
    assert check(prov, rows), (field, _definition(prov))


def test_overrides_merge_nested_models_and_check_combinations() -> None:
    w = load_workload("chat")
    merged = WorkloadOverrides(slo={"tpot_ms": 9}).apply(w)
    assert merged.slo.tpot_ms == 9 and merged.slo.ttft_ms == w.slo.ttft_ms
    with pytest.raises(InferboardError, match="burstiness"):
        WorkloadOverrides(burstiness=2).apply(load_workload("smoke"))  # a closed loop has no arrival process
    with pytest.raises(InferboardError, match="not both"):
        WorkloadOverrides(concurrency=[1], rate=[1.0]).apply(w)
    with pytest.raises(InferboardError, match="give load or burstiness"):
        WorkloadOverrides(load={"kind": "rate", "rate": [2.0]}, burstiness=0.5).apply(w)


def test_a_null_bound_in_the_config_clears_it_in_the_job_too() -> None:
    over = WorkloadOverrides(slo={"ttft_ms": None}, duration_s=None)
    cell = MatrixCell("vllm", "m", "chat", "cpu-host", "local", (), over)
    travelled = MatrixCell.from_json(cell.to_json()).overrides  # as Snakemake hands it to the job
    assert load_workload("chat").slo.ttft_ms is not None
    assert travelled.apply(load_workload("chat")).slo.ttft_ms is None
    assert over.apply(load_workload("chat")).slo.ttft_ms is None
    assert travelled.given() == {"slo": {"ttft_ms": None}}


def test_an_unknown_override_in_the_config_names_it() -> None:
    block = {"runtimes": ["vllm"], "models": ["tiny-llama-2l"], "workloads": ["smoke"], "skus": ["cpu-host"],
             "overrides": {"rat": [1]}}
    with pytest.raises(InferboardError, match=r"matrix\.0\.overrides\.rat: unknown field"):
        parse_config({"schema_version": 1, "matrix": [block]})


def test_scenario_records_where_the_workload_came_from() -> None:
    w, source = Scenario("smoke", WorkloadOverrides(seed=3)).resolve()
    assert w.seed == 3 and source["overrides"] == {"seed": 3}
    assert source["file"] == "workflows/workloads/smoke.yaml" or source["file"].endswith("smoke.yaml")
    assert source["base_hash"] == load_workload("smoke").content_hash() != w.content_hash()
