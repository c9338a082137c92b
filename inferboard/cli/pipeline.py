"""Commands of the pipeline: compare, rerun."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from inferboard.cli.common import (
    app,
    console,
)
from inferboard.core.errors import InferboardError


@app.command()
def compare(new: Annotated[Path, typer.Argument(help="Rerun cell folder (results/<cell>)")],
            published: Annotated[Path, typer.Argument(help="Published cell folder (data/results/<cell>)")],
            as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Each headline metric's delta against a published cell, and whether it falls within its 95% CI."""
    from inferboard.cli.tables import compare_table
    from inferboard.results.compare import compare as do_compare

    rows = do_compare(new, published)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    Console().print(compare_table(rows, f"{new} vs {published}"))


@app.command()
def rerun(cell: Annotated[str, typer.Argument(help="Cell id SKU/RUNTIME/MODEL/WORKLOAD of the default matrix")],
          config: Annotated[Path, typer.Option(help="Pipeline config")] = Path("workflows/config/config.yaml"),
          dry_run: Annotated[bool, typer.Option(help="Only print the jobs Snakemake would run")] = False) -> int:
    """Rerun exactly one cell of the matrix (same pinned environment or image, same workload) into results/,
    through Snakemake with the local profile's resources; nothing else of the matrix runs."""
    import subprocess
    import sys

    from inferboard.pipeline.matrix import load_config

    cfg, cells = load_config(config)
    if cell not in {c.id for c in cells}:
        raise InferboardError(f"{cell!r} is not a cell of the matrix of {config}", field="CELL",
                              fix="give SKU/RUNTIME/MODEL/WORKLOAD of `inferboard matrix`, or add it to the config")
    target = f"{cfg.results_dir}/{cell}/cell.json"
    cmd = [sys.executable, "-m", "snakemake", "--profile", "workflows/profiles/local", "--configfile", str(config),
           "--force", target, *(["--dry-run"] if dry_run else [])]
    console.print("$ " + " ".join(cmd), highlight=False)
    rc = subprocess.run(cmd).returncode
    if rc == 0 and not dry_run:
        console.print(f"compare with a published cell: inferboard reproduce data/submissions/<id> "
                      f"{cfg.results_dir}/{cell}", highlight=False)
    return rc
