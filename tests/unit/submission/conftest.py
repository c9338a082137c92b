"""Fixtures of the submission checker's tests: the committed bundle and a fresh copy of it per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.submission.bundles import SUBMISSIONS, committed_bundle, copy_bundle, snapshot


@pytest.fixture(scope="session")
def committed() -> Iterator[Path]:
    """The first bundle of data/submissions/ (sorted): a real bundle measured by the suite. Read only: at the end
    of the session it must be exactly as it was (no test, and no run of the checker, wrote into it)."""
    found = committed_bundle()
    if found is None:
        pytest.skip(f"no committed bundle under {SUBMISSIONS}: the checker tests need one real bundle")
    before = snapshot(found)
    yield found
    assert snapshot(found) == before, f"{found} was changed by a test"


@pytest.fixture
def bundle(committed: Path, tmp_path: Path) -> Path:
    """A copy of the committed bundle as ``tmp_path/submissions/<id>``, to break at will."""
    return copy_bundle(committed, tmp_path / "submissions")
