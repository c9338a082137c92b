"""The accuracy gate of a cell against the test server: a server answering the reference's tokens passes, one
answering shifted or random tokens is invalid with a one-line reason, a model without a reference is never gated."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from inferboard.cell.accuracy_gate import NO_REFERENCE, accuracy_columns
from inferboard.cell.api import run_cell
from inferboard.cell.system import PreparedSystem
from inferboard.scenario.prompts import load_tokenizer
from inferboard.scenario.scenario import Scenario
from testkit.cell_runs import workload


def _cell(server, out: Path, answers: str, model: str = "smollm2-135m") -> list[dict]:
    server.configure(ttft_ms=1, itl_ms=0.5, answers=answers)
    system = PreparedSystem(url=server.url, model=model, tokenizer=load_tokenizer(None))
    return run_cell(system, Scenario(workload(requests=8, warmup_requests=0)), out).rows


def test_reference_answers_pass(server, tmp_path: Path) -> None:
    rows = _cell(server, tmp_path, "reference")
    assert all(r["accuracy_exact_share"] == 1.0 and r["accuracy_top5_share"] == 1.0 and r["valid"] for r in rows)
    answers = pq.read_table(tmp_path / "accuracy.parquet").to_pylist()
    assert len(answers) == 72 and all(a["exact"] and a["token_source"] == "server" for a in answers)
    prov = json.loads((tmp_path / "provenance.json").read_text())
    assert prov["accuracy"]["prompts"] == 72 and prov["accuracy"]["when"] == "after the timed load"
    assert prov["accuracy"]["reference_sha256"] == prov["catalogue"]["model"]["accuracy"]["sha256"]


@pytest.mark.parametrize("answers", ["shift", "random"])
def test_wrong_tokens_fail_the_gate(server, tmp_path: Path, answers: str) -> None:
    rows = _cell(server, tmp_path, answers)
    for r in rows:
        assert r["valid"] is False and r["accuracy_exact_share"] == 0.0 and r["accuracy_top5_share"] == 0.0
        assert r["invalid_reason"] == ("accuracy gate failed: 0% of answers equal the reference's (at least 85% "
                                       "needed); 0% within the reference's top 5 (at least 95% needed)")
        assert "\n" not in r["invalid_reason"]


def test_model_without_reference_is_not_gated(server, tmp_path: Path) -> None:
    rows = _cell(server, tmp_path, "random", model="fake")
    assert not (tmp_path / "accuracy.parquet").exists()
    for r in rows:
        assert r["valid"] and r["accuracy_exact_share"] is None and r["accuracy_top5_share"] is None
    assert accuracy_columns(json.loads((tmp_path / "provenance.json").read_text()), None)[1:] == (None, None)
    assert NO_REFERENCE.startswith("accuracy not measured")


def test_answers_are_recomputed_not_trusted(server, tmp_path: Path) -> None:
    """The figures come from the token ids against the reference, never from the stored per-prompt verdicts."""
    _cell(server, tmp_path, "shift")
    prov = json.loads((tmp_path / "provenance.json").read_text())
    forged = [{**a, "exact": True, "within_top5": True, "first_divergence": None}
              for a in pq.read_table(tmp_path / "accuracy.parquet").to_pylist()]
    cols, _, invalid = accuracy_columns(prov, forged)
    assert cols["accuracy_exact_share"] == 0.0 and invalid is not None
    cols, why, invalid = accuracy_columns(prov, forged[:10])
    assert cols["accuracy_exact_share"] is None and why == invalid == "accuracy: 10 answers for 72 reference prompts"
