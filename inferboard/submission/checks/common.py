"""What several checks read: a cell's documents and tables, validated once, with a one-line reason when not."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

from pydantic import BaseModel

from inferboard.core.errors import InferboardError, validated, validated_all
from inferboard.results.provenance import Provenance
from inferboard.results.schema import TABLES, rows_adapter
from inferboard.results.status import CellStatus
from inferboard.submission.bundle import Bundle, Unreadable
from inferboard.submission.manifest import MANIFEST, Manifest

_Model = TypeVar("_Model", bound=BaseModel)


def _checked(model: type[_Model], b: Bundle, rel: str) -> _Model:
    """``rel``'s JSON validated as ``model``: the model, or Unreadable with the one-line reason."""
    try:
        return validated(model, b.json(rel), source=rel)
    except InferboardError as err:
        raise Unreadable(str(err)) from None


def manifest(b: Bundle) -> Manifest:
    """The bundle's manifest, validated (see manifest.schema)."""
    return _checked(Manifest, b, MANIFEST)


def provenance(b: Bundle, cell_dir: str) -> dict[str, Any]:
    """A cell's provenance.json (as parsed), validated against the Provenance model (see documents.schema)."""
    _checked(Provenance, b, f"{cell_dir}/provenance.json")
    doc: dict[str, Any] = b.json(f"{cell_dir}/provenance.json")
    return doc


def status(b: Bundle, cell_dir: str) -> dict[str, Any]:
    """A cell's cell.json (as parsed), validated against the CellStatus model."""
    _checked(CellStatus, b, f"{cell_dir}/cell.json")
    doc: dict[str, Any] = b.json(f"{cell_dir}/cell.json")
    return doc


def rows(b: Bundle, cell_dir: str, name: str) -> list[dict[str, Any]]:
    """A table of a cell (requests, summary, gpu_samples), every row validated against its model (once per
    bundle; the rows are shared by every caller, read-only, and kept within Bundle's memory cap)."""
    rel = f"{cell_dir}/{name}.parquet"
    data = b.rows(rel)
    if rel not in b.validated_tables:
        try:
            validated_all(rows_adapter(TABLES[name][0]), data, source=rel)
        except InferboardError as err:
            raise Unreadable(str(err)) from None
        b.validated_tables.add(rel)
    return data


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
