"""The leaderboard: the aggregate rows of every accepted bundle (checked again here) and, apart, local cells.

Published rows come only from bundles under ``data/submissions/`` that pass every check; ``invalid`` checks mark
their load points invalid with the reason. Bundles are taken in id order (ids start with the date), so of two
identical measurements the first accepted one stays and the later is rejected as a duplicate. Local cells
(``results/``) are added as ``origin=local``: shown as "local, not submitted", never ranked.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq

from inferboard.core.errors import InferboardError
from inferboard.results.schema import SUMMARY, with_added_columns, write_rows
from inferboard.results.status import read_status
from inferboard.results.summarize import plausibility
from inferboard.submission.bundle import Bundle
from inferboard.submission.checks.history import against_dirs
from inferboard.submission.manifest import CELLS, MANIFEST, REPRODUCTIONS
from inferboard.submission.record import ReproductionRecord
from inferboard.submission.validate import Report, run_checks


def _rel(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path.resolve(), root.resolve())).as_posix()


def _reproductions(b: Bundle, published_hosts: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for e in b.files:
        if e.rel.startswith(f"{REPRODUCTIONS}/"):
            rec = ReproductionRecord.model_validate(b.json(e.rel))  # validated by reproductions.records
            out.append({"path": e.rel, "cell_id": rec.cell_id, "verdict": rec.verdict,
                        "different_host": rec.rerun.host != published_hosts.get(rec.cell_id),
                        "created_utc": rec.created_utc, "sku": rec.rerun.sku})
    return out


def bundle_rows(b: Bundle, report: Report, root: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """An accepted bundle's leaderboard rows and its entry in the ``inferboard.bundles`` metadata, from the files
    its checks read (kept in ``b``)."""
    from inferboard.submission.record import host_identity

    d = b.root
    m = b.json(MANIFEST)
    hosts = {b.cell_id(cd): host_identity(b.json(f"{cd}/provenance.json")) for cd in b.cell_dirs}
    reps = _reproductions(b, hosts)
    invalid = report.invalid_points()
    rows = []
    for cd in b.cell_dirs:
        cell = b.cell_id(cd)
        reproduced = any(r["cell_id"] == cell and r["verdict"] == "agrees" and r["different_host"] for r in reps)
        for r in b.rows(f"{cd}/{SUMMARY}"):
            if r["row_kind"] != "aggregate":
                continue
            reasons = invalid.get((cell, r["load_point"]), []) + invalid.get((cell, None), [])
            if reasons:
                r["invalid_reason"] = "; ".join(filter(None, [r["invalid_reason"] if not r["valid"] else None,
                                                              *reasons]))
                r["valid"] = False
            r.update(entry_id=f"{b.id}/{cell}", origin="submitted", submission_id=b.id, submitter=m["submitter"],
                     org=m.get("org"), custom_workload=bool(m.get("custom")), reproduced=reproduced,
                     cell_path=_rel(d / CELLS / cell, root))
            rows.append(r)
    meta = {"submitter": m["submitter"], "org": m.get("org"), "notes": m.get("notes"),
            "created_utc": m["created_utc"], "custom": bool(m.get("custom")), "path": _rel(d, root),
            "checks": [c.as_json() for c in report.results], "reproductions": reps}
    return rows, meta


def local_rows(results: Path, root: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows of this machine's finished cells (``results/<sku>/<runtime>/<model>/<workload>/``) and every local
    cell's status (failed ones included)."""
    rows, statuses = [], []
    for status_file in sorted(results.glob("*/*/*/*/cell.json")):
        folder = status_file.parent
        st = read_status(status_file)
        statuses.append({k: st.get(k) for k in ("cell_id", "status", "reason")})
        if not (folder / SUMMARY).is_file():
            continue
        for r in with_added_columns(pq.read_table(folder / SUMMARY), "summary").to_pylist():
            if r["row_kind"] != "aggregate":
                continue
            reasons = plausibility(r)
            if reasons and r["valid"]:
                r["valid"], r["invalid_reason"] = False, "; ".join(reasons)
            r.update(entry_id=f"local/{folder.relative_to(results).as_posix()}", origin="local", submission_id=None,
                     submitter=None, org=None, custom_workload=False, reproduced=False, cell_path=_rel(folder, root))
            rows.append(r)
    return rows, statuses


def build_leaderboard(submissions: Path | None, local: Path | None, out: Path, root: Path) -> dict[str, Any]:
    """Write the leaderboard Parquet ``out`` from the bundles of ``submissions`` and the cells of ``local`` (either
    may be None); returns what went in (accepted and rejected bundles, local cells)."""
    if submissions is not None and not submissions.is_dir():
        raise InferboardError(f"{submissions} is not a folder", field="--submissions", fix="give data/submissions")
    rows: list[dict[str, Any]] = []
    bundles: dict[str, Any] = {}
    rejected: dict[str, list[str]] = {}
    accepted: list[Path] = []
    for d in against_dirs(submissions):
        b = Bundle(d, against=list(accepted))
        report = run_checks(b)
        if not report.accepted:
            rejected[d.name] = report.lines()
            continue
        accepted.append(d)
        got, bundles[d.name] = bundle_rows(b, report, root)
        rows.extend(got)
    statuses: list[dict[str, Any]] = []
    if local is not None and local.is_dir():
        got, statuses = local_rows(local, root)
        rows.extend(got)
    rows.sort(key=lambda r: (r["workload"], r["sku"], r["runtime"], r["model"], r["entry_id"], r["load_point"]))
    meta = {"inferboard.bundles": orjson.dumps(bundles, option=orjson.OPT_SORT_KEYS).decode(),
            "inferboard.rejected": orjson.dumps(rejected, option=orjson.OPT_SORT_KEYS).decode(),
            "inferboard.cells": orjson.dumps(statuses, option=orjson.OPT_SORT_KEYS).decode()}
    write_rows(out, rows, "leaderboard", meta)
    return {"rows": len(rows), "accepted": sorted(bundles), "rejected": rejected, "local_cells": statuses}
