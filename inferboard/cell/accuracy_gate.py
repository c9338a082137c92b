"""The accuracy gate of a cell: the model's reference prompt set sent through the same API at temperature 0, the
answers kept in accuracy.parquet, and the cell's accuracy figures (and validity) computed from them.

It runs wherever the cell's model is a catalogue model whose entry names a reference (``accuracy:`` in
workflows/models.yaml), an endpoint of a known model included. It runs after the timed load, on the server that
served the last trial, so that none of its requests warms a cache or a compile path the load measures (a start's
cold TTFT, prefix caches). Without a reference the figures are null: the cell has no accuracy figure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from inferboard.core.errors import InferboardError, validated
from inferboard.measure.accuracy_client import ask_prompts
from inferboard.metrics.accuracy import ACCURACY_COLUMNS, PromptScore, score_prompt, shares
from inferboard.models.accuracy_ref import Reference, load_reference
from inferboard.models.catalog import AccuracyGate, ModelEntry
from inferboard.results.accuracy_table import ACCURACY
from inferboard.results.provenance import read_provenance, write_provenance
from inferboard.results.schema import PROVENANCE, write_rows

NO_REFERENCE = "accuracy not measured: the model has no reference answers in the catalogue"


def gate_of(prov: dict[str, Any]) -> AccuracyGate | None:
    """The gate of the model in a cell's catalogue snapshot (None: no catalogue model, or none with a reference)."""
    entry = (prov.get("catalogue") or {}).get("model")
    if not entry:
        return None
    return validated(ModelEntry, entry, source="provenance.json: catalogue.model").accuracy


def prompt_scores(rows: list[dict[str, Any]], ref: Reference) -> list[PromptScore | None]:
    """Each answer of ``rows`` compared with ``ref``'s (None: no answer, or a prompt the reference does not have)."""
    out: list[PromptScore | None] = []
    for row in rows:
        i = row["prompt_index"]
        answered = row.get("error") is None and row.get("token_ids") is not None and 0 <= i < len(ref.prompts)
        out.append(score_prompt(row["token_ids"], ref.prompts[i].tokens, ref.top_ids(i), ref.eos_ids,
                                ref.max_tokens, top_k=min(5, ref.top_k)) if answered else None)
    return out


def scored(rows: list[dict[str, Any]], ref: Reference) -> list[dict[str, Any]]:
    """``rows`` (answers) with their comparison to ``ref`` filled in; rows without an answer stay unscored."""
    return [{**row, "exact": None if s is None else s.exact,
             "first_divergence": None if s is None else s.first_divergence,
             "within_top5": None if s is None else s.within_top5} for row, s in zip(rows, prompt_scores(rows, ref),
                                                                                  strict=True)]


async def run_gate(out: Path, url: str, model: str, *, tokenize: Callable[[str], list[int]], api_key: str | None,
                   when: str) -> None:
    """Send the reference's prompts, write accuracy.parquet and record the pass in provenance (``accuracy``)."""
    prov = read_provenance(out / PROVENANCE)
    gate = gate_of(prov)
    if gate is None:
        return
    ref = load_reference(gate)
    started = time.monotonic()
    answers = await ask_prompts(url, model, [(p.kind, p.prompt) for p in ref.prompts], max_tokens=ref.max_tokens,
                                top_k=ref.top_k, tokenize=tokenize, api_key=api_key)
    rows = scored(answers, ref)
    prov["accuracy"] = {"reference": gate.reference, "reference_sha256": gate.sha256,
                        "prompt_set": ref.prompt_set, "prompt_set_sha256": ref.prompt_set_sha256,
                        "prompts": len(rows), "errors": sum(r["error"] is not None for r in rows),
                        "when": when, "seconds": round(time.monotonic() - started, 3)}
    write_provenance(out / PROVENANCE, prov)
    write_rows(out / ACCURACY, rows, "accuracy", {"inferboard.provenance": orjson.dumps(prov).decode()})


def accuracy_columns(prov: dict[str, Any], rows: list[dict[str, Any]] | None) -> tuple[dict[str, Any], str | None,
                                                                                       str | None]:
    """(the cell's accuracy columns, why they are null or None, why the cell is invalid or None), recomputed from
    the answers ``rows`` against the reference the cell's catalogue snapshot pins. A model without a reference gets
    null columns and no reason in the row (readers say NO_REFERENCE)."""
    cols: dict[str, Any] = dict.fromkeys(ACCURACY_COLUMNS)
    gate = gate_of(prov)
    if gate is None:  # null without a recorded reason: a summary from before the gate recomputes unchanged
        return cols, None, None
    if not rows:
        why = "accuracy not measured: the cell has no answers to the reference prompts (accuracy.parquet)"
        return cols, why, why
    try:
        ref = load_reference(gate)
    except InferboardError as err:
        why = f"accuracy not measured: {err}"
        return cols, why, why
    unanswered = PromptScore(False, 0, False)  # an error or a timeout counts as wrong
    scores = [s or unanswered for s in prompt_scores(rows, ref)]
    if len(scores) != len(ref.prompts) or sorted(r["prompt_index"] for r in rows) != list(range(len(ref.prompts))):
        why = f"accuracy: {len(scores)} answers for {len(ref.prompts)} reference prompts"
        return cols, why, why
    exact, top5 = shares(scores)
    cols.update(accuracy_exact_share=exact, accuracy_top5_share=top5)
    assert exact is not None and top5 is not None
    fails = []
    if exact < gate.min_exact_share:
        fails.append(f"{exact:.0%} of answers equal the reference's (at least {gate.min_exact_share:.0%} needed)")
    if top5 < gate.min_top5_share:
        fails.append(f"{top5:.0%} within the reference's top 5 (at least {gate.min_top5_share:.0%} needed)")
    return cols, None, ("accuracy gate failed: " + "; ".join(fails)) if fails else None
