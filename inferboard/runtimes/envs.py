"""Locked per-runtime environments for local mode on hosts without a container engine.

``inferboard env build RUNTIME`` makes ``<home>/envs/<runtime>/`` (home: ``INFERBOARD_HOME`` or
``.inferboard`` in the checkout) from the runner's ``local`` section:
- ``venv``: a virtualenv installed with ``--require-hashes --no-deps`` from the runner's lock file (by uv,
  which fetches and unpacks in parallel, when it is installed next to this Python; else by pip);
- ``cmake``: a source archive fetched from the package index, checked against its pinned SHA-256, and the
  target built with cmake.
Each writes ``env.json`` (lock/archive hash, package versions, notes) that goes into provenance; an
environment whose recorded key still matches is not rebuilt.

Built environments live in a machine-wide store (``INFERBOARD_STORE``, default
``~/.cache/inferboard/envs``; ``none`` keeps them inside the checkout), one folder per build key, and
``<home>/envs/<runtime>`` links to its folder, so every checkout of the same pins on the same machine
shares one build. The key is the pins plus what makes the build host-specific: the Python for a venv;
the CPU model, its flags and the compiler for a native cmake build (a ``GGML_NATIVE`` binary must not
reach a node with another CPU through a shared home directory).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import shutil
import ssl
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any, TypeGuard

from inferboard.core.clock import utc_now
from inferboard.core.errors import InferboardError
from inferboard.core.hashing import content_hash, file_sha256
from inferboard.core.paths import REPO_ROOT
from inferboard.runtimes.runner import (
    LocalCmake,
    LocalSystem,
    LocalVenv,
    Runner,
    load_runner,
    local_runners,
    runners_dir,
)

ENV_FILE = "env.json"


def home() -> Path:
    """Where environments and built models live."""
    env = os.environ.get("INFERBOARD_HOME")
    return Path(env) if env else REPO_ROOT / ".inferboard"


def env_dir(runtime: str) -> Path:
    return home() / "envs" / runtime


def store() -> Path | None:
    """The machine-wide folder of built environments, or None when ``INFERBOARD_STORE=none``."""
    env = os.environ.get("INFERBOARD_STORE")
    if env is not None and env.strip().lower() in ("", "none"):
        return None
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "inferboard" / "envs"


def env_info(runtime: str) -> dict[str, Any] | None:
    """The recorded description of a built environment, or None."""
    return _read_info(env_dir(runtime))


def _read_info(folder: Path) -> dict[str, Any] | None:
    p = folder / ENV_FILE
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


def source_hash(runner: Runner) -> str:
    """Hash of the runner's pins: its lock file, or what changes the built binary (the env rule's rerun
    trigger, and half of the store key)."""
    local = runner.local
    assert local is not None
    if isinstance(local, LocalVenv):
        return file_sha256(lock_path(local))
    # only what changes the binary: an edit to the launch template must not trigger a rebuild
    pins = local.model_dump(mode="json", include={"sdist", "sha256", "source_subdir", "cmake_args", "target"})
    include = cmake_include_path(runner)
    if include is not None:
        pins["cmake_include_sha256"] = file_sha256(include)
    return content_hash(pins)


def build_files(runner: Runner) -> list[Path]:
    """The files besides runner.yaml that the local environment is built from: the lock, the include script."""
    local = runner.local
    if isinstance(local, LocalVenv):
        return [lock_path(local)]
    include = cmake_include_path(runner)
    return [include] if include else []


def cmake_include_path(runner: Runner) -> Path | None:
    """The runner's ``local.cmake_include`` script (in its runners/ folder), checked to exist."""
    local = runner.local
    if not isinstance(local, LocalCmake) or local.cmake_include is None:
        return None
    path = runners_dir() / runner.name / local.cmake_include
    if not path.is_file():
        raise InferboardError(f"{path} does not exist", field=f"runners/{runner.name}/runner.yaml: local.cmake_include",
                              fix="name a CMake script in the runner's folder, or remove the key")
    return path


def configure_args(local: LocalCmake, include: Path | str | None) -> list[str]:
    """The runner's cmake arguments, plus the include script (as the build will see its path) if any."""
    return [*local.cmake_args, *([f"-DCMAKE_PROJECT_INCLUDE={include}"] if include else [])]


def host_build_facts(runner: Runner) -> dict[str, Any]:
    """What, besides the pins, makes a build of this runner valid only on hosts like this one."""
    if isinstance(runner.local, LocalVenv):
        return {"python": sys.version.split()[0], "base_prefix": sys.base_prefix, "machine": platform.machine()}
    cpu: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("vendor_id", "model name", "flags", "Features", "CPU part") and key not in cpu:
                cpu[key] = " ".join(sorted(value.split())) if key in ("flags", "Features") else value.strip()
    except OSError:
        pass
    return {"machine": platform.machine(), "cpu": cpu, "compiler": _compiler_version()}


def build_identity(runner: Runner) -> dict[str, Any]:
    """The pins' hash, the host facts and the store key made of both (recorded in env.json)."""
    ident = {"source_hash": source_hash(runner), "host": host_build_facts(runner)}
    return {**ident, "build_key": content_hash(ident)}


def build_key(runner: Runner) -> str:
    """The store key of the runner's environment on this host: pins + host facts."""
    return str(build_identity(runner)["build_key"])


def _current(info: dict[str, Any] | None, key: str) -> TypeGuard[dict[str, Any]]:
    return info is not None and info.get("build_key") == key


def _clear(path: Path) -> None:
    """Remove ``path``, whether a link (not what it points to), a file or a folder."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _link(target: Path, shared: Path) -> None:
    """Point ``target`` (the checkout's env folder) at ``shared`` (its folder in the store)."""
    _clear(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(shared, target_is_directory=True)


def build_env(runtime: str, *, force: bool = False) -> dict[str, Any]:
    """Build (or reuse) the local environment of ``runtime``; returns its env.json content."""
    runner = load_runner(runtime)
    if runner.local is None:
        raise InferboardError(f"runtime {runtime!r} has no local mode", field="RUNTIME",
                              fix=f"local mode exists for: {', '.join(local_runners())}")
    if isinstance(runner.local, LocalSystem):
        return system_env(runner, runner.local)
    target = env_dir(runtime)
    ident = build_identity(runner)
    key = ident["build_key"]
    info = env_info(runtime)
    if _current(info, key) and not force:
        return info
    shared = store()
    if shared is None:
        return _build(runner, target, ident)
    folder = shared / f"{runtime}-{key.removeprefix('sha256:')[:16]}"  # no ":" (venv refuses it)
    shared.mkdir(parents=True, exist_ok=True)
    # one builder per key on this machine; a second checkout waits and then reuses the result
    with open(shared / f"{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = _read_info(folder)
        built = found if _current(found, key) and not force else _build(runner, folder, ident)
    _link(target, folder)
    return built


def _build(runner: Runner, folder: Path, ident: dict[str, Any]) -> dict[str, Any]:
    """Build the environment into ``folder`` (emptied first); env.json is written last, when it is whole."""
    assert runner.local is not None and not isinstance(runner.local, LocalSystem)
    _clear(folder)
    folder.mkdir(parents=True)
    log = folder / "build.log"
    if isinstance(runner.local, LocalVenv):
        info = _build_venv(runner, runner.local, folder, log)
    else:
        info = _build_cmake(runner, runner.local, folder, log)
    info.update(runtime=runner.name, **ident, built_utc=utc_now(), note=runner.local.provenance_note)
    (folder / ENV_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
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
    freeze = system_freeze()
    return {"kind": "system", "python": sys.executable, "python_version": sys.version.split()[0],
            "packages": packages, "runtime": runner.name, "note": local.provenance_note,
            "freeze": freeze, "freeze_hash": freeze_hash(freeze)}


def system_freeze() -> list[str]:
    """Every distribution of this Python as sorted ``name==version`` lines: what a system environment is."""
    from importlib import metadata

    return sorted({f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions() if d.metadata['Name']},
                  key=lambda s: (s.lower(), s))


def freeze_hash(freeze: list[str]) -> str:
    """The pin of a system environment: SHA-256 of its freeze lines joined by newlines."""
    return "sha256:" + hashlib.sha256("\n".join(freeze).encode()).hexdigest()


def pip_find_links() -> list[str]:
    """pip's configured find-links folders (a lock may pin wheels that lie only there, e.g. torch +cpu)."""
    found = os.environ.get("PIP_FIND_LINKS", "").split()
    res = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.find-links"], capture_output=True,
                         text=True)
    if res.returncode == 0:
        found += res.stdout.split()
    return list(dict.fromkeys(found))


def _build_venv(runner: Runner, local: LocalVenv, target: Path, log: Path) -> dict[str, Any]:
    lock = lock_path(local)
    run_logged([sys.executable, "-m", "venv", str(target)], log)
    py = str(target / "bin" / "python")
    uv = Path(sys.executable).parent / "uv"
    if uv.is_file():  # the same hashed wheels as pip's, fetched and unpacked in parallel
        links = [arg for link in pip_find_links() for arg in ("--find-links", link)]
        run_logged([str(uv), "pip", "install", "--quiet", "--python", py, "--require-hashes", "--no-deps",
                    "--compile-bytecode", *links, "-r", str(lock)], log)
        installer = "uv " + subprocess.run([str(uv), "--version"], capture_output=True, text=True).stdout.split()[1]
    else:
        run_logged([py, "-m", "pip", "install", "--quiet", "--require-hashes", "--no-deps", "-r", str(lock)], log)
        installer = "pip"
    if local.remove_after_install:
        run_logged([py, "-m", "pip", "uninstall", "--yes", *local.remove_after_install], log)
    frozen = subprocess.run([py, "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True)
    packages = {p["name"].lower(): p["version"] for p in json.loads(frozen.stdout)}
    return {"kind": "venv", "lock": local.lock, "lock_hash": file_sha256(lock), "installer": installer,
            "python": py, "packages": packages}


def index_url() -> str:
    """The package index archives are fetched from: pip's ``PIP_INDEX_URL`` or PyPI."""
    return (os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple").rstrip("/")


def fetch_sdist(runner: Runner, local: LocalCmake, dest: Path, log: Path) -> Path:
    """Download the runner's source archive into ``dest``: the file of the index whose SHA-256 is pinned.

    The archive is fetched as a file (the index's JSON API, PEP 691), not through ``pip download``, which
    prepares the package's metadata first and, with ``--no-binary :all:``, builds every build dependency
    from source on the way (10 minutes here for an archive that is then only unpacked).
    """
    import httpx
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    field = f"runners/{runner.name}/runner.yaml: local.sdist"
    req = Requirement(local.sdist)
    page = f"{index_url()}/{canonicalize_name(req.name)}/"
    cafile = os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE")
    verify: Any = ssl.create_default_context(cafile=cafile) if cafile else True
    with open(log, "a") as f:
        f.write(f"$ fetch {local.sdist} (sha256 {local.sha256}) from {page}\n")
    try:
        with httpx.Client(follow_redirects=True, timeout=httpx.Timeout(60.0), verify=verify) as client:
            resp = client.get(page, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
            resp.raise_for_status()
            try:
                listed = resp.json().get("files", [])
            except ValueError:
                raise InferboardError(f"{page} did not answer with the JSON simple API (PEP 691)",
                                      field="PIP_INDEX_URL",
                                      fix="point PIP_INDEX_URL at an index that serves it (PyPI does)") from None
            files = [x for x in listed if x.get("hashes", {}).get("sha256") == local.sha256]
            if not files:
                raise InferboardError(f"{page} lists no file with the pinned sha256 {local.sha256}", field=field,
                                      fix="check the name, version and local.sha256 against the index")
            archive = dest / Path(files[0]["filename"]).name
            url = httpx.URL(page).join(files[0]["url"])
            with client.stream("GET", url) as stream, open(archive, "wb") as out:
                stream.raise_for_status()
                for chunk in stream.iter_bytes(1 << 20):
                    out.write(chunk)
    except httpx.HTTPError as e:
        raise InferboardError(f"fetching {local.sdist} from {page} failed: {e}", field=field,
                              fix="check the network or set PIP_INDEX_URL to a reachable index") from None
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
    include = cmake_include_path(runner)
    args = configure_args(local, include)
    # Ninja when the host has it (same compiler commands, better scheduling than make's recursion)
    generator = "Ninja" if shutil.which("ninja") else "Unix Makefiles"
    run_logged(["cmake", "-G", generator, "-S", str(source), "-B", str(build), *args], log)
    run_logged(["cmake", "--build", str(build), "--target", local.target, "-j", str(os.cpu_count() or 2)], log)
    (target / "bin").mkdir()
    binary = target / "bin" / local.target
    shutil.copy2(build / "bin" / local.target, binary)
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
    shutil.rmtree(build)
    shutil.rmtree(tree)
    return {"kind": "cmake", "sdist": local.sdist, "sdist_sha256": local.sha256, "cmake_args": local.cmake_args,
            "cmake_include": {"file": local.cmake_include, "sha256": file_sha256(include)} if include else None,
            "generator": generator, "binary": str(binary), "binary_sha256": file_sha256(binary),
            "version": (version.stdout + version.stderr).strip()[-400:]}


def _compiler_version() -> str | None:
    try:
        return subprocess.run(["c++", "--version"], capture_output=True, text=True, timeout=10).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return None
