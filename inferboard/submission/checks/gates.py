"""The accuracy gate a cell applied is its model's, and its answers are there: a forger cannot drop or lower it."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

from inferboard.core.errors import InferboardError
from inferboard.models.catalog import Catalogue, ModelEntry, load_models
from inferboard.submission.bundle import Bundle
from inferboard.submission.checks.common import manifest, provenance, rows
from inferboard.submission.checks.origin import file_at
from inferboard.submission.registry import Finding, check


@cache
def catalogue_at(sha: str) -> dict[str, ModelEntry] | None:
    """workflows/models.yaml at suite commit ``sha`` (origin.file_at), or None when it cannot be read."""
    text = file_at(sha, "workflows/models.yaml")
    if text is None:
        return None
    try:
        from inferboard.core.yamltext import load_yaml

        return {m.id: m for m in Catalogue.model_validate(load_yaml(text)).models}
    except (InferboardError, ValueError):
        return None


def _gate(entry: ModelEntry) -> dict[str, Any] | None:
    return entry.accuracy.model_dump(mode="json") if entry.accuracy is not None else None


def allowed_gates(model: str, sha: str) -> list[dict[str, Any] | None]:
    """The gates a cell of ``model`` may have applied: the catalogue's today and at the measuring commit, where the
    model is catalogued; none (null) only for a model catalogued in neither."""
    entries = [e for e in (load_models().get(model), (catalogue_at(sha) or {}).get(model)) if e is not None]
    return [_gate(e) for e in entries] if entries else [None]


def _random_weights_of(prov: dict[str, Any], snap: dict[str, Any], model: str, sha: str) -> bool:
    """The cell's model is random weights in the shape of the catalogue entry recorded (``model.kind`` and
    ``model.catalogue_id`` in provenance: a device check's stand-in for a model it cannot download), and not itself
    a catalogue model, today or at the measuring commit. Its speed is shown beside no accuracy figure: unranked."""
    info = prov.get("model") or {}
    return (info.get("kind") == "random-weights" and info.get("catalogue_id") == snap.get("id")
            and model not in load_models() and model not in (catalogue_at(sha) or {}))


@check("accuracy.gate")
def accuracy_gate(b: Bundle) -> Iterator[Finding]:
    """The accuracy gate in a cell's catalogue snapshot is the one the catalogue gives the cell's model (the model of
    its cell id), today or at the suite commit that measured it: a snapshot renamed, with the gate removed, its
    thresholds lowered or another reference is refused. A gated cell carries its answers (accuracy.parquet), as
    many as its pass recorded, against the reference it recorded."""
    sha = manifest(b).suite.git_sha
    for cd in b.cell_dirs:
        cell, prov = b.cell_id(cd), provenance(b, cd)
        model = cell.split("/")[2]
        snap = (prov.get("catalogue") or {}).get("model")
        allowed = allowed_gates(model, sha)
        if snap is None and allowed != [None]:
            yield Finding(f"{model} is a catalogue model but the cell recorded no catalogue entry for it", cell)
            continue
        if snap is not None and snap.get("id") != model:
            if not _random_weights_of(prov, snap, model, sha):
                yield Finding(f"the catalogue entry recorded is {str(snap.get('id'))[:80]!r}, not the cell's {model}",
                              cell)
                continue
            allowed = [None]  # random weights have no reference answers: no gate, no accuracy figure, never ranked
        got = snap.get("accuracy") if snap is not None else None
        if got not in allowed:
            yield Finding(f"the accuracy gate recorded for {model} is not the catalogue's (today's or the measuring "
                          "commit's)", cell)
            continue
        if got is None:
            continue
        if not b.has(f"{cd}/accuracy.parquet"):
            yield Finding("no accuracy.parquet: the model has an accuracy gate, so the cell must carry its answers",
                          cell)
            continue
        run = prov.get("accuracy") or {}
        if run.get("reference_sha256") != got.get("sha256") or run.get("prompts") != len(rows(b, cd, "accuracy")):
            yield Finding("the accuracy pass recorded in provenance does not match the gate or accuracy.parquet", cell)
