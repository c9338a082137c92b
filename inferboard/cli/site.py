"""The site command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from inferboard.cli.shared import input_dir, output_dir, site_app


@site_app.command("build")
def site_build(
    data: Annotated[Path, typer.Option(help="Leaderboard Parquet file (`inferboard leaderboard`)")]
    = Path("build/leaderboard.parquet"),
    out: Annotated[Path, typer.Option(help="Folder for the built HTML site")] = Path("build/site"),
    root: Annotated[Path, typer.Option(help="Folder the leaderboard was built in: each entry's cell_path "
                                            "(provenance, requests.parquet, downloads) is read under it")] = Path("."),
    project: Annotated[Path, typer.Option(help="Folder for the generated mkdocs project")] = Path("build/site-src"),
    html: Annotated[bool, typer.Option(help="Run mkdocs build --strict (--no-html: only the project)")] = True,
) -> None:
    """Build the whole site from a leaderboard file: pages per workload, SKU, runtime and entry, the submit page
    (from the checker's registry), and the documentation (guide, data dictionary, command line, runners and SKU
    catalogue, generated from the code)."""
    from inferboard.cli.reference_page import PAGE, cli_reference
    from inferboard.site.build import build_site

    input_dir(root, "--root", "give the folder the leaderboard was built in")
    output_dir(out, "--out")
    output_dir(project, "--project")
    figures = build_site(data, out, project=project, root=root, html=html, extra_pages={PAGE: cli_reference()})
    typer.echo(json.dumps(figures, sort_keys=True))

