"""No process outlives the command that started it: `inferboard serve` and `inferboard run --runtime` (real
llama-server on the tiny model), ended by SIGTERM, SIGINT, SIGHUP (a supervisor, Ctrl-C, a closed terminal) or
SIGKILL, leave neither llama-server nor its guard behind. The server runs in its own session, so only its guard
(inferboard/runtimes/guard.py), which sees the end of its pipe from the command, stops it after a SIGKILL.

Eight server starts in all (one per command and signal)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from tests.integration.conftest import require_env

pytestmark = pytest.mark.integration
SIGNALS = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGKILL]
CLI = [sys.executable, "-m", "inferboard.cli"]
# long enough to be still running when the signal comes: one request at a time, far more than are sent
LONG = {"schema_version": 1, "name": "signals", "version": 1, "seed": 0, "api": "completions",
        "dataset": {"kind": "fixed", "input_tokens": 16, "output_tokens": 8},
        "load": {"kind": "concurrency", "concurrency": [1]}, "requests": 100000, "warmup_requests": 0}


def _running(p: psutil.Process) -> bool:
    """Alive and not a zombie (a killed command's guard may wait to be reaped by init)."""
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _descendants(pid: int, until: float) -> list[psutil.Process]:
    """The command's processes once a llama-server and its guard are among them."""
    while time.monotonic() < until:
        procs = psutil.Process(pid).children(recursive=True)
        lines = [" ".join(p.cmdline()) for p in procs if _running(p)]
        if any("llama-server" in c for c in lines) and any("runtimes/guard.py" in c for c in lines):
            return procs
        time.sleep(0.2)
    raise AssertionError("no llama-server under its guard")


def _assert_all_end(proc: subprocess.Popen[str], procs: list[psutil.Process], sig: signal.Signals) -> int:
    proc.send_signal(sig)
    code = proc.wait(60)
    deadline = time.monotonic() + 10
    while any(_running(p) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = [p for p in procs if _running(p)]
    for p in alive:  # never leave them to the next test
        p.kill()
    assert not alive, [p.cmdline() for p in alive]
    return code


@pytest.mark.parametrize("sig", SIGNALS, ids=[s.name for s in SIGNALS])
def test_serve_leaves_no_process(tiny_model: Path, tmp_path: Path, sig: signal.Signals) -> None:
    """`inferboard serve` stops its server on SIGTERM, SIGHUP (exit 128 + signal) and Ctrl-C (130); after a
    SIGKILL its guard does."""
    require_env("llamacpp")
    proc = subprocess.Popen([*CLI, "serve", "llamacpp", "--model", str(tiny_model), "--log",
                             str(tmp_path / "server.log"), "--param", "threads=1"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().startswith("http://127.0.0.1:")
        procs = _descendants(proc.pid, time.monotonic() + 30)
    except BaseException:
        proc.kill()
        raise
    code = _assert_all_end(proc, procs, sig)
    assert code == {signal.SIGINT: 130, signal.SIGKILL: -signal.SIGKILL}.get(sig, 128 + sig)
    if sig == signal.SIGKILL:
        assert "the parent has gone" in (tmp_path / "server.log").read_text()


@pytest.mark.parametrize("sig", SIGNALS, ids=[s.name for s in SIGNALS])
def test_run_leaves_no_process(tiny_model: Path, tmp_path: Path, sig: signal.Signals) -> None:
    """`inferboard run --runtime llamacpp` ended mid-load leaves no server behind, whatever ends it."""
    require_env("llamacpp")
    spec = tmp_path / "long.yaml"
    spec.write_text(yaml.safe_dump(LONG))
    out = tmp_path / "cell"
    proc = subprocess.Popen([*CLI, "run", "--runtime", "llamacpp", "--model", str(tiny_model), "--workload",
                             str(spec), "--out", str(out), "--sku", "cpu-host", "--no-progress", "--param",
                             "threads=1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        until = time.monotonic() + 120
        procs = _descendants(proc.pid, until)
        journal = out / "requests.partial.jsonl"
        while not (journal.exists() and journal.stat().st_size > 0):  # requests have been answered
            assert proc.poll() is None and time.monotonic() < until, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.2)
    except BaseException:
        proc.kill()
        raise
    _assert_all_end(proc, procs, sig)
    if sig != signal.SIGKILL:  # a clean stop: what was measured is written (SIGKILL leaves the journal to finalize)
        assert (out / "requests.parquet").is_file()


def test_the_guard_stops_the_server_and_cleans_up_when_its_parent_is_killed(tmp_path: Path) -> None:
    """Without a runtime: a parent that started `sleep` under a guard is SIGKILLed; the guard stops `sleep`, runs
    the cleanup command (a container's `rm --force NAME`) and exits."""
    marker = tmp_path / "cleaned"
    code = ("import sys, time\nfrom inferboard.runtimes.guard import Guarded\n"
            f"g = Guarded.start({{'argv': ['sleep', '300'], 'log': {str(tmp_path / 'log')!r}, 'env': {{}}, "
            f"'cpus': [], 'cleanup': ['touch', {str(marker)!r}], 'grace_s': 5}}, {str(tmp_path / 'log')!r})\n"
            "print(g.pid, flush=True)\ntime.sleep(300)\n")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    server = psutil.Process(int(parent.stdout.readline()))
    guard = psutil.Process(parent.pid).children()
    parent.kill()
    parent.wait(10)
    deadline = time.monotonic() + 10
    while (_running(server) or any(_running(g) for g in guard) or not marker.exists()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(server) and not any(_running(g) for g in guard) and marker.exists()
    assert "the parent has gone" in (tmp_path / "log").read_text()
