"""``inferboard reproduce``: a rerun of a published cell compared with it, written as a reproduction record."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson

from inferboard.core.atomic import atomic_write_bytes
from inferboard.core.clock import utc_now
from inferboard.core.errors import InferboardError
from inferboard.results.compare import compare
from inferboard.results.provenance import read_provenance
from inferboard.results.status import read_status
from inferboard.submission.manifest import CELLS, MANIFEST, REPRODUCTIONS
from inferboard.submission.record import (
    RECORD_SCHEMA_VERSION,
    MetricComparison,
    ReproductionRecord,
    RerunRef,
    host_identity,
    verdict_of,
)
from inferboard.submission.validate import validate


def reproduce(bundle: Path, rerun: Path) -> tuple[Path, ReproductionRecord]:
    """Compare the finished rerun cell ``rerun`` with its cell in the accepted ``bundle``; write the record into
    ``bundle/reproductions/`` and return its path and content."""
    report = validate(bundle)
    if not report.accepted:
        raise InferboardError(f"{bundle} is not an accepted bundle ({'; '.join(report.lines())[:300]})",
                              field="BUNDLE", fix="give an accepted bundle of data/submissions/")
    if not (rerun / "provenance.json").is_file():
        raise InferboardError(f"{rerun} is not a cell folder", field="RERUN", fix="give results/<cell> of the rerun")
    prov, status = read_provenance(rerun / "provenance.json"), read_status(rerun / "cell.json")
    cell = prov["cell_id"]
    published = bundle / CELLS / cell
    if not published.is_dir():
        raise InferboardError(f"the bundle has no cell {cell}", field="RERUN", fix="rerun a cell of this bundle")
    if status["status"] == "failed" or not prov["complete"]:
        raise InferboardError("the rerun failed or did not complete", field="RERUN", fix="rerun it again")
    metrics = [MetricComparison(load_point=c["load_point"], metric=c["metric"], published=c["published"],
                                ci95_low=c["published_ci95"][0], ci95_high=c["published_ci95"][1], rerun=c["new"],
                                within_ci=c["within_ci"]) for c in compare(rerun, published)]
    host = host_identity(prov)
    record = ReproductionRecord(
        schema_version=RECORD_SCHEMA_VERSION, submission_id=bundle.name, cell_id=cell,
        manifest_sha256=hashlib.sha256((bundle / MANIFEST).read_bytes()).hexdigest(), created_utc=utc_now(),
        published_host=host_identity(read_provenance(published / "provenance.json")),
        rerun=RerunRef(host=host, suite_version=prov["suite"]["version"],
                       suite_git_sha=prov["suite"]["git_sha"] or "0" * 40,
                       suite_git_dirty=prov["suite"]["git_dirty"] is not False, sku=prov["sku"],
                       sku_verified=bool(prov.get("sku_verified"))),
        metrics=metrics, verdict=verdict_of(metrics))
    stamp = record.created_utc[:19].replace("-", "").replace(":", "") + "Z"
    out = bundle / REPRODUCTIONS / f"{stamp}-{host.removeprefix('sha256:')[:12]}.json"
    atomic_write_bytes(out, orjson.dumps(record.model_dump(mode="json"), option=orjson.OPT_INDENT_2) + b"\n")
    return out, record
