"""The site in headless Chromium: every page type loads cleanly, charts render, tables sort and filter,
and hostile names stay inert text. A screenshot per page type is kept under artifacts/site/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sitehelpers import ARTIFACTS, FORCED, HOSTILE, entries, marked, serve

pytestmark = pytest.mark.site

PAGES = {  # page type → path (None: an entry's page, see _page), charts expected
    "home": ("index.html", 0),
    "workload": ("workloads/cpu-fixed.html", 1),
    "sku": ("skus/cpu-host.html", 0),
    "runtime": ("runtimes/llamacpp.html", 0),
    "cell": (None, 0),
    "gpu-cell": (None, 0),
    "local-cell": (None, 0),
    "methodology": ("methodology.html", 0),
    "submit": ("submit.html", 0),
}


CELL = "cpu-host/vllm/tiny-llama-2l/cpu-fixed"


def _page(site: Path, kind: str) -> tuple[str, int]:
    """The page of this kind and the charts it shows (an entry page: two sweeps with several load points, and
    two latency CDFs)."""
    path, charts = PAGES[kind]
    if path is not None:
        return path, charts
    if kind == "cell":  # a submitted entry with the most load points (three for the sorting test)
        c = max((c for c in entries(site) if not c.local), key=lambda c: (len(c.rows), c.id == CELL))
    else:
        found = [c for c in entries(site) if (c.local if kind == "local-cell" else
                                              bool(c.rows[0].get("gpu_count")))]
        if not found:
            pytest.skip(f"no {kind} entry in the published data")
        c = found[0]
    return c.path, 4 if len(c.rows) > 1 else 2


@pytest.fixture(scope="module")
def site_url(published_site: Path) -> Iterator[str]:
    url, srv = serve(published_site)
    yield url
    srv.shutdown()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.problems = []  # console errors, uncaught exceptions, dialogs, failed requests
    pg.on("console", lambda m: pg.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.problems.append(f"pageerror: {e}"))
    pg.on("dialog", lambda d: (pg.problems.append(f"dialog: {d.message}"), d.dismiss()))
    pg.on("requestfailed", lambda r: pg.problems.append(f"request failed: {r.url}"))
    yield pg
    ctx.close()


@pytest.mark.parametrize("kind", sorted(PAGES))
def test_page_loads_without_errors_and_renders_its_charts(page: Any, site_url: str, published_site: Path,
                                                          kind: str) -> None:
    path, charts = _page(published_site, kind)
    resp = page.goto(f"{site_url}/{path}")
    assert resp is not None and resp.ok
    page.wait_for_load_state("networkidle")
    if charts:
        page.wait_for_function(f"document.querySelectorAll('div.ib-chart[data-rendered]').length >= {charts}",
                               timeout=15_000)
        assert page.locator("div.ib-chart .main-svg").count() >= charts  # Plotly drew SVG
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{kind}.png"), full_page=True)
    assert page.problems == []
    assert page.locator("h1").count() == 1


def _column(page: Any, table: str, col: int) -> list[float]:
    vals = page.eval_on_selector_all(f"#{table} tbody tr:not([hidden]) td:nth-child({col})",
                                     "tds => tds.map(td => td.dataset.sort)")
    return [float(v) for v in vals if v]


def test_table_sorts_on_click(page: Any, site_url: str, published_site: Path) -> None:
    page.goto(f"{site_url}/{_page(published_site, 'cell')[0]}")
    page.wait_for_load_state("networkidle")
    header = page.locator("#points thead th", has_text="output tok/s")
    col = page.eval_on_selector_all("#points thead th", "ths => ths.map(t => t.textContent)").index(
        header.text_content()) + 1
    header.click()
    first = _column(page, "points", col)
    header.click()
    second = _column(page, "points", col)
    assert len(first) >= 3
    assert {tuple(first), tuple(second)} == {tuple(sorted(first)), tuple(sorted(first, reverse=True))}
    assert first != second
    assert page.problems == []


def test_filter_hides_other_rows(page: Any, site_url: str) -> None:
    page.goto(f"{site_url}/{PAGES['sku'][0]}")
    rows = page.locator("#t-cells tbody tr")
    total = rows.count()
    # a system (runtime, model, SKU) or entry (workload, load point, submitter) that some rows have and others not
    names = [page.eval_on_selector_all(f"#t-cells tbody tr td:nth-child({i})", "tds => tds.map(t => t.textContent)")
             for i in (1, 2)]
    term = next((n for col in names for n in col if 0 < col.count(n) < total), None)
    if term is None:
        pytest.skip("every row of the SKU page has the same runtime and workload")
    page.fill("input.ib-filter", term)
    visible = page.locator("#t-cells tbody tr:not([hidden])")
    assert 0 < visible.count() < total
    assert all(term in t for t in visible.all_text_contents())


def test_invalid_rows_are_marked(page: Any, marked_site: Path) -> None:
    url, srv = serve(marked_site)
    try:
        m = marked(marked_site)
        page.goto(f"{url}/{m['invalid'].path}")
        bad = page.locator("#points tr.ib-invalid")
        assert bad.count() == 1
        assert "INVALID" in bad.text_content() and FORCED in bad.text_content()
        page.goto(f"{url}/workloads/{m['unverified'].workload}.html")
        unverified = page.locator("#t-unverified tbody tr.ib-unverified")
        assert unverified.count() == 1 and "UNVERIFIED" in unverified.text_content()
        assert page.locator("#t-ranked tbody tr.ib-unverified").count() == 0
        local = next(c for c in entries(marked_site) if c.local)
        page.goto(f"{url}/workloads/{local.workload}.html")
        row = page.locator("#t-local tbody tr")
        assert row.count() == 1 and "local, not submitted" in row.text_content()
        assert "local, not submitted" not in page.locator("#t-ranked").text_content()
        assert page.problems == []
    finally:
        srv.shutdown()


def test_hostile_names_render_as_text(browser: Any, hostile_site: Path) -> None:
    url, srv = serve(hostile_site)
    ctx = browser.new_context()
    pg = ctx.new_page()
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        cells = sorted(p.relative_to(hostile_site).as_posix() for p in (hostile_site / "cells").rglob("*.html"))
        for path in ["index.html", *cells, *(p.relative_to(hostile_site).as_posix()
                                            for p in sorted((hostile_site / "workloads").glob("*.html")))]:
            pg.goto(f"{url}/{path}")
            pg.wait_for_load_state("networkidle")
            assert pg.locator("img[src='x'], svg[onload]").count() == 0
            assert pg.evaluate("[...document.scripts].filter(s => s.textContent.includes('alert(')"
                               " && s.type !== 'application/json').length") == 0
        shown = []
        for path in ["index.html", *cells]:
            pg.goto(f"{url}/{path}")
            shown.append(pg.inner_text("body"))
        body = "\n".join(shown)
        for names in HOSTILE.values():
            for name in names:
                assert " ".join(name.split()) in body, name  # shown verbatim, as text
        assert dialogs == []
    finally:
        ctx.close()
        srv.shutdown()


#: pages whose leaderboard tables must fit a 1,366 × 768 laptop screen
LAPTOP_PAGES = ("index.html", "workloads/cpu-fixed.html", "workloads/cpu-overload.html",
                "workloads/cpu-cold-start.html", "skus/cpu-host.html")


def test_tables_fit_a_laptop_screen(browser: Any, site_url: str) -> None:
    ctx = browser.new_context(viewport={"width": 1366, "height": 768})
    pg = ctx.new_page()
    try:
        for path in LAPTOP_PAGES:
            pg.goto(f"{site_url}/{path}")
            pg.wait_for_load_state("networkidle")
            tables = pg.evaluate("""() => [...document.querySelectorAll('article table')].map(t => ({
                id: t.id, width: t.scrollWidth, own: t.clientWidth, box: t.parentElement.clientWidth,
                boxScroll: t.parentElement.scrollWidth}))""")
            assert any(t["id"].startswith("t-") for t in tables), path  # a leaderboard table is there
            for t in tables:
                assert t["width"] <= t["box"] and t["boxScroll"] <= t["box"], (path, t)  # no horizontal scrolling
                assert t["width"] <= t["own"] + 1, (path, t)
    finally:
        ctx.close()


@pytest.mark.parametrize(("width", "height"), [(1366, 900), (390, 844)])
def test_no_page_is_wider_than_the_screen(browser: Any, site_url: str, published_site: Path, width: int,
                                          height: int) -> None:
    """Every page of the site, on a laptop and on a phone: nothing widens the page past the screen (a wide table
    scrolls in its own box), and no page logs an error."""
    pages = sorted(str(p.relative_to(published_site)) for p in published_site.rglob("*.html")
                   if "assets" not in p.parts)
    assert len(pages) > 40
    ctx = browser.new_context(viewport={"width": width, "height": height})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    pg.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    try:
        wide = {}
        for path in pages:
            pg.goto(f"{site_url}/{path}")
            pg.wait_for_load_state("load")
            if (w := pg.evaluate("() => document.documentElement.scrollWidth")) > width:
                wide[path] = w
        assert not wide, wide
        assert not errors, errors
    finally:
        ctx.close()


def test_overload_cell_page_renders_its_time_series(page: Any, site_url: str, published_site: Path) -> None:
    # the local example cell: an overload llama-server never recovered from (the published ones recovered)
    cell = max((c for c in entries(published_site) if c.workload == "cpu-overload"), key=lambda c: c.local)
    page.goto(f"{site_url}/{cell.path}")
    page.wait_for_function("document.querySelector('div.ib-chart[data-spec=\"chart-timeline-0\"][data-rendered]')",
                           timeout=15_000)
    got = page.evaluate("""() => { const el = document.querySelector('div[data-spec="chart-timeline-0"]');
        return {traces: el.data.length, points: el.data[0].x.length, shapes: el.layout.shapes.length,
                svg: el.querySelectorAll('.main-svg').length,
                text: [...el.querySelectorAll('.annotation-text')].map(a => a.textContent).join(' | ')}; }""")
    assert got["traces"] == 3 and got["points"] > 10 and got["shapes"] == 3 and got["svg"] >= 1, got
    assert "spike" in got["text"] and "not recovered" in got["text"], got
    assert page.locator('div.ib-chart[data-spec="chart-gauges-0"] .main-svg').count() >= 1
    assert page.problems == []
