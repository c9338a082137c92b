from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inferboard.core.errors import InferboardError
from inferboard.core.hashing import canonical_json
from inferboard.scenario.prompts import load_tokenizer
from inferboard.scenario.scenario import with_overrides
from inferboard.scenario.schedule import LoadPointPlan, build_plan, probe_point
from inferboard.scenario.workload import load_workload, parse_workload


def test_same_seed_gives_same_schedule_and_prompts(tokenizer_dir: Path) -> None:
    tok = load_tokenizer(tokenizer_dir)
    w = with_overrides(load_workload("chat"), requests=40, warmup_requests=2)
    a, b = build_plan(w, tok), build_plan(w, tok)
    assert a.schedule_hash == b.schedule_hash
    assert [s.turns for s in a.points[0].sessions] == [s.turns for s in b.points[0].sessions]
    c = build_plan(with_overrides(w, seed=7), tok)
    assert c.schedule_hash != a.schedule_hash
    assert c.points[0].sessions[0].turns != a.points[0].sessions[0].turns


def test_token_targets_are_exact(tokenizer_dir: Path) -> None:
    tok = load_tokenizer(tokenizer_dir)
    w = with_overrides(load_workload("smoke"), requests=10)
    for s in build_plan(w, tok).points[0].sessions:
        (turn,) = s.turns
        assert turn.prompt is not None and tok.count(turn.prompt) == turn.prompt_tokens_target == 32
        assert turn.max_tokens == 16


def test_gamma_arrivals_follow_rate_and_burstiness() -> None:
    tok = load_tokenizer(None)
    base = with_overrides(load_workload("chat"), requests=2000, warmup_requests=0)

    def gaps(burstiness: float) -> np.ndarray:
        w = base.model_copy(update={"load": base.load.model_copy(update={"rate": [4.0],
                                                                          "burstiness": burstiness})})
        arr = [s.arrival_s for s in build_plan(w, tok).points[0].sessions]
        return np.diff(arr)

    poisson, bursty = gaps(1.0), gaps(0.25)
    assert abs(1 / poisson.mean() - 4.0) < 0.3
    assert abs(poisson.std() / poisson.mean() - 1.0) < 0.1  # exponential: CV 1
    assert bursty.std() / bursty.mean() > 1.7  # gamma shape 0.25: CV 2


def _shapes(point: LoadPointPlan) -> list[tuple[int, int, float]]:
    return [(t.prompt_tokens_target, t.max_tokens, t.think_time_s) for s in point.sessions for t in s.turns]


def _prompts(point: LoadPointPlan) -> set[str]:
    return {t.prompt or canonical_json(list(t.messages or ())).decode() for s in point.sessions for t in s.turns}


def test_sweep_points_share_shapes_not_prompts_and_scale_arrivals() -> None:
    w = with_overrides(load_workload("chat"), requests=20, rate=[1.0, 2.0])
    p = build_plan(w, load_tokenizer(None)).points
    assert _shapes(p[0]) == _shapes(p[1])
    assert not _prompts(p[0]) & _prompts(p[1])  # a runtime's prompt cache must not serve the second point
    assert np.allclose([s.arrival_s for s in p[0].sessions], [2 * s.arrival_s for s in p[1].sessions])
    assert p[0].schedule_hash != p[1].schedule_hash


@pytest.mark.parametrize("name", ["cpu-fixed", "chat", "multi-turn", "prefix-cache", "cpu-trace-replay"])
def test_each_trial_sends_its_own_prompts_of_the_same_shapes(name: str, tokenizer_dir: Path) -> None:
    """Trials resending trial 0's prompts measured cache hits: vLLM's prefix cache and llama-server's prompt cache
    served trials 1 and 2 of cpu-fixed from cache (llama.cpp c8: TTFT p50 44 ms in trial 0, 14.5 ms after)."""
    tok = load_tokenizer(tokenizer_dir)
    w = with_overrides(load_workload(name), requests=12, warmup_requests=2)
    t0, t1, again = build_plan(w, tok, 0), build_plan(w, tok, 1), build_plan(w, tok, 1)
    assert t1.schedule_hash == again.schedule_hash != t0.schedule_hash  # deterministic per trial
    for a, b in zip(t0.points, t1.points, strict=True):
        assert _shapes(a) == _shapes(b)
        assert [s.arrival_s for s in a.sessions] == [s.arrival_s for s in b.sessions]
        completions = [t for s in b.sessions for t in s.turns if t.prompt is not None]
        assert all(tok.count(t.prompt) == t.prompt_tokens_target for t in completions if t.prompt is not None)
        shared = _prompts(a) & _prompts(b)
        if name == "prefix-cache":  # the groups' prefixes are the trial's own too
            shared = {x[:200] for x in _prompts(a)} & {x[:200] for x in _prompts(b)}
        assert not shared


def test_search_probes_send_their_own_prompts() -> None:
    tok = load_tokenizer(None)
    w = with_overrides(load_workload("cpu-slo-search"), requests=10, warmup_requests=1)
    a, b = probe_point(w, tok, 0, 0, 40.0), probe_point(w, tok, 0, 1, 40.0)
    assert _shapes(a) == _shapes(b) and not _prompts(a) & _prompts(b)
    assert a.schedule_hash != b.schedule_hash == probe_point(w, tok, 0, 1, 40.0).schedule_hash
    assert probe_point(w, tok, 1, 0, 40.0).schedule_hash != a.schedule_hash


def test_prefix_groups_share_their_prefix(tokenizer_dir: Path) -> None:
    tok = load_tokenizer(tokenizer_dir)
    w = with_overrides(load_workload("prefix-cache"), requests=8, warmup_requests=0)
    w = w.model_copy(update={"dataset": w.dataset.model_copy(update={"prefix_tokens": 64, "suffix_tokens": 8,
                                                                     "groups": 2})})
    sessions = build_plan(w, tok).points[0].sessions
    prompts = [s.turns[0].prompt for s in sessions]
    assert prompts[0][:200] == prompts[2][:200] != prompts[1][:200]
    assert all(s.turns[0].prompt_tokens_target == tok.count(s.turns[0].prompt) for s in sessions)


def test_multi_turn_history_grows_with_think_time(tokenizer_dir: Path) -> None:
    w = with_overrides(load_workload("multi-turn"), requests=12, warmup_requests=0)
    sessions = build_plan(w, load_tokenizer(tokenizer_dir)).points[0].sessions
    assert len(sessions) == 2
    turns = sessions[0].turns
    assert [len(t.messages) for t in turns] == [1, 3, 5, 7, 9, 11]
    assert turns[0].think_time_s == 0 and all(t.think_time_s > 0 for t in turns[1:])
    assert [t.prompt_tokens_target for t in turns] == [256 + 512 * k for k in range(6)]


def test_a_list_of_requests_gives_each_point_its_own_count() -> None:
    tok = load_tokenizer(None)
    w = with_overrides(load_workload("chat"), rate=[1.0, 2.0], warmup_requests=2)
    even = build_plan(with_overrides(w, requests=30), tok).points
    short, long = build_plan(w.model_copy(update={"requests": [10, 30]}), tok).points
    assert (short.requests, len(short.sessions), long.requests, len(long.sessions)) == (10, 12, 30, 32)
    # the short point sends the first sessions of the long one's plan, at the same arrival times
    assert [(s.arrival_s, s.turns) for s in short.sessions] == [(s.arrival_s, s.turns) for s in even[0].sessions[:12]]
    assert long.schedule_hash == even[1].schedule_hash  # a point of the most requests is the plan of a plain count


def test_a_list_of_requests_needs_one_per_sweep_point() -> None:
    base = load_workload("chat").model_dump(mode="json")
    with pytest.raises(InferboardError, match="requests: give one number, or one per point"):
        parse_workload({**base, "requests": [10, 20, 30]}, source="w.yaml")
    over = load_workload("cpu-overload").model_dump(mode="json")
    with pytest.raises(InferboardError, match="requests: give one number"):
        parse_workload({**over, "requests": [700]}, source="w.yaml")


def test_a_new_sweep_of_another_length_gives_every_point_the_longest_count() -> None:
    fixed = load_workload("cpu-fixed")  # requests [16, 680] at concurrency 1, 4
    assert fixed.requests == [16, 680]
    assert with_overrides(fixed, concurrency=[4]).requests == 680
    assert with_overrides(fixed, concurrency=[2, 16]).requests == [16, 680]  # same length: kept
    assert with_overrides(fixed, concurrency=[2, 4, 16]).requests == 680
    assert with_overrides(fixed, concurrency=[4], requests=100).requests == 100
