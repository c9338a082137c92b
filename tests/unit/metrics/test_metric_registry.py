"""The metric registry: every metric declares how it is shown, and a metric added at run time reaches the CI
metrics, the CLI summary, ``compare`` and the site; the summary schema takes the metrics registered at its import."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from inferboard.cli.rich_tables import compare_table, summary_table
from inferboard.metrics import (
    AGGREGATE_METRICS,
    GROUPS,
    RECORD_METRICS,
    AggregateMetric,
    ColumnMetric,
    PointContext,
    RecordMetric,
    Timing,
    ci_metrics,
    column_heading,
    column_label,
    metrics,
    register,
    registered,
    result_columns,
)
from inferboard.results.compare import compare, verdict
from inferboard.results.schema import CI_METRICS, SUMMARY_SCHEMA
from inferboard.site import data as sd
from inferboard.site.build import SiteBuilder
from inferboard.site.html import metric_headers

ROOT = Path(__file__).resolve().parents[3]


class PrefillShare(AggregateMetric):
    """prefill_share = median TTFT / median E2E (the part of a request's latency spent before its first token)."""

    name, unit, label, display_unit = "prefill_share", "fraction", "prefill share", ""
    better, group, headline, leaderboard = "lower", "latency", True, True
    requires: ClassVar[tuple[str, ...]] = ()

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        ttft, e2e = ctx.values.get("ttft_ms_p50"), ctx.values.get("e2e_ms_p50")
        return ttft / e2e if ttft is not None and e2e else None


class QueueMs(RecordMetric):
    """Time queued before the first byte: queue = first content chunk − scheduled − TTFT (ms)."""

    name, unit, label, better, group = "queue_ms", "ms", "queue time", "lower", "latency"
    headline = ("p90",)

    @staticmethod
    def of(t: Timing) -> float:
        return (t.sent_ns - t.scheduled_ns) / 1e6


def test_every_registered_metric_declares_label_unit_direction_group_and_formula() -> None:
    for m in metrics():
        assert m.label and m.unit and m.__doc__ and "=" in m.__doc__, m.name
        assert m.better in ("higher", "lower", None) and m.group in GROUPS, m.name
    assert {m.name for m in metrics()} >= {"joules_per_output_token", "tokens_per_joule", "roofline_efficiency_pct"}


def test_an_incomplete_metric_is_refused() -> None:
    class NoLabel(AggregateMetric):
        """x = 1."""

        name, unit, better, group = "x", "s", None, "load"

    class Unknown(RecordMetric):
        """y = 1."""

        name, unit, label, better, group, headline = "y", "ms", "y", "lower", "latency", ("p42",)

    with pytest.raises(TypeError, match="does not declare label"):
        register(NoLabel)
    with pytest.raises(TypeError, match="unknown statistic 'p42'"):
        register(Unknown)
    assert NoLabel not in metrics() and Unknown not in metrics()
    builtin = metrics()[0]
    with registered(builtin):  # already registered: stays registered afterwards
        pass
    assert metrics()[0] is builtin


def test_ci_metrics_and_the_summary_schema_are_unchanged() -> None:
    # the same headline metrics, in the same order, as the tuple the registry replaced
    assert ci_metrics() == CI_METRICS == (
        "output_tokens_per_s", "requests_per_s", "goodput_requests_per_s", "ttft_ms_p50", "ttft_ms_p99",
        "tpot_ms_p50", "tpot_ms_p99", "itl_ms_p50", "e2e_ms_p50", "e2e_ms_p99", "error_rate",
        "joules_per_output_token",
    )
    # registration order is the summary.parquet column order
    assert [m.name for m in RECORD_METRICS] == ["ttft_ms", "tpot_ms", "itl_ms", "e2e_ms", "ntpot_ms", "send_lag_ms",
                                                "ttft_from_scheduled_ms", "e2e_from_scheduled_ms"]
    assert [m.name for m in AGGREGATE_METRICS] == [
        "requests_total", "requests_ok", "usage_mismatches", "duration_s", "interactivity_tokens_per_s_per_user",
        "good_requests", "target_rate", "scheduled_rate", "achieved_rate", "target_concurrency",
        "overload_error_rate", "overload_shed_rate", "overload_timeout_rate", "recovery_s", "adapter_ttft_penalty_pct",
        "goodput_fraction_scheduled", "requests_failed",
        "requests_per_s", "output_tokens_per_s", "input_tokens_per_s", "goodput_requests_per_s", "goodput_fraction",
        "error_rate", "output_tokens_per_s_per_gpu", "total_tokens_per_s", "goodput_requests_per_s_per_gpu"]
    names = set(SUMMARY_SCHEMA.names)
    for key in CI_METRICS:
        assert {key, f"{key}_ci95_low", f"{key}_ci95_high", f"{key}_cv"} <= names
    stored = [m.name for m in metrics() if not issubclass(m, ColumnMetric) or m.stored]
    assert all(n in names or f"{n}_p50" in names for n in stored)


def test_labels_and_headings() -> None:
    assert column_label("ttft_ms_p99") == "TTFT p99" and column_heading("ttft_ms_p99_9") == "TTFT p99.9 (ms)"
    assert column_heading("output_tokens_per_s") == "output tok/s" and column_heading("error_rate") == "error rate"
    assert column_heading("goodput_requests_per_s") == "goodput (req/s)" and column_label("no_such") == "no_such"
    assert verdict(1.0, "higher") == "better" and verdict(1.0, "lower") == "worse" and verdict(0.0, "lower") == "same"
    assert verdict(None, "lower") is None and verdict(1.0, None) is None


def _summary(path: Path, value: float, lo: float, hi: float) -> Path:
    row = {"row_kind": "aggregate", "load_point": 0, "load_value": 4.0, "prefill_share": value,
           "prefill_share_ci95_low": lo, "prefill_share_ci95_high": hi}
    path.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([row]), path / "summary.parquet")
    return path


def test_a_metric_added_in_a_test_appears_in_every_consumer(tmp_path: Path) -> None:
    assert "prefill_share" not in ci_metrics()
    with registered(PrefillShare, QueueMs):
        # the CI metrics (and so the aggregate rows' CIs) and the results columns
        ci = ci_metrics()  # latency group: after the built-in latencies, in registration order
        assert ci[ci.index("e2e_ms_p99") + 1:ci.index("error_rate")] == ("prefill_share", "queue_ms_p90")
        assert "prefill_share" in [c.key for c in result_columns()]
        assert "queue_ms" in [c.key for c in sd.latency_metrics()]
        # the CLI summary
        rows = [{"row_kind": "aggregate", "load_kind": "concurrency", "load_value": 4.0, "valid": True,
                 "invalid_reason": None, "requests_ok": 8, "requests_total": 8, "prefill_share": 0.25}]
        console = Console(record=True, width=400)
        console.print(summary_table(rows))
        text = console.export_text()
        assert "prefill share" in text and "0.25" in text and "queue time p90" in text
        # compare
        out = compare(_summary(tmp_path / "new", 0.3, 0.2, 0.25), _summary(tmp_path / "pub", 0.22, 0.2, 0.25))
        row = next(r for r in out if r["metric"] == "prefill_share")
        assert row["label"] == "prefill share" and row["within_ci"] is False and row["change"] == "worse"
        assert row["delta"] == pytest.approx(0.08)
        console.print(compare_table(out, "t"))
        assert "prefill share" in console.export_text()
        # the site: leaderboard and cell-page columns, headings, values and the methodology page
        assert "prefill_share" in [c.key for c in sd.board_columns()]
        assert "prefill share" in str(metric_headers(sd.points_columns()))
        from inferboard.site.synthetic import default_template, resubmit

        resubmit(default_template(), tmp_path / "lb.parquet", root=tmp_path)
        b = SiteBuilder(tmp_path / "lb.parquet", tmp_path / "site", root=tmp_path)
        for r in b.rows:
            r["prefill_share"] = 0.123
        b.build()
        b.write_cells(tmp_path / "site" / "docs")
        docs = tmp_path / "site" / "docs"
        assert "prefill share" in (docs / "index.md").read_text()
        cell = (docs / b.cells[0].path).read_text()
        assert "prefill share" in cell and "0.123" in cell and "queue time (ms)" in cell
        assert "median TTFT / median E2E" in (docs / "methodology.md").read_text()
    assert "prefill_share" not in ci_metrics() and PrefillShare not in metrics()


def test_the_summary_schema_holds_the_metrics_registered_before_its_import() -> None:
    script = textwrap.dedent('''
        from inferboard.metrics import AggregateMetric, register

        class Share(AggregateMetric):
            """share = 1."""
            name, unit, label, better, group, headline = "share", "fraction", "share", "higher", "latency", True

            @staticmethod
            def compute(ctx):
                return 1.0

        register(Share)
        from inferboard.results.schema import CI_METRICS, SUMMARY_SCHEMA
        from inferboard.results.summarize import AGGREGATE_METRICS
        assert "share" in CI_METRICS, CI_METRICS
        assert {"share", "share_ci95_low", "share_ci95_high", "share_cv"} <= set(SUMMARY_SCHEMA.names)
        assert Share in AGGREGATE_METRICS
    ''')
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
