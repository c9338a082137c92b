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
def gated(bundle: Path) -> tuple[Path, Path]:
    """(bundle, cell): the committed bundle with its first cell turned into one of the real model: moved to the
    model's folder and renamed everywhere, its catalogue snapshot the real model's entry, the reference's own answers
    in accuracy.parquet with their pass recorded, the summary recomputed, hashed again (a consistent forger's work,
    so every check but those under test passes)."""
    import shutil

    old = first_cell(bundle)
    cell = old.parents[1] / "smollm2-135m" / old.name
    cell.parent.mkdir()
    shutil.move(old, cell)
    old_id, new_id = "/".join(old.parts[-4:]), "/".join(cell.parts[-4:])
    gate = load_models()["smollm2-135m"].accuracy
    assert gate is not None
    entry = load_models()["smollm2-135m"].model_dump(mode="json")
    run = {"reference": gate.reference, "reference_sha256": gate.sha256, "prompt_set": "inferboard-accuracy-v1",
           "prompt_set_sha256": "sha256:" + "0" * 64, "prompts": 72, "errors": 0, "when": "after the timed load",
           "seconds": 20.0}

    def prov(p: dict[str, Any]) -> None:
        p.update(cell_id=new_id, accuracy=run)
        p["model"].update(name="smollm2-135m", requested_as="smollm2-135m", id="smollm2-135m",
                          catalogue_id="smollm2-135m")
        p["catalogue"].update(model=entry)

    edit_json(cell / "provenance.json", prov)
    edit_json(cell / "cell.json", lambda c: c.update(cell_id=new_id, model="smollm2-135m"))
    edit_json(bundle / "manifest.json", lambda m: m.update(cells=sorted(new_id if c == old_id else c
                                                                         for c in m["cells"])))
    assert old_id != new_id
    write_rows(cell / ACCURACY, _answers(), "accuracy")
    _summary(cell)
    rehash(bundle, relist=True)
    return bundle, cell


def test_gated_cell_is_accepted_with_its_figures(gated: tuple[Path, Path]) -> None:
    bundle, cell = gated
    assert not failed(report(bundle))
    import pyarrow.parquet as pq

    rows = pq.read_table(cell / "summary.parquet").to_pylist()
    assert all(r["accuracy_exact_share"] == 1.0 and r["accuracy_top5_share"] == 1.0 for r in rows)


def test_edited_answers_are_caught(gated: tuple[Path, Path]) -> None:
    """Token ids shifted after the summary was written: the recomputed figures differ."""
    bundle, cell = gated
    edit_parquet(cell / ACCURACY, lambda _: _answers(shift=1))
    rehash(bundle)
    assert failed(report(bundle)) == {"summary.recomputed"}


def test_dropped_answers_are_caught(gated: tuple[Path, Path]) -> None:
    bundle, cell = gated
    (cell / ACCURACY).unlink()
    _summary(cell)  # a consistent forger: every row now invalid, and still refused
    rehash(bundle, relist=True)
    res = report(bundle)
    assert failed(res) == {"accuracy.gate"} and "no accuracy.parquet" in (res["accuracy.gate"].reason or "")


def test_lowered_gate_is_caught(gated: tuple[Path, Path]) -> None:
    bundle, cell = gated
    edit_json(cell / "provenance.json", lambda p: p["catalogue"]["model"]["accuracy"].update(min_exact_share=0.0))
    edit_parquet(cell / ACCURACY, lambda _: _answers(shift=1))
    _summary(cell)
    rehash(bundle)
    res = report(bundle)
    assert failed(res) == {"accuracy.gate"}
    assert "not the catalogue's" in (res["accuracy.gate"].reason or "")


@pytest.mark.parametrize(("snapshot_id", "reason"), [("smollm2-135m-x", "not the cell's smollm2-135m"),
                                                     ("smollm2-135m-q4_1", "not the cell's smollm2-135m")])
def test_renamed_snapshot_is_caught(gated: tuple[Path, Path], snapshot_id: str, reason: str) -> None:
    """A snapshot renamed to an uncatalogued model (no gate) or to the quantized model (a lower floor) is refused."""
    bundle, cell = gated
    entry = load_models().get(snapshot_id)
    edit_json(cell / "provenance.json", lambda p: p["catalogue"].update(
        model=entry.model_dump(mode="json") if entry else {**p["catalogue"]["model"], "id": snapshot_id,
                                                            "accuracy": None}))
    rehash(bundle)
    res = report(bundle)
    assert "accuracy.gate" in failed(res) and reason in (res["accuracy.gate"].reason or "")


def test_random_weights_claimed_for_a_catalogue_model_stay_gated(gated: tuple[Path, Path]) -> None:
    """A real model's cell that calls itself random weights in the shape of another entry (no gate) is refused: the
    cell's own model is catalogued, so its gate applies."""
    bundle, cell = gated
    other = load_models()["llama-3.1-8b-instruct"].model_dump(mode="json")

    def prov(p: dict[str, Any]) -> None:
        p["model"].update(kind="random-weights", catalogue_id="llama-3.1-8b-instruct")
        p["catalogue"].update(model=other)

    edit_json(cell / "provenance.json", prov)
    rehash(bundle)
    res = report(bundle)
    assert "accuracy.gate" in failed(res) and "not the cell's smollm2-135m" in (res["accuracy.gate"].reason or "")


def test_no_snapshot_for_a_catalogue_model_is_caught(gated: tuple[Path, Path]) -> None:
    bundle, cell = gated
    edit_json(cell / "provenance.json", lambda p: p["catalogue"].update(model=None))
    rehash(bundle)
    res = report(bundle)
    assert "accuracy.gate" in failed(res)
    assert "recorded no catalogue entry" in (res["accuracy.gate"].reason or "")


@pytest.mark.parametrize("path", ["../../../../etc/passwd", "/dev/zero", "workflows/accuracy/../../README.md"])
def test_reference_outside_the_accuracy_folder_is_never_read(gated: tuple[Path, Path], path: str) -> None:
    """A snapshot naming another file as its reference is refused by the snapshot's schema, before any read."""
    bundle, cell = gated
    edit_json(cell / "provenance.json", lambda p: p["catalogue"]["model"]["accuracy"].update(reference=path))
    rehash(bundle)
    res = report(bundle)
    assert {"accuracy.gate", "summary.recomputed"} <= failed(res)
    assert "reference" in (res["summary.recomputed"].reason or "")
