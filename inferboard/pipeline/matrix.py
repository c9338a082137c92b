"""The Snakemake config (workflows/config/config.yaml): what to run, validated before any job.

The matrix is a list of blocks; each block is the cross product runtime × model × workload × SKU, run
in one mode. Cells are expanded, checked against the catalogues (runners/, workflows/models.yaml,
workflows/workloads/, hardware/skus.yaml) and de-duplicated; an unknown name stops everything with a
message naming the block and the entry.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from inferboard.core.errors import InferboardError, validated
from inferboard.core.ids import cell_id
from inferboard.core.strict import Strict
from inferboard.scenario.scenario import WorkloadOverrides, parse_overrides

if TYPE_CHECKING:
    from inferboard.hardware.sku import Sku

Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")]


class MatrixBlock(Strict):
    """One cross product of the matrix."""

    runtimes: Annotated[list[Name], Field(min_length=1)]
    models: Annotated[list[Name], Field(min_length=1)]
    workloads: Annotated[list[Name], Field(min_length=1)]
    skus: Annotated[list[Name], Field(min_length=1)]
    mode: Literal["local", "container"] = "local"
    params: dict[str, dict[str, str]] = Field(default_factory=dict, description="runtime → KEY: VALUE")
    overrides: WorkloadOverrides = Field(default_factory=WorkloadOverrides,
                                         description="changes to each workload of the block, e.g. trials or rate")
    server_cpus: str | None = Field(None, description="cores for the server (e.g. '0'); the rest for the client")
    client_cpus: str | None = Field(None, description="cores for the load generator (e.g. '1')")
    compile_caches: Literal["cell", "host"] = Field(
        "cell", description="cell: every server start compiles with empty caches; host: the cells whose workload "
        "does not study starts (no fresh_server_per_trial) share this host's compile caches, kept across cells")


# Defaults of a cell's job where `cluster:` says nothing (ClusterSku.cpus / .memory_mb).
CPU_SKU_CPUS = 2  # a CPU SKU: one core for the server, one for the load generator (as the default matrix pins them)
CPU_SKU_MEM_MB = 8192
CPUS_PER_GPU = 8
MIN_GPU_MEM_MB = 16384


class ClusterSku(Strict):
    """How one SKU is asked for on a cluster (default: features/labels named after the SKU id; CPUs, memory by kind)."""

    slurm_gres_type: str | None = Field(None, description="gres type, e.g. h100 → --gres=gpu:h100:N")
    slurm_constraint: str | None = Field(None, description="node feature (-C); default: the SKU id")
    slurm_partition: str | None = None
    k8s_machine_type: str | None = Field(None, description="node.kubernetes.io/instance-type of such nodes")
    gpus_per_cell: int = Field(1, ge=1)
    runtime_min: int = Field(120, ge=1, description="wall-time limit of one cell (minutes)")
    cpus_per_task: int | None = Field(
        None, ge=1, description="CPUs of one cell's job (slurm --cpus-per-task, the pod's cpu); default: "
        f"{CPU_SKU_CPUS} on a CPU SKU, {CPUS_PER_GPU} per GPU")
    mem_mb: int | None = Field(
        None, ge=256, description="host memory of one cell's job in MiB (slurm --mem, the pod's memory); default: "
        f"{CPU_SKU_MEM_MB} on a CPU SKU, else the memory of its GPUs (the weights pass through host memory while "
        f"loading), at least {MIN_GPU_MEM_MB}")

    def gpus(self, sku: Sku) -> int:
        return 0 if sku.kind == "cpu" else self.gpus_per_cell

    def cpus(self, sku: Sku) -> int:
        if self.cpus_per_task is not None:
            return self.cpus_per_task
        return CPU_SKU_CPUS if sku.kind == "cpu" else CPUS_PER_GPU * self.gpus(sku)

    def memory_mb(self, sku: Sku) -> int:
        if self.mem_mb is not None:
            return self.mem_mb
        if sku.kind == "cpu":
            return CPU_SKU_MEM_MB
        gpu_gb = sku.memory_gb or 0  # a GPU of unknown memory: the floor
        return max(MIN_GPU_MEM_MB, math.ceil(gpu_gb * 1024 * self.gpus(sku)))


class PipelineConfig(Strict):
    """workflows/config/config.yaml."""

    schema_version: Literal[1] = 1
    results_dir: str = "results"
    submissions_dir: str | None = Field("data/submissions", description="accepted submission bundles, published "
                                        "on the leaderboard beside the local cells (null: none)")
    leaderboard: str = "build/leaderboard.parquet"
    site_dir: str | None = Field("build/site", description="build the static site here (null: no site)")
    matrix: Annotated[list[MatrixBlock], Field(min_length=1)]
    cluster: dict[Name, ClusterSku] = Field(default_factory=dict, description="SKU id → scheduler settings")


@dataclass(frozen=True)
class MatrixCell:
    """One cell of the expanded matrix: what the pipeline runs for ``results/<id>``."""

    runtime: str
    model: str
    workload: str
    sku: str
    mode: Literal["local", "container"]
    params: tuple[tuple[str, str], ...]
    overrides: WorkloadOverrides = field(default_factory=WorkloadOverrides)
    cpus: tuple[str, str] | None = None  # (server cores, client cores)
    compile_caches: str = "cell"  # MatrixBlock.compile_caches

    @property
    def id(self) -> str:
        return cell_id(self.sku, self.runtime, self.model, self.workload)

    def to_json(self) -> str:
        """The cell as JSON, so that a job runs exactly the cell of the workflow's (merged) config."""
        d = {"runtime": self.runtime, "model": self.model, "workload": self.workload, "sku": self.sku,
             "mode": self.mode, "params": [list(p) for p in self.params], "overrides": self.overrides.given(),
             "cpus": list(self.cpus) if self.cpus else None, "compile_caches": self.compile_caches}
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> MatrixCell:
        try:
            d = json.loads(text)
            return cls(runtime=d["runtime"], model=d["model"], workload=d["workload"], sku=d["sku"], mode=d["mode"],
                       params=tuple((str(k), str(v)) for k, v in d["params"]),
                       overrides=parse_overrides(d.get("overrides"), source="--cell-spec: overrides"),
                       cpus=(str(d["cpus"][0]), str(d["cpus"][1])) if d.get("cpus") else None,
                       compile_caches=_caches(d.get("compile_caches", "cell")))
        except (ValueError, KeyError, TypeError) as err:
            raise InferboardError(f"not a cell spec: {err}", field="--cell-spec",
                                  fix="pass the JSON of MatrixCell.to_json()") from None


def _caches(value: Any) -> str:
    if value not in ("cell", "host"):
        raise ValueError(f"compile_caches {value!r} is not cell or host")
    return str(value)


def parse_config(data: dict[str, Any], source: str = "config") -> PipelineConfig:
    return validated(PipelineConfig, data, source=source)


def expand(cfg: PipelineConfig) -> list[MatrixCell]:
    """Every cell of the matrix, checked against the catalogues; raises on the first unknown entry."""
    from inferboard.hardware.sku import load_skus
    from inferboard.models.catalog import load_models
    from inferboard.runtimes.runner import all_runners
    from inferboard.scenario.workload import standard_workloads

    known = {"runtimes": set(all_runners()), "models": set(load_models()), "workloads": set(standard_workloads()),
             "skus": set(load_skus())}
    for sku in cfg.cluster:
        if sku not in known["skus"]:
            raise InferboardError(f"unknown sku {sku!r}", field=f"cluster.{sku}",
                                  fix=f"one of: {', '.join(sorted(known['skus']))}")
    cells: dict[str, MatrixCell] = {}
    for i, block in enumerate(cfg.matrix):
        for kind, names in (("runtimes", block.runtimes), ("models", block.models),
                             ("workloads", block.workloads), ("skus", block.skus)):
            for name in names:
                if name not in known[kind]:
                    raise InferboardError(f"unknown {kind[:-1]} {name!r}", field=f"matrix[{i}].{kind}",
                                          fix=f"one of: {', '.join(sorted(known[kind]))}")
        if (block.server_cpus is None) != (block.client_cpus is None):
            raise InferboardError("give both server_cpus and client_cpus, or neither", field=f"matrix[{i}]",
                                  fix="e.g. server_cpus: '0' and client_cpus: '1'")
        for rt in block.params:
            if rt not in block.runtimes:
                raise InferboardError(f"params for {rt!r}, which this block does not run",
                                      field=f"matrix[{i}].params", fix=f"runtimes here: {', '.join(block.runtimes)}")
        for rt in block.runtimes:
            for model in block.models:
                for wl in block.workloads:
                    for sku in block.skus:
                        cpus = (block.server_cpus, block.client_cpus) \
                            if block.server_cpus is not None and block.client_cpus is not None else None
                        c = MatrixCell(rt, model, wl, sku, block.mode,
                                       tuple(sorted(block.params.get(rt, {}).items())), block.overrides, cpus,
                                       block.compile_caches)
                        if c.id in cells and cells[c.id] != c:
                            raise InferboardError(f"cell {c.id} appears twice with different settings",
                                                  field=f"matrix[{i}]", fix="keep one definition per cell")
                        cells[c.id] = c
    return [cells[k] for k in sorted(cells)]


def load_config(path: Path) -> tuple[PipelineConfig, list[MatrixCell]]:
    from inferboard.core.yamltext import load_yaml

    cfg = parse_config(load_yaml(path.read_text()) or {}, source=str(path))
    return cfg, expand(cfg)
