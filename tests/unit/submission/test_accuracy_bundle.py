"""A bundle whose cell ran the accuracy gate: accepted as measured; its answers cannot be edited, dropped or
swapped for a lower gate without the checker noticing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from inferboard.cell.accuracy_gate import scored
from inferboard.models.accuracy_ref import load_reference
from inferboard.models.catalog import load_models
from inferboard.results.accuracy_table import ACCURACY
from inferboard.results.schema import write_rows
from tests.unit.submission.bundles import edit_json, edit_parquet, failed, first_cell, read_json, rehash, report


def _summary(cell: Path) -> None:
    """The cell's summary as the suite computes it, written with today's columns (the committed bundle's file
    predates the accuracy columns, so a rewrite in its own schema would drop them)."""
    import pyarrow.parquet as pq

    from inferboard.cell.finalize import summary_rows

    answers = cell / ACCURACY
    want = summary_rows(read_json(cell / "provenance.json"), pq.read_table(cell / "requests.parquet").to_pylist(),
                        pq.read_table(cell / "metrics.parquet").to_pylist(), source=str(cell),
                        accuracy=pq.read_table(answers).to_pylist() if answers.exists() else None)
    meta = {k.decode(): v.decode() for k, v in (pq.read_schema(cell / "summary.parquet").metadata or {}).items()
            if k.startswith(b"inferboard.provenance")}
    write_rows(cell / "summary.parquet", want, "summary", meta)


def _answers(shift: int = 0) -> list[dict[str, Any]]:
    gate = load_models()["smollm2-135m"].accuracy
    assert gate is not None
    ref = load_reference(gate)
    return scored([{"prompt_index": i, "kind": p.kind, "finish_reason": "length", "text": p.text,
                    "token_ids": [t + shift for t in p.tokens], "token_source": "server", "top_ids": None,
                    "top_logprobs": None, "error": None} for i, p in enumerate(ref.prompts)], ref)


@pytest.fixture
def gated(bundle: Path) -> Path:
    """The committed bundle with its first cell made a gated one: the real model's catalogue entry in its snapshot,
    the reference's own answers in accuracy.parquet, the summary recomputed, hashed again."""
    cell = first_cell(bundle)
    entry = load_models()["smollm2-135m"].model_dump(mode="json")
    edit_json(cell / "provenance.json", lambda p: p["catalogue"].update(model=entry))
    write_rows(cell / ACCURACY, _answers(), "accuracy")
    _summary(cell)
    rehash(bundle, relist=True)
    return bundle


def test_gated_cell_is_accepted_with_its_figures(gated: Path) -> None:
    assert not failed(report(gated))
    import pyarrow.parquet as pq

    rows = pq.read_table(first_cell(gated) / "summary.parquet").to_pylist()
    assert all(r["accuracy_exact_share"] == 1.0 and r["accuracy_top5_share"] == 1.0 for r in rows)


def test_edited_answers_are_caught(gated: Path) -> None:
    """Token ids shifted after the summary was written: the recomputed figures differ."""
    edit_parquet(first_cell(gated) / ACCURACY, lambda _: _answers(shift=1))
    rehash(gated)
    assert failed(report(gated)) == {"summary.recomputed"}


def test_dropped_answers_are_caught(gated: Path) -> None:
    (first_cell(gated) / ACCURACY).unlink()
    _summary(first_cell(gated))  # a consistent forger: every row now invalid, and still refused
    rehash(gated, relist=True)
    res = report(gated)
    assert failed(res) == {"accuracy.gate"} and "no accuracy.parquet" in (res["accuracy.gate"].reason or "")


def test_lowered_gate_is_caught(gated: Path) -> None:
    cell = first_cell(gated)
    edit_json(cell / "provenance.json", lambda p: p["catalogue"]["model"]["accuracy"].update(min_exact_share=0.0))
    edit_parquet(cell / ACCURACY, lambda _: _answers(shift=1))
    _summary(cell)
    rehash(gated)
    res = report(gated)
    assert failed(res) == {"accuracy.gate"}
    assert "not the catalogue's" in (res["accuracy.gate"].reason or "")
