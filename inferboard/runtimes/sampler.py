"""Resident memory of a server's whole process tree, sampled in a thread (psutil), as metrics.parquet rows.

A runtime's memory lives in its workers as much as in the process the suite started (vLLM's engine core, a
container engine's children), so each sample sums the RSS of the process and all its descendants. The rows
go into metrics.parquet under ``inferboard:server_rss_bytes`` beside the runtime's own series.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

import psutil

RSS_SERIES = "inferboard:server_rss_bytes"


class HasPid(Protocol):
    proc: Any  # a subprocess.Popen, or None before start


def tree_rss(pid: int) -> int | None:
    """Sum of the resident set sizes of ``pid`` and its descendants (bytes); None when it has gone."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue  # a child that exited between the listing and the reading
    return total


class RssSampler(threading.Thread):
    """Samples ``tree_rss`` of a started server every ``interval_s`` into ``rows``."""

    def __init__(self, server: HasPid, trial: int, interval_s: float = 0.5) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.server, self.trial, self.interval_s = server, trial, interval_s
        self.rows: list[dict[str, Any]] = []
        self._stop_event = threading.Event()

    def sample_once(self) -> None:
        proc = self.server.proc
        if proc is None or proc.poll() is not None:
            return
        rss = tree_rss(proc.pid)
        if rss is not None:
            self.rows.append({"trial": self.trial, "t_ns": time.monotonic_ns(), "name": RSS_SERIES, "labels": "",
                              "value": float(rss)})

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample_once()
            self._stop_event.wait(self.interval_s)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(10)
