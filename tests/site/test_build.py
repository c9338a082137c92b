"""The built site: every page type exists, internal links resolve, output is deterministic, names are inert."""

from __future__ import annotations

import hashlib
import html.parser
import posixpath
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from sitehelpers import HOSTILE, LEADERBOARD, MARKED, ROOT

from inferboard.site.build import build_site

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


def _tree_hash(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_every_page_type_is_built(published_site: Path) -> None:
    for page in ("index.html", "methodology.html", "submit.html", "workloads/cpu-fixed.html", "skus/cpu-host.html",
                 "runtimes/vllm.html", "cells/cpu-host/vllm/tiny-llama-2l/cpu-fixed.html",
                 "cells/h200-sxm/transformers/llama-3.1-8b-instruct-random/gpu-check.html",
                 "data/leaderboard.parquet", "assets/vendor/plotly.min.js"):
        assert (published_site / page).is_file(), page
    cell = (published_site / "cells/cpu-host/llamacpp/tiny-llama-2l/cpu-fixed.html").read_text()
    assert "inferboard rerun cpu-host/llamacpp/tiny-llama-2l/cpu-fixed" in cell
    assert "samples &lt; 662 needed for p99" in cell  # a null percentile says why
    assert "provenance.json" in cell and "sha256:" in cell


def test_invalid_and_unverified_cells_are_marked_and_not_ranked(marked_site: Path) -> None:
    cell = (marked_site / "cells" / f"{MARKED['invalid']}.html").read_text()
    assert "test: client saturated (forced)" in cell and "ib-badge--invalid" in cell
    unverified = (marked_site / "cells" / f"{MARKED['unverified']}.html").read_text()
    assert "UNVERIFIED" in unverified and "Unverified hardware" in unverified
    board = (marked_site / "workloads" / "smoke.html").read_text()
    ranked, _, rest = board.partition('id="unverified"')
    assert MARKED["unverified"] + ".html" not in ranked.split('id="ranking"')[1]  # shown apart, not ranked
    assert MARKED["unverified"] + ".html" in rest


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


def test_same_data_gives_identical_files(published_site: Path, tmp_path: Path) -> None:
    build_site(LEADERBOARD, tmp_path / "again", project=tmp_path / "src", results=ROOT / "data" / "results")
    assert _tree_hash(tmp_path / "again") == _tree_hash(published_site)


def test_hostile_names_are_escaped_everywhere(hostile_site: Path) -> None:
    pages = list(hostile_site.rglob("*.html"))
    assert len(pages) >= 8
    for page in pages:
        text = page.read_text()
        for payloads in HOSTILE.values():
            for p in payloads:
                if "<" in p:
                    assert p not in text, f"raw HTML payload in {page.relative_to(hostile_site)}"
        assert "<strong>bold</strong>" not in text and 'href="javascript:' not in text
        assert "<code>code</code>" not in text
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
