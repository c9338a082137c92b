"""Site data: rankings, Pareto fronts, null reasons, path/label safety and the leaderboard loader's errors."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from inferboard.core.errors import InferboardError
from inferboard.site import data as sd
from inferboard.site.build import fmt, rel, script_json, td

ROOT = Path(__file__).resolve().parents[3]
LEADERBOARD = ROOT / "data" / "leaderboard.parquet"


def test_pareto_front_keeps_only_undominated_points() -> None:
    pts = [(1, 10), (2, 9), (3, 3), (2, 2), (4, 1), (1, 5), (3, 3)]
    assert sd.pareto_front(pts) == [(1, 10), (2, 9), (3, 3), (4, 1)]
    assert sd.pareto_front([]) == []


def test_best_point_ranks_by_goodput_per_gpu_and_skips_invalid_rows() -> None:
    rows = [
        {"load_point": 0, "valid": True, "gpu_count": 2, "goodput_requests_per_s_per_gpu": 3.0},
        {"load_point": 1, "valid": False, "gpu_count": 2, "goodput_requests_per_s_per_gpu": 9.0},
        {"load_point": 2, "valid": True, "gpu_count": 2, "goodput_requests_per_s_per_gpu": 5.0},
    ]
    assert sd.best_point(rows)["load_point"] == 2
    assert sd.best_point([rows[1]]) is None
    # CPU hosts have no GPU: ranked per host
    cpu = {"load_point": 0, "valid": True, "gpu_count": 0, "goodput_requests_per_s": 4.0,
           "goodput_requests_per_s_per_gpu": None}
    assert sd.rank_value(cpu) == 4.0


def test_cost_and_energy_figures() -> None:
    row = {"gpu_count": 1, "goodput_requests_per_s_per_gpu": 2.0, "joules_per_output_token": 0.5}
    assert sd.goodput_per_dollar(row, 4.0) == pytest.approx(1800.0)  # 2 req/s × 3600 s / $4
    assert sd.goodput_per_dollar(row, None) is None
    assert sd.tokens_per_joule(row) == pytest.approx(2.0)
    assert sd.tokens_per_joule({"joules_per_output_token": None}) is None


def test_segment_keeps_slugs_and_neutralises_anything_else() -> None:
    assert sd.segment("tiny-llama-2l") == "tiny-llama-2l"
    for hostile in ("<script>alert(1)</script>", "../../etc", "a/b", "**bold**", ".."):
        s = sd.segment(hostile)
        assert "/" not in s and "<" not in s and ".." not in s and s != hostile
    assert sd.segment("A/B") != sd.segment("a-b")  # distinct names never share a page
    assert sd.label("x</title><script>") == "x_/title__script_"  # no < > & " left for a template to trip on


def test_null_reasons_include_energy_and_roofline() -> None:
    row = {"null_reasons": json.dumps({"ttft_ms_p99": "16 samples < 662 needed for p99"}),
           "energy_null_reason": "no GPU monitored", "roofline_reason": "no GPU SKU"}
    why = sd.null_reasons(row)
    assert why["ttft_ms_p99"].startswith("16 samples")
    assert why["joules_per_output_token"] == why["tokens_per_joule"] == "no GPU monitored"
    assert why["roofline_efficiency_pct"] == "no GPU SKU"


def test_td_shows_why_a_value_is_null_and_escapes_it() -> None:
    row = {"x": None, "_null": {"x": "<b>too few</b> samples"}, "y": 1234.5, "y_ci95_low": 1000.0,
           "y_ci95_high": 1500.0}
    cell = str(td(row, "x"))
    assert "&lt;b&gt;too few&lt;/b&gt; samples" in cell and "<b>" not in cell
    assert str(td(row, "y")) == ('<td data-sort="1234.5">1,234<span class="ib-ci"> [1,000, 1,500]</span></td>')
    assert fmt(None) == "—" and fmt(0.000012) == "1.20e-05" and fmt(3.14159) == "3.14"


def test_script_json_cannot_close_its_script_tag() -> None:
    s = str(script_json({"name": "</script><script>alert(1)</script>&"}))
    assert "<" not in s and ">" not in s and "&" not in s
    assert json.loads(s) == {"name": "</script><script>alert(1)</script>&"}


def test_rel_links_between_pages() -> None:
    assert rel("cells/a/b/c/d.html", "index.md") == "../../../../index.html"
    assert rel("workloads/w.md", "cells/a/b/c/d.html") == "../cells/a/b/c/d.html"


def test_load_rows_names_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(InferboardError, match=r"--data.*no leaderboard file"):
        sd.load_rows(tmp_path / "missing.parquet")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(InferboardError, match="cannot read"):
        sd.load_rows(tmp_path / "bad.parquet")
    pq.write_table(pa.table({"cell_id": ["a/b/c/d"]}), tmp_path / "thin.parquet")
    with pytest.raises(InferboardError, match=r"lacks the column.*row_kind"):
        sd.load_rows(tmp_path / "thin.parquet")


def test_published_leaderboard_groups_into_cells() -> None:
    rows = sd.load_rows(LEADERBOARD)
    cells = sd.group_cells(rows, ROOT / "data" / "results")
    assert [c.id for c in cells] == sorted(c.id for c in cells)
    assert all(c.provenance is not None and c.provenance["cell_id"] == c.id for c in cells)
    assert all(c.path.startswith("cells/") and c.path.endswith(".html") for c in cells)
    # NaN never reaches the pages: every float is finite or None
    assert all(v is None or v == v for r in rows for v in r.values() if isinstance(v, float))
