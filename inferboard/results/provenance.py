"""Provenance of a cell: what ran, on what, with which inputs, so it can be rerun and compared."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from inferboard import __version__
from inferboard.hardware.host import host_fingerprint
from inferboard.hardware.nvidia import gpu_fingerprints, nvml_status
from inferboard.results.schema import SCHEMA_VERSION
from inferboard.core.clock import utc_now
from inferboard.core.paths import REPO_ROOT

_CLIENT_PACKAGES = ("aiohttp", "uvloop", "orjson", "pyarrow", "numpy", "scipy", "pydantic", "tokenizers")


def suite_git() -> dict[str, Any]:
    """Git sha and dirty flag of the inferboard checkout, when it is one."""
    root = REPO_ROOT
    named = os.environ.get("INFERBOARD_SUITE_GIT_SHA")
    if named:  # the caller names the commit (a copied tree whose .git may be stale or absent)
        return {"git_sha": named, "git_dirty": None, "git_sha_source": "INFERBOARD_SUITE_GIT_SHA"}
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                    capture_output=True, text=True, timeout=5).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return {"git_sha": None, "git_dirty": None}
    return {"git_sha": sha, "git_dirty": dirty}


def client_packages() -> dict[str, str | None]:
    """Versions of the packages the load generator runs on."""
    out: dict[str, str | None] = {}
    for name in _CLIENT_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def base_provenance(*, workload: dict[str, Any], runtime: dict[str, Any], model: dict[str, Any],
                    tokenizer: dict[str, Any], seed: int, schedule_hash: str,
                    point_schedule_hashes: list[str], cell_id: str, sku: str,
                    gpus: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The provenance document written at the start of a cell (end fields are filled at the end).

    ``gpus``: the GPU fingerprint when the caller already took it (else it is taken here)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "cell_id": cell_id,
        "suite": {"name": "inferboard", "version": __version__, **suite_git()},
        "runtime": runtime,
        "model": model,
        "workload": workload,
        "tokenizer": tokenizer,
        "seed": seed,
        "schedule_hash": schedule_hash,
        "load_point_schedule_hashes": point_schedule_hashes,
        "sku": sku,
        "hardware": {"host": host_fingerprint(), "gpus": gpu_fingerprints() if gpus is None else gpus,
                     "nvml": nvml_status()},
        "client": {"python": sys.version.split()[0], "packages": client_packages(),
                   "event_loop": None},
        "clock": {"monotonic_ns_at_start": time.monotonic_ns(), "utc_at_start": utc_now()},
        "start_utc": utc_now(),
        "end_utc": None,
        "command_line": sys.argv,
        "complete": False,
    }
