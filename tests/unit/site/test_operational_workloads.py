"""Operational workloads on the site: the time-series chart of a cell (phases shaded, the recovery marked or why it
is missing), the figure each operational workload is ranked by (order, nulls last, tie-breaks), the trials split
by the server's compile caches, and the cell folder's windows and summary read as untrusted data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from inferboard.metrics.windows import PhaseSpan
from inferboard.site import data as sd
from inferboard.site import operational_workloads as ops
from inferboard.site.charts import cell_timelines, gauge_chart, timeline_chart
from inferboard.site.html import figure_rows, operations_rows, target_rows
from inferboard.site.ranking import best_point

PHASES = (PhaseSpan("baseline", 6.0, 0.0, 20.0), PhaseSpan("spike", 30.0, 20.0, 25.0),
          PhaseSpan("recovery", 6.0, 25.0, 60.0))
NOT_RECOVERED = "not recovered: the last window's median TTFT from scheduled is above 1.5 × the baseline median"
RECOVERY = ops.FIGURES[0]
COLD = ops.FIGURES[1]


def _windows(n: int = 60, **extra: Any) -> list[dict[str, Any]]:
    """One window per second: TTFT p50 and p90 (p99 only every tenth window), tokens/s, a queue and RSS."""
    return [{"trial": 0, "load_point": 0, "window": i, "t_start_s": float(i), "t_end_s": i + 1.0,
             "ttft_from_scheduled_ms_p50": 40.0 + i / 3, "ttft_from_scheduled_ms_p90": 80.123456,
             "ttft_from_scheduled_ms_p99": 120.0 if i % 10 == 0 else None, "output_tokens_per_s": 200.0 / 3,
             "waiting_requests": float(i), "server_rss_bytes": 64 * 1024 * 1024 + i, "requests_failed": 0, **extra}
            for i in range(n)]


def _layout(fig: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    return fig["layout"]["shapes"], [a["text"] for a in fig["layout"]["annotations"]]


def test_timeline_shades_each_phase_and_marks_the_recovery() -> None:
    fig = timeline_chart(_windows(), PHASES, {"recovery_s": 4.0})
    shapes, notes = _layout(fig)
    rects = [s for s in shapes if s["type"] == "rect"]
    assert [(s["x0"], s["x1"], s["name"]) for s in rects] == [(0.0, 20.0, "baseline"), (20.0, 25.0, "spike"),
                                                              (25.0, 60.0, "recovery")]
    assert all(s["yref"] == "paper" and s["layer"] == "below" for s in rects)
    line = next(s for s in shapes if s["type"] == "line")
    assert line["x0"] == line["x1"] == 29.0  # the spike's end + recovery_s
    assert notes[:3] == ["baseline", "spike", "recovery"] and notes[3].startswith("recovered")
    assert not any("not recovered" in n for n in notes)
    names = [d["name"] for d in fig["data"]]
    assert names[0].endswith("p50") and "p90 where p99 has too few samples" in names[1]
    assert fig["data"][2]["yaxis"] == "y2" and fig["layout"]["yaxis2"]["overlaying"] == "y"
    assert fig["data"][1]["y"][:2] == [120.0, 80.12]  # p99, else p90; floats rounded for small pages
    assert fig["data"][2]["y"][0] == 66.67 and fig["data"][0]["x"] == [float(i) for i in range(60)]


def test_timeline_says_not_recovered_and_why() -> None:
    row = {"recovery_s": None, "null_reasons": json.dumps({"recovery_s": NOT_RECOVERED + " (241.4 ms)"})}
    shapes, notes = _layout(timeline_chart(_windows(), PHASES, row))
    assert not [s for s in shapes if s["type"] == "line"]
    label = next(n for n in notes if n.startswith("not recovered"))
    assert "1.5 × the baseline median" in label.replace("<br>", " ") and "(241.4 ms)" in label
    # no reason given: still says it; no overload phase (a flat load): neither label
    assert any(n == "not recovered" for n in _layout(timeline_chart(_windows(), PHASES, {"recovery_s": None}))[1])
    flat = (PhaseSpan("a", 6.0, 0.0, 30.0), PhaseSpan("b", 6.0, 30.0, 60.0))
    _, notes = _layout(timeline_chart(_windows(), flat, {"recovery_s": None}))
    assert notes == ["a", "b"]
    assert _layout(timeline_chart(_windows(), (), {"recovery_s": 3.0})) == ([], [])


def test_chart_text_from_files_cannot_carry_markup() -> None:
    hostile = (PhaseSpan('<img src=x onerror="alert(1)">', 1.0, 0.0, 10.0), PhaseSpan("spike&", 9.0, 10.0, 20.0),
               PhaseSpan("after", 1.0, 20.0, 30.0))
    row = {"recovery_s": None, "null_reasons": json.dumps({"recovery_s": "<a href='javascript:x'>why</a>"})}
    fig = timeline_chart(_windows(30), hostile, row)
    text = json.dumps(fig["layout"]).replace("<br>", "")
    assert "<" not in text and ">" not in text and "&" not in text


def test_long_runs_are_merged_and_gauges_charted_only_when_exported() -> None:
    fig = timeline_chart(_windows(3000), (), {})
    assert len(fig["data"][0]["x"]) == 600 and fig["data"][0]["y"][0] == pytest.approx(41.33, abs=0.01)  # worst
    gauges = gauge_chart(_windows(), PHASES)
    assert gauges is not None
    assert [d["name"] for d in gauges["data"]] == ["waiting requests (queue)", "server RSS (MiB)"]
    assert gauges["data"][1]["yaxis"] == "y2" and gauges["data"][1]["y"][0] == 64.0
    assert gauge_chart(_windows(waiting_requests=None, server_rss_bytes=None), PHASES) is None
    failed = gauge_chart(_windows(waiting_requests=None, server_rss_bytes=None, requests_failed=3), ())
    assert failed is not None and failed["data"][0]["type"] == "bar"


def _row(**kw: Any) -> dict[str, Any]:
    return {"load_point": 0, "valid": True, "gpu_count": 0, "goodput_requests_per_s": 1.0, "sku_verified": True,
            "load_kind": "phases", "load_value": 10.0, "recovery_s": None, "overload_error_rate": None,
            "cold_start_s": None, "cold_ttft_ms": None, "trials": 1, "accuracy_exact_share": 1.0, **kw}


def _entry(eid: str, **kw: Any) -> sd.PublishedCell:
    rows = kw.pop("rows", None) or [_row(**kw)]
    c = sd.PublishedCell(id="s/r/m/w", sku="s", runtime="r", model="m", workload="w", rows=rows, entry_id=eid)
    c.best = best_point(c.rows)
    c.path = f"cells/{eid}.html"
    return c


def test_recovery_ranks_fastest_first_and_never_recovered_last_by_error_rate() -> None:
    cells = [_entry("a", recovery_s=None, overload_error_rate=0.5), _entry("b", recovery_s=8.0),
             _entry("c", recovery_s=None, overload_error_rate=0.1), _entry("d", recovery_s=2.0),
             _entry("e", recovery_s=8.0, overload_error_rate=0.0), _entry("f", recovery_s=None),
             _entry("local/g", recovery_s=0.5, origin="local")]
    cells[-1].origin = "local"
    groups = ops.figure_groups(cells, RECOVERY)
    assert [c.entry_id for c in groups["ranked"]] == ["d", "e", "b", "c", "a", "f"]
    assert [c.entry_id for c in groups["local"]] == ["local/g"]  # shown apart, never ranked


def test_an_entry_is_ranked_at_its_best_valid_value_of_the_figure() -> None:
    rows = [_row(load_point=0, recovery_s=9.0), _row(load_point=1, recovery_s=3.0),
            _row(load_point=2, recovery_s=1.0, valid=False)]
    assert ops.figure_row(_entry("a", rows=rows), RECOVERY)["load_point"] == 1
    higher = ops.Figure("made_up_rps", present=("made_up_rps",), better="higher")
    cells = [_entry("a", made_up_rps=2.0), _entry("b", made_up_rps=None), _entry("c", made_up_rps=5.0)]
    assert higher.direction == "higher" and higher.wording == "higher is better"  # not registered: its own
    assert [c.entry_id for c in ops.figure_groups(cells, higher)["ranked"]] == ["c", "a", "b"]
    drift = ops.Figure("made_up_pct", present=("made_up_pct",), absolute=True)  # no drift either way is best
    cells = [_entry("a", made_up_pct=-8.0), _entry("b", made_up_pct=3.0), _entry("c", made_up_pct=None),
             _entry("d", made_up_pct=-1.0)]
    assert [c.entry_id for c in ops.figure_groups(cells, drift)["ranked"]] == ["d", "b", "a", "c"]
    assert drift.wording == "closest to 0 is better"


def test_which_workloads_are_ranked_by_which_figure() -> None:
    assert ops.workload_figure([_entry("a", recovery_s=3.0, load_kind="rate")]) is RECOVERY
    assert ops.workload_figure([_entry("a", load_kind="phases")]) is RECOVERY  # nobody recovered: still ranked by it
    assert ops.workload_figure([_entry("a", load_kind="concurrency", cold_ttft_ms=9.0)]) is None  # any first start
    assert ops.workload_figure([_entry("a", load_kind="concurrency")], {"fresh_server_per_trial": True}) is COLD
    cold = _entry("a", load_kind="concurrency")
    cold.provenance = {"workload": {"definition": {"fresh_server_per_trial": True}}}
    assert ops.workload_figure([cold]) is COLD
    assert COLD.direction == "lower" and RECOVERY.direction == "lower" and RECOVERY.column in ops.figure_columns()
    # a later figure slots in by its entry: a workload whose rows carry it (or whose definition sets its flag)
    for f in ops.FIGURES[2:]:
        if f.present:
            assert ops.workload_figure([_entry("a", load_kind="rate", **{f.column: 1.0})]) is f
        else:
            assert ops.workload_figure([_entry("a", load_kind="rate")], {f.flag: 60.0}) is f
    # drift is a soak's figure (a run bounded by time), not that of any run long enough to have a drift value
    drift = next(f for f in ops.FIGURES if f.column == "drift_ttft_p50_pct_per_h")
    assert ops.workload_figure([_entry("a", load_kind="concurrency", drift_ttft_p50_pct_per_h=59.2)],
                               {"duration_s": None}) is None
    assert ops.workload_figure([_entry("a", load_kind="rate")], {"duration_s": 50.0}) is drift
    custom = _entry("b", load_kind="concurrency")  # a custom entry of a standard name with a duration of its own
    custom.provenance = {"workload": {"definition": {"duration_s": 120.0}}}
    assert ops.workload_figure([custom], {"duration_s": None}) is None  # the standard page stays ranked by goodput


def _cell_folder(tmp_path: Path, trials: list[dict[str, Any]]) -> sd.PublishedCell:
    d = tmp_path / "cell"
    d.mkdir()
    rows = [{"row_kind": "trial", "load_point": 0, "cold_ttft_ms": 1.0, "requests_to_steady": 0, **t}
            for t in trials]
    pq.write_table(pa.Table.from_pylist(rows), d / "summary.parquet")
    c = _entry("x", load_kind="concurrency", cold_start_s=3.0, cold_ttft_ms=2.0, trials=len(trials))
    c.dir = d
    c.provenance = {"workload": {"definition": {"fresh_server_per_trial": True}}}
    return c


def test_cold_start_trials_split_by_the_caches_the_server_started_with(tmp_path: Path) -> None:
    c = _cell_folder(tmp_path, [
        {"trial": 0, "cold_start_s": 40.0, "server_caches": "empty"},
        {"trial": 1, "cold_start_s": 9.0, "server_caches": "warm"},
        {"trial": 2, "cold_start_s": 11.0, "server_caches": "warm"}])
    split = ops.split_rows(c, COLD)
    assert [(s["server_caches"], s["trials"], s["cold_start_s"]) for s in split] == [("empty", [0], 40.0),
                                                                                     ("warm", [1, 2], 10.0)]
    html = str(figure_rows([c], COLD, lambda p: p, True))
    assert html.count('<tr class="ib-trial">') == 2 and "server caches: empty" in html and "(trials 1, 2)" in html
    table = str(operations_rows(c))  # the cell page: the median row, then each trial with its caches
    assert table.count("<tr>") == 4 and "median of 3" in table and "<td>warm</td>" in table
    c.provenance = None  # trials on one server: their rows are not read
    assert str(operations_rows(c)).count("<tr>") == 1


def test_no_split_without_caches_recorded(tmp_path: Path) -> None:
    c = _cell_folder(tmp_path, [{"trial": 0, "cold_start_s": 1.0, "server_caches": None},
                                {"trial": 1, "cold_start_s": 1.0, "server_caches": None}])
    assert ops.split_rows(c, COLD) == [] and ops.split_rows(c, RECOVERY) == []
    assert "ib-trial" not in str(figure_rows([c], COLD, lambda p: p, True))


def test_windows_are_read_as_untrusted_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c = _entry("x")
    assert ops.read_windows(c) == [] and cell_timelines(c) == []  # no folder
    c.dir = tmp_path
    assert ops.read_windows(c) == []  # no file: no chart, no error
    (tmp_path / "windows.parquet").write_text("not parquet")
    assert ops.read_windows(c) == []
    rows = [{**w, "phase": 0, "phase_name": "<b>base</b>", "extra": "ignored"} for w in _windows(5)]
    rows[1]["ttft_from_scheduled_ms_p50"] = float("nan")
    table = pa.Table.from_pylist(rows)
    table = table.set_column(table.schema.get_field_index("t_end_s"), "t_end_s",
                             pa.array([str(r["t_end_s"]) for r in rows]))  # a string where a number belongs
    pq.write_table(table, tmp_path / "windows.parquet")
    assert ops.read_windows(c) == []  # no usable window end: nothing
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "windows.parquet")
    got = ops.read_windows(c)
    assert len(got) == 5 and "extra" not in got[0] and got[1]["ttft_from_scheduled_ms_p50"] is None
    assert got[0]["phase_name"] == " b base /b " and set(got[0]) == set(ops.WINDOW_COLUMNS)
    monkeypatch.setattr(ops, "MAX_ROWS", 3)
    assert len(ops.read_windows(c)) == 3
    assert [t["load_point"] for t in cell_timelines(c)] == [0]
    (tmp_path / "windows.parquet").unlink()
    (tmp_path / "windows.parquet").symlink_to(tmp_path / "elsewhere.parquet")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "elsewhere.parquet")
    assert ops.read_windows(c) == []  # a link is not followed


def test_phases_come_from_the_recorded_definition_or_the_windows() -> None:
    c = _entry("x")
    c.provenance = {"workload": {"definition": {"load": {"kind": "phases", "phases": [
        {"name": "base", "rate": 2, "duration_s": 10}, {"name": "spike", "rate": 9, "duration_s": 5}]}}}}
    assert ops.phase_spans(c, []) == (PhaseSpan("base", 2.0, 0.0, 10.0), PhaseSpan("spike", 9.0, 10.0, 15.0))
    ws = [{"t_start_s": float(i), "t_end_s": i + 1.0, "phase": i // 3, "phase_name": ["a", "b"][i // 3],
           "offered_rate": [1.0, 5.0][i // 3]} for i in range(6)]
    spans = ops.phase_spans(_entry("y"), ws)
    assert spans == (PhaseSpan("a", 1.0, 0.0, 3.0), PhaseSpan("b", 5.0, 3.0, 6.0))
    assert ops.overload_phase(spans) == spans[1] and ops.overload_phase(spans[:1]) is None


def test_per_target_rows_are_read_as_untrusted_data_and_shown_escaped(tmp_path: Path) -> None:
    """A traffic split's target rows (summary.parquet, row_kind "target") make the cell page's per-target table:
    by load point and trial, the target's name escaped, a non-number null, other row kinds left out."""
    c = _entry("x")
    assert ops.target_rows(c) == []  # no folder
    c.dir = tmp_path
    rows = [{"row_kind": "aggregate", "target": None, "trial": None, "load_point": 0, "ttft_ms_p50": 1.0,
             "requests_ok": 131, "requests_total": 131},  # from_pylist takes its columns from the first row
            {"row_kind": "target", "target": "base", "trial": 1, "load_point": 0, "ttft_ms_p50": 50.0,
             "requests_ok": 90, "requests_total": 90},
            {"row_kind": "target", "target": "<script>x</script>", "trial": 0, "load_point": 0,
             "ttft_ms_p50": float("nan"), "requests_ok": 40, "requests_total": 41},
            {"row_kind": "target", "target": "", "trial": 0, "load_point": 0, "ttft_ms_p50": 3.0}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "summary.parquet")
    got = ops.target_rows(c)
    assert [(r["trial"], r["target"], r["ttft_ms_p50"]) for r in got] == [(0, " script x /script ", None),
                                                                           (1, "base", 50.0)]
    html = str(target_rows(got))
    assert html.count("<tr>") == 2 and "<script>" not in html and "<td>40 / 41</td>" in html
    assert '<td data-sort="50">50</td>' in html


def test_a_search_entry_shows_the_probe_at_its_max_rate() -> None:
    """Every probe row carries the cell's max rate at SLO (10.125 req/s): the row shown is that probe's, not the
    first probe's (2 req/s)."""
    fig = next(f for f in ops.FIGURES if f.column == "max_rate_at_slo_rps")
    rows = [_row(load_point=i, load_kind="search", load_value=v, max_rate_at_slo_rps=10.125)
            for i, v in enumerate((2.0, 3.0, 10.125, 15.19, 12.4))]
    assert ops.figure_row(_entry("a", rows=rows), fig)["load_value"] == 10.125
