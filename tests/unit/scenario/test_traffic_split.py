"""Several models on one server: the traffic split of a workload and its place in the schedule."""

from __future__ import annotations

import collections

import pytest

from inferboard.core.errors import InferboardError
from inferboard.scenario.prompts import load_tokenizer
from inferboard.scenario.schedule import build_plan, session_targets
from testkit.cell_runs import workload

SPLIT = {"split": "weighted", "targets": [{"name": "base", "weight": 2}, {"name": "lora-a"}, {"name": "lora-b"}]}


def test_weighted_split_is_deterministic_and_follows_the_weights() -> None:
    w = workload(models=SPLIT, requests=4000)
    picks = session_targets(w, 4000)
    assert picks == session_targets(w, 4000)
    counts = collections.Counter(picks)
    assert set(counts) == {"base", "lora-a", "lora-b"}
    assert counts["base"] / 4000 == pytest.approx(0.5, abs=0.03)
    assert counts["lora-a"] / 4000 == pytest.approx(0.25, abs=0.03)
    assert session_targets(workload(models=SPLIT, requests=4000, seed=1), 4000) != picks


def test_round_robin_cycles_through_the_targets() -> None:
    w = workload(models={**SPLIT, "split": "round_robin"})
    assert session_targets(w, 7) == ["base", "lora-a", "lora-b", "base", "lora-a", "lora-b", "base"]


def test_no_split_leaves_schedules_and_hashes_as_before() -> None:
    w = workload()
    assert session_targets(w, 3) == [None, None, None]
    assert w.content_hash() == workload().content_hash()
    tok = load_tokenizer(None)
    plain, split = build_plan(w, tok), build_plan(workload(models=SPLIT), tok)
    assert all(s.target is None for s in plain.points[0].sessions)
    assert [s.target for s in split.points[0].sessions] == session_targets(workload(models=SPLIT), 20)
    assert plain.schedule_hash != split.schedule_hash  # who a request goes to is part of what is measured
    assert workload(models=SPLIT).content_hash() != w.content_hash()


@pytest.mark.parametrize(("models", "field"), [
    ({"targets": [{"name": "base"}]}, "models.targets"),
    ({"targets": [{"name": "base"}, {"name": "base"}]}, "models.targets"),
    ({"targets": [{"name": "base"}, {"name": "../x"}]}, "models.targets"),
    ({"targets": [{"name": "base", "weight": 0}, {"name": "lora-a"}]}, "models.targets"),
    ({"split": "random", "targets": [{"name": "base"}, {"name": "lora-a"}]}, "models.split"),
])
def test_bad_splits_are_one_line_errors(models: dict, field: str) -> None:
    with pytest.raises(InferboardError) as err:
        workload(models=models)
    assert field in str(err.value) and "\n" not in str(err.value)


def test_adapters_are_every_target_but_base() -> None:
    assert workload(models=SPLIT).models.adapters == ("lora-a", "lora-b")  # type: ignore[union-attr]
