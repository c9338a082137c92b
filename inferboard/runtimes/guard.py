"""A runtime server's guard: the server dies with the process that started it, however that process ends.

``Guarded.start`` (called by ``ServerProcess.start``) runs this file, ``python guard.py`` with its config in the
environment and the read end of a pipe as its stdin, and keeps the write end. The guard starts the server in a new
session (its own process group) with the log, environment additions and CPU cores of the config, prints ``pid N``
(or ``error MESSAGE``) on stdout, then waits for one of: the server ending on its own; ``stop GRACE`` on the pipe
(the parent's stop); end of file on the pipe (the parent has died, even by SIGKILL: the kernel closes its end);
SIGTERM, SIGINT or SIGHUP. It then SIGTERMs the server's process group, SIGKILLs it after the grace period, runs the
config's ``cleanup`` command (a container engine's ``rm --force NAME``) and exits as the server did (its exit code,
or the same signal), so the parent reads the server's exit status from the guard.

Only the standard library is imported here, and the file runs by path (not ``-m``): the guard adds a few tens of
milliseconds to a server's start. A thread may start it (``asyncio.to_thread``): nothing here is tied to the thread
that forked, unlike PR_SET_PDEATHSIG.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import signal
import subprocess
import sys
import time
from typing import Any

CONFIG_VAR = "INFERBOARD_GUARD_CONFIG"
POLL_S = 0.2  # how often the server is polled where pidfd_open is missing
_stop_signal: list[int] = []


def _on_signal(signum: int, _frame: object) -> None:
    _stop_signal.append(signum)


def _say(text: str) -> None:
    sys.stderr.write(f"inferboard guard [{os.getpid()}]: {text}\n")
    sys.stderr.flush()


def _start(cfg: dict[str, Any]) -> subprocess.Popen[bytes]:
    cpus = set(cfg.get("cpus") or ())
    env = {**os.environ, **cfg.get("env", {})}
    with open(cfg["log"], "ab") as log:
        return subprocess.Popen(cfg["argv"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                cwd=cfg.get("cwd"), start_new_session=True,
                                preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)


def _wait_for_reason(server: subprocess.Popen[bytes]) -> tuple[str, float | None]:
    """Block until the server ends ("exited") or it must be stopped ("stop", with the grace the parent gave)."""
    try:
        pidfd: int | None = os.pidfd_open(server.pid)
    except (AttributeError, OSError):
        pidfd = None
    wake_r, wake_w = os.pipe()  # a signal wakes the select below at once
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    watched = [0, wake_r] if pidfd is None else [0, wake_r, pidfd]
    buf = b""
    while True:
        if _stop_signal:
            return f"signal {signal.Signals(_stop_signal[0]).name}", None
        if server.poll() is not None:
            return "exited", None
        ready, _, _ = select.select(watched, [], [], POLL_S if pidfd is None else None)  # idle: no wake-ups
        if wake_r in ready:
            os.read(wake_r, 64)
        if 0 in ready:
            data = os.read(0, 256)
            if not data:
                return "the parent has gone (end of the pipe)", None
            buf += data
            if b"\n" in buf:
                line = buf.split(b"\n", 1)[0].decode().split()
                grace = float(line[1]) if len(line) > 1 and line[0] == "stop" else None
                return "stop", grace


def _stop(server: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM the server's process group, SIGKILL it after ``grace_s``; then SIGKILL what is left of the group."""
    if server.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.pid, signal.SIGKILL)  # workers the server left behind in its group


def _cleanup(argv: list[str]) -> None:
    if argv:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(argv, capture_output=True, timeout=60)


def _exit_like(code: int) -> None:
    """Exit as the server did: its exit code, or killed by the same signal."""
    if code < 0:
        sig = -code
        with contextlib.suppress(OSError, ValueError):  # SIGKILL has no handler to reset
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        time.sleep(1)
        os._exit(128 + sig)
    os._exit(code)


class Guarded:
    """The parent's handle on a guarded server, like a ``subprocess.Popen`` of the server: ``pid`` is the server's
    (and its process group's), the exit status the guard's, which is the server's."""

    def __init__(self, guard: subprocess.Popen[bytes], pid: int, ctl: int) -> None:
        self.guard, self.pid, self._ctl = guard, pid, ctl

    @classmethod
    def start(cls, cfg: dict[str, Any], log_path: str | os.PathLike[str]) -> Guarded:
        """Start the guard, which starts the server (``cfg``: see ``main``); OSError when the server cannot start."""
        read, write = os.pipe()  # neither end is inherited by anything else this process starts
        try:
            with open(log_path, "ab") as log:
                guard = subprocess.Popen([sys.executable, os.path.abspath(__file__)], stdin=read,
                                         stdout=subprocess.PIPE, stderr=log, start_new_session=True,
                                         env={**os.environ, CONFIG_VAR: json.dumps(cfg)})
        except BaseException:
            os.close(write)
            raise
        finally:
            os.close(read)
        assert guard.stdout is not None
        kind, _, rest = guard.stdout.readline().decode().strip().partition(" ")
        guard.stdout.close()
        if kind == "pid":
            return cls(guard, int(rest), write)
        os.close(write)
        guard.wait()
        raise OSError(rest or f"its guard exited with code {guard.returncode} (see the log)")

    @property
    def returncode(self) -> int | None:
        return self.guard.returncode

    def poll(self) -> int | None:
        return self.guard.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.guard.wait(timeout)

    def stop(self, grace_s: float, cleanup_s: float = 75.0) -> int | None:
        """Have the guard SIGTERM the server's group, SIGKILL it after ``grace_s`` and run the cleanup; returns the
        server's exit code. A guard that does not answer is killed with the group."""
        if self.guard.poll() is None:
            with contextlib.suppress(OSError):
                os.write(self._ctl, f"stop {grace_s}\n".encode())
            try:
                self.guard.wait(grace_s + cleanup_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.guard.kill()
                self.guard.wait(10)
        with contextlib.suppress(ProcessLookupError, PermissionError):  # a guard killed outright left it running
            os.killpg(self.pid, signal.SIGKILL)
        if self._ctl >= 0:
            os.close(self._ctl)
            self._ctl = -1
        return self.guard.returncode


def main() -> None:
    """The config is JSON in ``$INFERBOARD_GUARD_CONFIG`` (the environment, which only its owner can read; it may
    hold a server's secrets): keys argv, log, env, cpus, cwd, cleanup, grace_s."""
    cfg = json.loads(os.environ.pop(CONFIG_VAR))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # exiting like a crashed server must not dump a core
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        server = _start(cfg)
    except OSError as err:
        print(f"error {err}", flush=True)
        _cleanup(cfg.get("cleanup") or [])
        os._exit(127)
    try:
        print(f"pid {server.pid}", flush=True)
        with contextlib.suppress(OSError):
            os.close(1)  # the parent has what it needs; it does not read on
        reason, grace = _wait_for_reason(server)
    except BaseException as err:  # e.g. a broken pipe: the parent died while it started the guard
        reason, grace = f"{type(err).__name__}: {err}", None
    if reason != "exited" and reason != "stop":
        _say(f"{reason}: stopping the server (pid {server.pid})")
    _stop(server, grace if grace is not None else float(cfg.get("grace_s", 15.0)))
    _cleanup(cfg.get("cleanup") or [])
    _exit_like(server.returncode)


if __name__ == "__main__":
    main()
