"""Helpers for tests that run cells against the fake server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from inferboard.cell import CellSpec, run_cell
from inferboard.prompts import load_tokenizer
from inferboard.workload import Workload, parse_workload


def workload(**over: Any) -> Workload:
    data: dict[str, Any] = {
        "name": "t", "version": 1, "dataset": {"kind": "fixed", "input_tokens": 8, "output_tokens": 20},
        "load": {"kind": "concurrency", "concurrency": [1]}, "requests": 20, "warmup_requests": 0,
        "timeouts": {"connect_s": 5, "first_token_s": 10, "between_chunks_s": 5, "total_s": 60},
    }
    data.update(over)
    return parse_workload(data, source="test")


def run(url: str, out: Path, w: Workload, tokenizer: Path | None = None, **kw: Any) -> list[dict[str, Any]]:
    spec = CellSpec(endpoint=url, model="fake", workload=w, out=out, tokenizer=load_tokenizer(tokenizer),
                    progress=False, **kw)
    return run_cell(spec)


def requests_rows(out: Path) -> list[dict[str, Any]]:
    return pq.read_table(out / "requests.parquet").to_pylist()
