"""Trace replay: the shipped synthetic trace plans its arrivals and lengths; a bad trace is one line naming where."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from inferboard.core.errors import InferboardError
from inferboard.scenario.prompts import load_tokenizer
from inferboard.scenario.schedule import build_plan, planned_requests
from inferboard.scenario.workload import load_workload, parse_workload


def _workload(path: Path, **load: float) -> object:
    return parse_workload({
        "name": "t", "version": 1, "requests": 10,
        "dataset": {"kind": "trace", "file": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                    "max_input_tokens": 50, "max_output_tokens": 5},
        "load": {"kind": "trace", **load}}, source="test")


def test_the_synthetic_trace_replays_its_arrivals_and_lengths() -> None:
    w = load_workload("cpu-trace-replay")
    plan = build_plan(w, load_tokenizer(None))
    (point,) = plan.points
    assert planned_requests(w) == len(point.sessions) == 794
    offs = [s.arrival_s for s in point.sessions]
    assert offs[0] == 0.0 and offs == sorted(offs) and 29.5 < offs[-1] < 30  # 120 s of trace at time scale 4
    assert max(s.turns[0].max_tokens for s in point.sessions) <= 128


def test_time_scale_and_caps(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,100,0\n"
                 "2023-11-16 18:15:48.6805900,3,9\n10,1,1\n")
    with pytest.raises(InferboardError, match="line 4: TIMESTAMP goes backwards"):
        build_plan(_workload(f), load_tokenizer(None))
    f.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n100.5,100,0\n102.5,3,9\n")
    (point,) = build_plan(_workload(f, time_scale=2.0), load_tokenizer(None)).points
    assert [s.arrival_s for s in point.sessions] == [0.0, 1.0]
    assert [s.turns[0].max_tokens for s in point.sessions] == [1, 5]  # clamped to [1, max_output_tokens]
    assert point.sessions[0].turns[0].prompt_tokens_target == 50


@pytest.mark.parametrize(("text", "message"), [
    ("TIME,ContextTokens,GeneratedTokens\n1,2,3\n", "line 1: header"),
    ("TIMESTAMP,ContextTokens,GeneratedTokens\n1,two,3\n", "line 2: ContextTokens 'two' is not a whole number"),
    ("TIMESTAMP,ContextTokens,GeneratedTokens\nyesterday,2,3\n", "line 2: TIMESTAMP 'yesterday'"),
    ("TIMESTAMP,ContextTokens,GeneratedTokens\n1,-2,3\n", "ContextTokens -2 is negative"),
    ("TIMESTAMP,ContextTokens,GeneratedTokens\n", "no requests"),
])
def test_a_bad_trace_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "bad.csv"
    f.write_text(text)
    with pytest.raises(InferboardError, match=message):
        build_plan(_workload(f), load_tokenizer(None))


def test_the_pinned_hash_is_checked(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n1,2,3\n")
    w = _workload(f)
    f.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n1,2,4\n")
    with pytest.raises(InferboardError, match="the workload pins"):
        build_plan(w, load_tokenizer(None))
