"""The pipeline config: expansion into cells and clear errors before any job."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from inferboard.core.errors import InferboardError
from inferboard.core.stats import min_samples
from inferboard.hardware.sku import load_skus
from inferboard.models.catalog import load_models
from inferboard.pipeline.jobs import matrix_system
from inferboard.pipeline.matrix import ClusterSku, MatrixCell, PipelineConfig, expand, load_config, parse_config
from inferboard.scenario.prompts import load_tokenizer
from inferboard.scenario.scenario import WorkloadOverrides
from inferboard.scenario.schedule import build_plan
from inferboard.scenario.workload import SearchLoad, load_workload

ROOT = Path(__file__).resolve().parents[3]


def _cfg(**block):
    base = {"runtimes": ["vllm"], "models": ["tiny-llama-2l"], "workloads": ["smoke"], "skus": ["cpu-host"]}
    return {"schema_version": 1, "matrix": [{**base, **block}]}


def test_default_config_is_the_real_model_matrix() -> None:
    """Runtime against runtime on the same full-precision weights, and quantization against full precision: the
    real packaged model, never the random-weights one, on the steady workload and the max rate at SLO; `make long`
    (long.yaml) adds cpu-chat on the same configurations and settings."""
    cfg, cells = load_config(ROOT / "workflows/config/config.yaml")
    configs = {(c.runtime, c.model) for c in cells}
    assert configs == {("vllm", "smollm2-135m"), ("llamacpp", "smollm2-135m"), ("llamacpp", "smollm2-135m-q4_1")}
    assert {c.workload for c in cells} == {"cpu-fixed", "cpu-slo-search"} and len(cells) == 6
    assert {c.sku for c in cells} == {"cpu-host"} and len({c.id for c in cells}) == 6
    assert all(dict(c.params).get("dtype") == "float32" for c in cells if c.runtime == "vllm")  # not cast to bfloat16
    assert all(load_models()[m].accuracy is not None for _, m in configs)  # every cell is gated
    assert cfg.submissions_dir == "data/submissions" and cfg.leaderboard.startswith("build/")
    long_cfg, long_cells = load_config(ROOT / "workflows/config/long.yaml")
    extra = [c for c in long_cells if c.id not in {m.id for m in cells}]
    assert {c.workload for c in extra} == {"cpu-chat"} and {(c.runtime, c.model) for c in extra} == configs
    assert set(long_cells) >= set(cells) and long_cfg.model_dump() | {"matrix": None} == cfg.model_dump() | {
        "matrix": None}


def test_every_default_cell_has_a_point_long_enough_for_its_headline_figure() -> None:
    """Each steady workload of the default matrix has a load point whose measured requests, per trial, reach what a
    p99 needs (662): the leaderboard's headline rows carry p90 and p99. A search's headline is the highest rate
    whose probe meets its goodput target: each probe has the requests that target's percentile needs (a 90% target:
    64), and its confirmation point at that rate the p99's."""
    cells = load_config(ROOT / "workflows/config/long.yaml")[1]
    tok = load_tokenizer(None)
    for name in sorted({c.workload for c in cells}):
        w = load_workload(name)
        if isinstance(w.load, SearchLoad):
            assert w.most_requests >= min_samples(100 * w.load.goodput_target), name
            assert w.load.confirm_requests >= min_samples(99.0), name
            continue
        longest = max(sum(1 for s in p.sessions if w.duration_s is None or (s.arrival_s or 0) < w.duration_s)
                      - p.warmup_requests for p in build_plan(w, tok).points)
        assert longest >= min_samples(99.0) == 662, name


@pytest.mark.parametrize(("field", "value"), [("runtimes", "vlm"), ("models", "llama-9"), ("workloads", "smok"),
                                              ("skus", "h900")])
def test_unknown_entry_names_block_and_entry(field: str, value: str) -> None:
    with pytest.raises(InferboardError) as err:
        expand(parse_config(_cfg(**{field: [value]})))
    assert f"matrix[0].{field}" in str(err.value) and repr(value) in str(err.value)


def test_malformed_matrix_names_the_field() -> None:
    with pytest.raises(InferboardError, match="matrix"):
        parse_config({"schema_version": 1, "matrix": [{"runtimes": "vllm"}]})
    with pytest.raises(InferboardError, match="matrix"):
        parse_config({"schema_version": 1, "matrix": []})
    with pytest.raises(InferboardError, match=r"cluster\.h900"):
        expand(parse_config({**_cfg(), "cluster": {"h900": {}}}))


def test_cluster_resources_default_from_the_sku_and_follow_the_config() -> None:
    """A cell job's CPUs and memory (slurm --cpus-per-task/--mem, the pod's cpu/memory) come from `cluster:`,
    else from the SKU: a CPU SKU gets 2 CPUs and 8 GiB, a GPU SKU 8 CPUs per GPU and its GPUs' memory."""
    skus = load_skus()
    default = ClusterSku()
    assert (default.gpus(skus["cpu-host"]), default.cpus(skus["cpu-host"]), default.memory_mb(skus["cpu-host"])) \
        == (0, 2, 8192)
    assert (default.cpus(skus["h100-sxm"]), default.memory_mb(skus["h100-sxm"])) == (8, 80 * 1024)
    eight = ClusterSku(gpus_per_cell=8)
    assert (eight.gpus(skus["mi300x"]), eight.cpus(skus["mi300x"]), eight.memory_mb(skus["mi300x"])) \
        == (8, 64, 8 * 192 * 1024)
    cfg = parse_config({**_cfg(), "cluster": {"cpu-host": {"cpus_per_task": 4, "mem_mb": 3000}}})
    assert (cfg.cluster["cpu-host"].cpus(skus["cpu-host"]), cfg.cluster["cpu-host"].memory_mb(skus["cpu-host"])) \
        == (4, 3000)


@pytest.mark.parametrize(("field", "value"), [("cpus_per_task", 0), ("mem_mb", 100), ("mem_gb", 8)])
def test_bad_cluster_resources_name_the_field(field: str, value: int) -> None:
    with pytest.raises(InferboardError) as err:
        parse_config({**_cfg(), "cluster": {"cpu-host": {field: value}}}, source="config.yaml")
    assert str(err.value).startswith(f"config.yaml: cluster.cpu-host.{field}: ") and "(fix: " in str(err.value)


def test_params_for_a_runtime_not_in_the_block() -> None:
    with pytest.raises(InferboardError, match="params"):
        expand(parse_config(_cfg(params={"llamacpp": {"parallel": "4"}})))


def test_schema_file_matches_the_model() -> None:
    from inferboard.pipeline.schemas import render

    assert (ROOT / "workflows/schemas/config.schema.json").read_text() == render(PipelineConfig)
    assert yaml.safe_load((ROOT / "workflows/config/config.yaml").read_text())["schema_version"] == 1


def test_a_cell_travels_to_its_job_as_json() -> None:
    _, cells = load_config(Path("workflows/config/config.yaml"))
    for c in cells:
        assert MatrixCell.from_json(c.to_json()) == c
    odd = MatrixCell("vllm", "m", "w", "cpu-host", "local", (("threads", "2"),),
                     WorkloadOverrides(trials=3, concurrency=[1, 2], slo={"ttft_ms": 50}), ("0", "1"))
    assert MatrixCell.from_json(odd.to_json()) == odd
    assert {c.compile_caches for c in cells} == {"host"}  # the default matrix shares the host's compile caches
    assert matrix_system(cells[0]).compile_caches == "host"
    assert MatrixCell.from_json(odd.to_json()).compile_caches == "cell"
    with pytest.raises(InferboardError, match="compile_caches 'disk'"):
        MatrixCell.from_json(odd.to_json().replace('"cell"', '"disk"'))


def test_run_cell_refuses_a_spec_of_another_cell(tmp_path: Path) -> None:
    import subprocess
    import sys

    _, cells = load_config(Path("workflows/config/config.yaml"))
    res = subprocess.run([sys.executable, "-m", "inferboard.cli", "run-cell", "cpu-host/vllm/x/y", "--results",
                          str(tmp_path), "--cell-spec", cells[0].to_json()], capture_output=True, text=True)
    assert res.returncode == 2 and "--cell-spec" in res.stderr + res.stdout
    assert not any(tmp_path.iterdir())
