"""Files: crash-safe writes (a temp file beside the target, then an atomic rename) and JSON reads."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from inferboard.core.errors import InferboardError


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_table(path: Path, rows: Iterable[dict[str, Any]], schema: pa.Schema,
                       metadata: dict[str, str] | None = None) -> pa.Table:
    """Write ``rows`` as Parquet with ``schema`` atomically; provenance goes into the file metadata."""
    table = pa.Table.from_pylist(list(rows), schema=schema)
    meta = dict(schema.metadata or {})
    for k, v in (metadata or {}).items():
        meta[k.encode()] = v.encode()
    table = table.replace_schema_metadata(meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return table


def read_json(path: Path, fix: str) -> Any:
    """The JSON document at ``path``; a file that is missing or not JSON raises a one-line InferboardError."""
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as err:
        raise InferboardError(f"cannot read {path}: {err}", field=str(path), fix=fix) from None
