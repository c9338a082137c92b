"""A runtime started here, described for a cell: its environment or image, the model folder and the managed server."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inferboard.core.errors import InferboardError
from inferboard.core.hashing import file_sha256
from inferboard.runtimes.adapters import adapter_ranks
from inferboard.runtimes.envs import build_env, env_dir
from inferboard.runtimes.runner import Runner, load_runner, require_adapters, runners_dir
from inferboard.runtimes.server import ManagedServer, local_launch


@dataclass
class PreparedServer:
    """A server a cell will start here (local env or image): how to reach it and what it records."""

    server: ManagedServer
    served_model_name: str
    runtime_provenance: dict[str, Any]
    model_info: dict[str, Any]
    runner: Runner  # the definition the launch was rendered from (snapshotted into the cell's provenance)


def model_info(model_dir: Path) -> dict[str, Any]:
    """Identity of a model folder: the tiny model's manifest, else hashes of its small files."""
    manifest = model_dir / "manifest.json"
    if manifest.is_file():
        m = json.loads(manifest.read_text())
        return {"id": m["name"], "catalogue_id": m.get("catalogue_id", m["name"]), "revision": m["revision"],
                "kind": m["kind"], "files": m["files"],
                "shape": m["shape"], "parameters": m["parameters"]}
    files = {p.name: (file_sha256(p) if p.stat().st_size < 64 << 20 else f"{p.stat().st_size} bytes")
             for p in sorted(model_dir.iterdir()) if p.is_file()}
    return {"id": model_dir.name, "revision": None, "files": files}


def _checked_runner(runtime: str, model_dir: Path, params: dict[str, str]) -> Runner:
    """The runner, after checking the model folder and that every --param is declared."""
    runner = load_runner(runtime)
    if not model_dir.is_dir() or not (model_dir / "config.json").is_file():
        raise InferboardError(f"{model_dir} is not a model folder (no config.json)", field="--model",
                              fix="e.g. `inferboard model tiny --out models/tiny` then --model models/tiny")
    unknown = sorted(set(params) - set(runner.params))
    if unknown:
        raise InferboardError(f"unknown parameter {unknown[0]!r} for {runtime}", field="--param",
                              fix=f"declared: {', '.join(sorted(runner.params)) or '(none)'}")
    return runner


def _runtime_provenance(runner: Runner, mode: str, params: dict[str, str], cpus: tuple[int, ...],
                        **extra: Any) -> dict[str, Any]:
    """What a cell records about the server it starts, in either mode."""
    return {"name": runner.name, "mode": mode, "verified": True,
            "runner_hash": file_sha256(runners_dir() / runner.name / "runner.yaml"),
            "params": {**runner.params, **params}, **extra, "server_cpus": list(cpus),
            "forces_output_length": runner.api.forces_output_length, "length_control": runner.api.length_control,
            "tcp_nodelay": runner.api.tcp_nodelay}


def _adapters(runner: Runner, model_dir: Path, names: tuple[str, ...]) -> dict[str, int]:
    """The adapters a traffic split needs (name → rank), checked before anything is built."""
    if not names:
        return {}
    require_adapters(runner)
    return adapter_ranks(model_dir, names)


def prepare_local(runtime: str, model_dir: Path, out: Path, params: dict[str, str],
                  port: int | None = None, cpus: tuple[int, ...] = (),
                  adapters: tuple[str, ...] = (), host_caches: bool = False) -> PreparedServer:
    """Build (or reuse) the runtime's environment and describe the server a cell will manage (``adapters``:
    the model folder's LoRA adapters to load next to it; ``host_caches``: its compile caches are this host's,
    next to the environment, kept across cells)."""
    runner = _checked_runner(runtime, model_dir, params)
    ranks = _adapters(runner, model_dir, adapters)
    info = build_env(runtime)
    info_model = model_info(model_dir)
    served = str(model_dir.resolve()) if runner.api.request_model == "model_path" else info_model["id"]
    spec = local_launch(runner, env_dir=env_dir(runtime), model_dir=model_dir.resolve(), served_model_name=served,
                        port=port, params=params, python=info["python"] if info.get("kind") == "system" else None,
                        cpus=cpus, adapters=ranks)
    prov = _runtime_provenance(runner, "local", params, cpus, env=info, **({"adapters": ranks} if ranks else {}))
    server = ManagedServer(spec, out)
    if host_caches:  # one folder per environment and model: a rebuilt environment or another model starts empty
        built = env_dir(runtime).resolve()  # the store's folder of these pins, shared by every checkout of them
        caches = built.with_name(built.name + ".compile-caches")
        server.host_caches = caches / str(info_model.get("revision") or info_model["id"]).replace(":", "-")[:19]
    return PreparedServer(server, served, prov, info_model, runner)


def prepare_container(runtime: str, model_dir: Path, out: Path, params: dict[str, str], *, variant: str = "cpu",
                      source: str = "built", engine: str | None = None, gpus: tuple[int, ...] = (),
                      port: int | None = None, cpus: tuple[int, ...] = (),
                      adapters: tuple[str, ...] = ()) -> PreparedServer:
    """Describe a container-mode server: the image built here (image.lock) or the upstream one, by digest."""
    from inferboard.runtimes.containers import GpuVendor, detect_engine, engine_version, inspect_image
    from inferboard.runtimes.images import image_lock
    from inferboard.runtimes.server import container_launch

    runner = _checked_runner(runtime, model_dir, params)
    ranks = _adapters(runner, model_dir, adapters)
    eng = detect_engine(engine)
    image: dict[str, Any]
    if source == "built":
        lock = image_lock(runtime, variant)
        if lock is None:
            raise InferboardError(f"no {variant} image of {runtime} has been built here", field="--image-source",
                                  fix=f"run `inferboard image build {runtime} --variant {variant}`, or use "
                                      "--image-source upstream where a registry is reachable")
        ref = lock["image_id"]
        image = {"source": "built", "ref": ref, "image_lock": lock}
    elif source == "upstream":
        if variant not in runner.images:
            raise InferboardError(f"{runtime} publishes no {variant} image", field="--variant",
                                  fix=f"one of: {', '.join(runner.images) or '(none)'}")
        ref = runner.images[variant].pinned
        image = {"source": "upstream", "ref": ref, **runner.images[variant].model_dump(mode="json")}
    else:
        raise InferboardError(f"unknown image source {source!r}", field="--image-source", fix="built or upstream")
    meta = inspect_image(eng, ref)
    if meta is None:
        raise InferboardError(f"image {ref} is not present for {eng}", field="--image-source",
                              fix=f"{eng} pull {ref}" if source == "upstream" else "rebuild it")
    info_model = model_info(model_dir)
    served = info_model["id"]
    vendors: dict[str, GpuVendor] = {"cuda": "nvidia", "rocm": "amd"}
    vendor = vendors.get(variant)
    spec = container_launch(runner, engine=eng, image=ref, model_dir=model_dir.resolve(), served_model_name=served,
                            port=port, params=params, gpu_vendor=vendor, gpus=gpus,
                            cpus=cpus, adapters=ranks)
    prov = _runtime_provenance(runner, "container", params, cpus, engine=eng, engine_version=engine_version(eng),
                               variant=variant, image=image, resolved_image_id=meta["id"],
                               resolved_repo_digests=meta["repo_digests"], **({"adapters": ranks} if ranks else {}))
    return PreparedServer(ManagedServer(spec, out), served, prov, info_model, runner)
