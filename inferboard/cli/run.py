"""Commands that measure: run a cell, serve a runtime, finalize an interrupted cell, run a matrix cell."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from inferboard.cli.common import (
    Api,
    _cpus,
    _list,
    _params,
    _visible,
    app,
    console,
)
from inferboard.cli.tables import print_summary
from inferboard.core.errors import InferboardError


@app.command()
def run(
    workload: Annotated[str, typer.Option(help="Standard workload name or path to a workload YAML")],
    out: Annotated[Path, typer.Option(help="Cell output folder")],
    model: Annotated[str, typer.Option(help="Served model name (--endpoint) or model folder (--runtime)")],
    endpoint: Annotated[str | None, typer.Option(help="Base URL of a running OpenAI-compatible server")] = None,
    runtime: Annotated[str | None, typer.Option(help="Start this runtime locally (runners/<name>) for the run")] = None,
    param: Annotated[list[str] | None, typer.Option(help="Runner parameter KEY=VALUE (repeatable)")] = None,
    mode: Annotated[str, typer.Option(help="With --runtime: local (locked env) or container (image by digest)")]
    = "local",
    variant: Annotated[str, typer.Option(help="Container variant: cpu, cuda or rocm")] = "cpu",
    image_source: Annotated[str, typer.Option(help="Container image: built (here, image.lock) or upstream")]
    = "built",
    engine: Annotated[str | None, typer.Option(help="Container engine (default: detected)")] = None,
    server_cpus: Annotated[str | None, typer.Option(help="Cores for the server, e.g. 0 or 0-3 (default: all)")]
    = None,
    client_cpus: Annotated[str | None, typer.Option(help="Cores for this load generator (default: all)")] = None,
    concurrency: Annotated[str | None, typer.Option(help="Closed loop: requests in flight (1,4,16 = sweep)")] = None,
    rate: Annotated[str | None, typer.Option(help="Open loop: arrivals per second (1,2,4 = sweep)")] = None,
    requests: Annotated[int | None, typer.Option(min=1, help="Measured requests per load point")] = None,
    duration: Annotated[float | None, typer.Option(min=0.001, help="Stop issuing after S seconds per point")] = None,
    warmup: Annotated[int | None, typer.Option(min=0, help="Warm-up requests per load point")] = None,
    trials: Annotated[int | None, typer.Option(min=1, help="Trials per load point")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for prompts and arrivals")] = None,
    api: Annotated[Api | None, typer.Option(help="OpenAI API flavour")] = None,
    tokenizer: Annotated[Path | None, typer.Option(help="Folder or tokenizer.json for exact token counts")] = None,
    sku: Annotated[str | None, typer.Option(
        help="SKU id (hardware/skus.yaml); with --runtime it must match this host's fingerprint (default: "
             "detected); with --endpoint it is recorded as declared")] = None,
    api_key: Annotated[str | None, typer.Option(envvar="OPENAI_API_KEY", help="Bearer token")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
) -> None:
    """Run a workload against an endpoint, or a runtime it starts, and write Parquet and provenance."""
    from inferboard.cell.run import CellSpec, run_cell
    from inferboard.core.hashing import file_sha256
    from inferboard.scenario.prompts import load_tokenizer
    from inferboard.scenario.workload import load_workload, resolve_workload_path, with_overrides

    if (endpoint is None) == (runtime is None):
        raise InferboardError("give exactly one of --endpoint or --runtime", field="--endpoint/--runtime",
                              fix="--endpoint URL for a running server, --runtime NAME to start one")
    path = resolve_workload_path(workload)
    base = load_workload(workload)
    overrides = {
        "concurrency": _list(concurrency, int, "--concurrency"), "rate": _list(rate, float, "--rate"),
        "requests": requests, "duration_s": duration, "warmup_requests": warmup, "trials": trials,
        "seed": seed, "api": api.value if api else None,
    }
    effective = with_overrides(base, **overrides)
    extra: dict[str, Any] = {}
    served = model
    if mode not in ("local", "container"):
        raise InferboardError(f"unknown mode {mode!r}", field="--mode", fix="local or container")
    from inferboard.hardware.amd import host_gpus
    from inferboard.hardware.sku import resolve_sku

    gpus = host_gpus()  # this host's; the server's only when this host starts it (--runtime)
    visible = _visible(gpus) if runtime is not None else []
    if runtime is not None:
        from inferboard.runtimes.prepare import prepare_container, prepare_local

        if mode == "container":
            local = prepare_container(runtime, Path(model), out, _params(param), variant=variant,
                                      source=image_source, engine=engine,
                                      gpus=tuple(visible) if variant == "cuda" else (),
                                      cpus=_cpus(server_cpus, "--server-cpus"))
        else:
            local = prepare_local(runtime, Path(model), out, _params(param), cpus=_cpus(server_cpus, "--server-cpus"))
        endpoint, served = local.server.url, local.served_model_name
        extra = {"server": local.server, "runtime": local.runtime_provenance, "model_info": local.model_info}
        if tokenizer is None and (Path(model) / "tokenizer.json").is_file():
            tokenizer = Path(model)
    if client_cpus is not None:
        import os

        os.sched_setaffinity(0, set(_cpus(client_cpus, "--client-cpus")))
    tok = load_tokenizer(tokenizer)
    assert endpoint is not None
    sku_id, verified = resolve_sku(sku, gpus if runtime is not None else [], local_server=runtime is not None)
    if runtime is not None:
        extra.update(gpus=visible, gpu_count=len(visible), model_label=local.model_info["id"],
                     length_control=local.runtime_provenance["length_control"])
    spec = CellSpec(
        endpoint=endpoint, model=served, workload=effective, out=out, tokenizer=tok, sku=sku_id,
        sku_verified=verified, gpu_fingerprints=gpus, api_key=api_key,
        progress=progress and sys.stderr.isatty(),
        workload_source={"file": str(path), "file_hash": file_sha256(path), "base_hash": base.content_hash(),
                         "overrides": {k: v for k, v in overrides.items() if v is not None}},
        **extra,
    )
    rows = run_cell(spec)
    print_summary(rows)
    console.print(escape(f"cell {spec.id} → {out}"), highlight=False)



@app.command()
def serve(
    runtime: Annotated[str, typer.Argument(help="Runtime with a local mode (runners/<name>)")],
    model: Annotated[Path, typer.Option(help="Model folder (HF files; model.gguf for llama.cpp)")],
    port: Annotated[int | None, typer.Option(help="Port (default: a free one)")] = None,
    param: Annotated[list[str] | None, typer.Option(help="Runner parameter KEY=VALUE (repeatable)")] = None,
    log: Annotated[Path, typer.Option(help="Server log file")] = Path("server.log"),
) -> None:
    """Start a runtime locally, print its URL once ready, and stop it on Ctrl-C."""
    import time

    from inferboard.runtimes.prepare import prepare_local
    from inferboard.runtimes.server import ServerProcess

    local = prepare_local(runtime, model, log.parent, _params(param), port=port)
    proc = ServerProcess(local.server.spec, log)
    proc.start()
    try:
        cold = proc.wait_ready()
        typer.echo(f"{local.server.url}  model={local.served_model_name}  ready in {cold:.1f} s  log={log}")
        while proc.exit_code() is None:
            time.sleep(0.5)
        raise InferboardError(f"server exited with code {proc.exit_code()}", field=runtime, fix=f"see {log}")
    finally:
        proc.stop()



@app.command()
def finalize(out: Annotated[Path, typer.Argument(help="Cell folder left by an interrupted run")]) -> None:
    """Recover an interrupted cell: write its Parquet files from the request journal."""
    from inferboard.cell.run import finalize as do_finalize
    from inferboard.results.schema import PROVENANCE

    if not (out / PROVENANCE).is_file():
        raise InferboardError(f"no {PROVENANCE} in {out}", field="OUT", fix="give a cell output folder")
    rows = do_finalize(out, complete=False)
    print_summary(rows)



@app.command("run-cell")
def run_cell_cmd(cell: Annotated[str, typer.Argument(help="Cell id SKU/RUNTIME/MODEL/WORKLOAD of the config")],
                 config: Annotated[Path, typer.Option(help="Pipeline config")] = Path("workflows/config/config.yaml"),
                 results: Annotated[Path | None, typer.Option(help="Results folder (default: the config's)")]
                 = None,
                 cell_spec: Annotated[str | None, typer.Option(help="The cell as JSON (Snakemake passes the cell of "
                                                                    "its merged config; then --config is not read)")]
                 = None) -> None:
    """Run one matrix cell for the pipeline; always leaves <cell>/cell.json (ok, invalid or failed + reason)."""
    from inferboard.core.clock import utc_now
    from inferboard.pipeline.jobs import (
        failure_reason,
        model_path,
        set_aside_interrupted,
        sku_variant,
        status_from_rows,
        write_status,
    )
    from inferboard.pipeline.matrix import load_config

    if cell_spec is not None:
        from inferboard.pipeline.matrix import Cell

        c = Cell.from_json(cell_spec)
        if c.id != cell:
            raise InferboardError(f"--cell-spec is cell {c.id!r}, not {cell!r}", field="--cell-spec",
                                  fix="pass the spec of CELL")
        results_dir = results or Path("results")
    else:
        cfg, cells = load_config(config)
        by_id = {c.id: c for c in cells}
        if cell not in by_id:
            raise InferboardError(f"cell {cell!r} is not in {config}", field="CELL",
                                  fix="one of: " + ", ".join(sorted(by_id)[:8]) + (" …" if len(by_id) > 8 else ""))
        c = by_id[cell]
        results_dir = results or Path(cfg.results_dir)
    out = results_dir / cell
    aside = set_aside_interrupted(out)
    started = utc_now()
    base = {"cell_id": cell, "runtime": c.runtime, "model": c.model, "workload": c.workload, "sku": c.sku,
            "mode": c.mode, "started_utc": started, "interrupted_run_kept_in": str(aside) if aside else None}
    over = dict(c.overrides)
    variant = sku_variant(c.sku)
    try:
        (out / "cell.json").unlink(missing_ok=True)
        run(workload=c.workload, out=out, model=str(model_path(c.model)), runtime=c.runtime,
            param=[f"{k}={v}" for k, v in c.params], mode=c.mode, sku=c.sku, progress=False,
            variant=variant, image_source="built" if variant == "cpu" else "upstream",
            server_cpus=c.cpus[0] if c.cpus else None, client_cpus=c.cpus[1] if c.cpus else None,
            trials=over.get("trials"), requests=over.get("requests"), warmup=over.get("warmup_requests"),
            concurrency=",".join(map(str, over["concurrency"])) if "concurrency" in over else None)
        import pyarrow.parquet as pq

        status, reason = status_from_rows(pq.read_table(out / "summary.parquet").to_pylist())
    except KeyboardInterrupt:
        raise
    except Exception as err:  # recorded, and the workflow goes on with the other cells
        status, reason = "failed", failure_reason(err)
    doc = write_status(out, **base, status=status, reason=reason)
    console.print(escape(f"cell {cell}: {doc['status']}" + (f" ({reason})" if reason else "")), highlight=False)

