"""Helpers for tests that run cells against the fake server."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from inferboard.cell.api import run_cell
from inferboard.cell.system import PreparedSystem
from inferboard.scenario.prompts import load_tokenizer
from inferboard.scenario.scenario import Scenario
from inferboard.scenario.workload import Workload, parse_workload


def workload(**over: Any) -> Workload:
    data: dict[str, Any] = {
        "name": "t", "version": 1, "dataset": {"kind": "fixed", "input_tokens": 8, "output_tokens": 20},
        "load": {"kind": "concurrency", "concurrency": [1]}, "requests": 20, "warmup_requests": 0,
        "timeouts": {"connect_s": 5, "first_token_s": 10, "between_chunks_s": 5, "total_s": 60},
    }
    data.update(over)
    return parse_workload(data, source="test")


def run(url: str, out: Path, w: Workload, tokenizer: Path | None = None, **kw: Any) -> list[dict[str, Any]]:
    """Run ``w`` against the fake server at ``url`` through the library entry point; ``kw`` sets fields of the
    prepared system (a managed ``server``, monitored ``gpus``, a verified ``sku``…)."""
    system = PreparedSystem(url=url, model="fake", tokenizer=load_tokenizer(tokenizer), **kw)
    return run_cell(system, Scenario(w), out).rows


def requests_rows(out: Path) -> list[dict[str, Any]]:
    return pq.read_table(out / "requests.parquet").to_pylist()


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
