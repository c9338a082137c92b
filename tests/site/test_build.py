"""The built site: every page type exists, internal links resolve, output is deterministic, names are inert,
entries are grouped (ranked, unverified, invalid, custom, local) and each shows its submission."""

from __future__ import annotations

import hashlib
import html.parser
import json
import posixpath
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from markupsafe import escape
from sitehelpers import FORCED, HOSTILE, bundles, entries, marked

from inferboard.site import data as sd
from inferboard.site.build import build_site
from inferboard.submission.registry import all_checks

pytestmark = pytest.mark.site


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for k, v in attrs:
            if k in ("href", "src") and v:
                self.links.append(v)
            elif k == "id" and v:
                self.ids.append(v)


def _links(page: Path) -> list[str]:
    parser = _Links()
    parser.feed(page.read_text())
    return parser.links


def _tree_hash(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _section(text: str, start: str) -> str:
    """From the element with id ``start`` to the next h2 or h3."""
    head = text.index(f'id="{start}"')
    ends = [i for i in (text.find("<h2 ", head + 1), text.find("<h3 ", head + 1)) if i >= 0]
    return text[head:min(ends)] if ends else text[head:]


def _table(text: str, table_id: str) -> str:
    head = text.index(f'id="{table_id}"')
    return text[head:text.index("</table>", head)]


def test_every_page_type_is_built(published_site: Path) -> None:
    for page in ("index.html", "methodology.html", "submit.html", "data/leaderboard.parquet",
                 "assets/vendor/plotly.min.js"):
        assert (published_site / page).is_file(), page
    cells = entries(published_site)
    assert cells and all((published_site / c.path).is_file() for c in cells)
    for c in cells:
        for page in (f"workloads/{sd.segment(c.workload)}.html", f"skus/{sd.segment(c.sku)}.html",
                     f"runtimes/{sd.segment(c.runtime)}.html"):
            assert (published_site / page).is_file(), page
    # a published cpu-fixed cell of the default matrix (the real model): its light point has too few requests for a
    # p99, its headline point enough; its accuracy figure is shown
    cpu = next(c for c in cells if c.sku == "cpu-host" and not c.local and c.workload == "cpu-fixed"
               and c.model == "smollm2-135m")
    text = (published_site / cpu.path).read_text()
    assert f"inferboard rerun {cpu.id}" in text  # the default matrix's cells rerun with one command
    assert "exact match with reference" in text and cpu.best is not None and cpu.best["accuracy_exact_share"] > 0.85
    tiny = next(c for c in cells if not c.local and c.model == "tiny-llama-2l" and c.workload == "cpu-overload")
    assert "Accuracy not measured: not ranked" in (published_site / tiny.path).read_text()
    assert "samples &lt; 662 needed for p99" in text  # a null percentile says why
    assert "provenance.json" in text and "sha256:" in text


def test_invalid_and_unverified_cells_are_marked_and_not_ranked(marked_site: Path) -> None:
    m = marked(marked_site)
    invalid, unverified = m["invalid"], m["unverified"]
    cell = (marked_site / invalid.path).read_text()
    assert FORCED in cell and "ib-badge--invalid" in cell and "PARTLY INVALID" in cell
    text = (marked_site / unverified.path).read_text()
    assert "UNVERIFIED" in text and "Unverified hardware" in text
    board = (marked_site / "workloads" / f"{sd.segment(unverified.workload)}.html").read_text()
    link = unverified.path.split("/", 1)[1]  # relative to the workload page: ../cells/…
    assert link not in _table(board, "t-ranked")  # shown apart, not ranked
    assert link in _table(board, "t-unverified")


def test_local_and_custom_entries_are_shown_apart_never_ranked(marked_site: Path) -> None:
    cells = entries(marked_site)
    local = next(c for c in cells if c.local)
    custom = next(c for c in cells if c.custom_workload)
    same = [c for c in cells if c.id == local.id]
    assert len(same) >= 3 and len({c.path for c in same}) == len(same)  # one cell id, one page per entry
    board = (marked_site / "workloads" / f"{sd.segment(local.workload)}.html").read_text()
    ranked = _table(board, "t-ranked")
    for c in (local, custom):
        assert c.path.split("/", 1)[1] not in ranked
    local_rows = _table(board, "t-local")
    assert local.path.split("/", 1)[1] in local_rows and "local, not submitted" in local_rows
    assert "local, not submitted" not in ranked
    assert custom.path.split("/", 1)[1] in _table(board, "t-custom")
    assert "CUSTOM WORKLOAD" in _table(board, "t-custom")
    page = (marked_site / local.path).read_text()
    assert "local, not submitted" in page and 'id="checks-table"' not in page
    assert 'id="local"' in board and 'id="custom"' in board  # each group under its own heading


def test_rows_show_the_submitter_and_the_reproduced_badge(marked_site: Path) -> None:
    cells = entries(marked_site)
    reproduced = next(c for c in cells if c.reproduced)
    board = (marked_site / "workloads" / f"{sd.segment(reproduced.workload)}.html").read_text()
    row = next(r for r in board.split("<tr") if reproduced.path.split("/", 1)[1] in r)
    assert str(escape(reproduced.submitter)) in row and str(escape(reproduced.submission_id)) in row
    assert "ib-badge--reproduced" in row
    others = [r for r in board.split("<tr") if "ib-badge--reproduced" in r]
    assert len(others) == sum(c.reproduced and c.workload == reproduced.workload for c in cells)


def test_submit_page_lists_every_registered_check(published_site: Path) -> None:
    text = (published_site / "submit.html").read_text()
    checks = all_checks()
    assert checks
    table = _table(text, "checks-table")
    for c in checks:
        assert f"<code>{escape(c.id)}</code>" in table, c.id
    assert table.count("<tr id=") == len(checks)  # every registered check, nothing else
    assert "rejects the bundle" in table
    assert "row kept, marked invalid" in table or all(c.severity == "error" for c in checks)
    for command in ("inferboard submit", "inferboard validate", "inferboard intake", "inferboard reproduce",
                    ".github/workflows/intake.yml"):
        assert command in text, command


def test_cell_page_lists_the_bundle_checks_and_links_its_files(published_site: Path) -> None:
    meta = bundles(published_site)
    submitted = [c for c in entries(published_site) if not c.local]
    assert submitted
    for c in submitted:
        text = (published_site / c.path).read_text()
        assert str(escape(c.submission_id)) in _section(text, "submission")
        checks = meta[c.submission_id].checks
        table = _table(text, "checks-table")
        assert table.count("<tr class=") == len(checks)
        for chk in checks:
            assert f"<code>{escape(chk.id)}</code>" in table
        files = [link for link in _links(published_site / c.path) if "/data/submissions/" in link]
        assert {"provenance.json", "requests.parquet", "summary.parquet"} <= {f.rsplit("/", 1)[1] for f in files}
        for f in files:
            target = posixpath.normpath(posixpath.join(posixpath.dirname(c.path), unquote(f)))
            assert (published_site / target).is_file(), f
    for p in (published_site / "data").rglob("*"):  # a cell's files are never served as pages
        assert p.suffix not in (".html", ".htm", ".svg", ".md", ".js"), p


def test_internal_links_resolve_and_ids_are_unique(published_site: Path) -> None:
    broken = []
    for page in published_site.rglob("*.html"):
        parser = _Links()
        parser.feed(page.read_text())
        for link in parser.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or not parts.path:
                continue
            here = "" if parts.path.startswith("/") else page.parent.relative_to(published_site).as_posix()
            target = posixpath.normpath(posixpath.join(here, unquote(parts.path).lstrip("/")))
            if not (published_site / target).exists():
                broken.append(f"{page.relative_to(published_site)} → {link}")
        dup = {i for i in parser.ids if parser.ids.count(i) > 1}
        assert not dup, f"{page.relative_to(published_site)}: duplicate ids {dup}"  # scripts look charts up by id
    assert not broken, broken[:10]


def test_same_data_gives_identical_files(published_site: Path, published_leaderboard: tuple[Path, Path],
                                         tmp_path: Path) -> None:
    data, root = published_leaderboard
    build_site(data, tmp_path / "again", project=tmp_path / "src", root=root)
    assert _tree_hash(tmp_path / "again") == _tree_hash(published_site)


def test_hostile_names_are_escaped_everywhere(hostile_site: Path) -> None:
    pages = list(hostile_site.rglob("*.html"))
    assert len(pages) >= 8
    text = {p: p.read_text() for p in pages}
    for page, t in text.items():
        for payloads in HOSTILE.values():
            for p in payloads:
                if "<" in p:
                    assert p not in t, f"raw HTML payload in {page.relative_to(hostile_site)}"
        assert "<strong>bold</strong>" not in t and 'href="javascript:' not in t
        assert "<code>code</code>" not in t and "<strong>notes</strong>" not in t
    everything = "\n".join(text.values())
    for key, payloads in HOSTILE.items():  # every field reaches some page, escaped
        for p in payloads:
            assert str(escape(p)) in everything, (key, p)
    # the Markdown payload is shown literally, never interpreted
    assert HOSTILE["model"][0] in (hostile_site / "index.html").read_text()


def test_bad_leaderboard_stops_with_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "x.parquet").write_text("nope")
    cmd = [sys.executable, "-m", "inferboard.cli", "site", "build", "--data", str(tmp_path / "x.parquet"),
           "--out", str(tmp_path / "o"), "--project", str(tmp_path / "p")]
    res = subprocess.run(cmd, capture_output=True, text=True)
    out = res.stdout + res.stderr
    assert res.returncode == 2 and "error: --data: cannot read" in out and "Traceback" not in out, out
    assert not (tmp_path / "o").exists()


def _chart(text: str, chart_id: str) -> dict[str, Any]:
    head = text.index(f'<script type="application/json" id="chart-{chart_id}">')
    body = text[text.index(">", head) + 1:text.index("</script>", head)]
    return json.loads(body)


def _ranked_skus(text: str) -> list[str]:
    table = _table(text, "t-ranked")
    rows = [r for r in table.split("<tr")[2:] if "ib-trial" not in r.split(">", 1)[0]]
    return [re.search(r'href="[^"]*skus/([^"/]+)\.html"', r).group(1) for r in rows]  # type: ignore[union-attr]


def test_overload_cell_page_shows_its_run_over_time(published_site: Path) -> None:
    overload = [c for c in entries(published_site) if c.workload == "cpu-overload"]
    assert any(c.local for c in overload)  # the example cell (also submitted while the committed bundle is stale)
    for c in overload:
        text = (published_site / c.path).read_text()
        assert 'id="timeline"' in text and 'data-spec="chart-timeline-0"' in text
        fig = _chart(text, "timeline-0")
        phases = [s["name"] for s in fig["layout"]["shapes"] if s["type"] == "rect"]
        notes = " ".join(a["text"] for a in fig["layout"]["annotations"])
        assert len(phases) >= 2 and "recovered" in notes and len(fig["data"]) == 3
        ops_table = _table(text, "operations-table")
        for heading in ("recovery (s)", "overload errors", "peak queue", "cold TTFT (ms)", "cold_start_s"):
            assert heading in ops_table, heading
        assert "recovery (s)" in _table(text, "figures-table")  # left out of the leaderboard tables, listed here
        if c.local:  # the example: it never recovered, its queue grew past 1,000 requests
            assert phases == ["baseline", "spike", "recovery"] and "not recovered: the last window" in notes
            assert any(v is not None for v in fig["data"][0]["y"])
            queue = next(d for d in _chart(text, "gauges-0")["data"] if d["name"].startswith("waiting requests"))
            assert max(v for v in queue["y"] if v is not None) >= 1000
    cold = next(c for c in entries(published_site) if c.workload == "cpu-cold-start")
    text = (published_site / cold.path).read_text()
    assert 'id="operations-table"' in text
    # the heading; per load point (2): the median and each of the 2 fresh starts
    assert _table(text, "operations-table").count("<tr>") == 1 + 2 * 3


def test_operational_workloads_are_ranked_by_their_own_figure(published_site: Path, operations_site: Path) -> None:
    page = (operations_site / "workloads" / "workload-00.html").read_text()
    assert "Ranking: recovery, lower is better" in page and "goodput at SLO per GPU" not in page
    assert _ranked_skus(page) == ["sku-03", "sku-02", "sku-04", "sku-00"]  # fastest first; never recovered last
    assert "sku-01" in _table(page, "t-invalid")  # invalid: shown apart, not ranked
    home = (operations_site / "index.html").read_text()
    best = _table(home, "t-operations")
    assert "workload-00" in best and "sku-03" in best and "recovery, lower is better" in best
    assert '<td data-sort="2">2</td>' in best  # its recovery_s
    assert 'id="t-best"' not in home  # no workload ranked by goodput in this leaderboard
    fastest = next(c for c in entries(operations_site) if c.sku == "sku-03" and not c.local)
    fig = _chart((operations_site / fastest.path).read_text(), "timeline-0")
    line = next(s for s in fig["layout"]["shapes"] if s["type"] == "line")
    assert line["x0"] == 22.0  # the spike ends at 20 s, + recovery_s
    assert any(a["text"].startswith("recovered") for a in fig["layout"]["annotations"])
    cold = (published_site / "workloads" / "cpu-cold-start.html").read_text()
    assert "Ranking: cold start, lower is better" in cold  # fresh server per trial: ranked by its cold start
    fixed = (published_site / "workloads" / "cpu-fixed.html").read_text()
    assert "Ranking: goodput at SLO per GPU" in fixed and "recovery (s)" not in _table(fixed, "t-ranked")
