"""The machine-wide store of built environments: one build per key, shared by checkouts through a link.

The builders themselves (uv/pip into a venv, cmake) run for real in `make envs` and tests/integration; here
they are replaced by a recorder so the store's bookkeeping can be checked in milliseconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from inferboard import envs
from inferboard.runner import load_runner


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Path]:
    """Record every real build; point the checkout home and the store at temporary folders."""
    done: list[Path] = []

    def fake_build(runner: Any, local: Any, target: Path, log: Path) -> dict[str, Any]:
        done.append(target)
        (target / "bin").mkdir()
        (target / "bin" / "marker").write_text(str(len(done)))
        return {"kind": "fake", "python": str(target / "bin" / "python")}

    monkeypatch.setattr(envs, "_build_venv", fake_build)
    monkeypatch.setattr(envs, "_build_cmake", fake_build)
    monkeypatch.setenv("INFERBOARD_HOME", str(tmp_path / "checkout-a" / ".inferboard"))
    monkeypatch.setenv("INFERBOARD_STORE", str(tmp_path / "store"))
    return done


def test_second_checkout_reuses_the_stored_build(builds: list[Path], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    first = envs.build_env("vllm")
    link = envs.env_dir("vllm")
    assert link.is_symlink() and link.resolve().parent == (tmp_path / "store").resolve()
    assert ":" not in link.resolve().name, "python -m venv refuses a path with the PATH separator"
    assert first["build_key"] == envs.build_key(load_runner("vllm"))
    assert first["source_hash"].startswith("sha256:") and first["host"]["python"]

    monkeypatch.setenv("INFERBOARD_HOME", str(tmp_path / "checkout-b" / ".inferboard"))
    second = envs.build_env("vllm")
    assert len(builds) == 1, "the second checkout rebuilt instead of linking the stored environment"
    assert second == first
    assert envs.env_dir("vllm").resolve() == link.resolve()
    assert json.loads((envs.env_dir("vllm") / "env.json").read_text())["build_key"] == first["build_key"]


def test_up_to_date_link_builds_nothing_and_force_rebuilds(builds: list[Path]) -> None:
    envs.build_env("llamacpp")
    envs.build_env("llamacpp")
    assert len(builds) == 1
    envs.build_env("llamacpp", force=True)
    assert len(builds) == 2 and builds[0] == builds[1]
    assert (envs.env_dir("llamacpp") / "bin" / "marker").read_text() == "2"


def test_another_cpu_gets_its_own_native_build(builds: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    envs.build_env("llamacpp")
    real = envs.host_build_facts

    def other_cpu(runner: Any) -> dict[str, Any]:
        facts = real(runner)
        return {**facts, "cpu": {**facts["cpu"], "flags": "sse2"}}

    monkeypatch.setattr(envs, "host_build_facts", other_cpu)
    envs.build_env("llamacpp")
    assert len(builds) == 2 and builds[0] != builds[1], "a GGML_NATIVE binary was shared across CPU models"
    assert envs.env_dir("llamacpp").resolve() == builds[1].resolve()


def test_native_build_key_names_cpu_and_compiler() -> None:
    facts = envs.host_build_facts(load_runner("llamacpp"))
    assert facts["machine"] and "compiler" in facts
    if Path("/proc/cpuinfo").is_file():
        assert facts["cpu"].get("flags") or facts["cpu"].get("Features")
    assert envs.host_build_facts(load_runner("vllm"))["python"].count(".") == 2


def test_store_none_builds_inside_the_checkout(builds: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERBOARD_STORE", "none")
    info = envs.build_env("vllm")
    folder = envs.env_dir("vllm")
    assert not folder.is_symlink() and folder.is_dir() and builds == [folder]
    assert info["build_key"] and (folder / "env.json").is_file()


def test_old_in_place_environment_is_replaced_by_a_link(builds: list[Path]) -> None:
    old = envs.env_dir("vllm")
    old.mkdir(parents=True)
    (old / "env.json").write_text(json.dumps({"source_hash": "sha256:old"}))
    envs.build_env("vllm")
    assert old.is_symlink() and len(builds) == 1


def test_half_built_stored_environment_is_rebuilt(builds: list[Path]) -> None:
    envs.build_env("vllm")
    (envs.env_dir("vllm") / "env.json").unlink()  # a build killed before it finished writes no env.json
    envs.build_env("vllm")
    assert len(builds) == 2


def test_default_store_is_the_user_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("INFERBOARD_STORE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert envs.store() == tmp_path / "inferboard" / "envs"
    monkeypatch.setenv("INFERBOARD_STORE", "none")
    assert envs.store() is None
