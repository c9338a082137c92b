"""The ``inferboard`` command line (typer). Options given here override the workload file."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from inferboard.core.errors import InferboardError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Reproducible benchmarks for LLM inference serving.")
workload_app = typer.Typer(no_args_is_help=True, help="Inspect the standard workloads.")
app.add_typer(workload_app, name="workload")
console = Console(stderr=True)


class Api(StrEnum):
    chat = "chat"
    completions = "completions"


def _list(text: str | None, kind: type, option: str) -> list[Any] | None:
    if text is None:
        return None
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(v <= 0 for v in values):
        noun = "integers" if kind is int else "numbers"
        raise InferboardError(f"{text!r} is not a comma-separated list of positive {noun}", field=option,
                              fix=f"e.g. {option} 4 or {option} 1,4,16")
    return values


def _params(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InferboardError(f"{item!r} is not KEY=VALUE", field="--param", fix="e.g. --param parallel=8")
        out[key] = value
    return out


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
    _print_summary(rows)
    console.print(escape(f"cell {spec.id} → {out}"), highlight=False)


def _cpus(text: str | None, option: str) -> tuple[int, ...]:
    """``0``, ``0,2`` or ``0-3`` → core numbers (checked against the cores this process may use)."""
    import os

    if text is None:
        return ()
    cores: set[int] = set()
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            cores.update(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        cores = set()
    usable = os.sched_getaffinity(0)
    if not cores or not cores <= usable:
        raise InferboardError(f"{text!r} is not a set of usable cores", field=option,
                              fix=f"e.g. {option} 0 or 0-1; usable here: {sorted(usable)}")
    return tuple(sorted(cores))


def _visible(gpus: list[dict[str, Any]]) -> list[int]:
    """NVML indices of the GPUs a local server may use (CUDA_VISIBLE_DEVICES as indices, else all)."""
    import os

    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    indices = [g["index"] for g in gpus if g.get("vendor") != "amd"]  # NVML-monitored GPUs only
    if env is None or not env.strip():
        return indices if env is None else []
    try:
        return [i for i in (int(x) for x in env.split(",")) if i in indices]
    except ValueError:  # UUIDs: cannot be mapped without NVML UUIDs; monitor all
        return indices


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


def _fmt(v: Any, digits: int = 1) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def _print_summary(rows: list[dict[str, Any]]) -> None:
    table = Table(title="summary (median across trials)")
    for col in ("load", "valid", "ok/total", "req/s", "out tok/s", "TTFT p50", "TPOT p50", "ITL p50",
                "E2E p50", "goodput"):
        table.add_column(col, justify="right")
    for r in rows:
        if r["row_kind"] != "aggregate":
            continue
        table.add_row(
            f"{r['load_kind']} {r['load_value']:g}", "yes" if r["valid"] else escape(f"no: {r['invalid_reason']}"),
            f"{r['requests_ok']}/{r['requests_total']}", _fmt(r["requests_per_s"], 2),
            _fmt(r["output_tokens_per_s"]), _fmt(r["ttft_ms_p50"]), _fmt(r["tpot_ms_p50"], 2),
            _fmt(r["itl_ms_p50"], 2), _fmt(r["e2e_ms_p50"]), _fmt(r["goodput_requests_per_s"], 2))
    console.print(table)


@app.command()
def finalize(out: Annotated[Path, typer.Argument(help="Cell folder left by an interrupted run")]) -> None:
    """Recover an interrupted cell: write its Parquet files from the request journal."""
    from inferboard.cell.run import finalize as do_finalize
    from inferboard.results.schema import PROVENANCE

    if not (out / PROVENANCE).is_file():
        raise InferboardError(f"no {PROVENANCE} in {out}", field="OUT", fix="give a cell output folder")
    rows = do_finalize(out, complete=False)
    _print_summary(rows)


@app.command()
def schema(out: Annotated[Path, typer.Option(help="Folder for the exported JSON Schemas")] = Path("workflows/schemas"),
           check: Annotated[bool, typer.Option(help="Fail if the files on disk are stale")] = False) -> None:
    """Export the JSON Schemas generated from the pydantic models (one source of truth)."""
    from inferboard.pipeline.schemas import export_schemas

    stale = export_schemas(out, check=check)
    if check and stale:
        raise InferboardError(f"stale: {', '.join(stale)}", field="schemas", fix="run `inferboard schema`")
    console.print(f"schemas {'checked' if check else 'written'} in {out}")


env_app = typer.Typer(no_args_is_help=True, help="Locked local environments of the runtimes.")
app.add_typer(env_app, name="env")
model_app = typer.Typer(no_args_is_help=True, help="Models generated locally.")
app.add_typer(model_app, name="model")


@env_app.command("build")
def env_build(runtime: str, force: Annotated[bool, typer.Option(help="Rebuild even if up to date")] = False) -> None:
    """Build (or reuse) the locked local environment of RUNTIME."""
    import datetime as dt

    from inferboard.runtimes.envs import build_env, env_dir

    console.print(f"{runtime}: {env_dir(runtime)} (built into the store unless it holds this build; "
                  "log: build.log there) …", highlight=False)
    started = dt.datetime.now(dt.UTC)
    info = build_env(runtime, force=force)
    built_utc = info.get("built_utc")  # written by every build; reusing a stored one keeps the old time
    built = built_utc is not None and dt.datetime.fromisoformat(built_utc.replace("Z", "+00:00")) >= started
    took = (dt.datetime.now(dt.UTC) - started).total_seconds()
    console.print(f"{runtime}: {'built' if built else 'up to date, reused'} in {took:.0f} s → "
                  f"{env_dir(runtime).resolve()}", highlight=False)
    typer.echo(json.dumps({k: v for k, v in info.items() if k != "packages"}, indent=2))


@model_app.command("tiny")
def model_tiny(out: Annotated[Path, typer.Option(help="Output folder")],
               size: Annotated[str, typer.Option(help="tiny-llama-2l or tiny-llama-4l")] = "tiny-llama-2l") -> None:
    """Write a deterministic tiny random-weights Llama (safetensors + GGUF + tokenizer)."""
    from inferboard.models.tiny import write_tiny_model

    manifest = write_tiny_model(out, size)
    typer.echo(f"{manifest['name']}  revision {manifest['revision']}  {manifest['parameters']:,} parameters → {out}")


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
    from inferboard.pipeline.jobs import compare as do_compare

    rows = do_compare(new, published)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{new} vs {published}")
    for col in ("load", "metric", "new", "published [95% CI]", "delta", "within CI"):
        table.add_column(col)
    for r in rows:
        lo, hi = r["published_ci95"]
        ci = f" [{_fmt(lo, 2)}, {_fmt(hi, 2)}]" if lo is not None else " [no CI]"
        rel = f" ({r['delta_rel']:+.1%})" if r["delta_rel"] is not None else ""
        within = {True: "yes", False: "NO", None: "—"}[r["within_ci"]]
        table.add_row(f"{r['load_value']:g}", r["metric"], _fmt(r["new"], 2), _fmt(r["published"], 2) + ci,
                      _fmt(r["delta"], 2) + rel, within)
    Console().print(table)


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


image_app = typer.Typer(no_args_is_help=True, help="Container images of the runtimes (pinned by digest).")
app.add_typer(image_app, name="image")


@image_app.command("build")
def image_build(runtime: str,
                variant: Annotated[str, typer.Option(help="cpu, cuda or rocm (runners/<rt>/Containerfile.<variant>)")]
                = "cpu",
                engine: Annotated[str | None, typer.Option(help="docker or podman (default: detected)")] = None,
                base: Annotated[str | None, typer.Option(help="Base image name@sha256:… instead of a local "
                                                              "debootstrap base (where a registry is reachable)")]
                = None,
                force: Annotated[bool, typer.Option(help="Rebuild even if the recipe is unchanged")] = False) -> None:
    """Build (or reuse) RUNTIME's image from its Containerfile and write its image.lock."""
    from inferboard.runtimes.images import build_image, images_dir

    console.print(f"building {runtime}:{variant} (log: {images_dir() / f'{runtime}-{variant}' / 'build.log'}) …",
                  highlight=False)
    info = build_image(runtime, variant, engine=engine, base=base, force=force)
    typer.echo(json.dumps({k: info[k] for k in ("tag", "image_id", "recipe_hash", "cached")} |
                          {"base": info["base"]["id"]}, indent=2))


@model_app.command("random")
def model_random(out: Annotated[Path, typer.Option(help="Output folder")],
                 like: Annotated[str, typer.Option(help="Catalogue model to copy")] = "llama-3.1-8b-instruct",
                 device: Annotated[str, typer.Option(help="torch device that draws the weights")] = "cuda",
                 seed: Annotated[int, typer.Option(help="Weight seed")] = 0) -> None:
    """Write a random-weights copy of a catalogue model's real shape (needs torch + transformers)."""
    from inferboard.models.random_weights import write_random_model

    m = write_random_model(out, like, device=device, seed=seed)
    typer.echo(f"{m['name']}  revision {m['revision']}  {m['parameters']:,} parameters  "
               f"{m['weights']['seconds']} s → {out}")


site_app = typer.Typer(no_args_is_help=True, help="The static leaderboard site (mkdocs-material).")
app.add_typer(site_app, name="site")


@site_app.command("build")
def site_build(
    data: Annotated[Path, typer.Option(help="Leaderboard Parquet file")] = Path("data/leaderboard.parquet"),
    out: Annotated[Path, typer.Option(help="Folder for the built HTML site")] = Path("build/site"),
    results: Annotated[Path | None, typer.Option(help="Published cells (provenance, requests.parquet) "
                                                      "[default: results/ beside --data]")] = None,
    project: Annotated[Path, typer.Option(help="Folder for the generated mkdocs project")] = Path("build/site-src"),
    html: Annotated[bool, typer.Option(help="Run mkdocs build --strict (--no-html: only the project)")] = True,
) -> None:
    """Build the whole site from any leaderboard file: pages per workload, SKU, runtime and cell."""
    from inferboard.site.build import build_site

    figures = build_site(data, out, project=project, results=results or data.parent / "results", html=html)
    typer.echo(json.dumps(figures, sort_keys=True))


@app.command()
def fingerprint() -> None:
    """Print this host's fingerprint as JSON: host, every GPU (NVIDIA through NVML, AMD through amdsmi), SKU."""
    from inferboard.hardware.amd import amdsmi_status, host_gpus
    from inferboard.hardware.host import host_fingerprint
    from inferboard.hardware.nvidia import nvml_status
    from inferboard.hardware.sku import CPU_HOST, load_skus, match_gpu

    gpus = host_gpus()
    skus = load_skus()
    for g in gpus:
        g["sku"] = match_gpu(g, skus)
    doc = {"host": host_fingerprint(), "nvml": nvml_status(), "amdsmi": amdsmi_status(), "gpus": gpus,
           "sku": (gpus[0]["sku"] if len({g["sku"] for g in gpus}) == 1 else "mixed") if gpus else CPU_HOST}
    typer.echo(json.dumps(doc, indent=2, sort_keys=True))


@app.command()
def roofline(model: Annotated[str, typer.Option(help="Model id in workflows/models.yaml")],
             sku: Annotated[str, typer.Option(help="SKU id in hardware/skus.yaml")],
             batch: Annotated[int, typer.Option(min=1, help="Sequences decoded together")] = 1,
             context: Annotated[int, typer.Option(min=0, help="Tokens of context per sequence")] = 0,
             prompt: Annotated[int, typer.Option(min=1, help="Prompt tokens for the prefill bound")] = 1024,
             gpus: Annotated[int, typer.Option(min=1, help="GPUs (tensor parallel)")] = 1,
             dtype: Annotated[str | None, typer.Option(help="Weight dtype (default: the model's)")] = None,
             as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Physical limits (DESIGN §4): decode tokens/s and prefill TTFT of MODEL on SKU."""
    from inferboard.hardware.roofline import roofline as limits
    from inferboard.hardware.sku import load_skus
    from inferboard.models.catalog import DTYPE_BYTES, load_models

    models, skus = load_models(), load_skus()
    if model not in models:
        raise InferboardError(f"unknown model {model!r}", field="--model", fix=f"one of: {', '.join(models)}")
    if sku not in skus:
        raise InferboardError(f"unknown SKU {sku!r}", field="--sku", fix=f"one of: {', '.join(sorted(skus))}")
    if dtype is not None and dtype not in DTYPE_BYTES:
        raise InferboardError(f"unknown dtype {dtype!r}", field="--dtype", fix=f"one of: {', '.join(DTYPE_BYTES)}")
    r = limits(models[model], skus[sku], batch=batch, context_tokens=context, prompt_tokens=prompt, gpus=gpus,
               dtype=dtype)
    if as_json:
        typer.echo(json.dumps(r, indent=2, sort_keys=True))
        return
    ttft = f"{r['prefill_ttft_ms']:.1f} ms" if r["prefill_ttft_ms"] is not None else "n/a (no sourced TFLOPS)"
    typer.echo(f"{model} on {gpus}× {sku}, batch {batch}: decode ≤ {r['decode_tokens_per_s']:.1f} tok/s "
               f"({r['bound']}-bound), prefill of {prompt} tokens ≥ {ttft}")


@workload_app.command("list")
def workload_list() -> None:
    """List the standard workloads with their version and content hash."""
    from inferboard.scenario.workload import load_workload, standard_workloads

    for name in standard_workloads():
        w = load_workload(name)
        typer.echo(f"{name:14} v{w.version}  {w.content_hash()[:19]}  {w.description}")


@workload_app.command("show")
def workload_show(name: str) -> None:
    """Print a workload's validated definition and hash as JSON."""
    from inferboard.scenario.workload import load_workload

    w = load_workload(name)
    typer.echo(json.dumps({"workload_hash": w.content_hash(), **w.model_dump(mode="json")}, indent=2))


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors print one line (``error: …``) and exit 2, never a traceback."""
    try:
        rv = app(args=argv, standalone_mode=False)
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
