"""Commands of the pipeline: compare, rerun."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from inferboard.cli.shared import app, console, input_dir, input_file, pipeline_config
from inferboard.core.errors import InferboardError

PROFILE = "workflows/profiles/local"


@app.command()
def compare(new: Annotated[Path, typer.Argument(help="Rerun cell folder (results/<cell>)")],
            published: Annotated[Path, typer.Argument(help="Published cell folder (data/results/<cell>)")],
            as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Each headline metric's delta against a published cell, and whether it falls within its 95% CI."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from inferboard.cli.rich_tables import compare_table
    from inferboard.results.compare import compare as do_compare
    from inferboard.results.schema import SUMMARY

    for name, cell in (("NEW", new), ("PUBLISHED", published)):
        input_dir(cell, name, f"give a cell folder with {SUMMARY}")
        input_file(cell / SUMMARY, name, f"give a finished cell folder (with {SUMMARY})")
    for name, cell in (("NEW", new), ("PUBLISHED", published)):
        try:
            pq.read_schema(cell / SUMMARY)
        except (pa.ArrowException, OSError) as err:
            raise InferboardError(f"{cell / SUMMARY} is not readable Parquet ({err})", field=name,
                                  fix="give a finished cell folder (rerun or `inferboard finalize` it)") from None
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
    import importlib.util
    import subprocess
    import sys


    cfg, cells = pipeline_config(config)
    if cell not in {c.id for c in cells}:
        ids = sorted(c.id for c in cells)
        raise InferboardError(f"{cell!r} is not a cell of the matrix of {config}", field="CELL",
                              fix="give SKU/RUNTIME/MODEL/WORKLOAD of a cell of the config (or add it there), e.g. "
                                  + ", ".join(ids[:3]) + (" …" if len(ids) > 3 else ""))
    if not (Path("Snakefile").is_file() and Path(PROFILE).is_dir()):
        raise InferboardError(f"no Snakefile and {PROFILE} in {Path.cwd()}", field="working folder",
                              fix="run `inferboard rerun` from the root of the inferboard checkout")
    if importlib.util.find_spec("snakemake") is None:  # run as `python -m snakemake`: no PATH lookup
        raise InferboardError(f"snakemake is not installed for {sys.executable}", field="snakemake",
                              fix="install the project's locked environment: `make install` (requirements/dev.lock)")
    target = f"{cfg.results_dir}/{cell}/cell.json"
    cmd = [sys.executable, "-m", "snakemake", "--profile", PROFILE, "--configfile", str(config),
           "--force", target, *(["--dry-run"] if dry_run else [])]
    console.print("$ " + " ".join(cmd), highlight=False)
    rc = subprocess.run(cmd).returncode
    if rc == 0 and not dry_run:
        console.print(f"compare with a published cell: inferboard reproduce data/submissions/<id> "
                      f"{cfg.results_dir}/{cell}", highlight=False)
    return rc
