"""Reading a request trace in the public Azure LLM inference trace format: TIMESTAMP, ContextTokens, GeneratedTokens.

A trace is untrusted data: the file must match the SHA-256 its workload pins, it is capped in size and rows, every
field is parsed as a plain number or timestamp (the csv module; nothing is evaluated), and a bad row stops with one
line naming the file, the line and the field. TIMESTAMP is either seconds (a number) or a date-time such as
``2023-11-16 18:15:46.6805900`` (fractions beyond microseconds are cut). A workload replays a contiguous slice of
it (``start_row``), offsets from the slice's first row, lengths times ``token_scale``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from inferboard.core.errors import InferboardError
from inferboard.core.paths import REPO_ROOT
from inferboard.scenario.trace_dataset import MAX_TRACE_ROWS, TraceDataset

MAX_TRACE_BYTES = 64 * 1024 * 1024
COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")


@dataclass(frozen=True, slots=True)
class TraceRow:
    """One request of a trace: its offset from the first of its slice (seconds, before the time scale) and its
    lengths."""

    offset_s: float
    input_tokens: int
    output_tokens: int


def trace_path(ds: TraceDataset) -> Path:
    """The trace file: absolute, or relative to the repository."""
    p = Path(ds.file)
    return p if p.is_absolute() else REPO_ROOT / p


def _timestamp(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise ValueError(text)
        return value
    head, _, frac = text.strip().partition(".")
    stamp = datetime.fromisoformat(head + (f".{frac[:6]}" if frac else ""))
    return stamp.replace(tzinfo=UTC).timestamp()  # offsets only: read every stamp as UTC (no DST)


def _int(text: str, field: str, where: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InferboardError(f"{field} {text[:20]!r} is not a whole number", field=where,
                              fix="a trace holds TIMESTAMP, ContextTokens, GeneratedTokens per line") from None
    if value < 0:
        raise InferboardError(f"{field} {value} is negative", field=where, fix="token counts are ≥ 0")
    return value


@cache
def _read(path: Path, sha256: str) -> tuple[TraceRow, ...]:
    where = str(path)
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise InferboardError("not a regular file", field=where, fix="point dataset.file to a CSV file")
        with path.open("rb") as f:
            data = f.read(MAX_TRACE_BYTES + 1)  # a size that lies (a device, a growing file) is still capped
        if len(data) > MAX_TRACE_BYTES:
            raise InferboardError(f"more than {MAX_TRACE_BYTES} bytes", field=where, fix="cut the trace")
    except OSError as err:
        raise InferboardError(f"cannot read the trace: {err.strerror}", field=where,
                              fix="point dataset.file to an existing CSV trace") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise InferboardError(f"the file's SHA-256 is {digest}, the workload pins {sha256}", field=f"{where}: sha256",
                              fix="pin the file you mean (dataset.sha256)")
    reader = csv.reader(io.StringIO(data.decode("utf-8", errors="replace")))
    header = [h.strip() for h in next(reader, [])]
    if tuple(header[:3]) != COLUMNS:
        raise InferboardError(f"header {header[:3]} is not {list(COLUMNS)}", field=f"{where}: line 1",
                              fix="use the Azure LLM inference trace format")
    rows: list[TraceRow] = []
    first: float | None = None
    for n, rec in enumerate(reader, start=2):
        if len(rows) >= MAX_TRACE_ROWS:
            break
        if not rec:
            continue
        line = f"{where}: line {n}"
        if len(rec) < 3:
            raise InferboardError(f"{len(rec)} fields, 3 needed", field=line,
                                  fix="TIMESTAMP,ContextTokens,GeneratedTokens")
        try:
            t = _timestamp(rec[0])
        except ValueError:
            raise InferboardError(f"TIMESTAMP {rec[0][:40]!r} is neither seconds nor a date-time", field=line,
                                  fix="e.g. 2023-11-16 18:15:46.6805900") from None
        first = t if first is None else first
        if t < first + (rows[-1].offset_s if rows else 0.0):
            raise InferboardError("TIMESTAMP goes backwards", field=line, fix="sort the trace by TIMESTAMP")
        rows.append(TraceRow(t - first, _int(rec[1], "ContextTokens", line), _int(rec[2], "GeneratedTokens", line)))
    if not rows:
        raise InferboardError("no requests", field=where, fix="a trace needs at least one line after its header")
    return tuple(rows)


def _scaled(tokens: int, scale: float, most: int) -> int:
    """``tokens`` × ``scale`` rounded half up, clamped to [1, most] (exactly ``tokens`` clamped at scale 1)."""
    return min(most, max(1, tokens if scale == 1.0 else math.floor(tokens * scale + 0.5)))


@cache
def _slice(path: Path, sha256: str, start: int, scale: float, max_in: int, max_out: int) -> tuple[TraceRow, ...]:
    rows = _read(path, sha256)
    if start >= len(rows):
        raise InferboardError(f"start_row {start} is past the trace's end (data rows 0-{len(rows) - 1})",
                              field=f"{path}: start_row", fix=f"a start_row below {len(rows)}")
    first = rows[start].offset_s
    return tuple(TraceRow(r.offset_s - first, _scaled(r.input_tokens, scale, max_in),
                          _scaled(r.output_tokens, scale, max_out)) for r in rows[start:])


def read_trace(ds: TraceDataset, limit: int | None = None) -> tuple[TraceRow, ...]:
    """The first ``limit`` requests (all: None) of the dataset's slice, from row ``start_row`` on: offsets from
    that row, lengths × ``token_scale`` rounded half up and clamped to [1, max_*_tokens]."""
    rows = _slice(trace_path(ds), ds.sha256, ds.start_row, ds.token_scale, ds.max_input_tokens, ds.max_output_tokens)
    return rows if limit is None else rows[:limit]
