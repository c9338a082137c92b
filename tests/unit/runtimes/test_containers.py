"""Container-mode command lines (docker, podman, apptainer) for GPU cells, without the binaries;
and the lint that nothing runnable references an image by tag alone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from inferboard.core.errors import InferboardError
from inferboard.runtimes.containers import ContainerRun, is_digest_ref, run_argv, sif_build_argv
from inferboard.runtimes.runner import all_runners, load_runner
from inferboard.runtimes.server import container_launch

ROOT = Path(__file__).resolve().parents[3]
DIGEST = "sha256:" + "a" * 64


def _spec(engine: str, runtime: str, variant: str, vendor: str | None, gpus: tuple[int, ...]):
    runner = load_runner(runtime)
    return container_launch(runner, engine=engine, image=runner.images[variant].pinned,  # type: ignore[arg-type]
                            model_dir=Path("/models/llama"), served_model_name="llama", port=8000,
                            gpu_vendor=vendor, gpus=gpus,  # type: ignore[arg-type]
                            sif=Path("/sif/vllm.sif") if engine == "apptainer" else None)


def test_docker_h100_cell() -> None:
    spec = _spec("docker", "vllm", "cuda", "nvidia", (0, 1))
    argv = spec.argv
    assert argv[:3] == ["docker", "run", "--rm"]
    assert argv[argv.index("--gpus") + 1] == '"device=0,1"'
    assert argv[argv.index("--network") + 1] == "host"
    assert "/models/llama:/model:ro" in argv and "--init" in argv
    image = load_runner("vllm").images["cuda"]
    assert f"{image.image}@{image.digest}" in argv
    args = argv[argv.index(f"{image.image}@{image.digest}") + 1:]
    assert args[args.index("--model") + 1] == "/model" and args[args.index("--host") + 1] == "127.0.0.1"
    assert spec.cleanup == ["docker", "rm", "--force", "inferboard-vllm-8000"]


def test_podman_h100_cell_uses_cdi_and_ulimits() -> None:
    argv = _spec("podman", "vllm", "cuda", "nvidia", (0,)).argv
    assert "--device=nvidia.com/gpu=0" in argv and "--gpus" not in argv
    assert "nofile=65536:65536" in argv and "nproc=65536:65536" in argv


@pytest.mark.parametrize("engine", ["docker", "podman"])
def test_mi300x_cell_passes_kfd_and_dri(engine: str) -> None:
    argv = _spec(engine, "vllm", "rocm", "amd", (0, 1, 2, 3)).argv
    assert argv[argv.index("/dev/kfd") - 1] == "--device" and argv[argv.index("/dev/dri") - 1] == "--device"
    assert "video" in argv and "seccomp=unconfined" in argv and "HIP_VISIBLE_DEVICES=0,1,2,3" in argv
    assert "--gpus" not in argv


def test_apptainer_h100_and_mi300x() -> None:
    nv = _spec("apptainer", "vllm", "cuda", "nvidia", (0,)).argv
    assert nv[:2] == ["apptainer", "run"] and "--nv" in nv and "CUDA_VISIBLE_DEVICES=0" in nv
    assert "/models/llama:/model:ro" in nv and "/sif/vllm.sif" in nv and "--containall" in nv
    amd = _spec("apptainer", "vllm", "rocm", "amd", (0, 1)).argv
    assert "--rocm" in amd and "HIP_VISIBLE_DEVICES=0,1" in amd
    ref = load_runner("vllm").images["cuda"].pinned
    assert sif_build_argv(ref, Path("/sif/v.sif")) == ["apptainer", "build", "--force", "/sif/v.sif",
                                                       f"docker://{ref}"]
    assert sif_build_argv(DIGEST, Path("x.sif"), local_daemon=True)[-1] == f"docker-daemon://{DIGEST}"


def test_llamacpp_cpu_cell_reads_the_gguf_from_the_mount() -> None:
    argv = _spec("docker", "llamacpp", "cpu", None, ()).argv
    assert argv[argv.index("-m") + 1] == "/model/model.gguf" and "--gpus" not in argv


def test_tags_are_refused() -> None:
    run = ContainerRun(image="vllm/vllm-openai:latest", args=[], model_dir=Path("/m"), name="x", env={})
    with pytest.raises(InferboardError, match="not pinned by digest"):
        run_argv("docker", run)
    assert is_digest_ref(DIGEST) and is_digest_ref(f"a/b@{DIGEST}") and not is_digest_ref("a/b:tag")


def test_no_runnable_path_references_an_image_by_tag_alone() -> None:
    """Containerfiles take FROM ${BASE} (checked to be a digest) or name@sha256; runner images carry digests
    where they are run; workflow files never name a tag-only image."""
    for cf in sorted(ROOT.glob("runners/*/Containerfile*")):
        for line in cf.read_text().splitlines():
            m = re.match(r"\s*FROM\s+(\S+)", line, re.I)
            if m:
                ref = m.group(1)
                assert ref == "${BASE}" or is_digest_ref(ref), f"{cf}: FROM {ref} is not pinned"
        assert "ARG BASE" in cf.read_text()
    for r in all_runners().values():
        for variant, img in r.images.items():
            if img.digest is not None:
                assert is_digest_ref(f"{img.image}@{img.digest}"), f"{r.name}/{variant}"
    pattern = re.compile(r"(docker|podman)\s+(run|pull)\s+[^@\s]+:[\w.-]+(\s|$)")
    for path in [*ROOT.glob("workflows/**/*"), *ROOT.glob("Snakefile"), *ROOT.glob(".ci/*"), *ROOT.glob("Makefile")]:
        if path.is_file() and path.suffix not in (".json",):
            assert not pattern.search(path.read_text()), f"{path} runs an image by tag"
