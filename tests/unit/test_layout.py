"""The package layout: layers as documented in docs/architecture.md, small modules, no references outside the repo."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "inferboard"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def _contract_layers() -> list[list[str]]:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in cfg["contracts"] if c["type"] == "layers"]
    return [[p.strip().removeprefix("inferboard.") for p in layer.split("|")] for layer in layers]


def _documented_layers() -> list[list[str]]:
    rows = re.findall(r"^\| \d+[^|]*\| ([^|]+) \|", ARCHITECTURE.read_text(), flags=re.MULTILINE)
    return [[name.strip(" `") for name in row.split("·")] for row in rows]


def test_every_subpackage_is_a_layer_of_the_contract() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    layered = {name for layer in _contract_layers() for name in layer}
    assert packages == layered
    assert not [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]  # no loose modules


def test_architecture_document_matches_the_contract() -> None:
    assert _documented_layers() == _contract_layers()
    assert "../" not in ARCHITECTURE.read_text()  # nothing outside the repository


def test_no_module_over_400_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not long


def test_modules_named_in_the_architecture_document_exist() -> None:
    text = ARCHITECTURE.read_text()
    for ref in re.findall(r"`((?:cell|core|pipeline|results|scenario|runtimes|measure|hardware|metrics|site|cli)"
                          r"(?:\.[a-z_]+)+)", text):
        parts = ref.split(".")
        if parts[-1] in ("parquet", "json", "yaml", "md", "py", "log"):
            continue  # a file name, not a module
        path = PACKAGE.joinpath(*parts)
        found = path.with_suffix(".py").is_file() or path.is_dir() or any(
            PACKAGE.joinpath(*parts[:i]).with_suffix(".py").is_file() for i in range(2, len(parts)))
        assert found, ref


def test_unit_tests_mirror_the_package() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    folders = {p.name for p in (ROOT / "tests" / "unit").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == packages
