"""What the Snakemake rules call: run one matrix cell (always leaving cell.json), publish, aggregate, compare.

A cell that fails is recorded as failed (``cell.json`` with the reason) and the workflow goes on. A
cell folder left by an interrupted run is finalized and moved aside (``<cell>.interrupted-<utc>``)
before the cell runs again, so nothing measured is lost.
"""

from __future__ import annotations

import json
import shutil
import traceback
from pathlib import Path
from typing import Any

from inferboard.core.atomic import atomic_write_bytes, atomic_write_table
from inferboard.core.clock import utc_now
from inferboard.core.errors import InferboardError
from inferboard.results.schema import JOURNAL, PROVENANCE, SUMMARY, SUMMARY_SCHEMA

CELL_STATUS = "cell.json"
PUBLISHED_FILES = ("cell.json", "provenance.json", "summary.parquet", "requests.parquet", "metrics.parquet",
                   "gpu_samples.parquet")


def model_path(model: str) -> Path:
    """Where a matrix model's folder is: generated models under the inferboard home, others in models/."""
    from inferboard.models.catalog import load_models
    from inferboard.runtimes.envs import home

    entry = load_models().get(model)
    if entry is not None and entry.revision == "generated":
        return home() / "models" / model
    return Path("models") / model


def sku_variant(sku: str) -> str:
    """The image variant a SKU runs: cpu for CPU hosts, cuda for NVIDIA, rocm for AMD."""
    from inferboard.hardware.sku import load_skus

    s = load_skus()[sku]
    if s.kind == "cpu":
        return "cpu"
    return {"nvidia": "cuda", "amd": "rocm"}.get((s.vendor or "").lower(), "cpu")


def set_aside_interrupted(out: Path) -> Path | None:
    """Finalize and move away a folder an interrupted run left: a journal (killed) or a provenance
    that says the run did not complete (stopped by a signal after finalizing what it had)."""
    prov = out / PROVENANCE
    incomplete = prov.exists() and not json.loads(prov.read_text()).get("complete", False)
    if not (out / JOURNAL).exists() and not incomplete:
        return None
    from inferboard.cell.run import finalize

    if (out / PROVENANCE).exists():
        finalize(out, complete=False)
    aside = out.with_name(f"{out.name}.interrupted-{utc_now().replace(':', '')}")
    out.rename(aside)
    return aside


def write_status(out: Path, **fields: Any) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    doc = {"ended_utc": utc_now(), **fields}
    atomic_write_bytes(out / CELL_STATUS, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())
    return doc


def status_from_rows(rows: list[dict[str, Any]]) -> tuple[str, str | None]:
    agg = [r for r in rows if r["row_kind"] == "aggregate"]
    bad = [f"load point {r['load_point']}: {r['invalid_reason']}" for r in agg if not r["valid"]]
    if not agg:
        return "failed", "no load point was measured"
    return ("invalid", "; ".join(bad)) if bad else ("ok", None)


def publish(src: Path, dest: Path) -> None:
    """Copy a finished cell's outputs (not its journal or scratch) to the published tree, atomically."""
    tmp = dest.with_name(dest.name + ".publishing")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for p in sorted(src.iterdir()):
        if p.is_file() and (p.name in PUBLISHED_FILES or p.name.startswith("server-trial")):
            shutil.copy2(p, tmp / p.name)
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)


def aggregate(cells: list[Path], out: Path) -> dict[str, Any]:
    """The leaderboard: every published cell's aggregate rows, re-checked for plausibility, sorted."""
    import pyarrow.parquet as pq

    from inferboard.results.summarize import plausibility

    rows: list[dict[str, Any]] = []
    statuses = []
    for status_file in sorted(cells):
        folder = status_file.parent
        st = json.loads(status_file.read_text())
        statuses.append({k: st.get(k) for k in ("cell_id", "status", "reason")})
        if not (folder / SUMMARY).exists():
            continue
        for r in pq.read_table(folder / SUMMARY).to_pylist():
            if r["row_kind"] != "aggregate":
                continue
            reasons = plausibility(r)
            if reasons and r["valid"]:
                r["valid"], r["invalid_reason"] = False, "; ".join(reasons)
            rows.append(r)
    rows.sort(key=lambda r: (r["workload"], r["sku"], r["runtime"], r["model"], r["load_point"]))
    meta = {"inferboard.cells": json.dumps(statuses, sort_keys=True)}
    atomic_write_table(out, rows, SUMMARY_SCHEMA, meta)
    return {"rows": len(rows), "cells": statuses}


def compare(new: Path, published: Path) -> list[dict[str, Any]]:
    """Per load point and headline metric: the new median, the published one with its CI, and whether
    the new value falls inside that CI."""
    import pyarrow.parquet as pq

    from inferboard.results.schema import CI_METRICS

    def rows(p: Path) -> dict[int, dict[str, Any]]:
        f = p / SUMMARY if p.is_dir() else p
        if not f.is_file():
            raise InferboardError(f"{f} does not exist", field=str(p), fix="give a cell folder with summary.parquet")
        return {r["load_point"]: r for r in pq.read_table(f).to_pylist() if r["row_kind"] == "aggregate"}

    a, b = rows(new), rows(published)
    out = []
    for lp in sorted(set(a) & set(b)):
        for m in CI_METRICS:
            va, vb = a[lp].get(m), b[lp].get(m)
            lo, hi = b[lp].get(f"{m}_ci95_low"), b[lp].get(f"{m}_ci95_high")
            delta = None if va is None or vb is None else va - vb
            rel = None if delta is None or not vb else delta / vb
            within = None if va is None or lo is None or hi is None else bool(lo <= va <= hi)
            out.append({"load_point": lp, "load_value": a[lp]["load_value"], "metric": m, "new": va,
                        "published": vb, "published_ci95": [lo, hi], "delta": delta, "delta_rel": rel,
                        "within_ci": within})
    return out


def failure_reason(err: BaseException) -> str:
    if isinstance(err, InferboardError):
        return str(err)
    return f"{type(err).__name__}: {err} ({traceback.format_exc(limit=3).splitlines()[-1]})"

