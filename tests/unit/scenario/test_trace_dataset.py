"""The shipped Azure 2023 traces and the slice of a trace dataset: start_row, token_scale, their hashes and pins."""

from __future__ import annotations

import csv
import hashlib
import math
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from inferboard.core.errors import InferboardError
from inferboard.core.paths import REPO_ROOT
from inferboard.scenario.prompts import load_tokenizer
from inferboard.scenario.schedule import build_plan, planned_requests
from inferboard.scenario.trace import read_trace
from inferboard.scenario.trace_dataset import TraceDataset
from inferboard.scenario.workload import Workload, load_workload, parse_workload

TRACES = REPO_ROOT / "workflows" / "traces"
REAL = ("AzureLLMInferenceTrace_conv.csv", "AzureLLMInferenceTrace_code.csv")
HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"


def _csv_rows(path: Path) -> list[tuple[float, int, int]]:
    """(seconds, context, generated) of every data row, read with the csv module alone."""
    with path.open(newline="") as f:
        body = list(csv.reader(f))[1:]
    return [(datetime.fromisoformat(r[0][:26]).replace(tzinfo=UTC).timestamp(), int(r[1]), int(r[2])) for r in body]


def _scaled(n: int, scale: float, most: int) -> int:
    return min(most, max(1, math.floor(n * scale + 0.5)))


def _workload(path: Path, requests: int = 10, time_scale: float = 1.0, **ds: Any) -> Workload:
    return parse_workload({
        "name": "t", "version": 1, "requests": requests,
        "dataset": {"kind": "trace", "file": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                    "max_input_tokens": 50, "max_output_tokens": 5, **ds},
        "load": {"kind": "trace", "time_scale": time_scale}}, source="test")


def test_the_real_files_match_the_readme() -> None:
    readme = (TRACES / "README.md").read_text()
    for name in REAL:
        digest = hashlib.sha256((TRACES / name).read_bytes()).hexdigest()
        assert re.search(rf"`{re.escape(name)}` \| `([0-9a-f]{{64}})`", readme)[1] == digest, name
    assert {len(_csv_rows(TRACES / name)) for name in REAL} == {19_366, 8_819}


def test_cpu_trace_replay_replays_the_pinned_slice_exactly() -> None:
    w = load_workload("cpu-trace-replay")
    ds = w.dataset
    assert isinstance(ds, TraceDataset) and w.load.kind == "trace" and w.version == 3
    assert (ds.file, ds.start_row, ds.token_scale, w.load.time_scale, w.requests) == (
        "workflows/traces/AzureLLMInferenceTrace_conv.csv", 3000, 0.25, 5.0, 800)
    assert ds.sha256 == hashlib.sha256((TRACES / REAL[0]).read_bytes()).hexdigest()
    rows = _csv_rows(TRACES / REAL[0])[3000:3800]
    (point,) = build_plan(w, load_tokenizer(None)).points
    assert planned_requests(w) == len(point.sessions) == len(rows) == 800
    first, last = point.sessions[0], point.sessions[-1]
    assert first.arrival_s == 0.0
    assert last.arrival_s == pytest.approx((rows[-1][0] - rows[0][0]) / 5.0, abs=1e-6)
    assert last.arrival_s == pytest.approx(148.100043 / 5.0, abs=1e-6)  # 18:26:16.0922330 → 18:28:44.1922760
    for session, (_, n_in, n_out) in ((first, rows[0]), (last, rows[-1])):
        turn = session.turns[0]
        assert (turn.prompt_tokens_target, turn.max_tokens) == (_scaled(n_in, 0.25, 1024), _scaled(n_out, 0.25, 128))
    assert rows[0][1:] == (1212, 406) and rows[-1][1:] == (2255, 91)
    assert (first.turns[0].prompt_tokens_target, first.turns[0].max_tokens) == (303, 102)
    assert (last.turns[0].prompt_tokens_target, last.turns[0].max_tokens) == (564, 23)
    replayed = read_trace(ds, 800)
    assert [(r.input_tokens, r.output_tokens) for r in replayed] == [
        (_scaled(c, 0.25, 1024), _scaled(g, 0.25, 128)) for _, c, g in rows]
    # the factors are part of the resolved workload cell provenance records (workload.definition)
    assert {"start_row": 3000, "token_scale": 0.25}.items() <= w.model_dump(mode="json")["dataset"].items()


def test_trace_replay_replays_the_slice_unscaled_and_uncapped() -> None:
    w = load_workload("trace-replay")
    ds = w.dataset
    assert isinstance(ds, TraceDataset) and (ds.start_row, ds.token_scale, w.load.time_scale) == (3000, 1.0, 1.0)
    rows = _csv_rows(TRACES / REAL[0])[ds.start_row:ds.start_row + w.most_requests]
    replayed = read_trace(ds, w.most_requests)
    assert [(r.input_tokens, r.output_tokens) for r in replayed] == [(c, g) for _, c, g in rows]
    assert replayed[-1].offset_s == pytest.approx(rows[-1][0] - rows[0][0], abs=1e-6)


def test_start_row_and_token_scale(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text(HEADER + "10.0,100,3\n11.5,5,1\n14.0,2,0\n20.0,400,40\n")
    (point,) = build_plan(_workload(f, 3, 2.0, start_row=1, token_scale=0.5), load_tokenizer(None)).points
    assert [s.arrival_s for s in point.sessions] == [0.0, 1.25, 4.25]  # from row 1's 11.5 s, twice as fast
    turns = [s.turns[0] for s in point.sessions]
    assert [t.prompt_tokens_target for t in turns] == [3, 1, 50]  # 2.5 rounds half up; 200 is capped at 50
    assert [t.max_tokens for t in turns] == [1, 1, 5]  # 0.5 → 1, 0 → 1 (at least one), 20 → 5
    assert planned_requests(_workload(f, 10, start_row=2)) == 2  # the slice ends with the trace
    with pytest.raises(InferboardError, match=r"start_row 4 is past the trace's end \(data rows 0-3\)"):
        build_plan(_workload(f, start_row=4), load_tokenizer(None))


def test_the_defaults_change_nothing_and_the_factors_are_hashed(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text(HEADER + "10.0,100,3\n11.5,5,1\n14.0,2,0\n")
    plain, explicit, tok = _workload(f), _workload(f, start_row=0, token_scale=1), load_tokenizer(None)
    assert plain.content_hash() == explicit.content_hash()
    assert build_plan(plain, tok).schedule_hash == build_plan(explicit, tok).schedule_hash
    moved, scaled = _workload(f, start_row=1), _workload(f, token_scale=2)
    assert len({plain.content_hash(), moved.content_hash(), scaled.content_hash()}) == 3
    assert len({build_plan(w, tok).schedule_hash for w in (plain, moved, scaled)}) == 3


@pytest.mark.parametrize("bad", [{"start_row": -1}, {"token_scale": 0}, {"token_scale": -1.0},
                                 {"token_scale": float("inf")}, {"token_scale": float("nan")}])
def test_bad_slice_fields_are_refused(tmp_path: Path, bad: dict[str, Any]) -> None:
    f = tmp_path / "t.csv"
    f.write_text(HEADER + "1,2,3\n")
    with pytest.raises(InferboardError, match=next(iter(bad))):
        _workload(f, **bad)


def test_a_sha256_mismatch_is_refused_for_a_slice(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text(HEADER + "1,2,3\n2,3,4\n")
    w = _workload(f, start_row=1, token_scale=0.5)
    f.write_text(HEADER + "1,2,3\n2,3,5\n")
    with pytest.raises(InferboardError, match="the workload pins"):
        build_plan(w, load_tokenizer(None))
    real = load_workload("cpu-trace-replay").model_dump(mode="json")
    real["dataset"]["sha256"] = "0" * 64
    with pytest.raises(InferboardError, match=r"AzureLLMInferenceTrace_conv\.csv: sha256"):
        read_trace(parse_workload(real, source="test").dataset)
