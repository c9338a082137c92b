"""Helpers for the tests alone (what the benchmarks share with them is in testkit/): crashing a managed server
mid-run."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any


def kill_when_serving(server: Any, after_s: float, timeout_s: float = 120) -> threading.Thread:
    """SIGKILL a ManagedServer's process ``after_s`` seconds after it became ready (a crash mid-run)."""

    def go() -> None:
        deadline = time.monotonic() + timeout_s
        while server.proc is None or server.proc.cold_start_s is None:
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
        time.sleep(after_s)
        if server.proc is not None and server.proc.proc is not None:
            os.kill(server.proc.proc.pid, signal.SIGKILL)

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread
