"""Run one cell (runtime × model × workload on one host) and write its outputs.

Outputs in the cell folder: ``provenance.json`` (written first, completed last), the streaming
journal ``requests.partial.jsonl`` while running, then ``requests.parquet`` and ``summary.parquet``.
``finalize`` can be run again on a folder left by a crash: it recovers every journaled record.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson

from inferboard.core.atomic import atomic_write_bytes, atomic_write_table
from inferboard.core.clock import utc_now
from inferboard.core.errors import InferboardError
from inferboard.core.hashing import content_hash
from inferboard.core.ids import cell_id
from inferboard.hardware.energy import GpuMonitor
from inferboard.hardware.sku import load_skus
from inferboard.measure.client import StreamingClient
from inferboard.measure.loadgen import LoadGenerator
from inferboard.models.catalog import load_models
from inferboard.results.provenance import base_provenance
from inferboard.results.schema import (
    GPU_JOURNAL,
    GPU_SAMPLES,
    GPU_SAMPLES_SCHEMA,
    JOURNAL,
    PROVENANCE,
    REQUESTS,
    REQUESTS_SCHEMA,
    SUMMARY,
    SUMMARY_SCHEMA,
    Journal,
    read_journal,
)
from inferboard.results.summarize import PointInfo, aggregate_trials, summarize_point
from inferboard.scenario.prompts import PromptTokenizer
from inferboard.scenario.schedule import CellPlan, build_plan
from inferboard.scenario.workload import Workload


class ManagedServer(Protocol):
    """A server the cell starts (per trial when the workload asks for a fresh one) and stops."""

    def start(self, trial: int) -> dict[str, Any]: ...  # blocks until ready; returns its record
    def exit_code(self) -> int | None: ...
    def stop(self) -> dict[str, Any]: ...  # returns exit code, crash flag and log tail


@dataclass
class CellSpec:
    """Everything needed to run a cell against an OpenAI-compatible endpoint."""

    endpoint: str
    model: str
    workload: Workload
    out: Path
    tokenizer: PromptTokenizer
    workload_source: dict[str, Any] = field(default_factory=dict)
    runtime: dict[str, Any] = field(default_factory=lambda: {"name": "endpoint", "mode": "endpoint",
                                                               "verified": False})
    model_info: dict[str, Any] = field(default_factory=dict)
    sku: str = "unknown"
    gpu_count: int = 0
    api_key: str | None = None
    progress: bool = True
    server: ManagedServer | None = None  # started and stopped by the cell (``--runtime``)
    gpus: list[int] = field(default_factory=list)  # NVML indices monitored for energy (local GPU cells)
    sku_verified: bool = False  # the SKU was matched against this host's fingerprint
    gpu_fingerprints: list[dict[str, Any]] | None = None  # taken by the caller already (None: take it here)
    model_label: str | None = None  # the model's name in the cell id when ``model`` is a path
    length_control: str = "ignore_eos"  # how the runtime is asked to force output lengths (runner api)

    @property
    def id(self) -> str:
        return cell_id(self.sku, self.runtime["name"], self.model_label or self.model, self.workload.name)


def _event_loop_name() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def _runner() -> asyncio.Runner:
    if _event_loop_name() == "uvloop":
        import uvloop

        return asyncio.Runner(loop_factory=uvloop.new_event_loop)
    return asyncio.Runner()


def run_cell(spec: CellSpec) -> list[dict[str, Any]]:
    """Plan, run and finalize a cell; returns the summary rows. Partial results survive interruption."""
    out = spec.out
    if (out / JOURNAL).exists():
        raise InferboardError(f"{out / JOURNAL} holds records of an unfinished run", field="--out",
                              fix=f"run `inferboard finalize {out}` to keep them, or choose another --out")
    try:
        probe = StreamingClient(spec.endpoint, spec.model)
    except ValueError as err:
        raise InferboardError(str(err), field="--endpoint", fix="e.g. http://127.0.0.1:8000") from None
    out.mkdir(parents=True, exist_ok=True)
    for old in (REQUESTS, SUMMARY, GPU_SAMPLES, GPU_JOURNAL, "metrics.parquet",
                *(p.name for p in out.glob("server-trial*.log"))):
        (out / old).unlink(missing_ok=True)  # a new run replaces the cell; finalize must not merge them
    w = spec.workload
    plan = build_plan(w, spec.tokenizer)
    prov = base_provenance(
        workload={"name": w.name, "version": w.version, "workload_hash": w.content_hash(),
                  **spec.workload_source, "definition": w.model_dump(mode="json")},
        runtime=spec.runtime, model={"name": spec.model_label or spec.model, "requested_as": spec.model,
                                     **spec.model_info},
        tokenizer=spec.tokenizer.provenance(), seed=w.seed, schedule_hash=plan.schedule_hash,
        point_schedule_hashes=[p.schedule_hash for p in plan.points], cell_id=spec.id, sku=spec.sku,
        gpus=spec.gpu_fingerprints,
    )
    prov["endpoint"] = spec.endpoint
    prov["gpu_count"] = spec.gpu_count
    prov["sku_verified"] = spec.sku_verified
    prov["monitored_gpus"] = spec.gpus
    prov["client"]["event_loop"] = _event_loop_name()
    prov["client"]["cpus"] = sorted(os.sched_getaffinity(0))
    prov["client"]["timestamps"] = probe.timestamps
    _write_provenance(out, prov)
    journal = Journal(out / JOURNAL)
    interrupted = False
    try:
        with _runner() as runner:
            runner.run(_run_plan(spec, plan, journal))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        journal.close()
        rows = finalize(out, complete=not interrupted)
    if interrupted:
        raise KeyboardInterrupt
    return rows


def _write_provenance(out: Path, prov: dict[str, Any]) -> None:
    atomic_write_bytes(out / PROVENANCE, orjson.dumps(prov, option=orjson.OPT_INDENT_2))


def _update_provenance(out: Path, **fields: Any) -> None:
    prov = orjson.loads((out / PROVENANCE).read_bytes())
    prov.update(fields)
    _write_provenance(out, prov)


def _append_samples(out: Path, trial: int, load_point: int, samples: list[dict[str, Any]]) -> None:
    with (out / GPU_JOURNAL).open("ab") as f:
        for smp in samples:
            f.write(orjson.dumps({"trial": trial, "load_point": load_point, **smp}) + b"\n")


def _kv_samples(out: Path, prov: dict[str, Any]) -> dict[int, list[tuple[int, float]]]:
    """The runtime's KV-cache usage gauge per trial, from metrics.parquet (empty when it has none)."""
    import pyarrow.parquet as pq

    from inferboard.runtimes.runner import load_runner

    path = out / "metrics.parquet"
    if not path.exists() or prov["runtime"].get("mode") in (None, "endpoint"):
        return {}
    try:
        name = load_runner(prov["runtime"]["name"]).metrics.names.kv_cache_usage
    except InferboardError:
        return {}
    by_trial: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for m in pq.read_table(path).to_pylist():
        if name and m["name"] == name:
            by_trial[m["trial"]].append((m["t_ns"], m["value"]))
    return by_trial


def _hardware_columns(prov: dict[str, Any]) -> dict[str, Any]:
    hw = prov.get("hardware") or {}
    gpus = hw.get("gpus") or []
    volatile = {"index", "temperature_c", "clock_sm_mhz", "clock_memory_mhz", "throttle_reasons"}
    stable = {"host": {k: v for k, v in (hw.get("host") or {}).items() if k != "hostname_sha256"},
              "gpus": [{k: v for k, v in g.items() if k not in volatile} for g in gpus]}
    return {
        "sku_verified": prov.get("sku_verified"), "hardware_fingerprint": content_hash(stable),
        "gpu_name": ", ".join(sorted({str(g.get("name")) for g in gpus})) or None,
        "gpu_driver": gpus[0].get("driver") if gpus else None,
        "host_cpu_model": (hw.get("host") or {}).get("cpu_model"),
    }


async def _watch(server: ManagedServer, stop: asyncio.Event) -> None:
    """Stop issuing requests as soon as the server process has exited."""
    while not stop.is_set():
        if server.exit_code() is not None:
            stop.set()
            return
        await asyncio.sleep(0.2)


async def _run_plan(spec: CellSpec, plan: CellPlan, journal: Journal) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, main.cancel)
    w = spec.workload
    server = spec.server
    servers: list[dict[str, Any]] = []
    windows: list[dict[str, Any]] = []
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), disable=not spec.progress, transient=False)
    try:
        with progress:
            for trial in range(w.trials):
                if server is not None and (trial == 0 or w.fresh_server_per_trial):
                    if servers:
                        servers[-1].update(await asyncio.to_thread(server.stop))
                    servers.append(await asyncio.to_thread(server.start, trial))
                    _update_provenance(spec.out, servers=servers)
                stop = asyncio.Event()
                watcher = asyncio.create_task(_watch(server, stop)) if server is not None else None
                async with StreamingClient(spec.endpoint, spec.model, api=w.api, timeouts=w.timeouts,
                                           sampling=w.sampling, api_key=spec.api_key,
                                           length_control=spec.length_control) as client:
                    for point in plan.points:
                        if stop.is_set():
                            break
                        task = progress.add_task(f"trial {trial + 1}/{w.trials} · {point.kind} {point.value:g}",
                                                 total=point.total_requests)

                        def sink(rec: dict[str, Any], _task: Any = task) -> None:
                            journal.write(rec)
                            progress.advance(_task)

                        with GpuMonitor(spec.gpus) if spec.gpus else contextlib.nullcontext() as mon:
                            try:
                                await LoadGenerator(client, sink, trial=trial, stop=stop).run(point)
                            except asyncio.CancelledError:
                                raise KeyboardInterrupt from None
                        if mon is not None:
                            windows.append({"trial": trial, "load_point": point.index,
                                            **mon.window.summary()})
                            _update_provenance(spec.out, gpu_windows=windows)
                            _append_samples(spec.out, trial, point.index, mon.window.samples)
                if watcher is not None:
                    stop.set()
                    await watcher
    finally:
        if server is not None and servers:
            servers[-1].update(server.stop())
            _update_provenance(spec.out, servers=servers)


def finalize(out: Path, *, complete: bool = True) -> list[dict[str, Any]]:
    """Turn the journal (and any earlier requests.parquet) into the cell's Parquet files; idempotent."""
    import pyarrow.parquet as pq

    prov = orjson.loads((out / PROVENANCE).read_bytes())
    records: list[dict[str, Any]] = []
    if (out / REQUESTS).exists():
        records.extend(pq.read_table(out / REQUESTS).to_pylist())
    if (out / JOURNAL).exists():
        seen = {r["request_id"] for r in records}
        records.extend(r for r in read_journal(out / JOURNAL) if r["request_id"] not in seen)
    records.sort(key=lambda r: (r["trial"], r["load_point"], r["request_id"]))
    wdef = Workload.model_validate(prov["workload"]["definition"])
    groups: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[(r["trial"], r["load_point"])].append(r)
    values = wdef.load.points()
    servers = prov.get("servers") or []
    windows = {(w["trial"], w["load_point"]): w for w in prov.get("gpu_windows") or []}
    hardware = _hardware_columns(prov)
    model_entry = load_models().get(prov["model"].get("catalogue_id") or prov["model"]["name"])
    sku_entry = load_skus().get(prov["sku"])
    kv = _kv_samples(out, prov)

    def server_for(trial: int) -> dict[str, Any]:
        """The server record that served ``trial`` (the last one started at or before it)."""
        return next((s for s in reversed(servers) if s["trial"] <= trial), {})

    rows = []
    for (trial, lp), recs in sorted(groups.items()):
        srv = server_for(trial)
        crashed = bool(srv.get("crashed"))
        info = PointInfo(
            cell_id=prov["cell_id"], workload=wdef.name, workload_hash=prov["workload"]["workload_hash"],
            schedule_hash=prov["load_point_schedule_hashes"][lp], runtime=prov["runtime"]["name"],
            model=prov["model"]["name"], sku=prov["sku"], trials=wdef.trials, trial=trial, load_point=lp,
            load_kind=wdef.load.kind, load_value=values[lp], slo=wdef.slo.model_dump(),
            requests_planned=wdef.warmup_requests + wdef.requests, warmup_requests=wdef.warmup_requests,
            gpu_count=prov.get("gpu_count", 0), server_exit_code=srv.get("exit_code") if crashed else None,
            server_log_tail=srv.get("log_tail") if crashed else None, cold_start_s=srv.get("cold_start_s"),
            hardware=hardware, gpu_window=windows.get((trial, lp)), model_entry=model_entry, sku_entry=sku_entry,
            kv_cache_samples=kv.get(trial, []),
        )
        rows.append(summarize_point(recs, info))
    by_point: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_point[row["load_point"]].append(row)
    rows.extend(aggregate_trials(rs) for _, rs in sorted(by_point.items()))
    prov["end_utc"] = utc_now()
    prov["complete"] = complete and len(groups) == wdef.trials * len(values)
    prov["requests_recorded"] = len(records)
    meta = {"inferboard.provenance": orjson.dumps(prov).decode()}
    atomic_write_table(out / REQUESTS, records, REQUESTS_SCHEMA, meta)
    atomic_write_table(out / SUMMARY, rows, SUMMARY_SCHEMA, meta)
    if (out / GPU_JOURNAL).exists():
        samples = [orjson.loads(line) for line in (out / GPU_JOURNAL).read_bytes().splitlines() if line.strip()]
        atomic_write_table(out / GPU_SAMPLES, samples, GPU_SAMPLES_SCHEMA, meta)
        (out / GPU_JOURNAL).unlink()
    _write_provenance(out, prov)
    (out / JOURNAL).unlink(missing_ok=True)
    return rows
