"""Provenance of a cell (provenance.json): what ran, on what, with which inputs, so it can be rerun and compared.

``Provenance`` is its model (exported as workflows/schemas/provenance.schema.json); every write and read of a
provenance file is validated against it. Parts that differ by runtime mode or vendor (runtime, model, hardware,
server records) are open mappings; the rest is closed (``extra="forbid"``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from inferboard import __version__
from inferboard.core.atomic import atomic_write_bytes, read_json
from inferboard.core.clock import utc_now
from inferboard.core.errors import validated
from inferboard.core.paths import REPO_ROOT
from inferboard.hardware.host import host_fingerprint
from inferboard.hardware.nvidia import gpu_fingerprints, nvml_status
from inferboard.results.schema import SCHEMA_VERSION
from inferboard.scenario.workload import MAX_REQUESTS

_CLIENT_PACKAGES = ("httptools", "uvloop", "orjson", "pyarrow", "numpy", "scipy", "pydantic", "tokenizers")


def suite_git() -> dict[str, Any]:
    """Git sha and dirty flag of the inferboard checkout, when it is one."""
    root = REPO_ROOT
    named = os.environ.get("INFERBOARD_SUITE_GIT_SHA")
    if named:  # the caller names the commit (a copied tree whose .git may be stale or absent)
        tree = os.environ.get("INFERBOARD_SUITE_GIT_TREE")
        actual = work_tree_hash(root) if tree else None
        return {"git_sha": named, "git_dirty": None if actual is None else actual != tree,
                "git_sha_source": "INFERBOARD_SUITE_GIT_SHA" + (" (tree verified)" if actual == tree else "")}
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                    capture_output=True, text=True, timeout=5).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return {"git_sha": None, "git_dirty": None}
    return {"git_sha": sha, "git_dirty": dirty}


def work_tree_hash(root: Path) -> str | None:
    """The git tree hash of ``root``'s files as git would commit them (.gitignore applied), computed in a
    throwaway repository: it equals ``git rev-parse <commit>^{tree}`` exactly when the files are that commit's."""
    with tempfile.TemporaryDirectory(prefix="inferboard-tree-") as gitdir:
        env = {**os.environ, "GIT_DIR": gitdir, "GIT_WORK_TREE": str(root)}
        try:
            subprocess.run(["git", "init", "-q"], env=env, check=True, capture_output=True, timeout=30)
            subprocess.run(["git", "add", "-A"], cwd=root, env=env, check=True, capture_output=True, timeout=300)
            return subprocess.run(["git", "write-tree"], cwd=root, env=env, check=True, capture_output=True,
                                  text=True, timeout=60).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None


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
                    gpus: list[dict[str, Any]] | None = None,
                    catalogue: dict[str, Any] | None = None) -> dict[str, Any]:
    """The provenance document written at the start of a cell (end fields are filled at the end).

    ``gpus``: the GPU fingerprint when the caller already took it (else it is taken here). ``catalogue``: the
    catalogue entries the cell uses (SKU, model, runner), which ``finalize`` reads instead of today's files."""
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
        "catalogue": catalogue or {"sku": None, "model": None, "runner": None},
        "clock": {"monotonic_ns_at_start": time.monotonic_ns(), "utc_at_start": utc_now()},
        "start_utc": utc_now(),
        "end_utc": None,
        "command_line": sys.argv,
        "complete": False,
    }


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Suite(_Closed):
    """The inferboard checkout that measured."""

    name: str
    version: str
    git_sha: str | None
    git_dirty: bool | None
    git_sha_source: str | None = None


class WorkloadRecord(_Closed):
    """The effective workload and where it came from."""

    name: str
    version: int
    workload_hash: str
    file: str | None = None
    file_hash: str | None = None
    base_hash: str | None = None
    overrides: dict[str, Any] = Field(default_factory=dict)
    definition: dict[str, Any]


class Client(_Closed):
    """The load generator's process."""

    python: str
    packages: dict[str, str | None]
    event_loop: str | None
    cpus: list[int] | None = None
    timestamps: str | None = None
    procs: int | None = None
    """client processes per load point (``--client-procs``); null: recorded before there could be several"""


class Clock(_Closed):
    monotonic_ns_at_start: int
    utc_at_start: str


class Hardware(_Closed):
    """Fingerprints taken when the cell started."""

    host: dict[str, Any]
    gpus: list[dict[str, Any]]
    nvml: str | dict[str, Any] | None = None


class Catalogue(_Closed):
    """Catalogue entries as the cell saw them (hardware/skus.yaml, workflows/models.yaml, runners/<rt>)."""

    sku: dict[str, Any] | None
    model: dict[str, Any] | None
    runner: dict[str, Any] | None


class AccuracyPass(_Closed):
    """The accuracy gate's pass (cell.accuracy_gate): the reference and prompt set it used, and when it ran."""

    reference: str
    reference_sha256: str
    prompt_set: str
    prompt_set_sha256: str
    prompts: int
    errors: int  # prompts without an answer
    when: str  # after the timed load (the only place it runs: it warms nothing the load measures)
    seconds: float


class Provenance(_Closed):
    """provenance.json of a cell: written when it starts, completed as it runs and when it is finalized."""

    schema_version: int
    cell_id: str
    suite: Suite
    runtime: dict[str, Any]
    model: dict[str, Any]
    workload: WorkloadRecord
    tokenizer: dict[str, Any]
    seed: int
    schedule_hash: str  # of trial 0's plan
    load_point_schedule_hashes: list[str]  # trial 0's, one per load point
    #: every trial's load-point schedule hashes (each trial sends its own prompts), recorded as the trials start;
    #: absent in cells measured when every trial resent trial 0's prompts
    trial_schedule_hashes: list[list[str]] = Field(default_factory=list)
    sku: str
    hardware: Hardware
    client: Client
    catalogue: Catalogue | None = None  # absent in cells measured before snapshots were taken
    clock: Clock
    start_utc: str
    end_utc: str | None
    command_line: list[str]
    complete: bool
    endpoint: str | None = None
    gpu_count: int = 0
    sku_verified: bool = False
    monitored_gpus: list[int] = Field(default_factory=list)
    servers: list[dict[str, Any]] = Field(default_factory=list)
    gpu_windows: list[dict[str, Any]] = Field(default_factory=list)
    requests_recorded: int | None = None
    #: requests each load point plans (phased loads: its arrivals; traces: their lines), recorded at the run
    requests_planned: Annotated[int, Field(ge=0, le=2 * MAX_REQUESTS)] | None = None  # warm-up + measured
    #: a search load's probes in the order they ran: {load_point, rate, goodput_fraction_scheduled, passed}
    search_probes: list[dict[str, Any]] = Field(default_factory=list)
    #: the accuracy gate's pass (absent: the model has no reference, or the cell was measured before the gate)
    accuracy: AccuracyPass | None = None


def write_provenance(path: Path, doc: dict[str, Any]) -> None:
    """Validate, then write provenance.json atomically (the document as given: no defaults are added)."""
    validated(Provenance, doc, source=str(path))
    atomic_write_bytes(path, orjson.dumps(doc, option=orjson.OPT_INDENT_2))


def read_provenance(path: Path) -> dict[str, Any]:
    """A cell's provenance.json, validated."""
    doc = read_json(path, fix="give a cell folder")
    validated(Provenance, doc, source=str(path))
    out: dict[str, Any] = doc
    return out
