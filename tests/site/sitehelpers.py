"""Constants and helpers of the site tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from inferboard.results.schema import SUMMARY, SUMMARY_SCHEMA
from inferboard.site import data as sd
from inferboard.site.bundles import BundleInfo, read_bundles

ROOT = Path(__file__).resolve().parents[2]
#: the real cells the synthetic leaderboards are made of (data/submissions/*/cells/ and data/results/)
TEMPLATE = ROOT / "data"
ARTIFACTS = ROOT / "artifacts" / "site"
#: real cells of the operational workloads (CPU runs kept for the site tests): an overload that never recovered
#: (the queue grew past 1,000) and a cold start (a fresh server per trial); see tests/site/cells/
EXAMPLES = tuple(ROOT / "tests/site/cells/cpu-host/llamacpp/tiny-llama-2l" / w for w in ("cpu-overload",
                                                                                         "cpu-cold-start"))
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
#: names a submitter could send: HTML, JavaScript and Markdown payloads, one per name field (the bundle's text
#: fields included: submitter, org, notes, a check's reason, the submission id)
HOSTILE = {
    "sku": ['<img src=x onerror="alert(1)">'],
    "runtime": ['<script>alert("runtime")</script>'],
    "model": ["**bold** [click](javascript:alert(1)) `code`"],
    "workload": ["</title><svg onload=alert(1)>", "w-plain"],
    "submitter": ['<img src=x onerror="alert(\'submitter\')">'],
    "org": ["<script>alert('org')</script>"],
    "notes": ["</td></tr></table><svg onload=alert('notes')> **notes** [x](javascript:alert(2))"],
    "reason": ['"><img src=x onerror="alert(\'reason\')">'],
    "submission": ['../"><script>alert("id")</script>'],
}

def copy_cell(cell: Path, dest: Path) -> Path:
    """Copy a cell folder; its summary.parquet gets any summary column added since it was measured as null (as
    the leaderboard requires every current column), and loses any column no longer in the schema."""
    shutil.copytree(cell, dest)
    table = pq.read_table(dest / SUMMARY)
    if table.schema.names != SUMMARY_SCHEMA.names:
        cols = [table[f.name] if f.name in table.schema.names else pa.nulls(table.num_rows, f.type)
                for f in SUMMARY_SCHEMA]
        pq.write_table(pa.Table.from_arrays(cols, schema=SUMMARY_SCHEMA.with_metadata(table.schema.metadata)),
                       dest / SUMMARY)
    return dest


#: the reason the marked_site fixture gives the load point it makes invalid
FORCED = "test: client saturated (forced)"


def entries(site: Path) -> list[sd.PublishedCell]:
    """The entries of a built site, read back from its data/leaderboard.parquet (page paths as the builder made)."""
    data = site / "data" / "leaderboard.parquet"
    return sd.group_cells(sd.load_rows(data), None, read_bundles(data))


def bundles(site: Path) -> dict[str, BundleInfo]:
    return read_bundles(site / "data" / "leaderboard.parquet")


def marked(site: Path) -> dict[str, sd.PublishedCell]:
    """The entries the marked_site fixture made invalid (one load point) and unverified (a declared SKU)."""
    cells = entries(site)
    return {"invalid": next(c for c in cells if FORCED in c.invalid_reasons),
            "unverified": next(c for c in cells if not c.verified)}


def entry(site: Path, cell_id: str, origin: str = "submitted", custom: bool = False) -> sd.PublishedCell:
    """The first entry (by entry id) of ``cell_id`` of this origin (and custom or not)."""
    found = [e for e in entries(site) if e.id == cell_id and e.origin == origin and e.custom_workload == custom]
    assert found, f"no {origin} entry of {cell_id}"
    return found[0]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def serve(root: Path) -> tuple[str, http.server.ThreadingHTTPServer]:
    handler = functools.partial(_Quiet, directory=str(root))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{srv.server_address[1]}", srv
