"""Locked per-runtime environments for local mode on hosts without a container engine.

``inferboard env build RUNTIME`` makes ``<home>/envs/<runtime>/`` (home: ``INFERBOARD_HOME`` or
``.inferboard`` in the checkout) from the runner's ``local`` section:
- ``venv``: a virtualenv installed with ``--require-hashes --no-deps`` from the runner's lock file;
- ``cmake``: a source archive fetched from PyPI with pip, checked against its pinned SHA-256, and the
  target built with cmake.
Each writes ``env.json`` (lock/archive hash, package versions, notes) that goes into provenance; an
environment whose recorded hash still matches is not rebuilt.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

from inferboard.errors import InferboardError
from inferboard.hashing import content_hash, file_sha256
from inferboard.provenance import utc_now
from inferboard.runner import LocalCmake, LocalSystem, LocalVenv, Runner, load_runner, runners_dir

ENV_FILE = "env.json"


def home() -> Path:
    """Where environments and built models live."""
    env = os.environ.get("INFERBOARD_HOME")
    return Path(env) if env else Path(__file__).resolve().parent.parent / ".inferboard"


def env_dir(runtime: str) -> Path:
    return home() / "envs" / runtime


def env_info(runtime: str) -> dict[str, Any] | None:
    """The recorded description of a built environment, or None."""
    p = env_dir(runtime) / ENV_FILE
    return json.loads(p.read_text()) if p.is_file() else None


def run_logged(cmd: list[str], log: Path, *, field: str = "env build", **kw: Any) -> None:
    """Run ``cmd`` with its output appended to ``log``; a failure names the step and the log."""
    with open(log, "ab") as f:
        f.write(("$ " + " ".join(cmd) + "\n").encode())
        f.flush()
        res = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, **kw)
    if res.returncode != 0:
        raise InferboardError(f"`{' '.join(cmd[:4])} …` failed with code {res.returncode}", field=field,
                              fix=f"see {log}")


def lock_path(local: LocalVenv) -> Path:
    """The lock file of a venv runner (paths in runner.yaml are relative to the repository root)."""
    return runners_dir().parent / local.lock


def _want(runner: Runner) -> str:
    local = runner.local
    assert local is not None
    if isinstance(local, LocalVenv):
        return file_sha256(lock_path(local))
    # only what changes the binary: an edit to the launch template must not trigger a rebuild
    return content_hash(local.model_dump(mode="json", include={"sdist", "sha256", "source_subdir", "cmake_args",
                                                               "target"}))


def build_env(runtime: str, *, force: bool = False) -> dict[str, Any]:
    """Build (or reuse) the local environment of ``runtime``; returns its env.json content."""
    runner = load_runner(runtime)
    if runner.local is None:
        raise InferboardError(f"runtime {runtime!r} has no local mode", field="RUNTIME",
                              fix="local mode exists for: vllm, llamacpp")
    if isinstance(runner.local, LocalSystem):
        return system_env(runner, runner.local)
    target = env_dir(runtime)
    want = _want(runner)
    info = env_info(runtime)
    if info and info.get("source_hash") == want and not force:
        return info
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    log = target / "build.log"
    if isinstance(runner.local, LocalVenv):
        info = _build_venv(runner, runner.local, target, log)
    else:
        info = _build_cmake(runner, runner.local, target, log)
    info.update(runtime=runtime, source_hash=want, built_utc=utc_now(), note=runner.local.provenance_note)
    (target / ENV_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return info


def system_env(runner: Runner, local: LocalSystem) -> dict[str, Any]:
    """Check the host Python against ``local.requires``; its package versions are the environment."""
    from importlib import metadata

    from packaging.requirements import Requirement

    packages: dict[str, str] = {}
    for name, spec in sorted(local.requires.items()):
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            raise InferboardError(f"{runner.name} needs the Python package {name} on this host", field=name,
                                  fix=f"pip install '{name}{spec}' (or carry its wheel)") from None
        if spec and not Requirement(f"{name}{spec}").specifier.contains(version, prereleases=True):
            raise InferboardError(f"{name} {version} does not satisfy {spec} (runners/{runner.name}/runner.yaml)",
                                  field=name, fix=f"install {name}{spec}")
        packages[name] = version
    return {"kind": "system", "python": sys.executable, "python_version": sys.version.split()[0],
            "packages": packages, "runtime": runner.name, "note": local.provenance_note}


def _build_venv(runner: Runner, local: LocalVenv, target: Path, log: Path) -> dict[str, Any]:
    lock = lock_path(local)
    run_logged([sys.executable, "-m", "venv", str(target)], log)
    py = str(target / "bin" / "python")
    run_logged([py, "-m", "pip", "install", "--quiet", "--require-hashes", "--no-deps", "-r", str(lock)], log)
    if local.remove_after_install:
        run_logged([py, "-m", "pip", "uninstall", "--yes", *local.remove_after_install], log)
    frozen = subprocess.run([py, "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True)
    packages = {p["name"].lower(): p["version"] for p in json.loads(frozen.stdout)}
    return {"kind": "venv", "lock": local.lock, "lock_hash": file_sha256(lock),
            "python": py, "packages": packages}


def fetch_sdist(runner: Runner, local: LocalCmake, dest: Path, log: Path) -> Path:
    """Download the runner's source archive with pip into ``dest`` and check its pinned SHA-256."""
    run_logged([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:", "--dest",
                str(dest), local.sdist], log)
    (archive,) = list(dest.glob("*.tar.gz"))
    got = file_sha256(archive).removeprefix("sha256:")
    if got != local.sha256:
        raise InferboardError(f"{archive.name} has sha256 {got}, the runner pins {local.sha256}",
                              field=f"runners/{runner.name}/runner.yaml: local.sha256",
                              fix="the archive changed upstream; review it and update the pin")
    return archive


def _build_cmake(runner: Runner, local: LocalCmake, target: Path, log: Path) -> dict[str, Any]:
    src = target / "src"
    src.mkdir()
    archive = fetch_sdist(runner, local, src, log)
    with tarfile.open(archive) as tar:
        tar.extractall(src, filter="data")
    (tree,) = [p for p in src.iterdir() if p.is_dir()]
    source = tree / local.source_subdir
    build = target / "build"
    run_logged(["cmake", "-S", str(source), "-B", str(build), *local.cmake_args], log)
    run_logged(["cmake", "--build", str(build), "--target", local.target, "-j", str(os.cpu_count() or 2)], log)
    (target / "bin").mkdir()
    binary = target / "bin" / local.target
    shutil.copy2(build / "bin" / local.target, binary)
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
    shutil.rmtree(build)
    shutil.rmtree(tree)
    return {"kind": "cmake", "sdist": local.sdist, "sdist_sha256": local.sha256, "cmake_args": local.cmake_args,
            "binary": str(binary), "binary_sha256": file_sha256(binary),
            "version": (version.stdout + version.stderr).strip()[-400:],
            "compiler": _compiler_version()}


def _compiler_version() -> str | None:
    try:
        return subprocess.run(["c++", "--version"], capture_output=True, text=True, timeout=10).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return None
