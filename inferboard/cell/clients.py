"""Several client processes for one load point (``--client-procs``): more streams than one core can measure.

Process i of n sends every n-th session from the i-th (``LoadGenerator(part=(i, n))``): an open loop at the
planned arrivals from one shared start time, a closed loop its share of the concurrency; request ids are the ones
a single process gives, so the schedule and its hash are unchanged. Each process is pinned to its own core, has
its own event loop and journal (``requests.client<i>.partial.jsonl`` in the cell folder, read back as it grows:
the cell's journal gets every record, as with one process), records which process sent each request
(``client_proc``) and dies with its parent. The processes are started with ``spawn`` and get the plan and the
client's settings by pickle: this process's own objects, never input from elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson

from inferboard.core.errors import InferboardError
from inferboard.core.lifetime import die_with_parent
from inferboard.measure.client import StreamingClient
from inferboard.measure.loadgen import LoadGenerator
from inferboard.results.schema import CLIENT_JOURNALS, Journal
from inferboard.scenario.schedule import LoadPointPlan
from inferboard.scenario.workload import Sampling, Timeouts

START_LEAD_S = 0.05  # every process has its start time this long before it comes
READY_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ClientSetup:
    """What each client process builds its StreamingClient from."""

    url: str
    model: str
    api: str
    timeouts: Timeouts
    sampling: Sampling
    api_key: str | None = None
    length_control: str = "ignore_eos"
    bulk_reads: bool = False  # the server switches Nagle off (StreamingClient)
    target_fields: dict[str, dict[str, Any]] = field(default_factory=dict)

    def client(self) -> StreamingClient:
        return StreamingClient(self.url, self.model, api=self.api, timeouts=self.timeouts, sampling=self.sampling,
                               api_key=self.api_key, length_control=self.length_control, bulk_reads=self.bulk_reads)


def _part_main(setup: ClientSetup, plan: LoadPointPlan, trial: int, part: tuple[int, int], cpu: int | None,
               journal: str, conn: Connection, parent: int) -> None:
    """One client process: connect (a closed loop opens its streams' connections), say ready, wait for the shared
    start time, run its part, journal each record."""
    die_with_parent(parent)  # SIGTERM: it records what it issued on the way out
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    out = Journal(Path(journal))

    def sink(rec: dict[str, Any]) -> None:
        rec["client_proc"] = part[0]
        out.write(rec)

    async def go() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        start: asyncio.Future[int | None] = loop.create_future()
        stop = asyncio.Event()

        def listen() -> None:  # the parent's messages: the start time (None: never start), then "stop"
            with contextlib.suppress(EOFError, OSError):
                loop.call_soon_threadsafe(start.set_result, conn.recv())
                if conn.recv() == "stop":
                    loop.call_soon_threadsafe(stop.set)

        async with setup.client() as client:
            gen = LoadGenerator(client, sink, trial=trial, stop=stop, part=part, target_fields=setup.target_fields)
            await gen.connect(plan)  # before the start time: every process starts sending at once
            threading.Thread(target=listen, daemon=True).start()
            conn.send("ready")
            gen.start_ns = await start
            if gen.start_ns is None:
                return
            with contextlib.suppress(asyncio.CancelledError):  # every issued request is recorded on the way out
                await gen.run(plan)

    try:
        from inferboard.cell.run import event_loop_runner

        with event_loop_runner() as runner:
            runner.run(go())
    finally:
        out.close()


class _Tail:
    """The complete lines a journal file has gained since the last read."""

    def __init__(self, path: Path) -> None:
        self.path, self.pos, self.rest = path, 0, b""

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with open(self.path, "rb") as f:
            f.seek(self.pos)
            data = f.read()
        self.pos += len(data)
        lines = (self.rest + data).split(b"\n")
        self.rest = lines.pop()
        return [orjson.loads(ln) for ln in lines if ln]


async def run_parts(setup: ClientSetup, plan: LoadPointPlan, trial: int, cpus: list[int | None], folder: Path,
                    stop: asyncio.Event, sink: Callable[[dict[str, Any]], None]) -> None:
    """Run ``plan`` over one client process per entry of ``cpus`` (a core each, or None: unpinned) and hand every
    record to ``sink`` as the processes write them. ``stop`` ends the issuing (as with one process); cancelling
    this ends the processes at once (SIGTERM: each records what it issued, as aborted where it was in flight)."""
    ctx = mp.get_context("spawn")
    n = len(cpus)
    procs: list[tuple[Any, Connection, _Tail]] = []
    try:
        for i, cpu in enumerate(cpus):
            path = folder / CLIENT_JOURNALS.replace("*", str(i))
            path.unlink(missing_ok=True)
            mine, theirs = ctx.Pipe()
            p = ctx.Process(target=_part_main, args=(setup, plan, trial, (i, n), cpu, str(path), theirs, os.getpid()),
                            daemon=True, name=f"inferboard-client{i}")
            p.start()
            theirs.close()
            procs.append((p, mine, _Tail(path)))
        for p, conn, _ in procs:
            try:
                ready = await asyncio.to_thread(conn.poll, READY_TIMEOUT_S) and conn.recv() == "ready"
            except (EOFError, OSError):  # it died: its end of the pipe closed
                ready = False
            if not ready:
                p.join(1)
                raise InferboardError(f"client process {p.name} did not start (exit code {p.exitcode})",
                                      field="--client-procs", fix="run with --client-procs 1 to see its error")
        start = time.monotonic_ns() + int(START_LEAD_S * 1e9)
        for _, conn, _ in procs:
            conn.send(start)
        stopping = False
        while any(p.is_alive() for p, _, _ in procs):
            _check_exits(procs)  # one crashed: its sessions are not sent
            if stop.is_set() and not stopping:  # issue nothing more; what is in flight ends as it ends
                stopping = True
                for _, conn, _ in procs:
                    with contextlib.suppress(OSError, ValueError):
                        conn.send("stop")
            for _, _, tail in procs:
                for rec in tail.read():
                    sink(rec)
            await asyncio.sleep(0.1)
        _check_exits(procs)
    finally:
        _end(procs, sink)


def _check_exits(procs: list[tuple[Any, Connection, _Tail]]) -> None:
    """Stop the point when a client process ended with an error (its sessions are not sent)."""
    failed = next((p for p, _, _ in procs if p.exitcode not in (None, 0)), None)
    if failed is not None:
        raise InferboardError(f"client process {failed.name} exited with code {failed.exitcode}",
                              field="--client-procs", fix="see its error above; run with --client-procs 1")


def _end(procs: list[tuple[Any, Connection, _Tail]], sink: Callable[[dict[str, Any]], None]) -> None:
    """End every client process and take in the last of their records. Blocking on purpose: a second interrupt
    must not cut it short (the processes would still be writing records that nobody reads)."""
    for p, conn, _ in procs:
        if p.is_alive():
            with contextlib.suppress(OSError, ValueError):
                conn.send(None)  # not started yet: exit without sending anything
            p.terminate()  # started: SIGTERM cancels its run, which records what was in flight
    for p, conn, tail in procs:
        p.join(30)
        if p.is_alive():
            p.kill()
            p.join()
        conn.close()
        for rec in tail.read():
            sink(rec)
        tail.path.unlink(missing_ok=True)
