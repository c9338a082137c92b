"""Canonical JSON and content hashes shared by workloads, schedules and provenance."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson


def canonical_json(obj: Any) -> bytes:
    """Serialise ``obj`` to JSON with sorted keys and no whitespace (stable across runs)."""
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY)


def sha256_hex(data: bytes) -> str:
    """Return ``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def content_hash(obj: Any) -> str:
    """Hash of the canonical JSON form of ``obj``."""
    return sha256_hex(canonical_json(obj))


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Return ``sha256:<hex>`` of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return "sha256:" + h.hexdigest()
