"""What several checks read: a cell's documents and tables, validated once, with a one-line reason when not."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from inferboard.core.errors import InferboardError, validated, validated_all
from inferboard.results.provenance import Provenance
from inferboard.results.schema import TABLES, _adapter
from inferboard.results.status import CellStatus
from inferboard.submission.bundle import Bundle, Unreadable
from inferboard.submission.manifest import MANIFEST, Manifest


def manifest(b: Bundle) -> Manifest:
    """The bundle's manifest, validated (see manifest.schema)."""
    try:
        return validated(Manifest, b.json(MANIFEST), source=MANIFEST)
    except InferboardError as err:
        raise Unreadable(str(err)) from None


def provenance(b: Bundle, cell_dir: str) -> dict[str, Any]:
    """A cell's provenance.json, validated against the Provenance model (see provenance.schema)."""
    rel = f"{cell_dir}/provenance.json"
    doc = b.json(rel)
    try:
        validated(Provenance, doc, source=rel)
    except InferboardError as err:
        raise Unreadable(str(err)) from None
    return doc


def status(b: Bundle, cell_dir: str) -> dict[str, Any]:
    """A cell's cell.json, validated against the CellStatus model."""
    rel = f"{cell_dir}/cell.json"
    doc = b.json(rel)
    try:
        validated(CellStatus, doc, source=rel)
    except InferboardError as err:
        raise Unreadable(str(err)) from None
    return doc


def rows(b: Bundle, cell_dir: str, name: str) -> list[dict[str, Any]]:
    """A table of a cell (requests, summary, gpu_samples), every row validated against its model."""
    rel = f"{cell_dir}/{name}.parquet"
    if rel not in b.validated_rows:  # validated once per bundle: several checks read the same table
        data = b.rows(rel)
        try:
            validated_all(_adapter(TABLES[name][0]), data, source=rel)
        except InferboardError as err:
            raise Unreadable(str(err)) from None
        b.validated_rows[rel] = data
    return [dict(r) for r in b.validated_rows[rel]]


def json_strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every string of a parsed JSON document (keys included) with where it is, iteratively."""
    stack = [(value, where)]
    while stack:
        x, w = stack.pop()
        if isinstance(x, str):
            yield w, x
        elif isinstance(x, dict):
            for k, y in x.items():
                stack.append((k, f"{w}: key"))
                stack.append((y, f"{w}.{k}"[:200]))
        elif isinstance(x, list):
            stack.extend((y, f"{w}[{i}]") for i, y in enumerate(x))
