"""The system under test of a cell: a running endpoint, or a runtime this process starts (local env or image).

``prepare`` turns a declarative ``SystemUnderTest`` into a ``PreparedSystem``: the server to manage (if any),
the URL and model name to send requests to, the tokenizer, the SKU (verified against this host's fingerprint
when the server runs here) and the runner definition it was launched from. ``catalogue_snapshot`` gives the
catalogue entries the cell uses, which the cell writes into its provenance so that ``finalize`` needs nothing
but the cell folder.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from inferboard.core.errors import InferboardError
from inferboard.hardware.sku import load_skus, resolve_sku
from inferboard.models.catalog import load_models
from inferboard.runtimes.adapters import request_fields
from inferboard.scenario.prompts import PromptTokenizer, load_tokenizer


class ServerControl(Protocol):
    """A server the cell starts (per trial when the workload asks for a fresh one) and stops."""

    def start(self, trial: int, *, reuse_caches: bool = False) -> dict[str, Any]: ...  # blocks until ready
    def exit_code(self) -> int | None: ...
    def stop(self) -> dict[str, Any]: ...  # returns exit code, crash flag and log tail
    def close(self) -> None: ...  # after the last stop: removes what was kept between starts
    interrupted: threading.Event  # set from another thread: a start in progress stops its server and returns


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible server that is already running (its hardware is declared, never verified)."""

    url: str
    model: str  # the served model name requests carry
    api_key: str | None = None
    sku: str | None = None  # declared SKU id (hardware/skus.yaml); recorded as unverified
    tokenizer: Path | None = None  # folder or tokenizer.json for exact prompt token counts
    tcp_nodelay: bool = False  # declared: the server switches Nagle's algorithm off (the client may read in bulk)


@dataclass(frozen=True)
class LocalRuntime:
    """A runtime of runners/ started by the cell: its locked local environment, or its image by digest."""

    runtime: str
    model_dir: Path
    params: dict[str, str] = field(default_factory=dict)
    mode: Literal["local", "container"] = "local"
    variant: str = "cpu"  # container variant: cpu, cuda or rocm
    image_source: str = "built"  # container image: built here (image.lock) or upstream (runner digest)
    engine: str | None = None  # container engine (default: detected)
    server_cpus: tuple[int, ...] = ()
    #: cell: every server start gets its own compile caches (the workload's server_caches); host: a cell whose
    #: workload does not study starts shares this host's, kept across cells (local mode)
    compile_caches: Literal["cell", "host"] = "cell"
    sku: str | None = None  # must match this host's fingerprint when given
    tokenizer: Path | None = None  # default: the model folder's tokenizer.json


SystemUnderTest = Endpoint | LocalRuntime


@dataclass
class PreparedSystem:
    """Everything a cell needs to know about the server it measures, ready to run."""

    url: str
    model: str
    tokenizer: PromptTokenizer
    runtime: dict[str, Any] = field(default_factory=lambda: {"name": "endpoint", "mode": "endpoint",
                                                               "verified": False})
    model_info: dict[str, Any] = field(default_factory=dict)
    sku: str = "unknown"
    sku_verified: bool = False
    gpu_fingerprints: list[dict[str, Any]] | None = None  # taken already (None: taken when the cell starts)
    gpus: list[int] = field(default_factory=list)  # NVML indices monitored for energy (local GPU cells)
    gpu_count: int = 0
    api_key: str | None = None
    server: ServerControl | None = None  # started and stopped by the cell
    model_label: str | None = None  # the model's name in the cell id when ``model`` is a path
    length_control: str = "ignore_eos"  # how the runtime is asked to force output lengths (runner api)
    tcp_nodelay: bool = False  # the server switches Nagle off (runner api, or declared): the client reads in bulk
    runner: dict[str, Any] | None = None  # the runner definition (runners/<rt>/runner.yaml) as loaded
    adapters: tuple[str, ...] = ()  # LoRA adapters loaded next to the model, in launch order
    adapter_request: Literal["model", "lora_field"] | None = None  # how a request picks one (runner adapters)

    def target_fields(self, target: str | None) -> dict[str, Any]:
        """The request body fields that address a traffic split's ``target`` (none for None)."""
        if target is None:
            return {}
        return request_fields(self.adapter_request, self.model, self.adapters, target)


def visible_gpus(gpus: list[dict[str, Any]]) -> list[int]:
    """NVML indices of the GPUs a local server may use (CUDA_VISIBLE_DEVICES as indices, else all)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    indices = [g["index"] for g in gpus if g.get("vendor") != "amd"]  # NVML-monitored GPUs only
    if env is None or not env.strip():
        return indices if env is None else []
    try:
        return [i for i in (int(x) for x in env.split(",")) if i in indices]
    except ValueError:  # UUIDs: cannot be mapped without NVML UUIDs; monitor all
        return indices


def prepare(system: SystemUnderTest, output: Path, *, adapters: tuple[str, ...] = (),
            studies_starts: bool = False) -> PreparedSystem:
    """Resolve the SKU, build or find the runtime's environment or image, and describe its server (loading
    ``adapters``, the model folder's LoRA adapters a traffic split addresses). A workload that ``studies_starts``
    (a fresh server per trial) never gets the host's compile caches."""
    from inferboard.hardware.amd import host_gpus

    gpus = host_gpus()  # this host's; the server's only when this host starts it
    if isinstance(system, Endpoint):
        sku, verified = resolve_sku(system.sku, [], local_server=False)
        return PreparedSystem(url=system.url, model=system.model, tokenizer=load_tokenizer(system.tokenizer),
                              sku=sku, sku_verified=verified, gpu_fingerprints=gpus, api_key=system.api_key,
                              tcp_nodelay=system.tcp_nodelay)
    from inferboard.runtimes.prepare import prepare_container, prepare_local

    if system.mode not in ("local", "container"):
        raise InferboardError(f"unknown mode {system.mode!r}", field="--mode", fix="local or container")
    sku, verified = resolve_sku(system.sku, gpus, local_server=True)  # checked before anything is built
    visible = visible_gpus(gpus)
    if system.mode == "container":
        local = prepare_container(system.runtime, system.model_dir, output, dict(system.params),
                                  variant=system.variant, source=system.image_source, engine=system.engine,
                                  gpus=tuple(visible) if system.variant == "cuda" else (), cpus=system.server_cpus,
                                  adapters=adapters)
    else:
        local = prepare_local(system.runtime, system.model_dir, output, dict(system.params), cpus=system.server_cpus,
                              adapters=adapters, host_caches=system.compile_caches == "host" and not studies_starts)
    tokenizer = system.tokenizer
    if tokenizer is None and (system.model_dir / "tokenizer.json").is_file():
        tokenizer = system.model_dir
    return PreparedSystem(
        url=local.server.url, model=local.served_model_name, tokenizer=load_tokenizer(tokenizer),
        runtime=local.runtime_provenance, model_info=local.model_info, sku=sku, sku_verified=verified,
        gpu_fingerprints=gpus, gpus=visible, gpu_count=len(visible), server=local.server,
        model_label=local.model_info["id"], length_control=local.runtime_provenance["length_control"],
        tcp_nodelay=local.runtime_provenance["tcp_nodelay"],
        runner=local.runner.model_dump(mode="json"), adapters=adapters,
        adapter_request=local.runner.adapters.request if adapters and local.runner.adapters else None,
    )


def catalogue_snapshot(system: PreparedSystem) -> dict[str, Any]:
    """The catalogue entries a cell uses, as they are now: its SKU's figures with their sources, the model's
    shape and the runner definition. ``finalize`` reads these, never today's catalogue files."""
    runner = system.runner
    if runner is None and system.runtime.get("mode") in ("local", "container"):  # prepared by hand (tests)
        from inferboard.runtimes.runner import load_runner

        runner = load_runner(system.runtime["name"]).model_dump(mode="json")
    model_key = system.model_info.get("catalogue_id") or system.model_label or system.model
    model = load_models().get(model_key)
    sku = load_skus().get(system.sku)
    return {"sku": sku.model_dump(mode="json") if sku else None,
            "model": model.model_dump(mode="json") if model else None,
            "runner": runner}
