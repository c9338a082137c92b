"""The README stays a newcomer's page: short, the two set-up commands, a screenshot; the reference lives on the site."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def test_readme_is_short_and_has_the_two_setup_commands() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 150
    assert "`make main`" in text and "`make test`" in text


def test_readme_screenshot_and_doc_paths_exist() -> None:
    text = README.read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert images, "a screenshot of the site"
    for img in images:
        path = ROOT / img
        assert path.is_file() and path.stat().st_size < 300_000, img
    for doc in re.findall(r"`(site/docs/[\w/.-]+\.md)`", text):
        assert (ROOT / doc).is_file(), doc
