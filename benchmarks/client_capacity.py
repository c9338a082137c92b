"""How much the load generator can measure on one core, and how exactly.

1. Capacity: against the zero-delay fake server (each stream written at once), the streamed content
   chunks/s and requests/s the client sustains on one core at concurrency 256 and 1024.
2. Timing error: against the fake server emitting the first token 50 ms after arrival and then one
   every 10 ms, the difference between when the client saw each chunk and when the server wrote it
   (same monotonic clock), and between client and server TTFT, at 1, 64, 256 and 1000 streams.

Client and server are pinned to different cores where the machine has two. Prints medians of
``--repeat`` runs. ``--procs 1,2,4`` adds the chunks/s of that many client processes (``--client-procs``),
one per core, against a test server of one worker process per core left (so that it does not limit them):
each process's own rate (chunks over its own span), their sum against that many times one process's, the
merged rate (all chunks over the whole span, which the slowest process sets) and how busy the server
workers were. ``--per-core``: one process's rate on each core in turn. ``--timing-procs 4``: the timing error at
1000 streams split over that many client processes. ``--bulk-reads`` reads as runs against a server that
switches Nagle off do (vLLM, llama.cpp): each arrival peeked, the receive queue emptied in bulk. Usage:
``python benchmarks/client_capacity.py [--waves 8] [--repeat 3] [--procs 1,2,4,8] [--per-core]
[--timing-procs 4] [--bulk-reads]``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inferboard.measure.client import StreamingClient  # noqa: E402
from inferboard.measure.loadgen import LoadGenerator  # noqa: E402
from inferboard.measure.netio import can_peek  # noqa: E402
from inferboard.results.schema import Journal  # noqa: E402
from inferboard.scenario.prompts import load_tokenizer  # noqa: E402
from inferboard.scenario.schedule import build_plan  # noqa: E402
from inferboard.scenario.workload import parse_workload  # noqa: E402
from testkit.fakeserver_handle import start_fake_server  # noqa: E402


def _workload(concurrency: int, requests: int, out_tokens: int, duration: float | None) -> object:
    return parse_workload({
        "name": "bench", "version": 1, "dataset": {"kind": "fixed", "input_tokens": 8, "output_tokens": out_tokens},
        "load": {"kind": "concurrency", "concurrency": [concurrency]}, "requests": requests,
        "duration_s": duration, "timeouts": {"first_token_s": 60, "between_chunks_s": 60, "total_s": 120},
    }, source="benchmark")


def _run(url: str, w: object, bulk: bool) -> tuple[list[dict], float]:
    import uvloop

    plan = build_plan(w, load_tokenizer(None)).points[0]
    records: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(Path(tmp) / "j.jsonl")

        def sink(r: dict) -> None:
            journal.write(r)
            records.append(r)

        async def go() -> float:
            async with StreamingClient(url, "fake", timeouts=w.timeouts, bulk_reads=bulk) as client:
                t0 = time.perf_counter()
                await LoadGenerator(client, sink).run(plan)
                return time.perf_counter() - t0

        elapsed = uvloop.run(go())
        journal.close()
    return records, elapsed


def capacity(server, concurrency: int, waves: int, out_tokens: int, bulk: bool) -> tuple[float, float]:
    server.configure(zero_delay=True, record_chunks=False)
    records, elapsed = _run(server.url, _workload(concurrency, concurrency * waves, out_tokens, None), bulk)
    ok = [r for r in records if r["status"] == "ok"]
    assert len(ok) == len(records), {r["status"] for r in records}
    return sum(r["content_chunks"] for r in ok) / elapsed, len(ok) / elapsed


class ProcsRun(NamedTuple):
    merged: float  # chunks/s: every chunk over the whole span, which the slowest process sets
    per_proc: list[float]  # chunks/s of each process over its own span
    server_busy: float  # CPU seconds per second per server worker


def _run_parts(url: str, w: object, cores: list[int], bulk: bool) -> list[dict]:
    """One load point of ``w`` over one client process per core of ``cores`` (``--client-procs``); its records."""
    import asyncio

    from inferboard.cell.clients import ClientSetup, run_parts

    plan = build_plan(w, load_tokenizer(None)).points[0]
    records: list[dict] = []
    setup = ClientSetup(url, "fake", api="completions", timeouts=w.timeouts, sampling=w.sampling, bulk_reads=bulk)
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run_parts(setup, plan, 0, list(cores), Path(tmp), asyncio.Event(), records.append))
    return records


def capacity_procs(concurrency: int, waves: int, out_tokens: int, cores: list[int], rest: list[int],
                   bulk: bool) -> ProcsRun:
    """``len(cores)`` client processes, one pinned to each core, against the zero-delay test server with one worker
    pinned to each core of ``rest`` (this process waits there too), so that the server is not what limits them."""
    import psutil

    mine = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(rest))  # the server starts there, never on a client's core
    server = None
    try:
        server = start_fake_server(workers=len(rest), zero_delay=True)
        workers = [psutil.Process(server.proc.pid), *psutil.Process(server.proc.pid).children()]
        for proc, core in zip(workers, rest, strict=True):  # every worker is forked before the port is printed
            proc.cpu_affinity([core])
        cpu0 = sum(sum(p.cpu_times()[:2]) for p in workers)
        records = _run_parts(server.url, _workload(concurrency, concurrency * waves, out_tokens, None), cores, bulk)
        server_cpu = sum(sum(p.cpu_times()[:2]) for p in workers) - cpu0
    finally:
        if server is not None:
            server.proc.kill()
            server.proc.wait()
        os.sched_setaffinity(0, mine)
    ok = [r for r in records if r["status"] == "ok"]
    assert len(ok) == len(records) == concurrency * waves, {r["status"] for r in records}
    span = (max(r["end_ns"] for r in ok) - min(r["sent_ns"] for r in ok)) / 1e9
    per_proc = []
    for i in range(len(cores)):
        part = [r for r in ok if r["client_proc"] == i]
        own = (max(r["end_ns"] for r in part) - min(r["sent_ns"] for r in part)) / 1e9
        per_proc.append(sum(r["content_chunks"] for r in part) / own)
    return ProcsRun(sum(r["content_chunks"] for r in ok) / span, per_proc, server_cpu / span / len(workers))


def timing(server, concurrency: int, out_tokens: int, bulk: bool) -> dict[str, float]:
    server.configure(ttft_ms=50, itl_ms=10)
    records, _ = _run(server.url, _workload(concurrency, concurrency * 2, out_tokens, None), bulk)
    return _errors(records, server.records())


def timing_procs(server, concurrency: int, out_tokens: int, cores: list[int], bulk: bool) -> dict[str, float]:
    """``timing`` with the streams split over one client process per core of ``cores`` (``--client-procs``)."""
    server.configure(ttft_ms=50, itl_ms=10)
    records = _run_parts(server.url, _workload(concurrency, concurrency * 2, out_tokens, None), cores, bulk)
    return _errors(records, server.records())


def _errors(records: list[dict], truth: dict[str, dict]) -> dict[str, float]:
    """Each chunk's client receive time minus the server's send time, and client minus server TTFT (ms)."""
    assert all(r["status"] == "ok" for r in records), {r["status"] for r in records}
    err, c_ttft, s_ttft, s_gap = [], [], [], []
    for r in records:
        s = truth[r["request_id"]]
        recv = r["sent_ns"] + np.asarray(r["chunk_times_ms"]) * 1e6
        err.append((recv - np.asarray(s["sent_ns"])) / 1e6)
        c_ttft.append(r["ttft_ms"])
        s_ttft.append((s["sent_ns"][0] - s["arrival_ns"]) / 1e6)
        s_gap.append(np.diff(s["sent_ns"]) / 1e6)
    e = np.concatenate(err)
    d = np.asarray(c_ttft) - np.asarray(s_ttft)  # per request: client TTFT - server's own TTFT
    return {"chunk_err_p50": float(np.median(e)), "chunk_err_p99": float(np.percentile(e, 99)),
            "ttft_diff_p50": float(np.median(d)), "ttft_diff_p99": float(np.percentile(d, 99)),
            "server_itl_p50": float(np.median(np.concatenate(s_gap))), "chunks": float(len(e))}


def _print_timing(label: str, runs: list[dict[str, float]]) -> None:
    """One line: the medians over ``runs`` of each ``_errors`` figure."""
    med = {k: float(np.median([r[k] for r in runs])) for k in runs[0]}
    print(f"  {label}: chunk error p50 {med['chunk_err_p50']:6.3f} ms  p99 {med['chunk_err_p99']:7.3f} ms | TTFT "
          f"client - server p50 {med['ttft_diff_p50']:+6.3f} ms p99 {med['ttft_diff_p99']:+7.3f} ms | server ITL p50 "
          f"{med['server_itl_p50']:.2f} ms ({med['chunks']:,.0f} chunks)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--waves", type=int, default=8, help="capacity: requests = concurrency × waves")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=128, help="output tokens per request (capacity)")
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--bulk-reads", action="store_true",
                    help="read as against a server that switches Nagle off (as the test server does): each arrival "
                         "peeked, the queue emptied in bulk (netio.PeekStream), as runs against vLLM and llama.cpp do")
    ap.add_argument("--procs", default="", help="also: chunks/s of N client processes (e.g. 1,2,4,8), each on its "
                                                "own core, the server on the cores left (needs N + 1 cores)")
    ap.add_argument("--per-core", action="store_true", help="also: one client process's chunks/s on each core in "
                                                                 "turn (are the cores alike?)")
    ap.add_argument("--timing-procs", default="", help="also: the timing error at 1000 streams over N client "
                                                       "processes (e.g. 2,4), the server on one core (needs N + 2)")
    args = ap.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the servers are stopped on the way out
    server = start_fake_server()
    if len(cores) >= 2:
        os.sched_setaffinity(server.proc.pid, {cores[1]})
        os.sched_setaffinity(0, {cores[0]})
    peeks = args.bulk_reads and can_peek()  # where the kernel cannot peek at an offset, the pool reads plainly
    print(f"client pinned to core {cores[0]}; server on core {cores[1] if len(cores) > 1 else cores[0]}; reads: "
          + ("each arrival peeked, the queue emptied in bulk" if peeks else "each arrival read"))
    try:
        base = None
        for n in [int(x) for x in args.procs.split(",") if x]:
            if n + 1 > len(cores):
                print(f"  {n} client processes: skipped, {len(cores)} cores here (needs {n + 1})")
                continue
            runs = [capacity_procs(256 * n, args.waves, args.tokens, cores[:n], cores[n:], args.bulk_reads)
                    for _ in range(args.repeat)]
            merged = float(np.median([r.merged for r in runs]))
            total = float(np.median([sum(r.per_proc) for r in runs]))  # each process at its own pace, all at once
            per = [c for r in runs for c in r.per_proc]
            base = base or (total if n == 1 else None)
            scale = f" = {total / (n * base):.2f} × {n} × one process's" if base else ""
            print(f"  {n:2d} client processes, concurrency {256 * n:5d}: {total:12,.0f} chunks/s{scale} (sum of each "
                  f"process's own rate; merged {merged:,.0f}; median of {args.repeat}); per process "
                  f"{min(per):,.0f}–{max(per):,.0f}; server {len(cores) - n} workers, each busy "
                  f"{float(np.median([r.server_busy for r in runs])):.0%}", flush=True)
        if args.per_core and len(cores) >= 2:
            print("  one client process on each core in turn (256 streams; the server on the others):")
            for c in cores:
                rate = capacity_procs(256, args.waves, args.tokens, [c], [x for x in cores if x != c],
                                      args.bulk_reads).merged
                print(f"    core {c:2d}: {rate:10,.0f} chunks/s", flush=True)
        print("\ncapacity (zero-delay server, one client core)")
        for conc in (256, 1024):
            runs = [capacity(server, conc, args.waves, args.tokens, args.bulk_reads) for _ in range(args.repeat)]
            chunks = float(np.median([r[0] for r in runs]))
            reqs = float(np.median([r[1] for r in runs]))
            print(f"  concurrency {conc:5d}: {chunks:10,.0f} chunks/s  {reqs:8,.0f} requests/s  "
                  f"(median of {args.repeat}; runs: {', '.join(f'{r[0]:,.0f}' for r in runs)})")
        if not args.skip_timing:
            print("\ntiming error (server: TTFT 50 ms, ITL 10 ms; client recv - server send, same clock)")
            for conc in (1, 64, 256, 1000):
                _print_timing(f"{conc:5d} streams", [timing(server, conc, 50, args.bulk_reads)
                                                     for _ in range(args.repeat)])
        if args.timing_procs:
            print("\ntiming error over several client processes (as above; the server on the core after theirs)")
        for n in [int(x) for x in args.timing_procs.split(",") if x]:
            if n + 2 > len(cores):
                print(f"  1000 streams over {n} client processes: skipped, {len(cores)} cores here (needs {n + 2})")
                continue
            os.sched_setaffinity(server.proc.pid, {cores[n]})  # the server on its own core; this process beyond it
            os.sched_setaffinity(0, set(cores[n + 1:]))
            _print_timing(f"1000 streams over {n} client processes", [
                timing_procs(server, 1000, 50, cores[:n], args.bulk_reads) for _ in range(args.repeat)])
            os.sched_setaffinity(0, {cores[0]})
    finally:
        server.proc.kill()


if __name__ == "__main__":
    main()
