"""Accuracy references (workflows/accuracy/*.json): one independent implementation's greedy answers to the gate's
prompt set, read back pinned by the SHA-256 the model's catalogue entry names (workflows/accuracy/README.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from pydantic import Field

from inferboard.core.errors import InferboardError, validated
from inferboard.core.hashing import sha256_hex
from inferboard.core.paths import REPO_ROOT
from inferboard.core.strict import Strict
from inferboard.models.catalog import AccuracyGate

MAX_REFERENCE_BYTES = 16 << 20


class ReferencePrompt(Strict):
    """One prompt and the reference's answer: greedy token ids and, at each step, the top-k (id, log-probability)."""

    kind: Literal["completion", "chat"]
    prompt: str
    prompt_ids: list[int]
    tokens: Annotated[list[int], Field(min_length=1)]
    top: list[list[tuple[int, float]]]
    text: str


class Reference(Strict):
    """A reference file: the prompt set it answers, the model revision and implementation, every answer."""

    schema_version: Literal[1]
    prompt_set: str
    prompt_set_sha256: str
    model: str
    model_revision: str
    max_tokens: Annotated[int, Field(gt=0, le=1024)]
    top_k: Annotated[int, Field(gt=0, le=20)]
    eos_ids: list[int]
    implementation: dict[str, Any]
    prompts: Annotated[list[ReferencePrompt], Field(min_length=1)]

    def top_ids(self, i: int) -> list[list[int]]:
        """Prompt ``i``'s top-k token ids at each step, best first."""
        return [[t for t, _ in step] for step in self.prompts[i].top]


def reference_path(gate: AccuracyGate) -> Path:
    """The reference file in this repository (the gate's pattern allows only workflows/accuracy/<name>.json)."""
    return REPO_ROOT / gate.reference


def load_reference(gate: AccuracyGate) -> Reference:
    """The reference ``gate`` names, after checking its size and its SHA-256 against the gate's."""
    path = reference_path(gate)
    fix = "the catalogue pins this file by hash: restore it, or compute a new reference and pin its hash"
    try:
        if not path.is_file() or path.is_symlink():
            raise InferboardError(f"{path} is not a plain file", field="accuracy.reference", fix=fix)
        if path.stat().st_size > MAX_REFERENCE_BYTES:
            raise InferboardError(f"{path} is over {MAX_REFERENCE_BYTES} bytes", field="accuracy.reference", fix=fix)
        data = path.read_bytes()
    except OSError as err:
        raise InferboardError(f"cannot read {path}: {err.strerror}", field="accuracy.reference", fix=fix) from None
    if sha256_hex(data) != gate.sha256:
        raise InferboardError(f"{path} has SHA-256 {sha256_hex(data)}, not {gate.sha256}", field="accuracy.sha256",
                              fix=fix)
    return validated(Reference, orjson.loads(data), source=str(path))
