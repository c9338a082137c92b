"""Checks that the manifest is complete and true, and that the strings shown on the site are tame."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

from inferboard.submission.bundle import Bundle, Unreadable
from inferboard.submission.checks.common import json_strings, manifest
from inferboard.submission.manifest import MANIFEST, MANIFEST_SCHEMA_VERSION, NAME, REPRODUCTIONS
from inferboard.submission.registry import Finding, check

MAX_STRING = 65536
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@check("manifest.schema")
def manifest_schema(b: Bundle) -> Iterator[Finding]:
    """``manifest.json`` (at most 2 MB, 32 levels deep) matches the manifest schema exactly (no unknown field,
    every field of the right type and pattern), has a known schema version, carries the bundle folder's id and
    lists exactly the bundle's cells."""
    try:
        m = manifest(b)
    except Unreadable as err:
        yield Finding(str(err))
        return
    if m.schema_version != MANIFEST_SCHEMA_VERSION:
        yield Finding(f"schema_version {m.schema_version} is not a known one ({MANIFEST_SCHEMA_VERSION})")
    if m.id != b.id:
        yield Finding(f"id {m.id!r} is not the bundle folder's name {b.id!r}")
    found = sorted(b.cell_id(cd) for cd in b.cell_dirs)
    if sorted(m.cells) != found:
        yield Finding(f"cells lists {sorted(m.cells)} but the bundle holds {found}")


@check("manifest.hashes")
def manifest_hashes(b: Bundle) -> Iterator[Finding]:
    """Every file the manifest lists exists as a regular file of the bundle, once, with the listed size and
    SHA-256."""
    m = manifest(b)
    seen: set[str] = set()
    for f in m.files:
        if f.path in seen:
            yield Finding(f"{f.path!r} is listed twice")
            continue
        seen.add(f.path)
        if f.path == MANIFEST or f.path.startswith(f"{REPRODUCTIONS}/") or not b.has(f.path):
            yield Finding(f"{f.path!r} is listed but is not a cell file of the bundle")
            continue
        data = b.read_bytes(f.path)
        if len(data) != f.bytes:
            yield Finding(f"{f.path!r} has {len(data)} bytes, the manifest says {f.bytes}")
        elif hashlib.sha256(data).hexdigest() != f.sha256:
            yield Finding(f"{f.path!r} does not match its SHA-256 in the manifest")


@check("manifest.complete")
def manifest_complete(b: Bundle) -> Iterator[Finding]:
    """No file of the bundle is missing from the manifest (all but manifest.json itself and the reproduction
    records, which are checked on their own)."""
    listed = {f.path for f in manifest(b).files}
    for e in b.files:
        if e.rel != MANIFEST and not e.rel.startswith(f"{REPRODUCTIONS}/") and e.rel not in listed:
            yield Finding(f"{e.rel!r} is not in the manifest")


@check("strings.limits")
def string_limits(b: Bundle) -> Iterator[Finding]:
    """Strings are bounded: submitter and org at most 64 characters of letters, digits, spaces and ``. _ @ ( )
    -``; notes at most 2,000 printable characters; SKU, runtime, model and workload names at most 100 characters
    of letters, digits, ``.``, ``_`` and ``-``; every string of every JSON document at most 65,536 characters,
    without control characters (tab, newline and carriage return allowed)."""
    m = manifest(b)
    for cell in m.cells:
        if not all(re.fullmatch(NAME, p) for p in cell.split("/")) or cell.count("/") != 3:
            yield Finding(f"cell id {cell!r} is not <sku>/<runtime>/<model>/<workload> of plain names")
    for e in b.files:
        if not e.rel.endswith(".json"):
            continue
        for where, s in json_strings(b.json(e.rel), e.rel):
            if len(s) > MAX_STRING:
                yield Finding(f"{where}: a string of {len(s)} characters > {MAX_STRING}")
            elif _CONTROL.search(s):
                yield Finding(f"{where}: control characters in a string")
