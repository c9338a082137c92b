"""The CLI reference page of the site, generated from the typer app itself (its commands, arguments and options).

It lives here, not in ``inferboard.site``, because the site is a layer below the command line; ``inferboard site
build`` hands the page to ``build_site`` (``extra_pages``). Everything comes from the click command tree that
typer builds, so the page always matches ``inferboard … --help``.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator
from pathlib import PurePath
from typing import Any

import typer
from markupsafe import Markup

from inferboard.site.reference import anchor, code, page, paragraphs, table

PAGE = "reference/cli.md"


def _context(command: Any, name: str, parent: Any | None) -> Any:
    """A click context for ``command`` (typer vendors click: use the class the command itself uses)."""
    cls = getattr(command, "context_class", None)
    if cls is None:  # pragma: no cover - every click command has one
        import click

        cls = click.Context
    return cls(command, info_name=name, parent=parent)


def walk(command: Any, name: str = "inferboard", parent: Any | None = None) -> Iterator[tuple[Any, Any]]:
    """(command, context) of ``command`` and every subcommand below it, depth first, in registration order."""
    ctx = _context(command, name, parent)
    yield command, ctx
    if hasattr(command, "list_commands"):
        for sub in command.list_commands(ctx):
            child = command.get_command(ctx, sub)
            if child is not None and not getattr(child, "hidden", False):
                yield from walk(child, sub, ctx)


def _help(text: str | None) -> str:
    return (text or "").split("\f")[0]  # click: text after a form feed is not shown


def _default(p: Any) -> str | Markup:
    if p.required:
        return "required"
    if getattr(p, "is_flag", False) and p.secondary_opts:
        return code(p.opts[0] if p.default else p.secondary_opts[0])
    d = p.default
    if d is None or (getattr(p, "is_flag", False) and d is False) or callable(d):
        return "—"
    if isinstance(d, enum.Enum):
        d = d.value
    if isinstance(d, list | tuple):
        return code(", ".join(str(x) for x in d)) if d else "—"
    return code(str(d) if isinstance(d, PurePath) else repr(d) if isinstance(d, str) and not d else d)


def _type(p: Any, ctx: Any) -> str:
    if getattr(p, "is_flag", False):
        return "flag"
    kind = getattr(p, "type", None)
    text = str(getattr(kind, "name", kind or "")).lower()
    display = getattr(p, "display_type", None)
    if callable(display):
        with contextlib.suppress(TypeError):  # other typer/click versions
            text = str(display(ctx)).strip("<>")
    lo, hi = (getattr(p, k, None) if getattr(p, k, None) is not None else getattr(kind, k, None)
              for k in ("min", "max"))
    limits = [f"≥ {lo}"] * (lo is not None) + [f"≤ {hi}"] * (hi is not None)
    return f"{text.removesuffix(' range')} ({', '.join(limits)})" if limits else text


def param_row(p: Any, ctx: Any) -> tuple[Any, ...]:
    """(name, type, default, help) of one parameter."""
    if p.param_type_name == "argument":
        name: Any = code(p.name.upper() + ("…" if p.nargs == -1 else ""))
    else:
        names = ", ".join(p.opts) + (" / " + ", ".join(p.secondary_opts) if p.secondary_opts else "")
        name = code(names)
    text = getattr(p, "help", None) or ""
    envvar = p.envvar if isinstance(p.envvar, str) else ", ".join(p.envvar or [])
    if envvar:
        text = f"{text} (environment: {envvar})".strip()
    if getattr(p, "multiple", False) and "repeatable" not in text:
        text = f"{text} (repeatable)".strip()
    return name, _type(p, ctx), _default(p), text


def usage(command: Any, ctx: Any) -> str:
    """``inferboard site build [OPTIONS]``, arguments by name (optional ones in brackets)."""
    pieces = [ctx.command_path, "[OPTIONS]"]
    for p in command.params:
        if p.param_type_name == "argument":
            n = p.name.upper() + ("..." if p.nargs == -1 else "")
            pieces.append(n if p.required else f"[{n}]")
    if hasattr(command, "list_commands"):
        pieces.append("COMMAND [ARGS]...")
    return " ".join(pieces)


def command_section(command: Any, ctx: Any) -> tuple[str, str, Markup]:
    """(id, label, HTML) of one command: usage, help and a table of its arguments and options."""
    cid = anchor("cli", *ctx.command_path.split()[1:]) if " " in ctx.command_path else "cli"
    params = [p for p in command.params if not getattr(p, "hidden", False)]
    level = "h2" if ctx.command_path.count(" ") <= 1 else "h3"
    parts = [Markup('<{0} id="{1}">{2}</{0}>').format(level, cid, code(ctx.command_path)),
             Markup("<pre><code>{}</code></pre>").format(usage(command, ctx)),
             paragraphs(_help(command.help) or getattr(command, "short_help", None))]
    if getattr(command, "deprecated", False):
        parts.append(Markup("<p><strong>Deprecated.</strong></p>"))
    if params:
        parts.append(table(("argument / option", "type", "default", "description"),
                           [param_row(p, ctx) for p in params]))
    if hasattr(command, "list_commands"):
        subs = [(n, command.get_command(ctx, n)) for n in command.list_commands(ctx)]
        rows = [(Markup('<a href="#{}">{}</a>').format(anchor(cid, n), code(f"{ctx.command_path} {n}")),
                 _help(c.get_short_help_str(limit=120) if hasattr(c, "get_short_help_str") else c.help))
                for n, c in subs if c is not None and not getattr(c, "hidden", False)]
        parts.append(table(("command", "what it does"), rows))
    return cid, ctx.command_path, Markup("\n").join(parts)


def cli_reference(app: typer.Typer | None = None) -> str:
    """The CLI reference page (path ``PAGE``): every command of ``app`` (default: the ``inferboard`` app)."""
    if app is None:
        import inferboard.cli.app  # noqa: F401 - registers every command on the shared app
        from inferboard.cli.shared import app as shared

        app = shared
    root = typer.main.get_command(app)
    sections = [command_section(c, ctx) for c, ctx in walk(root)]
    intro = Markup(
        "<h1>Command line</h1>\n<p>Every command of <code>inferboard</code>, generated from the program itself "
        "when the site is built ({} commands); <code>inferboard COMMAND --help</code> prints the same. A bad "
        "input stops with one line naming the option and the fix, and exit code 2.</p>").format(len(sections) - 1)
    return page("Command line", intro + Markup("\n").join(body for _, _, body in sections))
