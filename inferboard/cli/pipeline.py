"""Commands of the pipeline: publish, aggregate, compare, rerun."""

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
def publish(src: Annotated[Path, typer.Argument(help="Finished cell folder (results/<cell>)")],
            dest: Annotated[Path, typer.Argument(help="Published folder (data/results/<cell>)")]) -> None:
    """Copy a finished cell's outputs into the published tree (atomic)."""
    from inferboard.pipeline.jobs import publish as do_publish

    if not (src / "cell.json").is_file():
        raise InferboardError(f"{src} has no cell.json", field="SRC", fix="run the cell first (inferboard run-cell)")
    do_publish(src, dest)


@app.command()
def aggregate(cells: Annotated[list[Path] | None, typer.Argument(help="cell.json files (default: all under --root)")]
              = None,
              out: Annotated[Path, typer.Option(help="Leaderboard Parquet")] = Path("data/leaderboard.parquet"),
              root: Annotated[Path, typer.Option(help="Published cells")] = Path("data/results")) -> None:
    """Collect every published cell's aggregate rows into one leaderboard (plausibility re-checked)."""
    from inferboard.pipeline.jobs import aggregate as do_aggregate

    info = do_aggregate(sorted(cells) if cells else sorted(root.glob("**/cell.json")), out)
    failed = [c for c in info["cells"] if c["status"] == "failed"]
    console.print(f"{info['rows']} rows from {len(info['cells'])} cells → {out}"
                  + (f"; failed: {', '.join(c['cell_id'] for c in failed)}" if failed else ""), highlight=False)


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
def rerun(cell: Annotated[str, typer.Argument(help="Cell id SKU/RUNTIME/MODEL/WORKLOAD")],
          cores: Annotated[str, typer.Option(help="Snakemake --cores")] = "all") -> None:
    """Rerun exactly one cell through Snakemake (same pinned env/image and workload) into results/."""
    import subprocess

    from inferboard.pipeline.matrix import load_config

    cfg, _ = load_config(Path("workflows/config/config.yaml"))
    target = f"{cfg.results_dir}/{cell}/cell.json"
    cmd = ["snakemake", "--cores", cores, "--force", target, f"{cfg.results_dir}/leaderboard.parquet"]
    console.print("$ " + " ".join(cmd), highlight=False)
    rc = subprocess.run(cmd).returncode
    if rc == 0 and cfg.publish_dir and (Path(cfg.publish_dir) / cell).is_dir():
        console.print(f"compare: inferboard compare {cfg.results_dir}/{cell} {cfg.publish_dir}/{cell}", highlight=False)
    raise SystemExit(rc)

