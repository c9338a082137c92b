"""Commands that measure: run a cell, serve a runtime, finalize an interrupted cell, run a matrix cell.

Each is a thin shell over the library: ``inferboard.cell.api.run_cell`` (run), ``inferboard.pipeline.jobs``
(run-cell); none calls another command.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from inferboard.cli.rich_tables import print_summary
from inferboard.cli.shared import (
    ApiFlavour,
    about,
    app,
    console,
    input_dir,
    key_values,
    known_runtime,
    output_dir,
    output_file,
    pipeline_config,
    positive_numbers,
)
from inferboard.core.errors import InferboardError

PREFLIGHT_TIMEOUT_S = 10.0


def models_url(endpoint: str) -> str:
    """``GET`` URL of the endpoint's model list, built like the load generator builds its request URLs (the base
    URL with ``/v1`` added unless it ends with it)."""
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint if "://" in endpoint else "http://" + endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InferboardError(f"{endpoint!r} is not an http(s) URL", field="--endpoint",
                              fix="e.g. http://127.0.0.1:8000/v1")
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}{path if path.endswith('/v1') else path + '/v1'}/models"


def preflight(endpoint: str, model: str, api_key: str | None) -> None:
    """Before any load: the endpoint answers ``GET /v1/models``, accepts the API key, and lists ``model`` (when
    it lists models at all; a server without the route is let through)."""
    import httpx

    url = models_url(endpoint)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        # trust_env off: the load generator connects directly, never through HTTP(S)_PROXY, so the check does too
        resp = httpx.get(url, headers=headers, timeout=httpx.Timeout(PREFLIGHT_TIMEOUT_S, connect=5.0),
                         follow_redirects=True, trust_env=False)
    except httpx.ConnectError as err:
        raise InferboardError(f"nothing answers at {url} ({err})", field="--endpoint",
                              fix="start the server, or give its base URL, e.g. http://127.0.0.1:8000/v1") from None
    except httpx.TimeoutException:
        raise InferboardError(f"no answer from {url} within {PREFLIGHT_TIMEOUT_S:g} s", field="--endpoint",
                              fix="check the server is up and the host and port are right") from None
    except httpx.HTTPError as err:
        raise InferboardError(f"GET {url} failed: {err}", field="--endpoint",
                              fix="give the base URL of an OpenAI-compatible server") from None
    if resp.status_code in (401, 403):
        raise InferboardError(f"the server refused the request (HTTP {resp.status_code} on {url})",
                              field="--api-key", fix="pass the server's key with --api-key or OPENAI_API_KEY")
    if resp.status_code != 200:
        return  # no model list here (some servers have none): the run's own requests tell
    try:
        listed = [m["id"] for m in resp.json()["data"] if isinstance(m, dict) and isinstance(m.get("id"), str)]
    except (ValueError, KeyError, TypeError):
        return
    if listed and model not in listed:
        shown = ", ".join(listed[:8]) + (" …" if len(listed) > 8 else "")
        raise InferboardError(f"the server at {endpoint} serves no model {model!r}", field="--model",
                              fix=f"one of: {shown}")


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
    client_procs: Annotated[int | None, typer.Option(
        min=1, help="Client processes per load point, each pinned to one of --client-cpus in turn (default: one "
                    "per core given, else 1)")] = None,
    host_compile_caches: Annotated[bool, typer.Option(
        help="With --runtime: compile with this host's caches, kept across runs (not for a workload with a fresh "
             "server per trial), instead of empty ones")] = False,
    concurrency: Annotated[str | None, typer.Option(help="Closed loop: requests in flight (1,4,16 = sweep)")] = None,
    rate: Annotated[str | None, typer.Option(help="Open loop: arrivals per second (1,2,4 = sweep)")] = None,
    burstiness: Annotated[float | None, typer.Option(help="Open loop: gamma shape of arrivals (1 = Poisson)")]
    = None,
    requests: Annotated[int | None, typer.Option(min=1, help="Measured requests per load point")] = None,
    duration: Annotated[float | None, typer.Option(min=0.001, help="Stop issuing after S seconds per point")] = None,
    warmup: Annotated[int | None, typer.Option(min=0, help="Warm-up requests per load point")] = None,
    trials: Annotated[int | None, typer.Option(min=1, help="Trials per load point")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for prompts and arrivals")] = None,
    api: Annotated[ApiFlavour | None, typer.Option(help="OpenAI API flavour")] = None,
    tokenizer: Annotated[Path | None, typer.Option(help="Folder or tokenizer.json for exact token counts")] = None,
    sku: Annotated[str | None, typer.Option(
        help="SKU id (hardware/skus.yaml); with --runtime it must match this host's fingerprint (default: "
             "detected); with --endpoint it is recorded as declared")] = None,
    api_key: Annotated[str | None, typer.Option(envvar="OPENAI_API_KEY", help="Bearer token")] = None,
    server_nodelay: Annotated[bool, typer.Option(
        help="With --endpoint: the server switches Nagle's algorithm off (TCP_NODELAY), so the client empties its "
             "receive queue in bulk, which costs the server less CPU (a --runtime's runner declares it). Wrong for "
             "a server that leaves Nagle on: it would wait up to 40 ms for each acknowledgement")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
) -> None:
    """Run a workload against an endpoint, or a runtime it starts, and write Parquet and provenance."""
    from inferboard.cell.api import run_cell
    from inferboard.cell.system import Endpoint, LocalRuntime, PreparedSystem, SystemUnderTest, prepare
    from inferboard.core.cpus import parse_cores
    from inferboard.scenario.scenario import Scenario, parse_overrides

    if (endpoint is None) == (runtime is None):
        raise InferboardError("give exactly one of --endpoint or --runtime", field="--endpoint/--runtime",
                              fix="--endpoint URL for a running server, --runtime NAME to start one")
    if server_nodelay and runtime is not None:
        raise InferboardError("--server-nodelay is for --endpoint: a runtime's runner declares it (api.tcp_nodelay)",
                              field="--server-nodelay", fix="leave it out with --runtime")
    if concurrency is not None and rate is not None:
        raise InferboardError("give --concurrency or --rate, not both", field="--concurrency/--rate",
                              fix="a closed loop (--concurrency) or an open loop (--rate)")
    given = {"concurrency": positive_numbers(concurrency, int, "--concurrency"),
             "rate": positive_numbers(rate, float, "--rate"), "burstiness": burstiness, "requests": requests,
             "duration_s": duration, "warmup_requests": warmup,
             "trials": trials, "seed": seed, "api": api.value if api else None}
    overrides = parse_overrides({k: v for k, v in given.items() if v is not None}, source="command line")
    scenario = Scenario(workload, overrides)
    with about("--workload"):
        scenario.resolve()  # bad input stops here, before anything is built, started or written
    output_dir(out, "--out")
    system: SystemUnderTest | PreparedSystem
    if runtime is not None:
        known_runtime(runtime, "--runtime")
        # --mode is a string here; LocalRuntime (pydantic) refuses one that is not local or container
        system = LocalRuntime(runtime=runtime, model_dir=Path(model), params=key_values(param), mode=mode,  # type: ignore[arg-type]
                              variant=variant, image_source=image_source, engine=engine,
                              server_cpus=parse_cores(server_cpus, "--server-cpus"), sku=sku, tokenizer=tokenizer,
                              compile_caches="host" if host_compile_caches else "cell")
    else:
        assert endpoint is not None
        system = prepare(Endpoint(url=endpoint, model=model, api_key=api_key, sku=sku, tokenizer=tokenizer,
                                  tcp_nodelay=server_nodelay), out)
        preflight(endpoint, model, api_key)  # after the local checks (SKU, tokenizer), before any load
    result = run_cell(system, scenario, out, client_cpus=parse_cores(client_cpus, "--client-cpus"),
                      client_procs=client_procs, progress=progress and sys.stderr.isatty())
    print_summary(result.rows)
    console.print(escape(f"cell {result.cell_id} → {out}"), highlight=False)


@app.command()
def serve(
    runtime: Annotated[str, typer.Argument(help="Runtime with a local mode (runners/<name>)")],
    model: Annotated[Path, typer.Option(help="Model folder (HF files; model.gguf for llama.cpp)")],
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default: a free one)")] = None,
    param: Annotated[list[str] | None, typer.Option(help="Runner parameter KEY=VALUE (repeatable)")] = None,
    log: Annotated[Path, typer.Option(help="Server log file")] = Path("server.log"),
) -> None:
    """Start a runtime locally, print its URL once ready, and stop it on Ctrl-C, SIGTERM or SIGHUP."""
    import signal
    import time

    from inferboard.runtimes.prepare import prepare_local
    from inferboard.runtimes.server import ServerProcess

    def _end(signum: int, _frame: object) -> None:  # the server runs in its own session: stop it on the way out
        raise SystemExit(128 + signum)

    known_runtime(runtime)
    input_dir(model, "--model", "give a model folder, e.g. `inferboard model tiny --out models/tiny`")
    output_file(log, "--log")
    params = key_values(param)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _end)
    local = prepare_local(runtime, model, log.parent, params, port=port)
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
    from inferboard.cell.finalize import finalize as do_finalize
    from inferboard.results.schema import PROVENANCE

    input_dir(out, "OUT", "give a cell output folder")
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
    from inferboard.pipeline.jobs import run_matrix_cell
    from inferboard.pipeline.matrix import MatrixCell

    if results is not None:
        output_dir(results, "--results")
    if cell_spec is not None:
        with about("--cell-spec"):
            c = MatrixCell.from_json(cell_spec)
        if c.id != cell:
            raise InferboardError(f"--cell-spec is cell {c.id!r}, not {cell!r}", field="--cell-spec",
                                  fix="pass the spec of CELL")
        results_dir = results or Path("results")
    else:
        cfg, cells = pipeline_config(config)
        by_id = {c.id: c for c in cells}
        if cell not in by_id:
            raise InferboardError(f"cell {cell!r} is not in {config}", field="CELL",
                                  fix="one of: " + ", ".join(sorted(by_id)[:8]) + (" …" if len(by_id) > 8 else ""))
        c = by_id[cell]
        results_dir = results or Path(cfg.results_dir)
    doc = run_matrix_cell(c, results_dir)
    reason = doc["reason"]
    console.print(escape(f"cell {cell}: {doc['status']}" + (f" ({reason})" if reason else "")), highlight=False)
