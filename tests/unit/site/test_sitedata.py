"""Site data: entries and their groups, rankings, Pareto fronts, null reasons, path/label safety, the bundles
metadata, the cell folder's files read only inside the root, and the leaderboard loader's errors."""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from inferboard.core.errors import InferboardError
from inferboard.site import bundles as sb
from inferboard.site import data as sd
from inferboard.site.html import board_rows, fmt, rel, script_json, spec_text, td
from inferboard.site.ranking import best_point
from inferboard.site.synthetic import default_template, resubmit, synthesize

PROVENANCE = next(default_template().rglob("provenance.json"))


def test_pareto_front_keeps_only_undominated_points() -> None:
    pts = [(1, 10), (2, 9), (3, 3), (2, 2), (4, 1), (1, 5), (3, 3)]
    assert sd.pareto_front(pts) == [(1, 10), (2, 9), (3, 3), (4, 1)]
    assert sd.pareto_front([]) == []


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
    summary = next(default_template().rglob("summary.parquet"))  # a summary, not a leaderboard: no entry columns
    with pytest.raises(InferboardError, match=r"lacks the column.*entry_id.*inferboard leaderboard"):
        sd.load_rows(summary)


def test_entries_are_grouped_by_entry_id_with_their_files(tmp_path: Path) -> None:
    rows_written = resubmit(default_template(), tmp_path / "lb.parquet", root=tmp_path)
    rows = sd.load_rows(tmp_path / "lb.parquet")
    assert len(rows) == rows_written
    cells = sd.group_cells(rows, tmp_path, sb.read_bundles(tmp_path / "lb.parquet"))
    assert [c.entry_id for c in cells] == sorted(c.entry_id for c in cells)
    assert len({c.path for c in cells}) == len(cells)  # the same cell in several bundles and locally: a page each
    local = next(c for c in cells if c.local)
    assert {c.origin for c in cells if c.id == local.id} == {"submitted", "local"}
    for c in cells:
        assert c.dir is not None and c.provenance is not None and c.provenance["cell_id"] == c.id
        top = "local" if c.local else sd.segment(str(c.submission_id))
        assert c.path == f"cells/{top}/{c.id}.html"  # real cell ids are safe slugs
        assert (c.bundle is None) == c.local
        assert c.data_dir == (f"data/local/{c.id}" if c.local else f"data/submissions/{top}/cells/{c.id}")
    # NaN never reaches the pages: every float is finite or None
    assert all(v is None or v == v for r in rows for v in r.values() if isinstance(v, float))


def _cell(**kw: Any) -> sd.PublishedCell:
    row = {"load_point": 0, "valid": True, "gpu_count": 1, "goodput_requests_per_s_per_gpu": 1.0,
           "sku_verified": True, "load_kind": "concurrency", "load_value": 1.0}
    model = kw.pop("model", "m")
    c = sd.PublishedCell(id=f"s/r/{model}/w", sku="s", runtime="r", model=model, workload="w", rows=[row], **kw)
    c.best = best_point(c.rows)
    return c


def test_board_rows_show_the_submitter_or_local_and_escape_them() -> None:
    hostile = _cell(entry_id="x/s/r/m/w", submission_id="<i>id</i>", submitter="<b>me</b>", org="<u>org</u>",
                    reproduced=True)
    local = _cell(entry_id="local/s/r/m/w", origin="local")
    hostile.path, local.path = "cells/x/s/r/m/w.html", "cells/local/s/r/m/w.html"
    html = str(board_rows([hostile, local], [], lambda p: p, True, lambda s: None))
    assert "&lt;b&gt;me&lt;/b&gt; (&lt;u&gt;org&lt;/u&gt;)" in html and "&lt;i&gt;id&lt;/i&gt;" in html
    assert "<b>" not in html and "<i>" not in html and "ib-badge--reproduced" in html
    assert html.count("local, not submitted") == 1


def test_bundles_metadata_is_optional_and_normalised(tmp_path: Path) -> None:
    assert sb.parse_bundles(None) == {} and sb.parse_bundles(b"not json") == {} and sb.parse_bundles("[1]") == {}
    doc = {"b1": {"submitter": "<x>", "org": 3, "notes": ["list"], "created_utc": "2026", "custom": "yes",
                  "checks": [{"id": "a.b", "ok": True, "severity": "error", "reason": None}, {"ok": False}, "junk"],
                  "reproductions": [{"path": "p", "cell_id": "c", "verdict": "agrees", "different_host": 1}]},
           "b2": "junk"}
    b = sb.parse_bundles(json.dumps(doc))
    assert list(b) == ["b1"]
    assert (b["b1"].submitter, b["b1"].org, b["b1"].notes, b["b1"].custom) == ("<x>", "3", None, False)
    assert [c.id for c in b["b1"].checks] == ["a.b"] and b["b1"].checks[0].ok
    assert b["b1"].reproductions_of("c")[0].different_host is False  # only true is true
    pq.write_table(pa.table({"x": [1]}), tmp_path / "plain.parquet")
    assert sb.read_bundles(tmp_path / "plain.parquet") == {}


def test_cell_folders_are_read_only_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    cid = "s/r/m/w"
    good = root / "data" / "submissions" / "b1" / "cells" / cid
    good.mkdir(parents=True)
    (root / "results" / cid).mkdir(parents=True)
    (tmp_path / "outside" / cid).mkdir(parents=True)
    (root / "data" / "submissions" / "b2").symlink_to(tmp_path / "outside")
    assert sb.cell_dir(root, f"data/submissions/b1/cells/{cid}", cid, "b1") == good
    assert sb.cell_dir(root, f"results/{cid}", cid) == root / "results" / cid
    for bad, sub in [(f"/{cid}", None), (str(tmp_path / "outside" / cid), None), (f"../outside/{cid}", None),
                     (f"results/../results/{cid}", None), (f"data/submissions/b2/{cid}", None), ("", None),
                     (None, None), (".", None), ("results", None), ("data/submissions/b1", "b1"),
                     (f"data/submissions/b1/cells/{cid}", "b2"), (f"results/{cid}", "b1"),  # another bundle
                     ("results/s/r/m/other", None), (f"missing/{cid}", None), (f"results\\..\\{cid}", None)]:
        assert sb.cell_dir(root, bad, cid, sub) is None, bad
    assert sb.cell_dir(None, f"results/{cid}", cid) is None


def test_provenance_over_2_mb_or_off_schema_is_not_shown(tmp_path: Path) -> None:
    good = json.loads(PROVENANCE.read_text())
    (tmp_path / "provenance.json").write_text(json.dumps(good))
    assert sb.read_provenance(tmp_path) == (good, None)
    (tmp_path / "provenance.json").write_text(json.dumps({**good, "suite": "<b>x</b>"}))
    assert sb.read_provenance(tmp_path)[1] == "provenance.json does not match the provenance schema"
    (tmp_path / "provenance.json").write_text(json.dumps({**good, "pad": "x" * sb.MAX_PROVENANCE_BYTES}))
    assert sb.read_provenance(tmp_path) == (None, "provenance.json is not a plain file of at most 2 MB")
    (tmp_path / "provenance.json").unlink()
    (tmp_path / "provenance.json").symlink_to(PROVENANCE)
    assert sb.read_provenance(tmp_path)[0] is None


def test_cell_files_skip_links_big_and_hidden_files_and_never_publish_pages(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "cell"
    (d / "sub").mkdir(parents=True)
    for name in ("summary.parquet", "provenance.json", "NOTE.md", "x.html", ".hidden", "sub/log.log",
                 "a b<c>.json"):
        (d / name).write_text("x")
    (d / "big.log").write_text("x" * 100)
    (d / "link.json").symlink_to(d / "summary.parquet")
    (d / "linkdir").symlink_to(tmp_path)
    monkeypatch.setattr(sb, "MAX_FILE_BYTES", 50)
    files = {f.name: f.dest for f in sb.cell_files(d, "data/x")}
    assert set(files) == {"summary.parquet", "provenance.json", "NOTE.md", "x.html", "sub/log.log", "a b<c>.json"}
    assert files["summary.parquet"] == "data/x/summary.parquet" and files["sub/log.log"] == "data/x/sub/log.log"
    assert files["NOTE.md"] == "data/x/NOTE.md.txt" and files["x.html"] == "data/x/x.html.txt"
    assert "<" not in files["a b<c>.json"] and " " not in files["a b<c>.json"]
    assert sb.published_name(PurePosixPath("..")) != ".."
    out = tmp_path / "out" / "f"
    assert sb.copy_file(d / "summary.parquet", out) and out.read_text() == "x"
    assert not sb.copy_file(d / "link.json", tmp_path / "out" / "g")  # a link is refused even at copy time
    assert not sb.copy_file(d / "big.log", tmp_path / "out" / "h")
    assert os.listdir(tmp_path / "out") == ["f"]


def test_synthetic_leaderboard_has_every_kind_of_entry(tmp_path: Path) -> None:
    names = {"submitter": ["<s>"], "notes": ["<n>"], "reason": ["<r>"]}
    n = synthesize(default_template(), tmp_path / "lb.parquet", 6, names=names)
    rows = sd.load_rows(tmp_path / "lb.parquet")
    assert n == len(rows)
    cells = sd.group_cells(rows, None, sb.read_bundles(tmp_path / "lb.parquet"))
    assert len(cells) == 6 and sum(c.local for c in cells) == 1 and sum(c.custom_workload for c in cells) == 1
    assert any(c.reproduced for c in cells)
    bundles = sb.read_bundles(tmp_path / "lb.parquet")
    assert len(bundles) == 3 and {c.submission_id for c in cells if not c.local} == set(bundles)
    assert {b.submitter for b in bundles.values()} == {"<s>"} and {b.notes for b in bundles.values()} == {"<n>"}
    assert any(chk.reason == "<r>" and not chk.ok for b in bundles.values() for chk in b.checks)
    assert any(r["invalid_reason"] and "<r>" in r["invalid_reason"] for r in rows)


def test_each_row_names_its_models_kind_and_precision() -> None:
    """From the catalogue; for a model it does not list, random weights as its provenance says (a device check's
    stand-in for a model it cannot download), else nothing."""
    assert sd.cell_model_kind(_cell(model="smollm2-135m-q4_1")) == "real weights, 4-bit (Q4_1)"
    assert sd.cell_model_kind(_cell(model="tiny-llama-2l")) == "random weights, float32"
    stand_in = _cell(model="llama-3.1-8b-instruct-random",
                     provenance={"model": {"kind": "random-weights", "catalogue_id": "llama-3.1-8b-instruct"}})
    assert sd.cell_model_kind(stand_in) == "random weights"
    assert sd.cell_model_kind(_cell(model="my-model")) is None


def test_a_workload_spec_reads_as_words_with_units() -> None:
    assert spec_text({"ttft_ms": 1000, "tpot_ms": 100, "e2e_ms": None}) == "TTFT 1,000 ms · TPOT 100 ms"
    assert spec_text({"kind": "phases", "phases": [{"name": "spike", "rate": 60, "duration_s": 4}]}) == \
        "kind phases · phases (name spike · rate 60 · duration 4 s)"
    assert spec_text({"kind": "concurrency", "concurrency": [1, 4]}) == "kind concurrency · concurrency 1, 4"
