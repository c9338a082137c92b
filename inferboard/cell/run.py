"""Execute one prepared cell (system under test × workload on one host) and write its outputs.

Outputs in the cell folder: ``provenance.json`` (written first, completed last), the streaming
journal ``requests.partial.jsonl`` while running, then ``requests.parquet`` and ``summary.parquet``.
``finalize`` can be run again on a folder left by a crash: it recovers every journaled record.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from inferboard.cell.accuracy_gate import run_gate
from inferboard.cell.clients import ClientSetup, run_parts
from inferboard.cell.finalize import finalize
from inferboard.cell.system import PreparedSystem, ServerControl, catalogue_snapshot
from inferboard.core.errors import InferboardError
from inferboard.core.ids import cell_id
from inferboard.hardware.energy import GpuMonitor
from inferboard.measure.client import StreamingClient
from inferboard.measure.loadgen import LoadGenerator, streams_of
from inferboard.metrics.goodput import slo_fraction_scheduled
from inferboard.results.accuracy_table import ACCURACY
from inferboard.results.provenance import base_provenance, read_provenance, write_provenance
from inferboard.results.schema import (
    GPU_JOURNAL,
    GPU_SAMPLES,
    JOURNAL,
    PROVENANCE,
    REQUESTS,
    SUMMARY,
    Journal,
)
from inferboard.scenario.schedule import CellPlan, LoadPointPlan, build_plan, planned_requests, probe_point
from inferboard.scenario.search import confirmation_rate, next_rate
from inferboard.scenario.workload import SearchLoad, Workload


@dataclass
class CellSpec:
    """One cell to run: the prepared system under test, the effective workload and the output folder."""

    system: PreparedSystem
    workload: Workload
    out: Path
    workload_source: dict[str, Any] = field(default_factory=dict)
    progress: bool = False
    client_cpus: tuple[int, ...] = ()  # the load generator's cores (empty: unpinned)
    client_procs: int = 1  # client processes per load point (at most one per stream), each on a core of those

    def procs_for(self, point: LoadPointPlan) -> int:
        """Client processes for ``point``: at most one per stream (its concurrency or concurrency limit)."""
        return max(1, min(self.client_procs, streams_of(point) or self.client_procs))

    @property
    def id(self) -> str:
        s = self.system
        return cell_id(s.sku, s.runtime["name"], s.model_label or s.model, self.workload.name)


def _event_loop_name() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def event_loop_runner() -> asyncio.Runner:
    """An asyncio runner on uvloop where it is installed, else on asyncio's own loop (the main and client processes)."""
    if _event_loop_name() == "uvloop":
        import uvloop

        return asyncio.Runner(loop_factory=uvloop.new_event_loop)
    return asyncio.Runner()


def check_output(out: Path) -> None:
    """Refuse an output folder that holds the journal of an unfinished run (a new run would replace it)."""
    if (out / JOURNAL).exists():
        raise InferboardError(f"{out / JOURNAL} holds records of an unfinished run", field="--out",
                              fix=f"run `inferboard finalize {out}` to keep them, or choose another --out")


def execute(spec: CellSpec) -> list[dict[str, Any]]:
    """Plan, run and finalize a cell; returns the summary rows. Partial results survive interruption."""
    out = spec.out
    check_output(out)
    try:
        probe = StreamingClient(spec.system.url, spec.system.model, bulk_reads=spec.system.tcp_nodelay)
    except ValueError as err:
        raise InferboardError(str(err), field="--endpoint", fix="e.g. http://127.0.0.1:8000") from None
    out.mkdir(parents=True, exist_ok=True)
    for old in (REQUESTS, SUMMARY, GPU_SAMPLES, GPU_JOURNAL, "metrics.parquet", ACCURACY,
                *(p.name for p in out.glob("server-trial*.log"))):
        (out / old).unlink(missing_ok=True)  # a new run replaces the cell; finalize must not merge them
    w, s = spec.workload, spec.system
    plan = build_plan(w, s.tokenizer)
    prov = base_provenance(
        workload={"name": w.name, "version": w.version, "workload_hash": w.content_hash(),
                  **spec.workload_source, "definition": w.model_dump(mode="json")},
        runtime=s.runtime, model={"name": s.model_label or s.model, "requested_as": s.model, **s.model_info},
        tokenizer=s.tokenizer.provenance(), seed=w.seed, schedule_hash=plan.schedule_hash,
        point_schedule_hashes=[p.schedule_hash for p in plan.points], cell_id=spec.id, sku=s.sku,
        gpus=s.gpu_fingerprints, catalogue=catalogue_snapshot(s),
    )
    prov.update(requests_planned=planned_requests(w), endpoint=s.url, gpu_count=s.gpu_count,
                sku_verified=s.sku_verified, monitored_gpus=s.gpus,
                trial_schedule_hashes=[[p.schedule_hash for p in plan.points]])
    prov["client"].update(event_loop=_event_loop_name(), cpus=sorted(os.sched_getaffinity(0)),
                          timestamps=probe.timestamps, procs=spec.client_procs)
    _write_provenance(out, prov)
    journal = Journal(out / JOURNAL)
    interrupted = False
    try:
        with event_loop_runner() as runner:
            runner.run(_run_plan(spec, plan, journal))
    except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C, or a SIGTERM/SIGHUP that cancelled the run
        interrupted = True
    finally:
        journal.close()
        rows = finalize(out, complete=not interrupted)
    if interrupted:
        raise KeyboardInterrupt
    return rows


def _write_provenance(out: Path, prov: dict[str, Any]) -> None:
    write_provenance(out / PROVENANCE, prov)


def _update_provenance(out: Path, **fields: Any) -> None:
    prov = read_provenance(out / PROVENANCE)
    prov.update(fields)
    _write_provenance(out, prov)


def trial_plan(spec: CellSpec, first: CellPlan, trial: int) -> CellPlan:
    """The plan of ``trial`` (each trial sends its own prompts), its hashes recorded in provenance before it runs."""
    if trial == first.trial:
        return first
    plan = build_plan(spec.workload, spec.system.tokenizer, trial)
    prov = read_provenance(spec.out / PROVENANCE)
    earlier = prov.get("trial_schedule_hashes", [])[:trial]
    prov["trial_schedule_hashes"] = [*earlier, [p.schedule_hash for p in plan.points]]
    _write_provenance(spec.out, prov)
    return plan


def load_points(spec: CellSpec, plan: CellPlan) -> Generator[LoadPointPlan, list[dict[str, Any]], None]:
    """The load points of ``plan``'s trial, each sent back the records it measured: the plan's points, or the probes
    of a search load chosen one by one from what the earlier probes measured, then its confirmation point if it has
    one (recorded in provenance as they run).
    Only a search load gets records back (``keeps_records``): any other cell's are journaled, not held in memory."""
    w, load = spec.workload, spec.workload.load
    if not isinstance(load, SearchLoad):
        for p in plan.points:  # noqa: UP028 - records are sent in: a tuple's iterator has no send()
            yield p
        return
    probes: list[tuple[float, bool]] = []
    hashes: list[str] = []
    log: list[dict[str, Any]] = []
    trials = read_provenance(spec.out / PROVENANCE).get("trial_schedule_hashes", [])[:plan.trial]

    def upcoming() -> tuple[float, bool] | None:
        """(rate, is the confirmation point) of the next point; None when the search and its confirmation ran."""
        if (rate := next_rate(load, probes)) is not None:
            return rate, False
        if len(log) == len(probes) and (rate := confirmation_rate(load, probes)) is not None:
            return rate, True
        return None

    while (nxt := upcoming()) is not None:
        rate, confirm = nxt
        point = probe_point(w, spec.system.tokenizer, plan.trial, len(log), rate, confirmation=confirm)
        # recorded before it runs: an interrupted probe's records still have their load point's rate
        hashes.append(point.schedule_hash)
        log.append({"load_point": point.index, "rate": rate, "goodput_fraction_scheduled": None, "passed": None,
                    **({"confirmation": True} if confirm else {})})
        first = {"load_point_schedule_hashes": hashes} if plan.trial == 0 else {}
        _update_provenance(spec.out, search_probes=log, trial_schedule_hashes=[*trials, hashes], **first)
        records = yield point
        frac = slo_fraction_scheduled([r for r in records if not r["warmup"]], w.slo.model_dump())
        passed = frac is not None and frac >= load.goodput_target
        if not confirm:
            probes.append((rate, passed))
        log[-1].update(goodput_fraction_scheduled=frac, passed=passed)
        _update_provenance(spec.out, search_probes=log)


def next_point(points: Generator[LoadPointPlan, list[dict[str, Any]], None],
               measured: list[dict[str, Any]]) -> LoadPointPlan | None:
    """The point after the one that measured ``measured`` (None when there is none)."""
    try:
        return points.send(measured)
    except StopIteration:
        return None


def _append_samples(out: Path, trial: int, load_point: int, samples: list[dict[str, Any]]) -> None:
    with (out / GPU_JOURNAL).open("ab") as f:
        for smp in samples:
            f.write(orjson.dumps({"trial": trial, "load_point": load_point, **smp}) + b"\n")


async def _watch(server: ServerControl, stop: asyncio.Event) -> None:
    """Stop issuing requests as soon as the server process has exited."""
    while not stop.is_set():
        if server.exit_code() is not None:
            stop.set()
            return
        await asyncio.sleep(0.2)


GATE_DEADLINE_S = 900.0  # the whole accuracy gate (72 prompts; about 20 s for SmolLM2-135M on one CPU core)


def _no_tokenizer(text: str) -> list[int]:
    raise ValueError("the server gave no token ids and the cell has no tokenizer to count them")


async def _accuracy(spec: CellSpec) -> None:
    """The accuracy gate (cell.accuracy_gate), where the cell's model has a reference: after the timed load, so that
    none of its requests warms a cache or a compile path the load measures (a start's cold TTFT, prefix caches)."""
    tok = spec.system.tokenizer
    try:
        async with asyncio.timeout(GATE_DEADLINE_S):
            await run_gate(spec.out, spec.system.url, spec.system.model, tokenize=getattr(tok, "ids", _no_tokenizer),
                           api_key=spec.system.api_key, when="after the timed load")
    except TimeoutError:
        pass  # no accuracy.parquet: the cell says its answers are missing and is invalid
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None


async def start_server(server: ServerControl, trial: int, *, reuse_caches: bool) -> dict[str, Any]:
    """Start the server in a worker thread; told to stop while it starts (a signal: this task cancelled), the start
    stops its server at its next readiness poll, so that the command ends at once, not when the server is ready."""
    start = asyncio.ensure_future(asyncio.to_thread(server.start, trial, reuse_caches=reuse_caches))
    try:
        return await asyncio.shield(start)
    except asyncio.CancelledError:
        server.interrupted.set()
        await asyncio.wait([start])  # the thread returns at its next poll
        if not start.cancelled() and start.exception() is None:  # it became ready in the same moment: stop it
            await asyncio.to_thread(server.stop)
        raise KeyboardInterrupt from None


async def _run_plan(spec: CellSpec, plan: CellPlan, journal: Journal) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    with contextlib.suppress(NotImplementedError, RuntimeError):  # a supervisor, a closed terminal: stop cleanly
        for sig in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, main.cancel)
    w = spec.workload
    server = spec.system.server
    keep = isinstance(w.load, SearchLoad)  # a search chooses its next probe from the records it gets back
    fields = {t.name: spec.system.target_fields(t.name) for t in w.models.targets} if w.models else {}
    setup = ClientSetup(spec.system.url, spec.system.model, api=w.api, timeouts=w.timeouts, sampling=w.sampling,
                        api_key=spec.system.api_key, length_control=spec.system.length_control, target_fields=fields,
                        bulk_reads=spec.system.tcp_nodelay)
    servers: list[dict[str, Any]] = []
    windows: list[dict[str, Any]] = []
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), disable=not spec.progress, transient=False)
    try:
        with progress:
            for trial in range(w.trials):
                # planned before its server starts: a fresh server's first request is its cold TTFT
                tplan = await asyncio.to_thread(trial_plan, spec, plan, trial)
                if server is not None and (trial == 0 or w.fresh_server_per_trial):
                    if servers:
                        servers[-1].update(await asyncio.to_thread(server.stop))
                    servers.append(await start_server(server, trial, reuse_caches=w.server_caches == "reuse"))
                    _update_provenance(spec.out, servers=servers)
                stop = asyncio.Event()
                watcher = asyncio.create_task(_watch(server, stop)) if server is not None else None
                async with setup.client() as client:
                    points = load_points(spec, tplan)
                    point = next(points, None)
                    while point is not None:
                        if stop.is_set():
                            break
                        measured: list[dict[str, Any]] = []
                        task = progress.add_task(f"trial {trial + 1}/{w.trials} · {point.kind} {point.value:g}",
                                                 total=point.total_requests)

                        def sink(rec: dict[str, Any], _task: Any = task, _kept: list[Any] = measured) -> None:
                            journal.write(rec)
                            if keep:
                                _kept.append(rec)
                            progress.advance(_task)

                        procs = spec.procs_for(point)
                        with GpuMonitor(spec.system.gpus) if spec.system.gpus else contextlib.nullcontext() as mon:
                            try:
                                if procs > 1:
                                    cores = spec.client_cpus
                                    await run_parts(setup, point, trial,
                                                    [cores[i % len(cores)] if cores else None for i in range(procs)],
                                                    spec.out, stop, sink)
                                else:
                                    await LoadGenerator(client, sink, trial=trial, stop=stop,
                                                        target_fields=fields).run(point)
                            except asyncio.CancelledError:
                                raise KeyboardInterrupt from None
                        if mon is not None:
                            windows.append({"trial": trial, "load_point": point.index,
                                            "started_ns": mon.window.started_ns, **mon.window.summary()})
                            _update_provenance(spec.out, gpu_windows=windows)
                            _append_samples(spec.out, trial, point.index, mon.window.samples)
                        point = None if stop.is_set() else next_point(points, measured)
                if watcher is not None:
                    stop.set()
                    await watcher
            if server is None or server.exit_code() is None:
                await _accuracy(spec)
    finally:
        try:
            if server is not None and servers:
                servers[-1].update(server.stop())
                _update_provenance(spec.out, servers=servers)
        finally:
            if server is not None:
                server.close()


