"""Sites built once per session: from the published leaderboard, one with marked entries, and one of hostile names.

The published leaderboard is the real one (the committed bundles plus a local cell, as `make main` builds it); the
marked and hostile ones are synthetic leaderboards made of the repository's real cells
(``inferboard.site.synthetic``).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sitehelpers import CHROMIUM, CHROMIUM_ARGS, EXAMPLES, FORCED, HOSTILE, ROOT, TEMPLATE, copy_cell

from inferboard.scenario.workload import standard_hash
from inferboard.site.build import build_site
from inferboard.site.synthetic import resubmit, synthesize
from inferboard.submission.leaderboard import build_leaderboard


@pytest.fixture(scope="session")
def published_leaderboard(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(leaderboard file, the root it was built in) as `make main` builds it: the accepted bundles of
    data/submissions/ (checked again by `inferboard leaderboard`) plus local cells of results/: the operational
    example cells (EXAMPLES: an overload that never recovered, a cold start) and the H200 cell of the GPU device
    check (which is not on the published leaderboard); a summary column added after a local cell was measured is
    null in its copy (sitehelpers.copy_cell).

    A bundle measured before the summary's current columns is rejected: then its cells and the example cells,
    resubmitted as a synthetic bundle (``synthetic.resubmit``: their own names, submitters, check lists), stand in
    for the published ones, beside the same local cells."""
    root = tmp_path_factory.mktemp("checkout")
    shutil.copytree(ROOT / "data" / "submissions", root / "data" / "submissions")
    for cell in [*EXAMPLES, ROOT / "tests/gpu/results/h200-sxm/transformers/llama-3.1-8b-instruct-random/gpu-check"]:
        copy_cell(cell, root / "results" / cell.relative_to(cell.parents[3]))
    out = root / "leaderboard.parquet"
    info = build_leaderboard(root / "data" / "submissions", root / "results", out, root)
    if info["rejected"]:  # stale bundle: the same cells (and the examples) as a synthetic submission
        template = tmp_path_factory.mktemp("template")
        shutil.copytree(TEMPLATE, template / "data")
        for cell in EXAMPLES:
            copy_cell(cell, template / "examples" / cell.name)
        resubmit(template, root / "resubmitted.parquet", root=root)
        table = pq.read_table(root / "resubmitted.parquet")
        local = [r for r in pq.read_table(out).to_pylist() if r["origin"] == "local"]
        pq.write_table(pa.concat_tables([table, pa.Table.from_pylist(local, schema=table.schema)]), out)
    info = {**info, "entries": sorted(set(pq.read_table(out, columns=["entry_id"])["entry_id"].to_pylist()))}
    assert [e for e in info["entries"] if not e.startswith("local/")], info  # submitted entries
    assert sum(e.startswith("local/") for e in info["entries"]) >= len(EXAMPLES) + 1, info
    return out, root


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
    current = {r["entry_id"] for r in rows if r["workload_hash"] == standard_hash(r["workload"])}
    unverified = next(e for e in sorted(points) if e != invalid and e in current)  # ranked were it verified
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


#: recovery_s given to the overload entries of operations_site, by SKU (None: never recovered, as measured)
RECOVERY = {"sku-00": None, "sku-01": 9.0, "sku-02": 5.0, "sku-03": 2.0, "sku-04": None}


@pytest.fixture(scope="session")
def operations_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The overload example cell (EXAMPLES[0], windows.parquet included) as five submitted entries of one made-up
    workload, their recovery_s set by RECOVERY (sku-01's entry is invalid: a failed check), and the overload
    phase's error rate telling the two that never recovered apart (sku-04's lower)."""
    tmp = tmp_path_factory.mktemp("operations")
    template = tmp / "template"
    copy_cell(EXAMPLES[0], template / EXAMPLES[0].name)
    synthesize(template, tmp / "leaderboard.parquet", 7, root=tmp / "root")
    table = pq.read_table(tmp / "leaderboard.parquet")
    rows = table.to_pylist()
    for r in rows:
        if r["sku"] in RECOVERY and r["recovery_s"] is None:
            r["recovery_s"] = RECOVERY[r["sku"]]
        if r["sku"] == "sku-04":
            r["overload_error_rate"] = 0.25
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), tmp / "leaderboard.parquet")
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
