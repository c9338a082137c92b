"""A signal that arrives while the server is still starting ends the command at once: the start stops its server
at its next readiness poll instead of waiting up to its readiness timeout (vLLM takes 20-60 s to be ready here)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[3]
# a cell whose server never becomes ready (it listens nowhere; readiness timeout 600 s)
SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from inferboard.runtimes.runner import Runner
    from inferboard.runtimes.server import LaunchSpec, ManagedServer, free_port
    from testkit.cell_runs import run, workload

    runner = Runner.model_validate({
        "name": "fake", "display_name": "fake", "homepage": "-", "default_port": 0, "images": {},
        "launch": {"argv": ["unused"]}, "readiness": {"path": "/health", "timeout_s": 600, "interval_s": 0.05},
        "metrics": {"path": "/metrics"}, "api": {"forces_output_length": True}})
    port = free_port()
    spec = LaunchSpec(runner=runner, argv=[sys.executable, "-c", "import time; time.sleep(600)"], env={}, port=port)
    out = Path(sys.argv[1])
    run(f"http://127.0.0.1:{port}", out, workload(), server=ManagedServer(spec, out))
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_during_the_start_ends_the_run_and_its_server(tmp_path: Path, sig: signal.Signals) -> None:
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path / "cell")], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not any("time.sleep(600)" in " ".join(c.cmdline()) for c in psutil.Process(proc.pid).children(True)):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        server = psutil.Process(proc.pid).children(True)
        proc.send_signal(sig)
        proc.wait(30)  # before: until the readiness timeout (600 s)
    finally:
        proc.kill()
    _, alive = psutil.wait_procs(server, timeout=10)
    assert not alive, [p.cmdline() for p in alive]


class _SlowServer:
    """A ServerControl whose start blocks until ``go`` (or the interruption)."""

    def __init__(self) -> None:
        import threading

        self.go, self.interrupted = threading.Event(), threading.Event()
        self.running = False

    def start(self, trial: int, *, reuse_caches: bool = False) -> dict[str, object]:
        while not self.go.is_set():
            if self.interrupted.is_set():
                raise RuntimeError("interrupted while starting")
            time.sleep(0.01)
        self.running = True
        return {"trial": trial}

    def stop(self) -> dict[str, object]:
        self.running = False
        return {}


@pytest.mark.parametrize("ready", [False, True], ids=["while-starting", "as-it-becomes-ready"])
def test_an_interrupted_start_leaves_no_server_running(ready: bool) -> None:
    """Cancelled while the start waits, the start gives up; cancelled in the moment the start returned (its result
    not yet delivered to the loop), the server it started is stopped, not left to run."""
    import asyncio

    from inferboard.cell.run import start_server

    server = _SlowServer()

    async def attempt() -> str:
        try:
            await start_server(server, 0, reuse_caches=False)
        except KeyboardInterrupt:  # what the run does with a cancelled start
            return "interrupted"
        return "started"

    async def main() -> str:
        task = asyncio.ensure_future(attempt())
        await asyncio.sleep(0.05)  # the start is waiting in its thread
        if ready:
            server.go.set()
            time.sleep(0.2)  # the thread returns while the loop is blocked: its result is not delivered yet
        task.cancel()
        return await task

    assert asyncio.run(main()) == "interrupted"
    assert not server.running and server.interrupted.is_set()
