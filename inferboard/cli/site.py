"""The site command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from inferboard.cli.common import (
    site_app,
)


@site_app.command("build")
def site_build(
    data: Annotated[Path, typer.Option(help="Leaderboard Parquet file")] = Path("data/leaderboard.parquet"),
    out: Annotated[Path, typer.Option(help="Folder for the built HTML site")] = Path("build/site"),
    results: Annotated[Path | None, typer.Option(help="Published cells (provenance, requests.parquet) "
                                                      "[default: results/ beside --data]")] = None,
    project: Annotated[Path, typer.Option(help="Folder for the generated mkdocs project")] = Path("build/site-src"),
    html: Annotated[bool, typer.Option(help="Run mkdocs build --strict (--no-html: only the project)")] = True,
) -> None:
    """Build the whole site from any leaderboard file: pages per workload, SKU, runtime and cell, and the
    documentation (guide, data dictionary, command line, runners and SKU catalogue, generated from the code)."""
    from inferboard.cli.reference import PAGE, cli_reference
    from inferboard.site.build import build_site

    figures = build_site(data, out, project=project, results=results or data.parent / "results", html=html,
                         extra_pages={PAGE: cli_reference()})
    typer.echo(json.dumps(figures, sort_keys=True))

