"""Running cells against the fake server (testkit/fakeserver.py) through the library entry point: a small
workload, the run, its request rows. The tests and the benchmarks use them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from inferboard.cell.api import run_cell
from inferboard.cell.system import PreparedSystem
from inferboard.scenario.prompts import load_tokenizer
from inferboard.scenario.scenario import Scenario
from inferboard.scenario.workload import Workload, parse_workload


def workload(**over: Any) -> Workload:
    """A small closed-loop workload (20 requests of 8 input and 20 output tokens, concurrency 1); ``over``
    replaces top-level fields."""
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
    """The rows of the cell folder's requests.parquet."""
    return pq.read_table(out / "requests.parquet").to_pylist()
