"""A rerun against a published cell: each headline metric's delta, and whether it falls within the published CI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from inferboard.core.errors import InferboardError
from inferboard.metrics import headline_columns
from inferboard.results.schema import SUMMARY, with_added_columns


def _aggregate_rows(p: Path) -> dict[int, dict[str, Any]]:
    f = p / SUMMARY if p.is_dir() else p
    if not f.is_file():
        raise InferboardError(f"{f} does not exist", field=str(p), fix="give a cell folder with summary.parquet")
    rows = with_added_columns(pq.read_table(f), "summary").to_pylist()
    return {r["load_point"]: r for r in rows if r["row_kind"] == "aggregate"}


def verdict(delta: float | None, better: str | None) -> str | None:
    """"better", "worse" or "same" for a change of ``delta`` in a metric whose ``better`` direction is given."""
    if delta is None or better is None:
        return None
    if delta == 0:
        return "same"
    return "better" if (delta > 0) == (better == "higher") else "worse"


def compare(new: Path, published: Path) -> list[dict[str, Any]]:
    """Per load point and headline metric (the registry's, at call time): the new median, the published one
    with its CI, the delta, whether the new value falls inside that CI, and whether the change is for the better."""
    a, b = _aggregate_rows(new), _aggregate_rows(published)
    out = []
    for lp in sorted(set(a) & set(b)):
        for col in headline_columns():
            m = col.key
            va, vb = a[lp].get(m), b[lp].get(m)
            lo, hi = b[lp].get(f"{m}_ci95_low"), b[lp].get(f"{m}_ci95_high")
            delta = None if va is None or vb is None else va - vb
            rel = None if delta is None or not vb else delta / vb
            within = None if va is None or lo is None or hi is None else bool(lo <= va <= hi)
            out.append({"load_point": lp, "load_value": a[lp]["load_value"], "metric": m, "label": col.heading,
                        "better": col.better, "new": va, "published": vb, "published_ci95": [lo, hi],
                        "delta": delta, "delta_rel": rel, "within_ci": within, "change": verdict(delta, col.better)})
    return out
