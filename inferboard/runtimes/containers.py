"""Container mode: run a runtime's image by digest with docker, podman or apptainer.

Commands are generated here (and tested without the binaries); :func:`detect_engine` picks the first
engine that answers. Every run uses the host network bound to loopback (never a bridge), mounts the
model folder read-only at ``/model``, and passes GPUs explicitly: NVIDIA through ``--gpus`` (docker),
CDI devices (podman) or ``--nv`` (apptainer); AMD through ``/dev/kfd`` + ``/dev/dri`` or ``--rocm``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from inferboard.core.errors import InferboardError

Engine = Literal["docker", "podman", "apptainer"]
ENGINES: tuple[Engine, ...] = ("docker", "podman", "apptainer")
GpuVendor = Literal["nvidia", "amd"]
MODEL_MOUNT = "/model"
SHM_SIZE = "4g"


@dataclass(frozen=True)
class ContainerRun:
    """One container start: the image (by digest), its arguments and where its GPUs come from."""

    image: str  # name@sha256:… or a local image id sha256:…
    args: list[str]
    model_dir: Path
    name: str
    env: dict[str, str]
    gpu_vendor: GpuVendor | None = None
    gpus: tuple[int, ...] = ()
    sif: Path | None = None  # apptainer: the SIF built from the image
    cpus: tuple[int, ...] = ()  # cores the container may use (--cpuset-cpus); empty: all


def is_digest_ref(ref: str) -> bool:
    """``name@sha256:<64 hex>`` or a local image id ``sha256:<64 hex>``."""
    digest = ref.rsplit("@", 1)[-1]
    return digest.startswith("sha256:") and len(digest) == 71 and all(c in "0123456789abcdef" for c in digest[7:])


def _require_digest(ref: str) -> None:
    if not is_digest_ref(ref):
        raise InferboardError(f"image {ref!r} is not pinned by digest", field="image",
                              fix="use name@sha256:<digest> (container mode never runs a tag)")


def run_argv(engine: Engine, run: ContainerRun) -> list[str]:
    """The command line that starts ``run`` in the foreground (signals reach the server)."""
    _require_digest(run.image)
    if engine == "apptainer":
        return _apptainer_argv(run)
    argv = [engine, "run", "--rm", "--name", run.name, "--network", "host", "--init",
            "--volume", f"{run.model_dir}:{MODEL_MOUNT}:ro"]
    argv += ["--shm-size", SHM_SIZE]  # vLLM's worker queues live in /dev/shm (64 MiB by default)
    if run.cpus:
        argv += ["--cpuset-cpus", ",".join(str(c) for c in run.cpus)]
    if engine == "podman":
        argv += ["--ulimit", "nofile=65536:65536", "--ulimit", "nproc=65536:65536"]
    for key, value in sorted(run.env.items()):
        argv += ["--env", f"{key}={value}"]
    argv += _gpu_flags(engine, run)
    return [*argv, run.image, *run.args]


def _gpu_flags(engine: Engine, run: ContainerRun) -> list[str]:
    if run.gpu_vendor is None:
        return []
    if run.gpu_vendor == "nvidia":
        devices = ",".join(str(g) for g in run.gpus)
        if engine == "docker":
            return ["--gpus", f"\"device={devices}\"" if devices else "all"]
        return [f"--device=nvidia.com/gpu={g}" for g in run.gpus] or ["--device=nvidia.com/gpu=all"]
    flags = ["--device", "/dev/kfd", "--device", "/dev/dri", "--group-add", "video",
             "--security-opt", "seccomp=unconfined"]
    if run.gpus:
        flags += ["--env", "HIP_VISIBLE_DEVICES=" + ",".join(str(g) for g in run.gpus)]
    return flags


def _apptainer_argv(run: ContainerRun) -> list[str]:
    if run.sif is None:
        raise InferboardError("apptainer needs a SIF built from the image", field="sif",
                              fix="run the commands of sif_build_argv() first")
    argv = ["apptainer", "run", "--containall", "--cleanenv", "--bind", f"{run.model_dir}:{MODEL_MOUNT}:ro"]
    if run.gpu_vendor == "nvidia":
        argv.append("--nv")
    elif run.gpu_vendor == "amd":
        argv.append("--rocm")
    env = dict(run.env)
    if run.gpus:
        key = "CUDA_VISIBLE_DEVICES" if run.gpu_vendor == "nvidia" else "HIP_VISIBLE_DEVICES"
        env[key] = ",".join(str(g) for g in run.gpus)
    for key, value in sorted(env.items()):
        argv += ["--env", f"{key}={value}"]
    return [*argv, str(run.sif), *run.args]


def sif_build_argv(image: str, sif: Path, *, local_daemon: bool = False) -> list[str]:
    """apptainer: make a SIF from a registry digest (``docker://…@sha256:``) or the local daemon."""
    _require_digest(image)
    source = f"docker-daemon://{image}" if local_daemon else f"docker://{image}"
    return ["apptainer", "build", "--force", str(sif), source]


def engine_works(engine: Engine) -> bool:
    """Whether ``engine`` is installed and (docker/podman) its daemon or service answers."""
    if shutil.which(engine) is None:
        return False
    cmd = [engine, "version"] if engine == "apptainer" else [engine, "info", "--format", "{{json .}}"]
    try:
        return subprocess.run(cmd, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def detect_engine(preferred: str | None = None) -> Engine:
    """The requested engine if it works, else the first of docker, podman, apptainer that does."""
    candidates = [preferred] if preferred else list(ENGINES)
    for engine in candidates:
        if engine not in ENGINES:
            raise InferboardError(f"unknown container engine {engine!r}", field="--engine",
                                  fix=f"one of: {', '.join(ENGINES)}")
        if engine_works(engine):
            return engine
    raise InferboardError(f"no working container engine ({', '.join(candidates)})", field="--engine",
                          fix="start the daemon, e.g. `dockerd --bridge=none --iptables=false --ip-masq=false`")


def engine_version(engine: Engine) -> str | None:
    try:
        cmd = [engine, "version", "--format", "{{.Server.Version}}"] if engine == "docker" else [engine, "--version"]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def inspect_image(engine: Engine, ref: str) -> dict[str, Any] | None:
    """``docker image inspect`` of ``ref`` (id, repo digests, labels), or None when absent."""
    res = subprocess.run([engine, "image", "inspect", ref], capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        return None
    (data,) = json.loads(res.stdout)
    return {"id": data["Id"], "repo_digests": data.get("RepoDigests") or [],
            "labels": (data.get("Config") or {}).get("Labels") or {}, "size": data.get("Size")}
