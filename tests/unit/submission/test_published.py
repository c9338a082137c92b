"""Published data keeps working: every committed bundle under data/submissions/ is accepted by today's checker (a
new check that refused one would drop published results from the leaderboard without a word)."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferboard.submission.validate import validate

ROOT = Path(__file__).resolve().parents[3]
BUNDLES = sorted(p for p in (ROOT / "data" / "submissions").iterdir() if (p / "manifest.json").is_file())


@pytest.mark.parametrize("bundle", BUNDLES, ids=[b.name for b in BUNDLES])
def test_every_published_bundle_is_accepted(bundle: Path) -> None:
    report = validate(bundle, against=ROOT / "data" / "submissions")
    assert report.accepted, [f"{r.id}: {r.reason}" for r in report.results if not r.ok]
