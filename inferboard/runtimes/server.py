"""Server lifecycle from a runner definition: start, wait until ready, scrape /metrics, stop.

``ServerProcess`` launches a runtime in local mode (or container mode once issue 3/6 lands) in its
own process group with its log captured to a file, records time-to-ready as the cold start, scrapes
the Prometheus endpoint into a time series in a background thread, notices a crash (exit code and log
tail), and stops with SIGTERM, then SIGKILL after a grace period. Each server runs under a guard process
(``inferboard.runtimes.guard``) that stops it, and runs its cleanup, when this process ends in any way, a
SIGKILL included.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from inferboard.core.errors import InferboardError
from inferboard.runtimes.adapters import adapter_argv
from inferboard.runtimes.containers import MODEL_MOUNT, ContainerRun, Engine, GpuVendor, run_argv
from inferboard.runtimes.guard import Guarded
from inferboard.runtimes.runner import Runner, local_runners, render, require_adapters
from inferboard.runtimes.sampler import RssSampler

LOG_TAIL_BYTES = 4000
STOP_GRACE_S = 15.0  # SIGTERM to SIGKILL


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, limit: int = LOG_TAIL_BYTES) -> str:
    """The last ``limit`` bytes of a log file, decoded."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - limit))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


@dataclass
class LaunchSpec:
    """Everything needed to start one server."""

    runner: Runner
    argv: list[str]
    env: dict[str, str]
    port: int
    host: str = "127.0.0.1"
    served_model_name: str = "model"
    mode: str = "local"
    provenance: dict[str, Any] = field(default_factory=dict)
    cleanup: list[str] = field(default_factory=list)  # run after the process ends (e.g. `docker rm -f NAME`)
    cpus: tuple[int, ...] = ()  # CPU cores the server may use (empty: all); the client keeps the others
    fresh_dirs: tuple[str, ...] = ()  # env vars given a new empty folder per start (runner ``launch.fresh_dirs``)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def local_launch(runner: Runner, *, env_dir: Path, model_dir: Path, served_model_name: str, port: int | None = None,
                 params: dict[str, Any] | None = None, python: str | None = None,
                 cpus: tuple[int, ...] = (), adapters: dict[str, int] | None = None) -> LaunchSpec:
    """A LaunchSpec for local mode from the runner's ``local.launch`` template."""
    if runner.local is None:
        raise InferboardError(f"runtime {runner.name!r} has no local mode", field="--runtime",
                              fix=f"use a runtime with a local section ({', '.join(local_runners())}) or an "
                                  "--endpoint")
    port = port or free_port()
    values: dict[str, Any] = {**runner.params, **(params or {})}
    values.update(model=str(model_dir), model_gguf=str(model_dir / "model.gguf"), port=port, host="127.0.0.1",
                  served_model_name=served_model_name, env_dir=str(env_dir),
                  python=python or str(env_dir / "bin" / "python"))
    argv, env = render(runner.local.launch, values)
    argv += _adapter_argv(runner, str(model_dir), adapters)
    return LaunchSpec(runner=runner, argv=argv, env=env, port=port, served_model_name=served_model_name, cpus=cpus,
                      fresh_dirs=tuple(runner.local.launch.fresh_dirs))


def _adapter_argv(runner: Runner, model_path: str, adapters: dict[str, int] | None) -> list[str]:
    """The arguments that load ``adapters`` (name → rank); none without any."""
    return adapter_argv(require_adapters(runner), model_path, adapters) if adapters else []


def container_launch(runner: Runner, *, engine: Engine, image: str, model_dir: Path, served_model_name: str,
                     port: int | None = None, params: dict[str, Any] | None = None,
                     gpu_vendor: GpuVendor | None = None, gpus: tuple[int, ...] = (),
                     sif: Path | None = None, cpus: tuple[int, ...] = (),
                     adapters: dict[str, int] | None = None) -> LaunchSpec:
    """A LaunchSpec that runs the runner's ``launch`` template inside ``image`` (pinned by digest)."""
    port = port or free_port()
    values: dict[str, Any] = {**runner.params, **(params or {})}
    values.update(model=MODEL_MOUNT, model_gguf=f"{MODEL_MOUNT}/model.gguf", port=port, host="127.0.0.1",
                  served_model_name=served_model_name, env_dir="/", python="python3")
    args, env = render(runner.launch, values)
    args += _adapter_argv(runner, MODEL_MOUNT, adapters)
    name = f"inferboard-{runner.name}-{port}"
    run = ContainerRun(image=image, args=args, model_dir=model_dir, name=name, env=env, gpu_vendor=gpu_vendor,
                       gpus=gpus, sif=sif, cpus=cpus)
    cleanup = [engine, "rm", "--force", name] if engine in ("docker", "podman") else []
    return LaunchSpec(runner=runner, argv=run_argv(engine, run), env={}, port=port,
                      served_model_name=served_model_name, mode="container", cleanup=cleanup,
                      cpus=cpus)  # recorded; the engine CLI is pinned too, the server by --cpuset-cpus


class MetricsScraper(threading.Thread):
    """Scrapes a Prometheus endpoint every ``interval_s`` into rows (t, name, labels, value)."""

    def __init__(self, url: str, interval_s: float = 1.0, names: set[str] | None = None) -> None:
        super().__init__(daemon=True, name="metrics-scraper")
        self.url, self.interval_s, self.names = url, interval_s, names
        self.rows: list[dict[str, Any]] = []
        self.errors = 0
        self._stop_event = threading.Event()

    def scrape_once(self, client: httpx.Client) -> None:
        t_ns = time.monotonic_ns()
        try:
            text = client.get(self.url).text
        except httpx.HTTPError:
            self.errors += 1
            return
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if self.names is not None and s.name not in self.names and family.name not in self.names:
                    continue
                self.rows.append({"t_ns": t_ns, "name": s.name, "labels": ",".join(
                    f"{k}={v}" for k, v in sorted(s.labels.items())), "value": float(s.value)})

    def run(self) -> None:
        with httpx.Client(timeout=5.0) as client:
            while not self._stop_event.is_set():
                self.scrape_once(client)
                self._stop_event.wait(self.interval_s)
            self.scrape_once(client)  # the state at the end

    def stop(self) -> None:
        self._stop_event.set()
        self.join(10)


class ServerProcess:
    """A runtime server process with a captured log."""

    def __init__(self, spec: LaunchSpec, log_path: Path, caches: Path | None = None,
                 fresh: frozenset[str] = frozenset()) -> None:
        self.spec = spec
        self.log_path = log_path
        self.proc: Guarded | None = None
        self.cold_start_s: float | None = None
        self.started_ns = 0
        self.scratch: Path | None = None
        #: the folders of an earlier start to reuse (warm caches); kept by ``stop``, removed by their owner
        self.caches = caches
        self.fresh = fresh  # variables that get a new empty folder even with ``caches`` (a scratch TMPDIR)

    def _fresh_dirs(self) -> dict[str, str]:
        """A folder for each of the spec's ``fresh_dirs`` variables: new and empty (removed by ``stop``), or
        those of ``caches`` (an earlier start's, kept)."""
        if not self.spec.fresh_dirs:
            return {}
        shared = {} if self.caches is None else {
            var: str(self.caches / var.lower()) for var in self.spec.fresh_dirs if var not in self.fresh}
        new = [var for var in self.spec.fresh_dirs if var not in shared]
        if not new:
            return shared
        self.scratch = Path(tempfile.mkdtemp(prefix=f"inferboard-{self.spec.runner.name}-"))
        dirs = {var: self.scratch / var.lower() for var in new}
        for d in dirs.values():
            d.mkdir()
        return {**shared, **{var: str(d) for var, d in dirs.items()}}

    def _remove_fresh_dirs(self, keep: bool = False) -> None:
        if self.scratch is not None and not keep:
            shutil.rmtree(self.scratch, ignore_errors=True)
        self.scratch = None

    def start(self) -> None:
        """Start the server under its guard (``inferboard.runtimes.guard``): it ends with this process."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        cfg = {"argv": self.spec.argv, "log": str(self.log_path), "env": {**self.spec.env, **self._fresh_dirs()},
               "cpus": sorted(self.spec.cpus), "cleanup": self.spec.cleanup, "grace_s": STOP_GRACE_S}
        try:
            self.proc = Guarded.start(cfg, self.log_path)  # the server's pid and exit status, with a guard
            self.started_ns = time.monotonic_ns()  # the server has just been forked (the guard took ~30 ms)
        except OSError as err:
            self._remove_fresh_dirs()
            raise InferboardError(f"cannot start {self.spec.argv[0]}: {err}", field="runtime",
                                  fix=f"run `inferboard env build {self.spec.runner.name}` first") from None

    def exit_code(self) -> int | None:
        """The exit code if the process has ended, else None."""
        return None if self.proc is None else self.proc.poll()

    def wait_ready(self, interrupted: threading.Event | None = None) -> float:
        """Poll the readiness probe; return the cold start (s from start to first 200). ``interrupted`` (set by
        another thread: the command was told to stop) ends the wait at the next poll."""
        probe = self.spec.runner.readiness
        deadline = time.monotonic() + probe.timeout_s
        url = self.spec.url + probe.path
        with httpx.Client(timeout=5.0) as client:
            while time.monotonic() < deadline:
                if interrupted is not None and interrupted.is_set():
                    raise InferboardError("interrupted while the server was starting", field=self.spec.runner.name)
                code = self.exit_code()
                if code is not None:
                    raise InferboardError(f"server exited with code {code} before it was ready; log tail:\n"
                                          f"{tail(self.log_path, 1500)}", field=self.spec.runner.name)
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(url).status_code == 200:
                        self.cold_start_s = (time.monotonic_ns() - self.started_ns) / 1e9
                        return self.cold_start_s
                time.sleep(probe.interval_s)
        self.stop()
        raise InferboardError(f"not ready after {probe.timeout_s:g} s", field=f"{self.spec.runner.name}.readiness",
                              fix=f"see {self.log_path}")

    def stop(self, grace_s: float = STOP_GRACE_S, keep_caches: bool = False) -> int | None:
        """SIGTERM the process group, SIGKILL after ``grace_s``; returns the exit code. ``keep_caches`` keeps
        the fresh folders this start made (the caller removes them)."""
        if self.proc is None:
            return None
        code = self.proc.stop(grace_s)
        if self.spec.cleanup:  # the guard ran it too; once more in case the guard itself was killed
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(self.spec.cleanup, capture_output=True, timeout=60)
        self._remove_fresh_dirs(keep=keep_caches)
        return code

    def metrics_scraper(self, interval_s: float = 1.0) -> MetricsScraper | None:
        """A scraper for this server's metrics endpoint (None when the runtime has none)."""
        path = self.spec.runner.metrics.path
        return None if path is None else MetricsScraper(self.spec.url + path, interval_s)


HOST_CACHES_READY = ".ready"  # written into the host's compile caches once a server got ready and left files there


#: never shared between starts through the host's caches: a fresh short folder each time (vLLM binds IPC sockets
#: under TMPDIR, and a socket path over 107 characters fails: a cache folder deep in a checkout is too long)
SCRATCH_DIRS = frozenset({"TMPDIR"})


def _holds_files(caches: Path, fresh_dirs: tuple[str, ...]) -> bool:
    """Whether a start left compile artefacts in the shared caches."""
    return any(p.is_file() for var in fresh_dirs if var not in SCRATCH_DIRS for p in (caches / var.lower()).rglob("*"))


class ManagedServer:
    """The cell-facing wrapper: one ServerProcess per start, its log and metrics kept in the cell folder."""

    def __init__(self, spec: LaunchSpec, out: Path, scrape_interval_s: float = 1.0) -> None:
        self.spec, self.out, self.scrape_interval_s = spec, out, scrape_interval_s
        self.proc: ServerProcess | None = None
        self.scraper: MetricsScraper | None = None
        self.trial = 0
        self.metrics_rows: list[dict[str, Any]] = []
        self.sampler: RssSampler | None = None
        self.kept_caches: Path | None = None  # the first start's cache folders, when a workload reuses them
        self.reuse_caches = False
        #: this host's compile caches, shared by the cells of a runtime environment and kept across them (None:
        #: every start of the cell gets its own, as ``reuse_caches`` says)
        self.host_caches: Path | None = None
        #: set from another thread when the command is told to stop: a start in progress stops its server and
        #: returns at once instead of waiting up to its readiness timeout
        self.interrupted = threading.Event()

    @property
    def url(self) -> str:
        return self.spec.url

    def log_path(self, trial: int) -> Path:
        return self.out / f"server-trial{trial}.log"

    def start(self, trial: int, *, reuse_caches: bool = False) -> dict[str, Any]:
        """Start and wait until ready; returns {trial, cold_start_s, log, argv, empty_at_start, caches}.

        ``reuse_caches``: after the first start, start with the first start's ``fresh_dirs`` folders (warm
        compile caches, like a restarted server on the same host) instead of empty ones."""
        self.trial = trial
        warm = reuse_caches and self.kept_caches is not None
        caches = self.kept_caches if warm else None
        lock = None
        if self.host_caches is not None and self.spec.fresh_dirs:
            caches = self.host_caches
            caches.mkdir(parents=True, exist_ok=True)
            for var in self.spec.fresh_dirs:
                if var not in SCRATCH_DIRS:
                    (caches / var.lower()).mkdir(parents=True, exist_ok=True)
            lock = open(caches / ".lock", "w")  # noqa: SIM115 - held until this start is ready or failed
            while True:  # one start at a time fills or reads them; an interrupted command stops waiting
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if self.interrupted.is_set():
                        lock.close()
                        raise InferboardError("interrupted while waiting for the host's compile caches",
                                              field=self.spec.runner.name) from None
                    time.sleep(0.1)
            warm = (caches / HOST_CACHES_READY).is_file()
        try:
            if self.interrupted.is_set():
                raise InferboardError("interrupted before the server started", field=self.spec.runner.name)
            self.proc = ServerProcess(self.spec, self.log_path(trial), caches=caches,
                                      fresh=SCRATCH_DIRS if lock is not None else frozenset())
            self.reuse_caches = reuse_caches
            self.proc.start()
            try:
                cold = self.proc.wait_ready(self.interrupted)
            except BaseException:
                self.proc.stop()  # ends the process group and removes its fresh folders
                if caches is not None and lock is not None and not warm:  # half-written host caches would pass
                    for var in set(self.spec.fresh_dirs) - SCRATCH_DIRS:  # for empty ones
                        shutil.rmtree(caches / var.lower(), ignore_errors=True)
                raise
            if caches is not None and lock is not None and not warm and _holds_files(caches, self.spec.fresh_dirs):
                (caches / HOST_CACHES_READY).touch()  # later starts find them warm
        finally:
            if lock is not None:
                lock.close()  # releases the lock
        if reuse_caches and self.kept_caches is None:
            self.kept_caches = self.proc.scratch
        self.scraper = self.proc.metrics_scraper(self.scrape_interval_s)
        if self.scraper is not None:
            self.scraper.start()
        if self.spec.mode != "container":  # a container's processes are not the engine CLI's descendants
            self.sampler = RssSampler(self.proc, self.trial, self.scrape_interval_s / 2)
            self.sampler.start()
        state = None if not self.spec.fresh_dirs else ("warm" if warm else "empty")
        return {"trial": trial, "cold_start_s": cold, "log": self.log_path(trial).name, "argv": self.spec.argv,
                "empty_at_start": [] if warm else list(self.spec.fresh_dirs), "caches": state,
                "caches_scope": "host" if lock is not None else "cell"}

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.exit_code()

    def stop(self) -> dict[str, Any]:
        """Stop the server; a server that had exited on its own is recorded as crashed."""
        if self.proc is None:
            return {}
        before = self.proc.exit_code()
        if self.scraper is not None:
            self.scraper.stop()
            self.metrics_rows.extend({**r, "trial": self.trial} for r in self.scraper.rows)
            self.scraper = None
        if self.sampler is not None:
            self.sampler.stop()
            self.metrics_rows.extend(self.sampler.rows)
            self.sampler = None
        if self.metrics_rows:
            self._write_metrics()
        code = self.proc.stop(keep_caches=self.reuse_caches)
        info = {"exit_code": code, "crashed": before is not None,
                "log_tail": tail(self.log_path(self.trial)) if before is not None else None}
        self.proc = None
        return info

    def _write_metrics(self) -> None:
        import pyarrow as pa

        from inferboard.core.atomic import atomic_write_table

        schema = pa.schema([("trial", pa.int64()), ("t_ns", pa.int64()), ("name", pa.string()),
                            ("labels", pa.string()), ("value", pa.float64())])
        atomic_write_table(self.out / "metrics.parquet", self.metrics_rows, schema)

    def close(self) -> None:
        """Remove the cache folders kept for reuse (after the cell's last stop)."""
        if self.kept_caches is not None:
            shutil.rmtree(self.kept_caches, ignore_errors=True)
            self.kept_caches = None
