"""Checks against what came before: no duplicate of an accepted bundle, and reproduction records that hold."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from inferboard.core.errors import InferboardError, validated
from inferboard.metrics import headline_columns
from inferboard.submission.bundle import Bundle, Unreadable
from inferboard.submission.checks.common import rows
from inferboard.submission.manifest import MANIFEST, REPRODUCTIONS
from inferboard.submission.record import RECORD_SCHEMA_VERSION, ReproductionRecord, verdict_of
from inferboard.submission.registry import Finding, check

#: what identifies a measurement, however the file is written: every request's timestamps
_TIMES = ("scheduled_ns", "sent_ns", "first_token_ns", "end_ns")


def _fingerprint(rows: list[dict[str, Any]]) -> str:
    """A cell's requests as (trial, load point, timestamps relative to the cell's first scheduled send), sorted:
    the same measurement gives the same fingerprint whatever its row order, ids or clock offset."""
    t0 = min((r["scheduled_ns"] for r in rows if r["scheduled_ns"] is not None), default=0)
    keys = sorted((r["trial"], r["load_point"], *(None if r[k] is None else r[k] - t0 for k in _TIMES))
                  for r in rows)
    return hashlib.sha256(orjson.dumps(keys)).hexdigest()


def _measurements(b: Bundle) -> list[tuple[str, str]]:
    """(fingerprint, file) of each cell's requests."""
    out = []
    for cd in b.cell_dirs:
        rel = f"{cd}/requests.parquet"
        if not b.has(rel):
            continue
        try:
            rows = b.table(rel).select(["trial", "load_point", *_TIMES]).to_pylist()
            out.append((_fingerprint(rows), rel))
        except (Unreadable, KeyError, ValueError, TypeError, OverflowError, pa.ArrowException):
            continue  # not readable as a requests table: nothing to compare (parquet.schema says why)
    return out


@check("duplicate.accepted")
def duplicate(b: Bundle) -> Iterator[Finding]:
    """The bundle is new: its id is not taken by an accepted bundle, and no cell's requests (their timestamps
    relative to the cell's start, in any row order, however the file is written) are those of another cell of
    the bundle or of an accepted bundle: the same measurement under a new id."""
    mine = _measurements(b)
    seen: dict[str, str] = {}
    for fp, path in mine:
        if fp in seen:
            yield Finding(f"{path} is the same measurement as {seen[fp]} of this bundle")
        seen.setdefault(fp, path)
    here = b.root.resolve()
    for other_dir in b.against:
        if other_dir.resolve() == here:
            continue
        if other_dir.name == b.id:
            yield Finding(f"the id {b.id} is taken by an accepted bundle")
        theirs = dict(_measurements(Bundle(other_dir)))
        for fp, path in mine:
            if fp in theirs:
                yield Finding(f"{path} is the same measurement as {other_dir.name}/{theirs[fp]}")


@check("reproductions.records")
def reproductions(b: Bundle) -> Iterator[Finding]:
    """Each reproduction record matches the reproduction schema, names a cell of this bundle and this bundle's
    manifest hash, compares exactly every headline metric at every load point, quotes the published medians and
    CIs as they are, says "within the CI" only where the rerun's value lies in it, comes from a clean suite
    checkout on the cell's SKU, and states the verdict its comparisons give. (The rerun's own values and host are
    the reproducer's statement: the record holds no measurement to recompute them from.)"""
    files = [e.rel for e in b.files if e.rel.startswith(f"{REPRODUCTIONS}/")]
    if not files:
        return
    manifest_sha = hashlib.sha256(b.read_bytes(MANIFEST)).hexdigest()
    cells = {b.cell_id(cd): cd for cd in b.cell_dirs}
    for rel in files:
        try:
            rec = validated(ReproductionRecord, b.json(rel), source=rel)
        except (InferboardError, Unreadable) as err:
            yield Finding(str(err))
            continue
        if rec.schema_version != RECORD_SCHEMA_VERSION or rec.submission_id != b.id:
            yield Finding(f"{rel}: not a record of this bundle (id or schema version)")
            continue
        if rec.manifest_sha256 != manifest_sha:
            yield Finding(f"{rel}: made against another manifest")
        if rec.cell_id not in cells:
            yield Finding(f"{rel}: no cell {rec.cell_id!r} in this bundle")
            continue
        if rec.rerun.suite_git_dirty:
            yield Finding(f"{rel}: the rerun was measured from a checkout with uncommitted changes")
        if rec.rerun.sku != rec.cell_id.split("/")[0]:
            yield Finding(f"{rel}: the rerun ran on {rec.rerun.sku}, not on the cell's SKU")
        agg = {r["load_point"]: r for r in rows(b, cells[rec.cell_id], "summary") if r["row_kind"] == "aggregate"}
        want = {(lp, c.key) for lp in agg for c in headline_columns()}
        if {(m.load_point, m.metric) for m in rec.metrics} != want or len(rec.metrics) != len(want):
            yield Finding(f"{rel}: does not compare exactly every headline metric at every load point once")
        for m in rec.metrics:
            row = agg.get(m.load_point)
            quoted = (m.published, m.ci95_low, m.ci95_high)
            if row is None or quoted != (row.get(m.metric), row.get(f"{m.metric}_ci95_low"),
                                         row.get(f"{m.metric}_ci95_high")):
                yield Finding(f"{rel}: {m.metric} at point {m.load_point} is not quoted as published")
                break
            lo, hi = m.ci95_low, m.ci95_high
            inside = None if m.rerun is None or lo is None or hi is None else lo <= m.rerun <= hi
            if m.within_ci != inside:
                yield Finding(f"{rel}: {m.metric} at point {m.load_point}: within_ci is not what its values give")
                break
        if rec.verdict != verdict_of(rec.metrics):
            yield Finding(f"{rel}: verdict {rec.verdict!r} is not what its comparisons give")


def against_dirs(folder: Path | None) -> list[Path]:
    """The accepted bundles to check duplicates against: the folders of ``folder`` (none when None)."""
    if folder is None or not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
