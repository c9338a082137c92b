"""Sites built once per session: from the published leaderboard, and from a leaderboard of hostile names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sitehelpers import CHROMIUM, CHROMIUM_ARGS, HOSTILE, LEADERBOARD, MARKED, ROOT

from inferboard.site.build import build_site
from inferboard.site.synthetic import synthesize


@pytest.fixture(scope="session")
def published_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site of data/leaderboard.parquet with the published cells beside it (mkdocs --strict passed)."""
    tmp = tmp_path_factory.mktemp("site")
    build_site(LEADERBOARD, tmp / "html", project=tmp / "src", results=ROOT / "data" / "results")
    return tmp / "html"


@pytest.fixture(scope="session")
def marked_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The published leaderboard with one load point made invalid and one cell unverified (a declared SKU)."""
    tmp = tmp_path_factory.mktemp("marked")
    table = pq.read_table(LEADERBOARD)
    rows = table.to_pylist()
    first = next(r for r in rows if r["cell_id"] == MARKED["invalid"] and r["row_kind"] == "aggregate")
    first.update(valid=False, invalid_reason="test: client saturated (forced)")
    for r in rows:
        if r["cell_id"] == MARKED["unverified"]:
            r["sku_verified"] = False
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), tmp / "leaderboard.parquet")
    build_site(tmp / "leaderboard.parquet", tmp / "html", project=tmp / "src")
    return tmp / "html"


@pytest.fixture(scope="session")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("hostile")
    synthesize(LEADERBOARD, tmp / "leaderboard.parquet", 2, names=HOSTILE)
    build_site(tmp / "leaderboard.parquet", tmp / "html", project=tmp / "src")
    return tmp / "html"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium, headless, driven by playwright (no browser download).

    Module-scoped: playwright's sync API runs an event loop in this thread while it is open, which would
    break every later test that calls asyncio.run."""
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (make test installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()
