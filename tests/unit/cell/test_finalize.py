"""finalize is a function of the cell folder alone: the same folder gives the same bytes whatever the catalogues say."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from inferboard.cell.api import run_cell
from inferboard.cell.finalize import finalize
from inferboard.cell.system import LocalRuntime, PreparedSystem
from inferboard.core.errors import InferboardError
from inferboard.core.paths import REPO_ROOT
from inferboard.hardware import sku as sku_module
from inferboard.hardware.sku import load_skus
from inferboard.models import catalog
from inferboard.results.provenance import read_provenance, write_provenance
from inferboard.runtimes import runner as runner_module
from inferboard.runtimes.runner import load_runner
from inferboard.scenario.prompts import load_tokenizer
from inferboard.scenario.scenario import Scenario
from testkit.cell_runs import workload


def _gpu_cell(url: str, out: Path) -> None:
    """A cell that uses every catalogue entry: a GPU SKU's figures and a model's shape (roofline), a runner's
    KV-cache gauge name."""
    system = PreparedSystem(url=url, model="fake", tokenizer=load_tokenizer(None), sku="h100-sxm", sku_verified=True,
                            gpu_count=1, model_label="llama-3.1-8b-instruct",
                            model_info={"catalogue_id": "llama-3.1-8b-instruct"},
                            runner=load_runner("vllm").model_dump(mode="json"))
    run_cell(system, Scenario(workload(requests=6, trials=2)), out)


def test_finalize_again_after_catalogue_edits_gives_the_same_bytes(server, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    server.configure(ttft_ms=2, itl_ms=1)
    out = tmp_path / "cell"
    _gpu_cell(server.url, out)
    before = {name: (out / name).read_bytes() for name in ("summary.parquet", "requests.parquet", "provenance.json")}
    rows = pq.read_table(out / "summary.parquet").to_pylist()
    assert all(r["roofline_decode_tokens_per_s"] for r in rows)  # the SKU and model entries were used
    prov = read_provenance(out / "provenance.json")
    assert prov["catalogue"]["sku"]["memory_bandwidth_tbps"] == 3.35
    assert prov["catalogue"]["runner"]["metrics"]["names"]["kv_cache_usage"] == "vllm:kv_cache_usage_perc"
    assert prov["catalogue"]["model"]["id"] == "llama-3.1-8b-instruct"

    # edit the catalogues the way a later commit would: other SKU figures, another gauge, another model shape
    skus = yaml.safe_load((REPO_ROOT / "hardware/skus.yaml").read_text())
    next(s for s in skus["skus"] if s["id"] == "h100-sxm")["memory_bandwidth_tbps"] = 9.9
    (tmp_path / "skus.yaml").write_text(yaml.safe_dump(skus))
    monkeypatch.setattr(sku_module, "skus_file", lambda: tmp_path / "skus.yaml")
    shutil.copytree(REPO_ROOT / "runners", tmp_path / "runners")
    rtext = (tmp_path / "runners/vllm/runner.yaml").read_text().replace("vllm:kv_cache_usage_perc", "renamed")
    (tmp_path / "runners/vllm/runner.yaml").write_text(rtext)
    monkeypatch.setattr(runner_module, "runners_dir", lambda: tmp_path / "runners")
    models = yaml.safe_load((REPO_ROOT / "workflows/models.yaml").read_text())
    next(m for m in models["models"] if m["id"] == "llama-3.1-8b-instruct")["parameters"] *= 2
    (tmp_path / "models.yaml").write_text(yaml.safe_dump(models))
    monkeypatch.setattr(catalog, "models_file", lambda: tmp_path / "models.yaml")
    assert load_skus()["h100-sxm"].memory_bandwidth_tbps == 9.9  # the edits are what the loaders see now
    assert load_runner("vllm").metrics.names.kv_cache_usage == "renamed"

    finalize(out)
    assert {name: (out / name).read_bytes() for name in before} == before


def test_finalizing_again_keeps_the_first_verdict(server, tmp_path: Path) -> None:
    server.configure(ttft_ms=1, itl_ms=0.5)
    out = tmp_path / "cell"
    run_cell(PreparedSystem(url=server.url, model="fake", tokenizer=load_tokenizer(None)),
             Scenario(workload(requests=3)), out)
    before = (out / "provenance.json").read_bytes(), (out / "summary.parquet").read_bytes()
    finalize(out, complete=False)  # as `inferboard finalize` calls it: a finished cell stays complete
    assert ((out / "provenance.json").read_bytes(), (out / "summary.parquet").read_bytes()) == before
    assert read_provenance(out / "provenance.json")["complete"] is True


def test_a_cell_measured_before_snapshots_is_not_finalized_with_todays_catalogues(server, tmp_path: Path) -> None:
    server.configure(ttft_ms=1, itl_ms=0.5)
    out = tmp_path / "cell"
    run_cell(PreparedSystem(url=server.url, model="fake", tokenizer=load_tokenizer(None)),
             Scenario(workload(requests=2)), out)
    prov = read_provenance(out / "provenance.json")
    del prov["catalogue"]
    write_provenance(out / "provenance.json", prov)
    with pytest.raises(InferboardError, match=r"provenance.json: catalogue: this cell was measured before"):
        finalize(out)


def test_a_leftover_journal_stops_the_run_before_anything_is_prepared(tmp_path: Path) -> None:
    (tmp_path / "requests.partial.jsonl").write_text("")
    system = LocalRuntime(runtime="no-such-runtime", model_dir=tmp_path)  # would fail if it were prepared
    with pytest.raises(InferboardError, match="unfinished run"):
        run_cell(system, Scenario("smoke"), tmp_path)
