"""The ``inferboard`` entry point: every command module registers its commands on the shared typer app."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from inferboard.cli import measurement, pipeline, resources, site, submission  # noqa: F401 - registers the commands
from inferboard.cli.shared import app, console
from inferboard.core.errors import InferboardError


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors print one line (``error: …``) and exit 2, never a traceback."""
    try:
        rv = app(args=argv, prog_name="inferboard", standalone_mode=False)
    except InferboardError as err:
        console.print(f"[red]error:[/red] {escape(str(err))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Abort:
        console.print("[red]aborted[/red]")
        sys.exit(130)
    except typer.TyperException as err:  # click usage errors (typer vendors click)
        ctx = getattr(err, "ctx", None)
        if type(err).__name__ == "NoArgsIsHelpError" and ctx is not None:
            typer.echo(ctx.get_help())
            sys.exit(0)
        message = err.format_message() if hasattr(err, "format_message") else str(err)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        console.print(f"[red]error:[/red] {escape(message + hint)}", highlight=False, soft_wrap=True)
        sys.exit(getattr(err, "exit_code", 2))
    if rv == 130:
        console.print("[yellow]interrupted (a run keeps what it measured in its cell folder)[/yellow]")
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
