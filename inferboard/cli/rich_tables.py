"""Rich tables printed by the commands; their metric columns come from the metric registry when printed."""

from __future__ import annotations

from typing import Any

import orjson
from rich.markup import escape
from rich.table import Table

from inferboard.cell.accuracy_gate import NO_REFERENCE
from inferboard.cli.shared import console
from inferboard.metrics import summary_columns


def num(v: Any) -> str:
    """A number with three significant digits (whole above 1,000); '—' for null."""
    if v is None:
        return "—"
    if isinstance(v, int) or abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def summary_table(rows: list[dict[str, Any]]) -> Table:
    """The aggregate rows of a run: load, validity, requests, then each headline metric (summary_columns); with a
    traffic split, each target's row of each trial under them."""
    cols = summary_columns()
    table = Table(title="summary (median across trials)")
    for head in ("load", "valid", "ok/total"):
        table.add_column(head, justify="right")
    for c in cols:
        table.add_column(f"{c.label}\n{c.unit}" if c.unit else c.label, justify="right")
    for r in sorted((r for r in rows if r["row_kind"] in ("aggregate", "target")),
                    key=lambda r: (r.get("load_point") or 0, r["row_kind"] == "target", r.get("trial") or 0)):
        load = f"{r['load_kind']} {r['load_value']:g}"
        if r["row_kind"] == "target":
            load = f"↳ {r['target']}" + (f" (trial {r['trial'] + 1})" if r["trials"] > 1 else "")
        table.add_row(
            escape(load), "yes" if r["valid"] else escape(f"no: {r['invalid_reason']}"),
            f"{r['requests_ok']}/{r['requests_total']}", *(num(r.get(c.key)) for c in cols))
    return table


def print_summary(rows: list[dict[str, Any]]) -> None:
    console.print(summary_table(rows))
    if rows:
        console.print(accuracy_line(rows[0]), highlight=False)


def accuracy_line(row: dict[str, Any]) -> str:
    """The cell's accuracy gate in one line (its figures are on every row of the cell)."""
    exact, top5 = row.get("accuracy_exact_share"), row.get("accuracy_top5_share")
    if exact is None or top5 is None:
        return str(orjson.loads(row.get("null_reasons") or "{}").get("accuracy_top5_share", NO_REFERENCE))
    verdict = "FAILED" if "accuracy gate failed" in str(row.get("invalid_reason") or "") else "passed"
    return (f"accuracy gate {verdict}: {exact:.1%} of the reference prompts answered exactly, {top5:.1%} within "
            "the reference's top 5")


def compare_table(rows: list[dict[str, Any]], title: str) -> Table:
    """``inferboard compare``'s rows: per load point and headline metric, the delta and whether it is within the CI."""
    table = Table(title=title)
    for col in ("load", "metric", "new", "published [95% CI]", "delta", "within CI"):
        table.add_column(col)
    for r in rows:
        lo, hi = r["published_ci95"]
        ci = f" [{num(lo)}, {num(hi)}]" if lo is not None else " [no CI]"
        rel = f" ({r['delta_rel']:+.1%})" if r["delta_rel"] is not None else ""
        change = f" {r['change']}" if r["change"] in ("better", "worse") else ""
        within = {True: "yes", False: "NO", None: "—"}[r["within_ci"]]
        table.add_row(f"{r['load_value']:g}", escape(r["label"]), num(r["new"]), num(r["published"]) + ci,
                      num(r["delta"]) + rel + change, within)
    return table
