"""Build the runtimes' images (``inferboard image build RUNTIME --variant cpu``) and record image.lock.

- The base is made locally where no registry can be reached: ``debootstrap --variant=minbase`` into a
  folder, packed as a tar with sorted names, fixed mtimes and numeric owners, then ``docker import``;
  its image id (a content digest) is what every Containerfile's ``FROM ${BASE}`` gets.
- The build context holds only what the recipe pins: the lock file plus the wheels found on this host
  for it (a venv runner), or the hash-checked source archive (a cmake runner), and the host's CA bundle.
- The recipe hash covers the Containerfile, every context file, the base id and the build args; an
  image labelled with the same hash is reused (no rebuild). ``image.lock`` records image id, base id,
  build args, recipe hash, engine version and the resolved package versions inside the image.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from inferboard.core.clock import utc_now
from inferboard.core.errors import InferboardError
from inferboard.core.hashing import content_hash, file_sha256
from inferboard.hardware.host import host_fingerprint
from inferboard.runtimes.containers import Engine, detect_engine, engine_version, inspect_image, is_digest_ref
from inferboard.runtimes.envs import (
    build_files,
    cmake_include_path,
    configure_args,
    fetch_sdist,
    home,
    lock_path,
    run_logged,
)
from inferboard.runtimes.runner import LocalCmake, LocalVenv, Runner, load_runner, runners_dir

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
BASE_TAG = f"inferboard/debian-base:{SUITE}"
SOURCE_DATE_EPOCH = "1767225600"  # 2026-01-01T00:00:00Z: mtimes of the base tar and the builds
CA_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")
RECIPE_LABEL = "org.inferboard.recipe"


def images_dir() -> Path:
    return home() / "images"


def _run(cmd: list[str], log: Path, **kw: Any) -> None:
    run_logged(cmd, log, field="image build", **kw)


def base_image(engine: Engine, log: Path) -> dict[str, Any]:
    """The locally bootstrapped Debian base (built once, then reused by its recorded id)."""
    record = images_dir() / "base.json"
    if record.is_file():
        info: dict[str, Any] = json.loads(record.read_text())
        if inspect_image(engine, info["id"]):
            return info
    if shutil.which("debootstrap") is None:
        raise InferboardError("debootstrap is not installed", field="base image",
                              fix="apt-get install debootstrap (or give --base name@sha256:… from a registry)")
    root = images_dir() / "rootfs"
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    _run(["debootstrap", "--variant=minbase", SUITE, str(root), MIRROR], log)
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "var/log"):
        for p in (root / junk).glob("*"):
            if p.is_file():
                p.unlink()
    tar = images_dir() / "rootfs.tar"
    _run(["tar", "-C", str(root), "--sort=name", "--numeric-owner", f"--mtime=@{SOURCE_DATE_EPOCH}",
          "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*", "-cf", str(tar), "."], log)
    _run([engine, "import", "--change", "ENV LANG=C.UTF-8", str(tar), BASE_TAG], log)
    meta = inspect_image(engine, BASE_TAG)
    assert meta is not None
    info = {"id": meta["id"], "tag": BASE_TAG, "suite": SUITE, "mirror": MIRROR, "variant": "minbase",
            "rootfs_tar_sha256": file_sha256(tar), "built_utc": utc_now()}
    shutil.rmtree(root)
    tar.unlink()
    record.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return info


def _ca_bundle() -> Path | None:
    return next((Path(p) for p in CA_BUNDLES if Path(p).is_file()), None)


def find_wheel(requirement: str) -> Path | None:
    """A wheel for ``name==version`` in pip's find-links folders (e.g. torch's CPU build on this host)."""
    name, _, version = requirement.partition("==")
    dirs = [d for d in os.environ.get("PIP_FIND_LINKS", "").split() if d] + ["/opt/wheels"]
    stem = name.replace("-", "_").lower() + "-" + version.lower()
    for d in dirs:
        for w in sorted(Path(d).glob("*.whl")) if Path(d).is_dir() else []:
            if w.name.lower().startswith(stem + "-"):
                return w
    return None


def local_versions(lock: Path) -> list[str]:
    """Pinned requirements with a local version (``+cpu``): the index has no such files."""
    return [line.split()[0] for line in lock.read_text().splitlines()
            if "==" in line and not line.startswith((" ", "#")) and "+" in line.split()[0]]


def prepare_context(runner: Runner, variant: str, ctx: Path, log: Path) -> dict[str, str]:
    """Fill the build context; returns the build args."""
    if ctx.exists():
        shutil.rmtree(ctx)
    ctx.mkdir(parents=True)
    containerfile = runners_dir() / runner.name / f"Containerfile.{variant}"
    if not containerfile.is_file():
        raise InferboardError(f"no {containerfile.relative_to(runners_dir().parent)}", field="--variant",
                              fix=f"variants with a recipe: {', '.join(_variants(runner.name)) or 'none'}; GPU "
                                  "variants run the upstream image by digest (`run --mode container "
                                  "--image-source upstream`)")
    shutil.copy2(containerfile, ctx / "Containerfile")
    ca = _ca_bundle()
    (ctx / "ca.crt").write_bytes(ca.read_bytes() if ca else b"")
    args: dict[str, str] = {}
    local = runner.local
    if isinstance(local, LocalVenv):
        lock = lock_path(local)
        shutil.copy2(lock, ctx / lock.name)
        (ctx / "wheelhouse").mkdir()
        for req in local_versions(lock):
            wheel = find_wheel(req)
            if wheel is None:
                raise InferboardError(f"{req} is pinned by {local.lock} but no wheel of it is on this host",
                                      field="wheelhouse", fix="put the wheel in a PIP_FIND_LINKS folder")
            shutil.copy2(wheel, ctx / "wheelhouse" / wheel.name)
        args["REMOVE_AFTER_INSTALL"] = " ".join(local.remove_after_install)
    elif isinstance(local, LocalCmake):
        dl = ctx / "download"
        dl.mkdir()
        fetch_sdist(runner, local, dl, log).rename(ctx / "sdist.tar.gz")
        dl.rmdir()
        include = cmake_include_path(runner)  # copied even when empty: the recipe's COPY needs a file
        (ctx / "cmake-include.cmake").write_bytes(include.read_bytes() if include else b"")
        args["CMAKE_ARGS"] = " ".join(configure_args(local, "/src/cmake-include.cmake" if include else None))
    else:
        raise InferboardError(f"{runner.name} has no recipe inputs for an image", field="--runtime",
                              fix="runtimes with local venv or cmake sections can be built")
    return args


def recipe_files(runner: Runner, variant: str) -> list[Path]:
    """The checked-in files an image of ``variant`` is built from: its Containerfile and the local build's
    files (lock or include script); the image rule's inputs."""
    return [runners_dir() / runner.name / f"Containerfile.{variant}", *build_files(runner)]


def recipe_pins(runner: Runner, variant: str) -> str:
    """Hash of what the recipe is made from (files and the runner's build pins, not its launch template):
    the image rule's rerun trigger."""
    files = {str(p.relative_to(runners_dir().parent)): file_sha256(p) for p in recipe_files(runner, variant)
             if p.is_file()}
    local = runner.local.model_dump(mode="json", exclude={"launch", "provenance_note"}) if runner.local else None
    return content_hash({"files": files, "local": local})


def _variants(name: str) -> list[str]:
    return sorted(p.suffix.lstrip(".") for p in (runners_dir() / name).glob("Containerfile.*"))


def context_hash(ctx: Path) -> dict[str, str]:
    """The SHA-256 of every file of a build context, by its path in the context (the image's recipe)."""
    return {str(p.relative_to(ctx)): file_sha256(p) for p in sorted(ctx.rglob("*")) if p.is_file()}


def build_image(runtime: str, variant: str = "cpu", *, engine: str | None = None, base: str | None = None,
                force: bool = False) -> dict[str, Any]:
    """Build (or reuse) ``runtime``'s image for ``variant``; returns and writes its image.lock."""
    runner = load_runner(runtime)
    if base is not None and not is_digest_ref(base):
        raise InferboardError(f"--base {base!r} is not pinned by digest", field="--base",
                              fix="name@sha256:<digest>")
    eng = detect_engine(engine)
    out = images_dir() / f"{runtime}-{variant}"
    out.mkdir(parents=True, exist_ok=True)
    log = out / "build.log"
    with log.open("a") as f:
        f.write(f"== {utc_now()} inferboard image build {runtime} --variant {variant}\n")
    base_info = {"id": base, "source": "given"} if base else base_image(eng, log)
    ctx = out / "context"
    args = prepare_context(runner, variant, ctx, log)
    args.update(BASE=base_info["id"], SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH)
    context_files = context_hash(ctx)
    recipe = content_hash({"files": context_files, "args": args})
    tag = f"inferboard/{runtime}:{variant}-{recipe.removeprefix('sha256:')[:12]}"
    lock_file = out / "image.lock"
    existing = inspect_image(eng, tag)
    recorded = json.loads(lock_file.read_text()) if lock_file.is_file() else {}
    # the lock must describe this recipe's image (after a revert the image exists but the lock is another's)
    if existing and existing["labels"].get(RECIPE_LABEL) == recipe and recorded.get("recipe_hash") == recipe \
            and not force:
        return {**recorded, "cached": True}
    cmd = [eng, "build", "--network", "host", "--file", str(ctx / "Containerfile"), "--tag", tag,
           "--label", f"{RECIPE_LABEL}={recipe}"]
    for key, value in sorted(args.items()):
        cmd += ["--build-arg", f"{key}={value}"]
    _run([*cmd, str(ctx)], log, env={**os.environ, "DOCKER_BUILDKIT": "0"})
    meta = inspect_image(eng, tag)
    assert meta is not None
    host = host_fingerprint()
    info = {"runtime": runtime, "variant": variant, "tag": tag, "image_id": meta["id"],
            "repo_digests": meta["repo_digests"], "recipe_hash": recipe, "base": base_info, "build_args": args,
            "context_files": context_files, "engine": eng, "engine_version": engine_version(eng),
            "packages": resolved_packages(eng, runner, meta["id"]), "built_utc": utc_now(), "cached": False,
            "build_host": {k: host[k] for k in ("cpu_model", "cpu_arch")}}
    lock_file.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return info


def resolved_packages(engine: Engine, runner: Runner, image_id: str) -> dict[str, Any]:
    """What the image holds: the runner's ``built_image.packages`` query (pip packages or the server's
    version line), plus dpkg."""
    def inside(*argv: str) -> str:
        res = subprocess.run([engine, "run", "--rm", "--network", "none", "--entrypoint", argv[0], image_id,
                              *argv[1:]], capture_output=True, text=True, timeout=300)
        return res.stdout + (res.stderr if res.returncode else "")

    out: dict[str, Any] = {}
    query = runner.built_image.packages if runner.built_image else None
    if query is None:
        out["packages_error"] = f"runners/{runner.name}/runner.yaml names no built_image.packages query"
    elif query.format == "pip-json":
        text = inside(*query.argv)
        try:
            out["python"] = {p["name"].lower(): p["version"] for p in json.loads(text)}
        except (json.JSONDecodeError, TypeError, KeyError):
            out["python_error"] = text[-400:]
    else:
        out["server_version"] = inside(*query.argv).strip()[-400:]
    dpkg = inside("dpkg-query", "-W", "-f=${Package}=${Version}\n")
    out["dpkg"] = dict(line.split("=", 1) for line in dpkg.splitlines() if "=" in line)
    return out


def image_lock(runtime: str, variant: str = "cpu") -> dict[str, Any] | None:
    p = images_dir() / f"{runtime}-{variant}" / "image.lock"
    return json.loads(p.read_text()) if p.is_file() else None


