"""Commands of the submission flow: submit, validate, intake, reproduce, and the leaderboard built from bundles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from inferboard.cli.shared import app, console, input_dir, output_dir, output_file
from inferboard.core.errors import InferboardError


@app.command()
def submit(cells: Annotated[list[Path], typer.Argument(help="Finished cell folders (results/<cell>)")],
           submitter: Annotated[str, typer.Option(help="Who submits (letters, digits, spaces, . _ @ ( ) -)")],
           org: Annotated[str | None, typer.Option(help="Organisation")] = None,
           notes: Annotated[str | None, typer.Option(help="Free text shown with the results (≤ 2,000 chars)")] = None,
           out: Annotated[Path, typer.Option(help="Where bundles go")] = Path("data/submissions"),
           custom: Annotated[bool, typer.Option(help="Allow non-standard workloads (shown apart)")] = False) -> None:
    """Write one submission bundle of finished cells: manifest.json (every file's SHA-256) and the cells, with
    host paths made relative or dropped. Refuses failed, interrupted or dirty-checkout cells, and non-standard
    workloads unless --custom."""
    from inferboard.submission.submit import submit as do_submit

    output_dir(out, "--out")
    path = do_submit(list(cells), submitter=submitter, org=org, notes=notes, out=out, custom=custom)
    console.print(f"bundle {path}: check it with `inferboard validate {path} --against {out}`", highlight=False)
    typer.echo(str(path))


@app.command()
def validate(bundle: Annotated[Path, typer.Argument(help="A bundle folder (data/submissions/<id>)")],
             as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
             against: Annotated[Path | None, typer.Option(help="Accepted bundles, for duplicates")] = None) -> int:
    """Run every check on a bundle without executing, importing or unpickling anything from it. Exit 0 accepted,
    1 rejected, 2 usage error; one line per failed check (CHECK_ID: reason)."""
    from inferboard.submission.validate import validate as do_validate

    if against is not None:
        input_dir(against, "--against", "give the folder of accepted bundles (data/submissions)")
    report = do_validate(bundle, against=against)
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2))
    else:
        for line in report.lines():
            typer.echo(line)
        typer.echo(f"{bundle.name}: {'accepted' if report.accepted else 'rejected'} "
                   f"({sum(r.ok for r in report.results)}/{len(report.results)} checks passed)")
    return 0 if report.accepted else 1


@app.command()
def intake(base: Annotated[str, typer.Option(help="Base revision (the target branch)")],
           head: Annotated[str, typer.Option(help="Head revision (the pull request)")],
           repo: Annotated[Path, typer.Option(help="The git repository")] = Path("."),
           report: Annotated[Path | None, typer.Option(help="Append the Markdown report here "
                                                              "(e.g. $GITHUB_STEP_SUMMARY)")] = None) -> int:
    """What CI does on a pull request: refuse any change but new bundle folders (or new reproduction records)
    under data/submissions/, and check each bundle with this checkout's checker, reading the head commit's files
    as data (never checked out). Exit 0 accepted, 1 rejected, 2 usage error."""
    import subprocess

    from inferboard.submission.intake import intake as do_intake
    from inferboard.submission.intake import markdown

    input_dir(repo, "--repo", "give the git repository's folder")
    if subprocess.run(["git", "-C", str(repo), "rev-parse", "--git-dir"], capture_output=True).returncode != 0:
        raise InferboardError(f"{repo} is not a git repository", field="--repo", fix="give the repository's folder")
    if report is not None:
        output_file(report, "--report")
    result = do_intake(repo, base, head)
    text = markdown(result, base, head)
    typer.echo(text)
    if report is not None:
        try:
            with open(report, "a", encoding="utf-8") as f:
                f.write(text)
        except OSError as err:
            raise InferboardError(f"cannot write the report ({err.strerror})", field="--report",
                                  fix="give a writable file, e.g. $GITHUB_STEP_SUMMARY") from None
    return 0 if result.accepted else 1


@app.command()
def reproduce(bundle: Annotated[Path, typer.Argument(help="The accepted bundle (data/submissions/<id>)")],
              rerun: Annotated[Path, typer.Argument(help="Your rerun of one of its cells (results/<cell>)")]) -> int:
    """Compare a rerun with the published cell (each headline metric against the published 95% CI) and write a
    reproduction record into the bundle's reproductions/, to submit by pull request."""
    from inferboard.submission.reproduce import reproduce as do_reproduce

    path, record = do_reproduce(bundle, rerun)
    outside = sum(m.within_ci is False for m in record.metrics)
    console.print(f"{record.verdict}: {len(record.metrics)} comparisons, {outside} outside the published CI",
                  highlight=False)
    typer.echo(str(path))
    return 0


@app.command()
def leaderboard(submissions: Annotated[Path | None, typer.Option(help="Accepted bundles (data/submissions)")] = None,
                local: Annotated[Path | None, typer.Option(help="Local cells to add as 'local, not submitted'")]
                = None,
                out: Annotated[Path, typer.Option(help="Leaderboard Parquet")] = Path("build/leaderboard.parquet"),
                root: Annotated[Path, typer.Option(help="Folder cell paths are relative to")] = Path("."),
                strict: Annotated[bool, typer.Option(help="Exit 1 when a bundle of --submissions is rejected "
                                                          "(publishing: an accepted bundle must stay accepted)")]
                = False) -> int:
    """Build the leaderboard: every bundle checked again (rejected ones left out, invalid load points marked),
    plus local cells shown apart."""
    from inferboard.submission.leaderboard import build_leaderboard

    if local is not None and not local.is_dir():
        raise InferboardError(f"{local} is not a folder", field="--local", fix="give results/ or leave it out")
    output_file(out, "--out")
    info = build_leaderboard(submissions, local, out, root)
    failed = [c["cell_id"] for c in info["local_cells"] if c["status"] == "failed"]
    console.print(f"{info['rows']} rows from {len(info['accepted'])} bundle(s) and {len(info['local_cells'])} local "
                  f"cell(s) → {out}" + (f"; rejected: {', '.join(info['rejected'])}" if info["rejected"] else "")
                  + (f"; failed local cells: {', '.join(failed)}" if failed else ""), highlight=False)
    for bundle, lines in info["rejected"].items():
        console.print(f"rejected {bundle}: {'; '.join(lines)[:2000]}", highlight=False, markup=False)
    return 1 if strict and info["rejected"] else 0
