"""Leaderboard rows → what the site shows: cells, rankings, Pareto fronts, chart specs (no HTML here)."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from inferboard.core.errors import InferboardError
from inferboard.metrics import (
    GROUPS,
    Column,
    ColumnMetric,
    leaderboard_columns,
    metrics,
    record_metrics,
    result_columns,
)
from inferboard.site.bundles import BundleInfo, CellFile, cell_dir, read_provenance, requests_file
from inferboard.site.ranking import best_point, finite, rank_value

#: columns a leaderboard file must have for the site to be built from it
REQUIRED_COLUMNS: tuple[str, ...] = (
    "cell_id", "row_kind", "load_point", "load_kind", "load_value", "workload", "runtime", "model", "sku",
    "gpu_count", "valid", "invalid_reason", "entry_id", "origin", "submission_id", "submitter", "org",
    "custom_workload", "reproduced", "cell_path",
)
#: the ranking's columns (see rank_value): first in every table that shows them
RANK_COLUMNS: tuple[str, ...] = ("goodput_requests_per_s_per_gpu", "goodput_requests_per_s")
PERCENTILES: tuple[str, ...] = ("p50", "p90", "p95", "p99", "p99_9")
_SAFE_SEGMENT = re.compile(r"^[a-z0-9][a-z0-9._-]{0,80}$")
_LABEL_CHARS = re.compile(r"[^A-Za-z0-9 ._:/+()-]")
_NOT_PLAIN = re.compile(r"[<>&\x00-\x1f\x7f-\x9f]")


def segment(name: str) -> str:
    """A URL path segment for a name: the name itself when it is a safe slug, else a sanitised slug + hash."""
    if _SAFE_SEGMENT.match(name) and ".." not in name:
        return name
    cleaned = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "x"
    return f"{cleaned}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"


def label(name: str) -> str:
    """A page title made only of harmless characters (titles reach mkdocs' own templates unescaped)."""
    return _LABEL_CHARS.sub("_", name)[:120]


def plain(text: str, limit: int = 300) -> str:
    """Untrusted text for a chart (Plotly reads tags and entities in its labels): no ``<``, ``>``, ``&`` or
    control characters, at most ``limit`` characters."""
    return _NOT_PLAIN.sub(" ", text)[:limit]


@dataclass
class PublishedCell:
    """One leaderboard entry (a cell of one submission, or a local cell) and its aggregate rows, one per load point.

    The same cell (sku/runtime/model/workload, ``id``) can be an entry of several submissions and a local one;
    ``entry_id`` tells them apart.
    """

    id: str
    sku: str
    runtime: str
    model: str
    workload: str
    rows: list[dict[str, Any]]
    entry_id: str = ""
    origin: str = "submitted"  # submitted | local
    submission_id: str | None = None
    submitter: str | None = None
    org: str | None = None
    custom_workload: bool = False
    reproduced: bool = False
    cell_path: str = ""  # folder of the cell's files, relative to the root the leaderboard was built in
    bundle: BundleInfo | None = None
    provenance: dict[str, Any] | None = None
    provenance_note: str | None = None  # why the provenance is not shown
    dir: Path | None = None  # the cell folder, when it is inside the root
    path: str = ""  # page path inside docs/, e.g. cells/<submission>/cpu-host/vllm/tiny/smoke.html
    best: dict[str, Any] | None = None  # the valid load point ranked for this cell
    files: list[CellFile] = field(default_factory=list)  # the cell folder's files published with the site

    @property
    def local(self) -> bool:
        return self.origin == "local"

    @functools.cached_property
    def valid(self) -> bool:
        return all(bool(r.get("valid")) for r in self.rows)

    @functools.cached_property
    def verified(self) -> bool:
        return all(r.get("sku_verified") is not False for r in self.rows)

    @property
    def invalid_reasons(self) -> list[str]:
        return sorted({str(r["invalid_reason"]) for r in self.rows if not r.get("valid") and r.get("invalid_reason")})

    @property
    def data_dir(self) -> str:
        """Folder of the cell's files in the built site: data/submissions/<id>/cells/… or data/local/…"""
        parts = self.path.removesuffix(".html").split("/")[1:]  # <submission or local>/<sku>/<rt>/<model>/<wl>
        if self.local:
            return "data/local/" + "/".join(parts[1:] if parts[0] == "local" else parts)
        return f"data/submissions/{parts[0]}/cells/" + "/".join(parts[1:])


#: how the site names a catalogue model's weights precision (workflows/models.yaml dtype)
PRECISION = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16", "float8_e4m3": "FP8",
             "mxfp4": "MXFP4", "q4_1": "4-bit (Q4_1)"}


@functools.cache
def model_kind(model: str) -> str | None:
    """What a model is, for a visitor: real or random weights, and its weights' precision (None: not catalogued)."""
    from inferboard.models.catalog import load_models

    entry = load_models().get(model)
    if entry is None:
        return None
    kind = "random weights" if entry.kind == "random-weights" else "real weights"
    return f"{kind}, {PRECISION[entry.dtype]}"


def cell_model_kind(c: PublishedCell) -> str | None:
    """model_kind of the cell's model, or, for a model the catalogue does not list, what its provenance says it is
    (random weights in a catalogue model's shape, as a GPU device check serves: "random weights")."""
    kind = model_kind(c.model)
    if kind is None and isinstance(c.provenance, dict):
        info = c.provenance.get("model")
        if isinstance(info, dict) and info.get("kind") == "random-weights":
            return "random weights"
    return kind


def accuracy_gates() -> list[dict[str, Any]]:
    """Each catalogue model with an accuracy reference: its weights and the thresholds of its gate."""
    from inferboard.models.catalog import load_models

    return [{"model": m.id, "weights": model_kind(m.id), "exact": m.accuracy.min_exact_share,
             "top5": m.accuracy.min_top5_share, "reference": m.accuracy.reference}
            for m in load_models().values() if m.accuracy is not None]


def load_rows(path: Path) -> list[dict[str, Any]]:
    """Aggregate rows of a leaderboard Parquet file, in canonical order; a clear error when it is unusable."""
    if not path.is_file():
        raise InferboardError(f"no leaderboard file at {path}", field="--data",
                              fix="build one with `inferboard leaderboard` or pass a leaderboard.parquet")
    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises several types for a file that is not Parquet
        raise InferboardError(f"cannot read {path} as Parquet: {err}", field="--data",
                              fix="pass a leaderboard.parquet written by `inferboard leaderboard`") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise InferboardError(f"{path} lacks the column(s) {', '.join(missing)}", field="--data",
                              fix="rebuild it with `inferboard leaderboard` of this suite version")
    table = table.filter(pc.equal(table["row_kind"], "aggregate"))
    for i, name in enumerate(table.column_names):  # NaN and ±inf → null, once, so pages test only for None
        col = table.column(i)
        if pa.types.is_floating(col.type):
            table = table.set_column(i, name, pc.if_else(pc.is_finite(col), col, pa.scalar(None, col.type)))
    names = table.column_names
    columns = [table.column(n).to_pylist() for n in names]  # column-wise: twice as fast as to_pylist()
    rows = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
    for i, r in enumerate(rows):
        for col in ("cell_id", "sku", "runtime", "model", "workload", "entry_id", "cell_path"):
            if not isinstance(r[col], str) or not r[col]:
                raise InferboardError(f"row {i} has no {col}", field=f"--data: {col}",
                                      fix="every aggregate row needs sku, runtime, model, workload, cell_id, "
                                          "entry_id and cell_path")
        if r["origin"] not in ("submitted", "local") or (r["origin"] == "submitted" and not r["submission_id"]):
            raise InferboardError(f"row {i} ({r['entry_id']}) has origin {r['origin']!r} without a submission",
                                  field="--data: origin", fix="origin is 'local', or 'submitted' with a submission_id")
    rows.sort(key=lambda r: (r["entry_id"], r["load_point"]))
    return rows


def group_cells(rows: list[dict[str, Any]], root: Path | None = None,
                bundles: dict[str, BundleInfo] | None = None) -> list[PublishedCell]:
    """Rows grouped into entries by ``entry_id`` (sorted); the cell folder, its provenance and files are read
    under ``root`` (the folder the leaderboard was built in) where ``cell_path`` leads safely inside it."""
    by_id: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_id.setdefault(r["entry_id"], []).append(r)
    bundles = bundles or {}
    cells = []
    used: set[str] = set()
    for eid in sorted(by_id):
        first = by_id[eid][0]
        cell = PublishedCell(
            id=first["cell_id"], sku=first["sku"], runtime=first["runtime"], model=first["model"],
            workload=first["workload"], rows=by_id[eid], entry_id=eid, origin=first["origin"],
            submission_id=first["submission_id"], submitter=first["submitter"], org=first["org"],
            custom_workload=bool(first["custom_workload"]), reproduced=bool(first["reproduced"]),
            cell_path=first["cell_path"])
        if not cell.local and cell.submission_id is not None:
            cell.bundle = bundles.get(cell.submission_id)
        cell.path = _page_path(cell, used)
        cell.dir = cell_dir(root, cell.cell_path, cell.id, None if cell.local else cell.submission_id)
        if cell.dir is not None:
            cell.provenance, cell.provenance_note = read_provenance(cell.dir)
        else:
            cell.provenance_note = "the cell's folder (cell_path) is not under the folder this site was built from"
        cell.best = best_point(cell.rows)
        cells.append(cell)
    return cells


def _page_path(cell: PublishedCell, used: set[str]) -> str:
    """cells/<submission or local>/<sku>/<runtime>/<model>/<workload>.html, unique among the entries."""
    top = segment("local" if cell.local else str(cell.submission_id))
    if not cell.local and top == "local":
        top = f"local-{hashlib.sha256(cell.entry_id.encode()).hexdigest()[:10]}"
    rest = "/".join(segment(p) for p in (cell.sku, cell.runtime, cell.model)) + f"/{segment(cell.workload)}.html"
    path = f"cells/{top}/{rest}"
    if path in used:  # two names sharing a segment (a hostile slug): keep both pages apart
        path = f"cells/{top}-{hashlib.sha256(cell.entry_id.encode()).hexdigest()[:10]}/{rest}"
    used.add(path)
    return path


def throughput_per_gpu(row: dict[str, Any]) -> float | None:
    """Output tokens/s per GPU (per host on CPU hosts)."""
    if row.get("gpu_count"):
        return finite(row.get("output_tokens_per_s_per_gpu"))
    return finite(row.get("output_tokens_per_s"))


def tokens_per_joule(row: dict[str, Any]) -> float | None:
    """Output tokens per joule = 1 / (J per output token); None where energy is unknown."""
    j = finite(row.get("joules_per_output_token"))
    return 1.0 / j if j else None


def goodput_per_dollar(row: dict[str, Any], price_per_gpu_hour: float | None) -> float | None:
    """Good requests per US dollar = goodput per GPU × 3600 / price per GPU-hour; None without a price."""
    g = rank_value(row)
    if g is None or not price_per_gpu_hour or not row.get("gpu_count"):
        return None
    return g * 3600.0 / price_per_gpu_hour


#: leaderboard values the site derives rather than reads: per GPU or, on CPU hosts (no GPU), per host
PER_HOST: dict[str, Callable[[dict[str, Any]], float | None]] = {
    "goodput_requests_per_s_per_gpu": rank_value, "output_tokens_per_s_per_gpu": throughput_per_gpu,
}
#: every value the site derives from a row (goodput_per_dollar also needs the SKU's price)
DERIVED: dict[str, Callable[[dict[str, Any]], float | None]] = {**PER_HOST, "tokens_per_joule": tokens_per_joule}


def _rank_first(cols: tuple[Column, ...]) -> list[Column]:
    return sorted(cols, key=lambda c: c.key not in RANK_COLUMNS)


def latency_metrics() -> list[Column]:
    """Percentile families shown on cell pages (each has _p50 … _p99_9, _mean, _std, _max, _count columns):
    the registry's record metrics in table order (by group, then registration)."""
    return [Column(m.name, m) for m in sorted(record_metrics(), key=lambda m: GROUPS.index(m.group))]


def points_columns() -> list[Column]:
    """Metric columns of a cell page's results table (one row per load point): headline and shown metrics."""
    return _rank_first(result_columns())


def board_columns() -> list[Column]:
    """Metric columns of the leaderboard tables (one row per cell at its ranked load point)."""
    return _rank_first(leaderboard_columns())


def metric_docs() -> list[dict[str, str]]:
    """Each registered metric's name, label, unit, kind, direction, headline statistics and formula (docstring)."""
    docs = []
    for m in metrics():
        kind = f"{m.kind}, from {m.computed_in}" if issubclass(m, ColumnMetric) else m.kind
        h = m.headline
        docs.append({"name": m.name, "label": m.label, "unit": m.unit, "kind": kind, "better": m.better or "",
                     "headline": ", ".join(h) if isinstance(h, tuple) else ("yes" if h else ""),
                     "doc": " ".join((m.__doc__ or "").split())})
    return docs


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not dominated when maximising both coordinates, sorted by x ascending."""
    front: list[tuple[float, float]] = []
    best_y = -math.inf
    for x, y in sorted(set(points), key=lambda p: (-p[0], -p[1])):
        if y > best_y:
            front.append((x, y))
            best_y = y
    return sorted(front)


def why_null(row: dict[str, Any], col: str) -> str | None:
    """Why ``row[col]`` is null, or None; the row's reasons are parsed once, on first use."""
    reasons = row.get("_null")
    if reasons is None:
        reasons = row["_null"] = null_reasons(row)
    return reasons.get(col)


def null_reasons(row: dict[str, Any]) -> dict[str, str]:
    """Why each null metric of a row is null (the row's ``null_reasons`` JSON), plus energy/roofline reasons."""
    raw = row.get("null_reasons")
    out: dict[str, str] = {}
    if isinstance(raw, str) and raw:
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = {}
        if isinstance(parsed, dict):
            out.update({str(k): str(v) for k, v in parsed.items()})
    if row.get("energy_null_reason"):
        out.setdefault("joules_per_output_token", str(row["energy_null_reason"]))
        out.setdefault("tokens_per_joule", str(row["energy_null_reason"]))
    if row.get("roofline_reason"):
        out.setdefault("roofline_efficiency_pct", str(row["roofline_reason"]))
    return out


def latency_samples(cell: PublishedCell, metric: str, limit: int = 200) -> dict[int, list[float]] | None:
    """Per load point, up to ``limit`` quantiles of ``metric`` over ok requests (requests.parquet), or None."""
    f = requests_file(cell.dir)
    if f is None:
        return None
    try:
        names = pq.read_schema(f).names
        if metric not in names or "load_point" not in names:
            return None
        cols = pq.read_table(f, columns=[c for c in ("load_point", "status", "warmup", metric) if c in names]
                             ).to_pylist()
    except Exception:  # a damaged or odd file: the CDF falls back to the percentiles
        return None
    by_point: dict[int, list[float]] = {}
    for r in cols:
        v = finite(r.get(metric))
        if v is None or r.get("status", "ok") != "ok" or r.get("warmup") or not isinstance(r["load_point"], int):
            continue
        by_point.setdefault(r["load_point"], []).append(v)
    out = {}
    for p, vals in sorted(by_point.items()):
        vals.sort()
        if len(vals) > limit:
            vals = [vals[round(i * (len(vals) - 1) / (limit - 1))] for i in range(limit)]
        out[p] = vals
    return out
