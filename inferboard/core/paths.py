"""Where the project's plain-file catalogues live: the repository root of this checkout."""

from __future__ import annotations

from pathlib import Path

#: the checkout holding runners/, hardware/, workflows/ and site/ (the package lives in inferboard/ below it)
REPO_ROOT = Path(__file__).resolve().parents[2]
