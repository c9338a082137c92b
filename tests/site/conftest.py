"""Sites built once per session: from the published leaderboard, one with marked entries, and one of hostile names.

The published leaderboard is, for now, a synthetic one made of the repository's real cells
(``inferboard.site.synthetic.resubmit``: every cell in a bundle, plus a second bundle, a custom-workload entry
and a local entry); see the TODO in ``published_leaderboard``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sitehelpers import CHROMIUM, CHROMIUM_ARGS, FORCED, HOSTILE, TEMPLATE

from inferboard.site.build import build_site
from inferboard.site.synthetic import resubmit, synthesize


@pytest.fixture(scope="session")
def published_leaderboard(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(leaderboard file, the root it was built in) of the published data."""
    tmp = tmp_path_factory.mktemp("leaderboard")
    # TODO(leaderboard): build the real one once inferboard.submission.leaderboard exists, i.e.
    #   build_leaderboard(submissions=ROOT / "data/submissions", local=None, out=tmp / "leaderboard.parquet",
    #                     root=ROOT)
    #   return tmp / "leaderboard.parquet", ROOT
    # Until then: a synthetic stand-in made of the repository's real cells, files copied under tmp / "root".
    resubmit(TEMPLATE, tmp / "leaderboard.parquet", root=tmp / "root")
    return tmp / "leaderboard.parquet", tmp / "root"


@pytest.fixture(scope="session")
def published_site(tmp_path_factory: pytest.TempPathFactory, published_leaderboard: tuple[Path, Path]) -> Path:
    """The site of the published leaderboard with the cell folders under its root (mkdocs --strict passed)."""
    tmp = tmp_path_factory.mktemp("site")
    data, root = published_leaderboard
    build_site(data, tmp / "html", project=tmp / "src", root=root)
    return tmp / "html"


@pytest.fixture(scope="session")
def marked_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic leaderboard of the real cells (always synthetic: it has a local and a custom-workload entry)
    with one load point made invalid and one entry unverified (a declared SKU), both in the first bundle and
    neither the cell shared with the other entries (see sitehelpers.marked)."""
    tmp = tmp_path_factory.mktemp("marked")
    resubmit(TEMPLATE, tmp / "leaderboard.parquet", root=tmp / "root")
    table = pq.read_table(tmp / "leaderboard.parquet")
    rows = table.to_pylist()
    shared = next(r["cell_id"] for r in rows if r["origin"] == "local")
    first_bundle = min(r["submission_id"] for r in rows if r["origin"] == "submitted")
    points: dict[str, int] = {}
    for r in rows:
        if r["submission_id"] == first_bundle and r["cell_id"] != shared:
            points[r["entry_id"]] = points.get(r["entry_id"], 0) + 1
    several = sorted(e for e, n in points.items() if n > 1)  # invalid: one of several load points
    invalid = several[0]
    unverified = next(e for e in sorted(points) if e != invalid)
    next(r for r in rows if r["entry_id"] == invalid).update(valid=False, invalid_reason=FORCED)
    for r in rows:
        if r["entry_id"] == unverified:
            r["sku_verified"] = False
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), tmp / "leaderboard.parquet")  # metadata kept
    build_site(tmp / "leaderboard.parquet", tmp / "html", project=tmp / "src", root=tmp / "root")
    return tmp / "html"


@pytest.fixture(scope="session")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every name, the submitters' text and the submission ids are HTML, JavaScript or Markdown payloads."""
    tmp = tmp_path_factory.mktemp("hostile")
    synthesize(TEMPLATE, tmp / "leaderboard.parquet", 4, names=HOSTILE, root=tmp / "root")
    build_site(tmp / "leaderboard.parquet", tmp / "html", project=tmp / "src", root=tmp / "root")
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
