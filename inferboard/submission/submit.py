"""``inferboard submit``: finished cells → one submission bundle (manifest + cells), host paths stripped.

It refuses a cell that failed, did not complete, was measured from a checkout with uncommitted changes, or ran a
workload that is not a standard one (unless the bundle is marked custom); every refusal names the cell and why.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq

from inferboard.core.atomic import atomic_write_bytes
from inferboard.core.clock import utc_now
from inferboard.core.errors import InferboardError, validated
from inferboard.core.paths import REPO_ROOT
from inferboard.results.provenance import read_provenance, write_provenance
from inferboard.results.schema import JOURNAL, with_added_columns, write_rows
from inferboard.results.status import read_status
from inferboard.scenario.workload import standard_hash
from inferboard.submission.checks.origin import standard_hash_at
from inferboard.submission.manifest import (
    CELL_FILES,
    CELLS,
    HOST_PATH,
    MANIFEST,
    MANIFEST_SCHEMA_VERSION,
    NAME,
    SERVER_LOG,
    Manifest,
    sha256_file,
)

_END = r"(?![\w.-])"  # a whole path component: /home/al never matches inside /home/alice


def scrub(text: str) -> str:
    """``text`` without host paths: the checkout made relative, any home folder replaced by ``~``."""
    root = str(REPO_ROOT)
    text = re.sub(re.escape(root) + r"(/|" + _END + ")", lambda m: "" if m.group(1) == "/" else ".", text)
    home = os.path.expanduser("~")
    if home not in ("/", ""):
        text = re.sub(re.escape(home) + _END, "~", text)
    return HOST_PATH.sub("~", text)


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v) for v in value]
    return value


def check_cell(cell: Path, *, custom: bool) -> dict[str, Any]:
    """The cell's provenance when it may be submitted; else a one-line error naming the cell and the fix."""
    if not all((cell / f).is_file() for f in ("provenance.json", "cell.json", "requests.parquet", "summary.parquet")):
        raise InferboardError(f"{cell} is not a finished cell folder (provenance.json, cell.json, requests.parquet "
                              "and summary.parquet)",
                              field="CELL_DIR", fix="give results/<sku>/<runtime>/<model>/<workload>")
    prov, status = read_provenance(cell / "provenance.json"), read_status(cell / "cell.json")
    refuse = None
    if status["status"] == "failed":
        refuse = f"the cell failed ({status['reason']})", "rerun it"
    elif (cell / JOURNAL).exists() or not prov["complete"] or prov["end_utc"] is None:
        refuse = "the cell was interrupted", "rerun it (inferboard rerun)"
    elif prov["suite"].get("git_dirty") is not False:
        refuse = "measured from a suite checkout with uncommitted changes", "commit or stash them and rerun"
    elif not custom:
        w = prov["workload"]
        # standard as today's suite defines it, or as the suite commit that measured it did (an older version)
        if w["workload_hash"] not in (standard_hash(w["name"]), standard_hash_at(prov["suite"]["git_sha"], w["name"])):
            refuse = f"workload {w['name']!r} is not the standard one (overridden or edited)", "pass --custom"
    if refuse:
        raise InferboardError(refuse[0], field=str(cell), fix=refuse[1])
    if not all(re.fullmatch(NAME, p) for p in prov["cell_id"].split("/")) or prov["cell_id"].count("/") != 3:
        raise InferboardError(f"cell id {prov['cell_id']!r} is not made of plain names", field=str(cell),
                              fix="rename the runtime, model or workload")
    return prov


def _copy_cell(src: Path, dest: Path) -> None:
    """The cell's files into ``dest``, host paths scrubbed from the documents, logs and Parquet metadata."""
    dest.mkdir(parents=True)
    for p in sorted(src.iterdir()):
        if not p.is_file() or p.is_symlink() or not (p.name in CELL_FILES or SERVER_LOG.fullmatch(p.name)):
            continue
        if p.name == "provenance.json":
            write_provenance(dest / p.name, _scrubbed(read_provenance(p)))
        elif p.name == "cell.json":
            atomic_write_bytes(dest / p.name, orjson.dumps(_scrubbed(read_status(p)),
                                                          option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
        elif p.suffix == ".log":
            atomic_write_bytes(dest / p.name, scrub(p.read_bytes().decode("utf-8", errors="replace")).encode())
        elif p.name in ("requests.parquet", "summary.parquet", "gpu_samples.parquet", "windows.parquet",
                        "accuracy.parquet"):
            table = with_added_columns(pq.read_table(p), p.stem)  # a cell measured before a column was added
            meta = {k.decode(): scrub(v.decode()) for k, v in (table.schema.metadata or {}).items()
                    if not k.startswith(b"inferboard.schema_version") and not k.startswith(b"inferboard.table")}
            write_rows(dest / p.name, _scrubbed(table.to_pylist()), p.stem, meta)
        else:
            shutil.copy2(p, dest / p.name)


def submit(cells: list[Path], *, submitter: str, org: str | None, notes: str | None, out: Path,
           custom: bool = False) -> Path:
    """Write one bundle of ``cells`` under ``out``; returns its folder."""
    if not cells:
        raise InferboardError("no cell given", field="CELL_DIR", fix="give one or more results/<cell> folders")
    provs = {c: check_cell(c, custom=custom) for c in cells}
    ids = [p["cell_id"] for p in provs.values()]
    if len(set(ids)) != len(ids):
        raise InferboardError("the same cell is given twice", field="CELL_DIR", fix="give each cell once")
    suites = {(p["suite"]["version"], p["suite"]["git_sha"]) for p in provs.values()}
    if len(suites) != 1:
        raise InferboardError(f"the cells were measured by {len(suites)} suite commits", field="CELL_DIR",
                              fix="submit the cells of each commit as their own bundle")
    version, sha = suites.pop()
    digest = hashlib.sha256("".join(sorted(sha256_file(c / "requests.parquet") for c in cells)).encode())
    slug = re.sub(r"[^a-z0-9]+", "-", submitter.lower()).strip("-")[:40] or "anonymous"
    created = utc_now()
    bundle_id = f"{created[:10].replace('-', '')}-{slug}-{digest.hexdigest()[:8]}"
    if out.exists() and not out.is_dir():
        raise InferboardError(f"{out} is not a folder", field="--out", fix="give the submissions folder")
    final = out / bundle_id
    if final.exists():
        raise InferboardError(f"{final} exists", field="--out", fix="these cells are submitted already")
    tmp = out / f".{bundle_id}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for c, prov in provs.items():
            _copy_cell(c, tmp / CELLS / prov["cell_id"])
        files = [{"path": p.relative_to(tmp).as_posix(), "sha256": sha256_file(p), "bytes": p.stat().st_size}
                 for p in sorted(tmp.rglob("*")) if p.is_file()]
        doc = {"schema_version": MANIFEST_SCHEMA_VERSION, "id": bundle_id, "submitter": submitter, "org": org,
               "notes": notes, "created_utc": created, "custom": custom,
               "suite": {"version": version, "git_sha": sha, "git_dirty": False},
               "cells": sorted(ids), "files": files}
        validated(Manifest, doc, source="manifest (--submitter, --org, --notes)")
        atomic_write_bytes(tmp / MANIFEST, orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
