"""Helpers for the submission checker's tests: the committed bundle, copies of it, and ways to break a copy."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from inferboard.results.compare import compare
from inferboard.submission.manifest import MANIFEST, REPRODUCTIONS
from inferboard.submission.record import (
    RECORD_SCHEMA_VERSION,
    MetricComparison,
    ReproductionRecord,
    RerunRef,
    host_identity,
    verdict_of,
)
from inferboard.submission.registry import all_checks
from inferboard.submission.validate import CheckResult, Report, validate

ROOT = Path(__file__).resolve().parents[3]
SUBMISSIONS = ROOT / "data" / "submissions"
#: a bundle id that is not the committed one (for copies under a new id)
OTHER_ID = "20261201-someone-else-0badc0de"
#: the file name of a reproduction record written by these tests
RECORD = "reproductions/20261201T000000Z-0123456789ab.json"

Rows = list[dict[str, Any]]


def committed_bundle() -> Path | None:
    """The committed bundle with the most cells (the project's CPU matrix; first by name among equals), None when
    there is none."""
    if not SUBMISSIONS.is_dir():
        return None
    dirs = sorted(p for p in SUBMISSIONS.iterdir() if p.is_dir() and not p.name.startswith("."))
    return min(dirs, key=lambda d: (-len(cell_dirs(d)), d.name)) if dirs else None


def copy_bundle(src: Path, parent: Path, name: str | None = None) -> Path:
    """A copy of bundle ``src`` as ``parent/<name or its own id>`` (links copied as links)."""
    parent.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copytree(src, parent / (name or src.name), symlinks=True))


def cell_dirs(bundle: Path) -> list[Path]:
    """The bundle's cell folders (cells/<sku>/<runtime>/<model>/<workload>)."""
    return sorted(p for p in bundle.glob("cells/*/*/*/*") if p.is_dir() and not p.is_symlink())


def first_cell(bundle: Path) -> Path:
    """The cell the mutations work on: a cpu-fixed cell where there is one (3 load points × 3 trials), else the
    one with the most summary rows, first by name among those."""
    return min(cell_dirs(bundle), key=lambda c: (c.name != "cpu-fixed",
                                                 -pq.read_metadata(c / "summary.parquet").num_rows, c.as_posix()))


def search_cell(bundle: Path) -> Path:
    """A cell of a search load (max rate at SLO) in the bundle."""
    return next(c for c in cell_dirs(bundle) if "search_probes" in read_json(c / "provenance.json")
                and read_json(c / "provenance.json")["search_probes"])


def cell_id(bundle: Path, cell: Path) -> str:
    return cell.relative_to(bundle / "cells").as_posix()


# ------------------------------------------------------------------ editing a copy
def read_json(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def write_json(path: Path, doc: Any) -> None:
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")


def edit_json(path: Path, fn: Callable[[Any], Any]) -> None:
    """Apply ``fn`` to the parsed document (in place, or return a replacement) and write it back."""
    doc = read_json(path)
    out = fn(doc)
    write_json(path, doc if out is None else out)


def write_parquet(path: Path, rows: Rows, schema: pa.Schema) -> None:
    """``rows`` written as Parquet with exactly ``schema`` (its metadata included)."""
    table = pa.Table.from_pylist(rows, schema=schema)
    assert table.schema.equals(schema, check_metadata=True)
    pq.write_table(table, path, compression="zstd")


def edit_parquet(path: Path, fn: Callable[[Rows], Rows | None]) -> None:
    """Apply ``fn`` to the rows (in place, or return a replacement) and write them back with the same schema and
    metadata: only values change."""
    schema = pq.read_schema(path)
    rows = pq.read_table(path).to_pylist()
    out = fn(rows)
    write_parquet(path, rows if out is None else out, schema)


def rehash(bundle: Path, *, relist: bool = False) -> None:
    """Rewrite the manifest's sha256 and bytes of every listed file, as a submitter who edited a file and hashed
    again would; ``relist``: list every file now in the bundle instead (manifest and reproductions left out)."""
    def entry(rel: str) -> dict[str, Any]:
        data = (bundle / rel).read_bytes()
        return {"path": rel, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}

    def update(doc: dict[str, Any]) -> None:
        if relist:
            rels = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*")
                          if p.is_file() and not p.is_symlink())
            doc["files"] = [entry(r) for r in rels if r != MANIFEST and not r.startswith(f"{REPRODUCTIONS}/")]
        else:
            doc["files"] = [entry(f["path"]) for f in doc["files"]]

    edit_json(bundle / MANIFEST, update)


def recompute_summary(cell: Path) -> None:
    """Rewrite the cell's summary.parquet as the suite computes it from the cell's own files (same schema and
    metadata), so a consistent edit of the requests or the provenance leaves summary.recomputed passing."""
    from inferboard.cell.finalize import summary_rows

    metrics, answers = cell / "metrics.parquet", cell / "accuracy.parquet"
    want = summary_rows(read_json(cell / "provenance.json"), pq.read_table(cell / "requests.parquet").to_pylist(),
                        pq.read_table(metrics).to_pylist() if metrics.exists() else [], source=str(cell),
                        accuracy=pq.read_table(answers).to_pylist() if answers.exists() else None)
    edit_parquet(cell / "summary.parquet", lambda _: want)
    recompute_windows(cell)


def recompute_windows(cell: Path) -> None:
    """Rewrite the cell's windows.parquet as the suite computes it from the cell's own files."""
    from inferboard.cell.timeline import window_table
    from inferboard.scenario.workload import Workload

    prov = read_json(cell / "provenance.json")
    metrics, gpu = cell / "metrics.parquet", cell / "gpu_samples.parquet"
    want = window_table(prov, Workload.model_validate(prov["workload"]["definition"]),
                        pq.read_table(cell / "requests.parquet").to_pylist(),
                        pq.read_table(metrics).to_pylist() if metrics.exists() else [],
                        pq.read_table(gpu).to_pylist() if gpu.exists() else [])
    edit_parquet(cell / "windows.parquet", lambda _: want)


# ------------------------------------------------------------------ reproduction records
def record_doc(bundle: Path, **over: Any) -> dict[str, Any]:
    """A valid reproduction record of the bundle's first cell (built with the record models), then ``over``."""
    cell = first_cell(bundle)
    prov = read_json(cell / "provenance.json")
    # every headline metric at every load point, compared with itself: a rerun that measured the same
    comps = [MetricComparison(load_point=c["load_point"], metric=c["metric"], published=c["published"],
                              ci95_low=c["published_ci95"][0], ci95_high=c["published_ci95"][1], rerun=c["new"],
                              within_ci=c["within_ci"]) for c in compare(cell, cell)]
    rec = ReproductionRecord(
        schema_version=RECORD_SCHEMA_VERSION, submission_id=bundle.name, cell_id=prov["cell_id"],
        manifest_sha256=hashlib.sha256((bundle / MANIFEST).read_bytes()).hexdigest(),
        created_utc="2026-12-01T00:00:00.000Z", published_host=host_identity(prov),
        rerun=RerunRef(host="sha256:" + "ab" * 32, suite_version=prov["suite"]["version"],
                       suite_git_sha=prov["suite"]["git_sha"], suite_git_dirty=False, sku=prov["sku"],
                       sku_verified=True),
        metrics=comps, verdict=verdict_of(comps))
    return {**rec.model_dump(mode="json"), **over}


def write_record(bundle: Path, doc: dict[str, Any]) -> Path:
    path = bundle / RECORD
    path.parent.mkdir(exist_ok=True)
    write_json(path, doc)
    return path


# ------------------------------------------------------------------ running the checker
def run_cli(*args: str) -> tuple[int, str, str]:
    """``inferboard ARGS`` in this process: (exit code, stdout, stderr)."""
    from inferboard.cli.app import main

    out, err = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code
    return int(code or 0), out.getvalue(), err.getvalue()


def run_validate(bundle: Path, *args: str) -> tuple[int, str]:
    """``inferboard validate BUNDLE ARGS``: (exit code, stdout)."""
    code, out, _ = run_cli("validate", str(bundle), *args)
    return code, out


def full_report(bundle: Path, **kw: Any) -> Report:
    return validate(bundle, **kw)


def report(bundle: Path, **kw: Any) -> dict[str, CheckResult]:
    """Check id → its result on ``bundle``."""
    return {r.id: r for r in validate(bundle, **kw).results}


def failed(results: dict[str, CheckResult]) -> set[str]:
    return {i for i, r in results.items() if not r.ok}


CHECK_IDS = [c.id for c in all_checks()]
SEVERITY = {c.id: c.severity for c in all_checks()}
FILES_STAGE = {c.id for c in all_checks() if c.stage == "files"}
CONTENT_STAGE = {c.id for c in all_checks() if c.stage == "content"}


# ------------------------------------------------------------------ watching the checker
def snapshot(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry under ``root`` (links and special files not followed): kind, size, mtime and, for regular files
    up to 8 MB, the SHA-256; a file that is written, added, removed or touched changes it."""
    out: dict[str, tuple[Any, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            digest = None
            if stat.S_ISREG(st.st_mode) and st.st_size <= 8 << 20:
                digest = hashlib.sha256(p.read_bytes()).hexdigest()
            out[p.relative_to(root).as_posix()] = (stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns, digest)
    return out
