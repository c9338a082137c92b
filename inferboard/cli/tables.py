"""Rich tables printed by the commands."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from inferboard.cli.common import (
    _fmt,
    console,
)


def print_summary(rows: list[dict[str, Any]]) -> None:
    table = Table(title="summary (median across trials)")
    for col in ("load", "valid", "ok/total", "req/s", "out tok/s", "TTFT p50", "TPOT p50", "ITL p50",
                "E2E p50", "goodput"):
        table.add_column(col, justify="right")
    for r in rows:
        if r["row_kind"] != "aggregate":
            continue
        table.add_row(
            f"{r['load_kind']} {r['load_value']:g}", "yes" if r["valid"] else escape(f"no: {r['invalid_reason']}"),
            f"{r['requests_ok']}/{r['requests_total']}", _fmt(r["requests_per_s"], 2),
            _fmt(r["output_tokens_per_s"]), _fmt(r["ttft_ms_p50"]), _fmt(r["tpot_ms_p50"], 2),
            _fmt(r["itl_ms_p50"], 2), _fmt(r["e2e_ms_p50"]), _fmt(r["goodput_requests_per_s"], 2))
    console.print(table)

