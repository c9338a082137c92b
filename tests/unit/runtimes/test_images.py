"""Image recipes: build contexts hold only pinned inputs, hash the same twice, and bad input is named."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from inferboard.core.errors import InferboardError
from inferboard.core.hashing import file_sha256
from inferboard.runtimes import images
from inferboard.runtimes.runner import load_runner

TORCH = "torch==2.13.0+cpu"


@pytest.mark.skipif(images.find_wheel(TORCH) is None, reason="the torch CPU wheel is not on this host")
def test_vllm_context_is_lock_plus_local_wheels(tmp_path: Path) -> None:
    runner = load_runner("vllm")
    args = images.prepare_context(runner, "cpu", tmp_path / "a", tmp_path / "log")
    files = images.context_hash(tmp_path / "a")
    assert {"Containerfile", "vllm-cpu.lock", "ca.crt"} <= set(files)
    assert [f for f in files if f.startswith("wheelhouse/")] == [
        f"wheelhouse/{images.find_wheel(TORCH).name}"]  # type: ignore[union-attr]
    assert args["REMOVE_AFTER_INSTALL"] == "torchvision torchaudio torchcodec triton"
    images.prepare_context(runner, "cpu", tmp_path / "b", tmp_path / "log")
    assert images.context_hash(tmp_path / "b") == files  # same inputs, same recipe hash


def test_llamacpp_context_carries_the_cmake_include(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The image compiles with the same include script as local mode, and the script is in the recipe hash."""

    def fake_fetch(runner: object, local: object, dest: Path, log: Path) -> Path:
        (dest / "llama_cpp_python-0.3.36.tar.gz").write_bytes(b"archive")
        return dest / "llama_cpp_python-0.3.36.tar.gz"

    monkeypatch.setattr(images, "fetch_sdist", fake_fetch)
    runner = load_runner("llamacpp")
    args = images.prepare_context(runner, "cpu", tmp_path / "a", tmp_path / "log")
    files = images.context_hash(tmp_path / "a")
    script = images.runners_dir() / "llamacpp" / "unity.cmake"
    assert files["cmake-include.cmake"] == file_sha256(script)
    assert args["CMAKE_ARGS"].endswith("-DCMAKE_PROJECT_INCLUDE=/src/cmake-include.cmake")
    assert "COPY cmake-include.cmake" in (tmp_path / "a" / "Containerfile").read_text()


def test_local_versions_are_the_ones_needing_a_wheelhouse() -> None:
    lock = Path(__file__).resolve().parents[3] / "requirements" / "vllm-cpu.lock"
    assert images.local_versions(lock) == [TORCH]


def test_missing_wheel_names_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "find_wheel", lambda req: None)
    with pytest.raises(InferboardError, match="wheelhouse"):
        images.prepare_context(load_runner("vllm"), "cpu", tmp_path / "c", tmp_path / "log")


def test_variant_without_recipe_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(InferboardError, match="upstream"):
        images.prepare_context(load_runner("vllm"), "cuda", tmp_path / "d", tmp_path / "log")


def test_tag_base_is_refused_before_anything_runs() -> None:
    with pytest.raises(InferboardError, match="--base"):
        images.build_image("llamacpp", base="debian:bookworm")


@pytest.mark.parametrize(("runtime", "key"), [("vllm", "python"), ("llamacpp", "server_version")])
def test_resolved_packages_runs_the_runners_query(runtime: str, key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command that lists an image's packages comes from runner.yaml (built_image.packages)."""
    runner = load_runner(runtime)
    assert runner.built_image is not None
    query = runner.built_image.packages
    ran: list[list[str]] = []

    def fake_run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        ran.append(cmd)
        entry = cmd[cmd.index("--entrypoint") + 1]
        out = {query.argv[0]: '[{"name": "Torch", "version": "2.13.0+cpu"}]' if query.format == "pip-json"
               else "version: 1 (abc)", "dpkg-query": "libc6=2.36\n"}[entry]
        return subprocess.CompletedProcess(cmd, 0, out, "")

    monkeypatch.setattr(images.subprocess, "run", fake_run)
    got = images.resolved_packages("docker", runner, "sha256:" + "0" * 64)
    assert ran[0][ran[0].index("--entrypoint") + 1:] == [query.argv[0], "sha256:" + "0" * 64, *query.argv[1:]]
    assert got[key] == ({"torch": "2.13.0+cpu"} if key == "python" else "version: 1 (abc)")
    assert got["dpkg"] == {"libc6": "2.36"}


def test_recipe_pins_follow_the_recipe_not_the_launch_template() -> None:
    runner = load_runner("llamacpp")
    assert runner.local is not None
    pins = images.recipe_pins(runner, "cpu")
    relaunched = runner.model_copy(update={"local": runner.local.model_copy(
        update={"launch": runner.local.launch.model_copy(update={"argv": ["other"]})})})
    assert images.recipe_pins(relaunched, "cpu") == pins
    rebuilt = runner.model_copy(update={"local": runner.local.model_copy(update={"cmake_args": ["-DX=1"]})})
    assert images.recipe_pins(rebuilt, "cpu") != pins
    assert [p.name for p in images.recipe_files(runner, "cpu")] == ["Containerfile.cpu", "unity.cmake"]


def test_an_image_lock_of_another_recipe_is_not_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a revert the image of the recipe still exists, but image.lock describes the other one: rebuilt
    (the engine's layer cache makes that quick), so that the lock always matches the recipe it names."""
    monkeypatch.setenv("INFERBOARD_HOME", str(tmp_path))
    recipes: list[str] = []
    real_hash = images.content_hash

    def recording_hash(obj: object) -> str:
        recipes.append(real_hash(obj))
        return recipes[-1]

    def fake_context(runner: object, variant: str, ctx: Path, log: Path) -> dict[str, str]:
        ctx.mkdir(parents=True, exist_ok=True)
        (ctx / "Containerfile").write_text("FROM scratch\n")
        return {}

    builds: list[list[str]] = []
    monkeypatch.setattr(images, "content_hash", recording_hash)
    monkeypatch.setattr(images, "detect_engine", lambda engine: "docker")
    monkeypatch.setattr(images, "base_image", lambda eng, log: {"id": "sha256:" + "b" * 64})
    monkeypatch.setattr(images, "prepare_context", fake_context)
    monkeypatch.setattr(images, "inspect_image", lambda eng, ref: {
        "id": "sha256:" + "c" * 64, "repo_digests": [], "labels": {images.RECIPE_LABEL: recipes[-1]}})
    monkeypatch.setattr(images, "_run", lambda cmd, log, **kw: builds.append(cmd))
    monkeypatch.setattr(images, "engine_version", lambda eng: "fake 1")
    monkeypatch.setattr(images, "resolved_packages", lambda eng, runner, image_id: {})
    monkeypatch.setattr(images, "host_fingerprint", lambda: {"cpu_model": "m", "cpu_arch": "a"})
    lock = tmp_path / "images" / "llamacpp-cpu" / "image.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text('{"recipe_hash": "sha256:another"}')
    info = images.build_image("llamacpp")
    assert len(builds) == 1 and info["cached"] is False
    assert json.loads(lock.read_text())["recipe_hash"] == info["recipe_hash"]
    again = images.build_image("llamacpp")
    assert len(builds) == 1 and again["cached"] is True  # now the lock is this recipe's: reused
