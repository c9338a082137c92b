"""Every table row, provenance.json and cell.json is validated against its model before it is written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from inferboard.cell.api import run_cell
from inferboard.cell.finalize import finalize
from inferboard.cell.system import PreparedSystem
from inferboard.core.errors import InferboardError
from inferboard.core.paths import REPO_ROOT
from inferboard.hardware import sku as sku_module
from inferboard.hardware.sku import load_skus
from inferboard.models import catalog
from inferboard.results.provenance import read_provenance, write_provenance
from inferboard.results.schema import validate_rows, write_rows
from inferboard.results.status import write_status
from inferboard.runtimes import runner as runner_module
from inferboard.runtimes.runner import load_runner
from inferboard.scenario.prompts import load_tokenizer
from inferboard.scenario.scenario import Scenario
from testkit.cell_runs import workload


def test_a_misspelt_or_missing_key_stops_the_write(tmp_path: Path) -> None:
    good = {"trial": 0, "load_point": 0, "t_s": 0.1, "gpu": 0, "power_w": 1.0, "memory_used_bytes": 1,
            "sm_clock_mhz": 1, "temp_c": 1}
    write_rows(tmp_path / "ok.parquet", [good], "gpu_samples")
    with pytest.raises(InferboardError, match=r"gpu_samples row: 1\.powr_w: unknown field"):
        validate_rows([good, {**good, "powr_w": 2.0}], "gpu_samples")
    missing = dict(good)
    del missing["temp_c"]
    with pytest.raises(InferboardError, match=r"gpu_samples row: 0\.temp_c: Field required"):
        write_rows(tmp_path / "bad.parquet", [missing], "gpu_samples")
    assert not (tmp_path / "bad.parquet").exists()


def test_summary_and_request_rows_are_checked(server, tmp_path: Path) -> None:
    server.configure(ttft_ms=1, itl_ms=0.5)
    rows = run_cell(PreparedSystem(url=server.url, model="fake", tokenizer=load_tokenizer(None)),
                    Scenario(workload(requests=3)), tmp_path / "c").rows
    records = pq.read_table(tmp_path / "c/requests.parquet").to_pylist()
    validate_rows(rows, "summary")
    validate_rows(records, "requests")
    extra = {**rows[0], "ttft_ms_p50x": 1.0}
    with pytest.raises(InferboardError, match=r"summary row: 0\.ttft_ms_p50x: unknown field"):
        validate_rows([extra], "summary")
    short = {k: v for k, v in records[0].items() if k != "send_lag_ms"}
    with pytest.raises(InferboardError, match=r"requests row: 0\.send_lag_ms: Field required"):
        validate_rows([short], "requests")


def test_provenance_and_cell_json_are_validated(server, tmp_path: Path) -> None:
    server.configure(ttft_ms=1, itl_ms=0.5)
    run_cell(PreparedSystem(url=server.url, model="fake", tokenizer=load_tokenizer(None)),
             Scenario(workload(requests=2)), tmp_path / "c")
    prov = json.loads((tmp_path / "c/provenance.json").read_text())
    with pytest.raises(InferboardError, match=r"provenance.json: sedd: unknown field"):
        write_provenance(tmp_path / "c/provenance.json", {**prov, "sedd": 1})
    with pytest.raises(InferboardError, match=r"provenance.json: suite\.git_sha: Field required"):
        write_provenance(tmp_path / "c/provenance.json", {**prov, "suite": {"name": "inferboard", "version": "1",
                                                                             "git_dirty": False}})
    assert read_provenance(tmp_path / "c/provenance.json") == prov  # the bad writes left the file alone
    with pytest.raises(InferboardError, match=r"cell.json: status"):
        write_status(tmp_path / "s", cell_id="a/b/c/d", runtime="b", model="c", workload="d", sku="a", mode="local",
                     started_utc="x", status="done", reason=None)
