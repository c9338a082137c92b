"""cell.json: how a pipeline cell ended (ok, invalid or failed, and why); written for every cell, whatever happens."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from inferboard.core.atomic import atomic_write_bytes, read_json
from inferboard.core.clock import utc_now
from inferboard.core.errors import validated

CELL_STATUS = "cell.json"


class CellStatus(BaseModel):
    """cell.json of a pipeline cell (exported as workflows/schemas/cell_status.schema.json)."""

    model_config = ConfigDict(extra="forbid")

    cell_id: str
    runtime: str
    model: str
    workload: str
    sku: str
    mode: str
    status: Literal["ok", "invalid", "failed"]
    reason: str | None
    started_utc: str
    ended_utc: str
    interrupted_run_kept_in: str | None = None
    source: str | None = None  # how a cell measured outside the pipeline was made (e.g. the GPU device check)


def status_from_rows(rows: list[dict[str, Any]]) -> tuple[str, str | None]:
    """ok when every load point is valid, invalid (with the reasons) otherwise, failed when none was measured."""
    agg = [r for r in rows if r["row_kind"] == "aggregate"]
    bad = [f"load point {r['load_point']}: {r['invalid_reason']}" for r in agg if not r["valid"]]
    if not agg:
        return "failed", "no load point was measured"
    return ("invalid", "; ".join(bad)) if bad else ("ok", None)


def write_status(out: Path, **fields: Any) -> dict[str, Any]:
    """Validate and write ``out/cell.json`` (ended now); returns the document."""
    out.mkdir(parents=True, exist_ok=True)
    doc = {"ended_utc": utc_now(), **fields}
    validated(CellStatus, doc, source=str(out / CELL_STATUS))
    atomic_write_bytes(out / CELL_STATUS, orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    return doc


def read_status(path: Path) -> dict[str, Any]:
    """A cell.json, validated."""
    doc = read_json(path, fix="give the cell.json of a pipeline cell")
    validated(CellStatus, doc, source=str(path))
    out: dict[str, Any] = doc
    return out
