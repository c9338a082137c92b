"""Server lifecycle on a real process: the fault-injecting test server launched like a runtime."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from inferboard.core.errors import InferboardError
from inferboard.runtimes.runner import Runner
from inferboard.runtimes.server import LaunchSpec, ManagedServer, ServerProcess, free_port
from testkit.cell_runs import requests_rows, run, workload
from tests.helpers import kill_when_serving

ROOT = Path(__file__).resolve().parents[3]


def _spec(argv_tail: list[str] | None = None, timeout_s: float = 20) -> LaunchSpec:
    runner = Runner.model_validate({
        "name": "fake", "display_name": "fake", "homepage": "-", "default_port": 0, "images": {},
        "launch": {"argv": ["unused"]}, "readiness": {"path": "/health", "timeout_s": timeout_s, "interval_s": 0.05},
        "metrics": {"path": "/metrics"}, "api": {"forces_output_length": True}})
    port = free_port()
    argv = argv_tail or [sys.executable, str(ROOT / "testkit" / "fakeserver.py"), "--port", str(port)]
    return LaunchSpec(runner=runner, argv=argv, env={}, port=port)


def test_start_ready_scrape_stop(tmp_path: Path) -> None:
    server = ManagedServer(_spec(), tmp_path, scrape_interval_s=0.1)
    info = server.start(0)
    assert 0 < info["cold_start_s"] < 20
    time.sleep(0.35)
    out = server.stop()
    assert out["crashed"] is False and out["exit_code"] is not None
    metrics = pq.read_table(tmp_path / "metrics.parquet").to_pylist()
    assert {"fake_requests_total", "fake_requests_running"} <= {m["name"] for m in metrics}
    assert len({m["t_ns"] for m in metrics}) >= 3
    assert (tmp_path / "server-trial0.log").exists()


def test_a_server_that_dies_before_ready_reports_its_log(tmp_path: Path) -> None:
    spec = _spec([sys.executable, "-c", "import sys; print('boom: bad flag'); sys.exit(3)"])
    proc = ServerProcess(spec, tmp_path / "s.log")
    proc.start()
    with pytest.raises(InferboardError, match=r"(?s)code 3.*boom: bad flag"):
        proc.wait_ready()


def test_sigterm_then_sigkill(tmp_path: Path) -> None:
    stubborn = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "print('up', flush=True); time.sleep(60)")
    proc = ServerProcess(_spec([sys.executable, "-c", stubborn]), tmp_path / "s.log")
    proc.start()
    time.sleep(0.5)
    t = time.monotonic()
    assert proc.stop(grace_s=0.5) == -signal.SIGKILL
    assert time.monotonic() - t < 5


def test_killing_the_server_mid_run_is_recorded(tmp_path: Path) -> None:
    spec = _spec()
    server = ManagedServer(spec, tmp_path, scrape_interval_s=0.2)

    kill_when_serving(server, after_s=1.5)
    w = workload(requests=400, load={"kind": "concurrency", "concurrency": [4]})
    rows = run(spec.url, tmp_path, w, server=server)
    trial = next(r for r in rows if r["row_kind"] == "trial")
    assert trial["server_exit_code"] == -signal.SIGKILL
    assert trial["valid"] is False and "server exited" in trial["invalid_reason"]
    reqs = requests_rows(tmp_path)
    ok = [r for r in reqs if r["status"] == "ok"]
    failed = [r for r in reqs if r["status"] != "ok"]
    assert ok and failed and all(r["status"] == "connection_error" for r in failed)
    assert trial["requests_total"] + trial["requests_not_issued"] == 400  # every request accounted for
    assert trial["cold_start_s"] > 0
    prov = json.loads((tmp_path / "provenance.json").read_text())
    assert prov["servers"][0]["crashed"] is True


def _cache_server(tmp_path: Path) -> tuple[int, Path]:
    """(port, script) of a test server that lists, then writes into, the folder named by FAKE_CACHE."""
    port = free_port()
    script = tmp_path / "cache_server.py"
    script.write_text(
        "import os, pathlib, sys, runpy\n"
        "cache = pathlib.Path(os.environ['FAKE_CACHE'])\n"
        "print('cache', cache, 'entries', sorted(p.name for p in cache.iterdir()), flush=True)\n"
        "(cache / 'compiled.bin').write_text('artifact')\n"
        f"sys.argv = ['fakeserver', '--port', '{port}']\n"
        f"runpy.run_path({str(ROOT / 'testkit' / 'fakeserver.py')!r}, run_name='__main__')\n")
    return port, script


def test_fresh_dirs_are_empty_at_every_start_and_removed_after(tmp_path: Path) -> None:
    """A compile cache named in ``fresh_dirs`` never carries over from one server start to the next."""
    port, script = _cache_server(tmp_path)
    spec = _spec([sys.executable, str(script)])
    spec.port, spec.fresh_dirs = port, ("FAKE_CACHE",)
    server = ManagedServer(spec, tmp_path)
    seen: list[Path] = []
    for trial in (0, 1):
        info = server.start(trial)
        assert info["empty_at_start"] == ["FAKE_CACHE"]
        assert server.proc is not None and server.proc.scratch is not None
        cache = server.proc.scratch / "fake_cache"
        assert (cache / "compiled.bin").read_text() == "artifact"  # the server wrote into it
        seen.append(cache)
        server.stop()
        assert not cache.exists()
        assert "entries []" in (tmp_path / f"server-trial{trial}.log").read_text()
    assert seen[0] != seen[1]


def test_host_compile_caches_outlive_the_cell_and_are_warm_for_the_next(tmp_path: Path) -> None:
    """With the host's compile caches, the first start compiles into them, they outlive the cell (two managed
    servers stand for two cells), and the next start finds them: recorded as warm."""
    port, script = _cache_server(tmp_path)
    host = tmp_path / "host-caches"
    starts = []
    for cell in ("a", "b"):
        spec = _spec([sys.executable, str(script)])
        spec.port, spec.fresh_dirs = port, ("FAKE_CACHE",)
        server = ManagedServer(spec, tmp_path / cell)
        server.host_caches = host
        starts.append(server.start(0))
        server.stop()
        server.close()
    assert [(s["caches"], s["caches_scope"]) for s in starts] == [("empty", "host"), ("warm", "host")]
    assert starts[1]["empty_at_start"] == []
    assert (host / "fake_cache" / "compiled.bin").read_text() == "artifact"  # kept after both cells
    assert "entries []" in (tmp_path / "a" / "server-trial0.log").read_text()
    assert "entries ['compiled.bin']" in (tmp_path / "b" / "server-trial0.log").read_text()


def test_host_caches_deep_in_a_checkout_still_give_a_short_tmpdir(tmp_path: Path) -> None:
    """A server binds IPC sockets under TMPDIR (vLLM's zmq does; a Unix socket path is at most 107 bytes): TMPDIR
    is a fresh short folder per start even when the host's caches sit deep in a checkout."""
    port, script = _cache_server(tmp_path)
    bind = tmp_path / "bind_then_serve.py"
    bind.write_text(
        "import os, socket, sys, runpy, uuid\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "s.bind(os.path.join(os.environ['TMPDIR'], str(uuid.uuid4())))  # like ipc://$TMPDIR/<uuid>\n"
        f"runpy.run_path({str(script)!r}, run_name='__main__')\n")
    host = tmp_path.joinpath(*["deep-folder-of-a-checkout"] * 6) / "compile-caches"
    assert len(str(host)) > 107
    spec = _spec([sys.executable, str(bind)])
    spec.port, spec.fresh_dirs = port, ("FAKE_CACHE", "TMPDIR")
    server = ManagedServer(spec, tmp_path)
    server.host_caches = host
    try:
        assert server.start(0)["caches"] == "empty"  # ready: the socket bound
        assert server.proc is not None and server.proc.scratch is not None
        assert not server.proc.scratch.is_relative_to(host)
    finally:
        server.stop()
        server.close()
    assert (host / "fake_cache" / "compiled.bin").is_file() and not (host / "tmpdir").exists()


def test_local_launch_without_local_mode_names_the_runtimes_that_have_one() -> None:
    from inferboard.runtimes.runner import load_runner, local_runners
    from inferboard.runtimes.server import local_launch

    with pytest.raises(InferboardError, match=", ".join(local_runners())):
        local_launch(load_runner("sglang"), env_dir=Path("/e"), model_dir=Path("/m"), served_model_name="m")
