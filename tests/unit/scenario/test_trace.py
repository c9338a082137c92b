"""Trace replay: a shipped synthetic trace plans its arrivals and lengths; a bad trace is one line naming where."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from inferboard.core.errors import InferboardError
from inferboard.scenario.prompts import load_tokenizer
from inferboard.scenario.schedule import build_plan, planned_requests
from inferboard.scenario.workload import parse_workload


def _workload(path: Path, **load: float) -> object:
    return parse_workload({
        "name": "t", "version": 1, "requests": 10,
        "dataset": {"kind": "trace", "file": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                    "max_input_tokens": 50, "max_output_tokens": 5},
        "load": {"kind": "trace", **load}}, source="test")


# cpu-trace-replay version 2 (the bundles of data/submissions measured it): the synthetic 120 s file, time scale 4
V2 = {"name": "cpu-trace-replay", "version": 2, "requests": 794, "window_s": 2.0,
      "dataset": {"kind": "trace", "file": "workflows/traces/azure-format-synthetic-120s.csv",
                  "sha256": "44ecec112114759c32611864972035d5c3673fc025c4f3c933136b7a094f3758",
                  "max_input_tokens": 1024, "max_output_tokens": 128},
      "load": {"kind": "trace", "time_scale": 4.0}, "slo": {"ttft_ms": 2000, "tpot_ms": 100},
      "timeouts": {"connect_s": 10, "first_token_s": 60, "between_chunks_s": 30, "total_s": 300}}


def test_the_synthetic_trace_replays_its_arrivals_and_lengths() -> None:
    w = parse_workload(V2, source="v2")
    plan = build_plan(w, load_tokenizer(None))
    (point,) = plan.points
    assert planned_requests(w) == len(point.sessions) == 794
    offs = [s.arrival_s for s in point.sessions]
    assert offs[0] == 0.0 and offs == sorted(offs) and 29.5 < offs[-1] < 30  # 120 s of trace at time scale 4
    assert max(s.turns[0].max_tokens for s in point.sessions) <= 128
    # the slice fields' defaults change neither hash: a workload written before them plans and hashes as it did
    assert w.content_hash() == "sha256:a7fc45eb7cab3d7465b44421db901d6331dff2b861afd34cfe2b407fa72afa61"
    assert plan.schedule_hash == "sha256:ce6e97db0c2fa3f16a8d586e95c98408b6ccbcdcbe1d848c2ebaed3df211e4af"


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
