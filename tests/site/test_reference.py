"""The documentation pages generated at site-build time: data dictionary, command line, runners, SKU catalogue.

They are built from what the code reads (the exported JSON Schemas, the typer app, runners/, hardware/skus.yaml),
so each test walks the source on its own and checks that everything in it is on the page, escaped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from markupsafe import escape
from sitehelpers import ROOT

from inferboard.cli.reference_page import cli_reference
from inferboard.hardware.sku import Sku, load_skus
from inferboard.runtimes.runner import Runner, all_runners
from inferboard.site import reference

pytestmark = pytest.mark.site

SCHEMAS = sorted((ROOT / "workflows" / "schemas").glob("*.json"))
PAGES = ("reference/data", "reference/cli", "reference/runners", "reference/hardware")
PAYLOAD = '<img src=x onerror="alert(1)">'


@pytest.fixture(scope="module")
def cli_site(tmp_path_factory: pytest.TempPathFactory, published_leaderboard: tuple[Path, Path]) -> Path:
    """The site as `inferboard site build` builds it (the CLI hands in the command-line page)."""
    tmp = tmp_path_factory.mktemp("docs")
    data, root = published_leaderboard
    cmd = [sys.executable, "-m", "inferboard.cli", "site", "build", "--data", str(data),
           "--out", str(tmp / "html"), "--project", str(tmp / "src"), "--root", str(root)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    return tmp


def _page(site: Path, name: str) -> str:
    return (site / "html" / f"{name}.html").read_text()


def _section(text: str, start: str, level: str = "h2") -> str:
    """The HTML from the element with id ``start`` to the next heading of the same level."""
    head = text.index(f'id="{start}"')
    end = text.find(f"<{level} ", head)
    return text[head:] if end < 0 else text[head:end]


def _code(name: str) -> str:
    return f"<code>{escape(name)}</code>"


def test_every_reference_and_guide_page_is_built_and_in_the_navigation(cli_site: Path) -> None:
    for name in PAGES:
        assert (cli_site / "html" / f"{name}.html").is_file(), name
    guide = sorted(p.name for p in (ROOT / "site" / "docs" / "guide").glob("*.md"))
    assert guide, "hand-written guide pages under site/docs/guide/"
    for name in guide:
        assert (cli_site / "html" / "guide" / name.replace(".md", ".html")).is_file(), name
    nav = yaml.safe_load((cli_site / "src" / "mkdocs.yml").read_text())["nav"]
    sections = {k: v for entry in nav for k, v in entry.items()}
    assert sorted(p for e in sections["Reference"] for p in e.values()) == sorted(f"{n}.md" for n in PAGES)
    assert sorted(p for e in sections["Guide"] for p in e.values()) == [f"guide/{n}" for n in guide]
    assert "Methodology" in sections and "Submit results" in sections
    home = _page(cli_site, "index")
    assert 'href="reference/data.html"' in home and 'href="guide/setup.html"' in home  # in the site's navigation


def test_mkdocs_strict_passes_with_warnings_counted(cli_site: Path) -> None:
    """`mkdocs build --strict` without --quiet (which hides warnings from strict's count): no broken link."""
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(cli_site / "src" / "mkdocs.yml"),
           "-d", str(cli_site / "strict")]
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert res.returncode == 0 and "WARNING" not in res.stderr, res.stderr[-3000:]


def test_data_dictionary_has_every_field_of_every_schema_file(cli_site: Path) -> None:
    text = _page(cli_site, "reference/data")
    assert SCHEMAS
    for path in SCHEMAS:
        schema = json.loads(path.read_text())
        stem = path.name.removesuffix(".json").removesuffix(".schema")
        sid = reference.anchor("schema", stem)
        section = _section(text, sid)
        assert path.name in section
        for name, spec in schema.get("properties", {}).items():
            assert _code(name) in section, f"{path.name}: {name}"
            if "description" in spec:
                assert str(reference.inline(spec["description"])) in section, f"{path.name}: {name}"
        for dname, node in schema.get("$defs", {}).items():
            sub = _section(text, reference.anchor(sid, dname), "h3")
            for name in node.get("properties", {}):
                assert _code(name) in sub, f"{path.name}: {dname}.{name}"


def test_a_new_schema_file_appears_with_its_fields_escaped(tmp_path: Path) -> None:
    for p in SCHEMAS:
        (tmp_path / p.name).write_text(p.read_text())
    new = {"title": "A new record", "description": f"what ran {PAYLOAD}", "type": "object",
           "additionalProperties": False, "required": ["suite"],
           "properties": {"suite": {"$ref": "#/$defs/Suite"},
                          PAYLOAD: {"type": "string", "default": "**bold**", "description": "[x](javascript:y)"}},
           "$defs": {"Suite": {"type": "object", "properties": {"git_sha": {"type": "string"}}}}}
    (tmp_path / "zz_new.schema.json").write_text(json.dumps(new))
    text = reference.data_dictionary(tmp_path)
    section = _section(text, "schema-zz-new")
    assert _code("suite") in section and '<a href="#schema-zz-new-suite">Suite</a>' in section
    assert _code("git_sha") in _section(text, "schema-zz-new-suite", "h3")
    assert PAYLOAD not in text and str(escape(PAYLOAD)) in text
    assert f"{len(SCHEMAS) + 1} schemas" in text


def _commands(group: Any, path: str) -> Iterator[tuple[str, Any]]:
    yield path, group
    for name, sub in getattr(group, "commands", {}).items():
        if not getattr(sub, "hidden", False):
            yield from _commands(sub, f"{path} {name}")


def test_cli_reference_lists_every_command_with_its_options(cli_site: Path) -> None:
    from inferboard.cli.app import app

    text = _page(cli_site, "reference/cli")
    commands = list(_commands(typer.main.get_command(app), "inferboard"))
    assert len(commands) > 15
    for path, cmd in commands:
        cid = reference.anchor("cli", *path.split()[1:]) if " " in path else "cli"
        section = _section(text, cid, "h2" if path.count(" ") <= 1 else "h3")
        assert _code(path) in section, path
        for p in cmd.params:
            if getattr(p, "hidden", False):
                continue
            shown = p.name.upper() if p.param_type_name == "argument" else p.opts[0]
            assert shown in section, f"{path}: {shown}"
            if getattr(p, "help", None):
                assert str(escape(p.help)) in section, f"{path}: {shown}"


def test_cli_reference_escapes_help_text() -> None:
    app = typer.Typer()

    @app.command()
    def evil(name: str = typer.Option("x", help=f"**bold** {PAYLOAD}")) -> None:
        """Does [things](javascript:alert(1)) <script>alert(2)</script>."""

    @app.command()
    def other() -> None:
        """Another command."""

    text = cli_reference(app)
    assert PAYLOAD not in text and "<script>alert(2)" not in text
    assert str(escape(PAYLOAD)) in text and "&lt;script&gt;" in text
    assert "<code>inferboard evil</code>" in text and "<code>--name</code>" in text


def test_runners_page_lists_every_runner_with_its_images(cli_site: Path) -> None:
    text = _page(cli_site, "reference/runners")
    runners = all_runners()
    assert len(runners) >= 7
    for name, r in runners.items():
        section = _section(text, reference.anchor("runner", name))
        assert str(escape(r.display_name)) in section and _code(name) in section
        assert r.homepage in section
        for img in r.images.values():
            assert str(escape(img.image)) in section
            if img.digest:
                assert img.digest in section
            if img.source:
                assert img.source.repo in section and img.source.path in section
        for param in r.params:
            assert _code(f"{{{param}}}") in section
        if r.local is not None:
            assert _code(r.local.kind) in section


def test_hardware_page_lists_every_sku_with_its_sources(cli_site: Path) -> None:
    text = _page(cli_site, "reference/hardware")
    skus = load_skus()
    assert len(skus) >= 20
    for sku in skus.values():
        section = _section(text, reference.anchor("sku", sku.id))
        assert str(escape(sku.name)) in section and _code(sku.id) in section
        for sources in sku.sources.values():
            for s in sources:
                assert str(escape(s)) in section, f"{sku.id}: {s}"


def test_runner_and_sku_names_are_escaped() -> None:
    vllm = all_runners()["vllm"].model_dump(mode="json")
    vllm.update(display_name=PAYLOAD, homepage="javascript:alert(1)")
    runners = reference.runners_page({"vllm": Runner.model_validate(vllm)})
    sku = next(iter(load_skus().values())).model_dump(mode="json")
    sku.update(name=PAYLOAD, interconnect="**bold** <b>x</b>")
    skus = reference.hardware_page({"x": Sku.model_validate(sku)})
    for text in (runners, skus):
        assert PAYLOAD not in text and str(escape(PAYLOAD)) in text
    assert 'href="javascript:' not in runners and "<b>x</b>" not in skus


def test_generated_pages_bypass_markdown() -> None:
    hooks = (ROOT / "site" / "hooks.py").read_text()
    assert f'SENTINEL = "{reference.SENTINEL}"' in hooks
    for text in reference.reference_pages().values():
        assert text.startswith("---\n") and reference.SENTINEL in text
