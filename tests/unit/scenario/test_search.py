"""The adaptive search of a search load: ramp, bisection to the resolution, and its result."""

from __future__ import annotations

import pytest

from inferboard.scenario.search import bracket, confirmation_rate, fixed_sweep_points, next_rate, result
from inferboard.scenario.workload import SearchLoad


def _load(**over: float) -> SearchLoad:
    return SearchLoad.model_validate({"kind": "search", "start_rate": 4, "max_rate": 512, **over})


def _run(load: SearchLoad, capacity: float) -> list[tuple[float, bool]]:
    probes: list[tuple[float, bool]] = []
    while (rate := next_rate(load, probes)) is not None:
        probes.append((rate, rate <= capacity))
    return probes


@pytest.mark.parametrize("capacity", [5.0, 37.0, 100.0, 300.0])
def test_search_brackets_the_capacity_within_its_resolution(capacity: float) -> None:
    load = _load()
    probes = _run(load, capacity)
    found = result(probes)
    assert found is not None and found <= capacity
    lo, hi = bracket(probes)
    assert lo == found and hi is not None and (hi - lo) / lo <= load.resolution
    assert capacity < hi  # the true limit lies inside the final bracket
    assert len(probes) <= load.max_probes


def test_ramp_down_when_the_start_fails_and_max_rate_caps_the_ramp() -> None:
    probes = _run(_load(), 1.5)
    assert [r for r, _ in probes[:3]] == [4.0, 2.0, 1.0] and result(probes) is not None
    capped = _run(_load(max_rate=20), 1000.0)
    assert [r for r, _ in capped] == [4.0, 8.0, 16.0, 20.0] and result(capped) == 20.0


def test_nothing_passes_gives_no_result_and_a_fixed_sweep_costs_more() -> None:
    load = _load(max_probes=4)
    probes = _run(load, 0.01)
    assert len(probes) == 4 and result(probes) is None
    spent = _run(_load(), 37.0)
    # a geometric sweep over the same range at 5% resolution needs many more points than the search's probes
    assert fixed_sweep_points(spent, 0.05) > 3 * len(spent)


def test_a_confirmation_follows_only_a_finished_search_that_found_a_rate() -> None:
    load = _load(confirm_requests=680)
    probes = _run(load, 37.0)
    assert confirmation_rate(load, probes) == result(probes)
    assert confirmation_rate(load, probes[:2]) is None  # still searching
    assert confirmation_rate(_load(), probes) is None  # none asked for
    failing = _run(load, 0.1)  # nothing passed: nothing to confirm
    assert result(failing) is None and confirmation_rate(load, failing) is None
