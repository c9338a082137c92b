"""Checks on where a cell comes from: a clean known suite, pinned runtime and model, a standard workload, and
a SKU claimed verified only where the fingerprint matches it."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from functools import cache

from inferboard import __version__
from inferboard.core.errors import InferboardError
from inferboard.core.paths import REPO_ROOT
from inferboard.hardware.sku import CPU_HOST, load_skus, match_gpu
from inferboard.runtimes.envs import freeze_hash
from inferboard.scenario.workload import Workload, parse_workload, standard_hash
from inferboard.submission.bundle import Bundle
from inferboard.submission.checks.common import manifest, provenance, rows
from inferboard.submission.manifest import GIT_SHA
from inferboard.submission.registry import Finding, check

#: suite versions whose results are accepted
KNOWN_VERSIONS = frozenset({__version__})


@cache
def commit_known(sha: str) -> bool | None:
    """Whether ``sha`` is an ancestor of this checkout's HEAD (the base branch in CI): a commit merely present
    in the object store, e.g. fetched with a pull request, is not (None: no git history to look in)."""
    if not re.fullmatch(GIT_SHA, sha):
        return False
    try:
        proc = subprocess.run(["git", "merge-base", "--is-ancestor", sha, "HEAD"], cwd=REPO_ROOT,
                              capture_output=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode in (0, 1):
        return proc.returncode == 0
    missing = b"not a valid commit" in proc.stderr or b"bad object" in proc.stderr or b"Not a valid" in proc.stderr
    return False if missing else None


def file_at(sha: str, path: str) -> str | None:
    """The text of the repository file ``path`` at suite commit ``sha``, read only from a commit of this checkout's
    own history (an ancestor of HEAD), never from one a pull request brought (None: unknown commit, or no file)."""
    if commit_known(sha) is not True:
        return None
    try:
        return subprocess.run(["git", "show", f"{sha}:{path}"], cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None


@cache
def standard_hash_at(sha: str, name: str) -> str | None:
    """The content hash of standard workload ``name`` as the suite commit ``sha`` defined it (see file_at)."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,99}", name):
        return None
    text = file_at(sha, f"workflows/workloads/{name}.yaml")
    if text is None:
        return None
    try:
        from inferboard.core.yamltext import load_yaml

        return parse_workload(load_yaml(text), source=name).content_hash()
    except (InferboardError, ValueError):
        return None


@check("suite.clean")
def suite_clean(b: Bundle) -> Iterator[Finding]:
    """Every cell was measured by a released suite version from a clean checkout (no uncommitted change) at a
    commit of this repository's history, the one the manifest names."""
    m = manifest(b)
    if m.suite.version not in KNOWN_VERSIONS:
        yield Finding(f"suite version {m.suite.version!r} is not a known one ({', '.join(sorted(KNOWN_VERSIONS))})")
    if m.suite.git_dirty is not False:
        yield Finding("the manifest says the suite checkout had uncommitted changes")
    known = commit_known(m.suite.git_sha)
    if known is False:
        yield Finding(f"suite commit {m.suite.git_sha} is not in this repository's history")
    elif known is None:
        yield Finding("no git history here to look the suite commit up in (run from a clone of the repository)")
    for cd in b.cell_dirs:
        s = provenance(b, cd)["suite"]
        if s.get("git_dirty") is not False:
            yield Finding("measured from a checkout with uncommitted changes (or of unknown state)", b.cell_id(cd))
        if s.get("git_sha") != m.suite.git_sha or s.get("version") != m.suite.version:
            yield Finding(f"suite {s.get('version')}@{s.get('git_sha')} is not the manifest's", b.cell_id(cd))


@check("pins.present")
def pins_present(b: Bundle) -> Iterator[Finding]:
    """What ran is pinned: the model's revision (a content hash or a hub commit) and the runtime's lock hash
    (local environment), source hash (local build), image digest (container) or, for a host's own Python
    environment (kind system), the hash of its recorded freeze (every installed distribution and version)."""
    for cd in b.cell_dirs:
        prov = provenance(b, cd)
        rev = str(prov["model"].get("revision") or "")
        if not re.fullmatch(r"sha256:[0-9a-f]{64}|[0-9a-f]{40}", rev):
            yield Finding(f"model revision {rev[:80]!r} is not a content hash or commit", b.cell_id(cd))
        rt = prov["runtime"]
        env = rt.get("env") or {}
        pins = [env.get("lock_hash"), env.get("source_hash"), rt.get("resolved_image_id")]
        freeze = env.get("freeze")
        if env.get("kind") == "system" and isinstance(freeze, list) and all(isinstance(x, str) for x in freeze):
            pins.append(env.get("freeze_hash") if env.get("freeze_hash") == freeze_hash(freeze) else None)
        if not any(isinstance(p, str) and re.fullmatch(r"sha256:[0-9a-f]{64}", p) for p in pins):
            yield Finding("no runtime pin (environment lock hash, build source hash or image digest)", b.cell_id(cd))


@check("workload.standard")
def workload_standard(b: Bundle) -> Iterator[Finding]:
    """The recorded workload definition hashes to the recorded workload hash, and (unless the bundle is marked
    custom) that hash is the standard workload's of the same name, as the suite commit that measured defined it."""
    m = manifest(b)
    for cd in b.cell_dirs:
        cell, w = b.cell_id(cd), provenance(b, cd)["workload"]
        try:
            own = Workload.model_validate(w["definition"]).content_hash()
        except ValueError:
            own = None
        if own != w["workload_hash"]:
            yield Finding("the workload definition does not hash to the recorded workload_hash", cell)
        if m.custom:
            continue
        today = standard_hash(w["name"])
        if today is None:
            yield Finding(f"workload {w['name']!r} is not a standard one (submit with --custom)", cell)
        elif w["workload_hash"] not in (today, standard_hash_at(m.suite.git_sha, w["name"])):
            yield Finding(f"workload {w['name']!r} differs from the standard one (overrides or edits: "
                          "submit with --custom)", cell)


@check("hardware.sku_verified")
def sku_verified(b: Bundle) -> Iterator[Finding]:
    """A cell or row that says its SKU was verified has a fingerprint that matches that SKU: the recorded GPUs
    all match it by name or PCI id (or, for cpu-host, no GPU was recorded)."""
    skus = load_skus()
    for cd in b.cell_dirs:
        prov = provenance(b, cd)
        claimed = prov.get("sku_verified", False) or any(r["sku_verified"] for r in rows(b, cd, "summary"))
        if not claimed:
            continue
        gpus = prov["hardware"]["gpus"]
        found = sorted({match_gpu(g, skus) for g in gpus}) or [CPU_HOST]
        if found != [prov["sku"]]:
            yield Finding(f"says {prov['sku']} verified but its fingerprint matches {found}", b.cell_id(cd))
