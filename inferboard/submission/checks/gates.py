"""The accuracy gate a cell applied is its model's, and its answers are there: a forger cannot drop or lower it."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from functools import cache
from typing import Any

from inferboard.core.errors import InferboardError
from inferboard.core.paths import REPO_ROOT
from inferboard.models.catalog import Catalogue, load_models
from inferboard.submission.bundle import Bundle
from inferboard.submission.checks.common import manifest, provenance
from inferboard.submission.checks.origin import commit_known
from inferboard.submission.registry import Finding, check

_MISSING = "missing"  # the commit's catalogue could not be read


@cache
def gate_at(sha: str, model: str) -> dict[str, Any] | str | None:
    """Model ``model``'s accuracy gate in workflows/models.yaml at suite commit ``sha`` (an ancestor of HEAD only):
    the gate, None where the model has none or is not catalogued there, or _MISSING when it cannot be read."""
    if commit_known(sha) is not True:
        return _MISSING
    try:
        text = subprocess.run(["git", "show", f"{sha}:workflows/models.yaml"], cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=10, check=True).stdout
        from inferboard.core.yamltext import load_yaml

        entries = {m.id: m for m in Catalogue.model_validate(load_yaml(text)).models}
    except (OSError, subprocess.SubprocessError, InferboardError, ValueError):
        return _MISSING
    entry = entries.get(model)
    return entry.accuracy.model_dump(mode="json") if entry is not None and entry.accuracy is not None else None


@check("accuracy.gate")
def accuracy_gate(b: Bundle) -> Iterator[Finding]:
    """The accuracy gate in a cell's catalogue snapshot is the one the catalogue gives its model, today or at the
    suite commit that measured it (a snapshot with the gate removed, its thresholds lowered or another reference
    is refused), and a cell whose model has a gate carries its answers (accuracy.parquet)."""
    sha = manifest(b).suite.git_sha
    today = load_models()
    for cd in b.cell_dirs:
        cell, prov = b.cell_id(cd), provenance(b, cd)
        snap = (prov.get("catalogue") or {}).get("model") or {}
        model = str(snap.get("id") or prov["model"].get("catalogue_id") or prov["model"].get("name") or "")
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,99}", model):
            continue  # not a catalogue model: no gate to hold it to (its cells are never ranked)
        entry = today.get(model)
        allowed = [entry.accuracy.model_dump(mode="json") if entry is not None and entry.accuracy else None]
        at_commit = gate_at(sha, model)
        if at_commit != _MISSING:
            allowed.append(at_commit)
        got = snap.get("accuracy")
        if got not in allowed:
            yield Finding(f"the accuracy gate recorded for {model} is not the catalogue's (today's or the measuring "
                          "commit's)", cell)
        if got is not None and not b.has(f"{cd}/accuracy.parquet"):
            yield Finding("no accuracy.parquet: the model has an accuracy gate, so the cell must carry its answers",
                          cell)
