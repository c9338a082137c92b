"""The package layout: layers as documented in docs/architecture.md, small modules, no references outside the repo."""

from __future__ import annotations

import ast
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


def test_no_two_modules_share_a_name() -> None:
    """A module's basename says its one job: ``from inferboard.x import run`` can never mean two modules."""
    names = sorted(p.stem for p in PACKAGE.rglob("*.py") if p.stem not in ("__init__", "__main__"))
    assert len(names) > 50
    assert not sorted({n for n in names if names.count(n) > 1})


# the code the private-name and import rules apply to: the package, the tests, the benchmarks and their testkit
CODE = ("inferboard", "tests", "benchmarks", "testkit")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, Path]:
    return {_module_name(p): p for top in CODE for p in sorted((ROOT / top).rglob("*.py"))}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _imported(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute name of the module ``node`` imports from (a relative import resolved against ``module``)."""
    if not node.level:
        return node.module or ""
    base = module.split(".")[: len(module.split(".")) - node.level + is_package]
    return ".".join(base + ([node.module] if node.module else []))


def _private_uses(source: str, module: str, modules: set[str], is_package: bool = False) -> list[str]:
    """Where ``source`` (the module ``module``) takes a leading-underscore name from another module: ``from m import
    _x`` (relative or not; ``from __future__`` and dunders are fine), ``import m._x``, or ``m._x`` where ``m`` names
    one of ``modules`` (the repository's own: a private of the standard library, ``os._exit``, is its API)."""
    found, bound = [], {}
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            origin = _imported(node, module, is_package)
            found += [f"{origin}.{a.name}" for a in node.names if _private(a.name)]
            bound |= {a.asname or a.name: f"{origin}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if any(_private(part) for part in a.name.split("."))]
            bound |= {a.asname: a.name for a in node.names if a.asname}
            bound |= {a.name.split(".")[0]: a.name.split(".")[0] for a in node.names if not a.asname}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            chain = ast.unparse(node.value)
            head, _, rest = chain.partition(".")
            owner = bound.get(head, "") + (f".{rest}" if rest else "")
            if head in bound and owner in modules and owner != module:
                found.append(f"{owner}.{node.attr}")
    return found


def test_the_private_name_rule_sees_every_form() -> None:
    modules = {"tests.a", "tests.b", "tests.unit.c", "inferboard.x"}
    source = ("from __future__ import annotations\nimport os\nfrom tests.a import __doc__, _one\n"
              "from ..b import _two\nfrom . import c\nimport inferboard.x as x\nfrom tests import a\n"
              "os._exit(0)\nx._three()\nc._four\na.public\nfrom tests.b import public\n")
    assert sorted(_private_uses(source, "tests.unit.d", modules)) == [
        "inferboard.x._three", "tests.a._one", "tests.b._two", "tests.unit.c._four"]
    assert _private_uses("from . import _five\n", "tests.pkg", modules, is_package=True) == ["tests.pkg._five"]


def test_no_private_name_crosses_a_module_boundary() -> None:
    sources = _sources()
    assert len(sources) > 100
    crossings = {f"{path.relative_to(ROOT)}: {name}" for module, path in sources.items()
                 for name in _private_uses(path.read_text(), module, set(sources), path.stem == "__init__")}
    assert not sorted(crossings)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names} | {
        n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and not n.level}


def test_benchmarks_testkit_and_package_never_import_the_tests() -> None:
    """The benchmarks share the fake server and its helpers with the tests through testkit/, never tests/; testkit
    is below both, and the package below everything."""
    below = {"benchmarks": ("tests",), "testkit": ("tests", "benchmarks"),
             "inferboard": ("tests", "benchmarks", "testkit")}
    reached = {f"{p.relative_to(ROOT)}: {name}" for top, banned in below.items() for p in (ROOT / top).rglob("*.py")
               for name in _imports(p) if name.split(".")[0] in banned}
    assert not sorted(reached)
    assert any(name.startswith("testkit.") for p in (ROOT / "benchmarks").glob("*.py") for name in _imports(p))
