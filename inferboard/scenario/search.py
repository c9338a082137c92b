"""The adaptive search of a ``search`` load: which rate to probe next, and the result, from the probes so far.

Pure functions of (rate, passed) pairs, so the cell that drives the search and a checker that reads its published
probes agree on the answer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from inferboard.scenario.workload import SearchLoad

Probe = tuple[float, bool]  # (rate, passed)
MAX_STEPS_DOWN = 3  # a start rate that fails is divided by growth at most this often: no probe lasts for days


def bracket(probes: Sequence[Probe]) -> tuple[float | None, float | None]:
    """(highest passing rate below every failing one, lowest failing rate); None where there is none."""
    failing = [r for r, ok in probes if not ok]
    hi = min(failing) if failing else None
    passing = [r for r, ok in probes if ok and (hi is None or r < hi)]
    return (max(passing) if passing else None), hi


def next_rate(load: SearchLoad, probes: Sequence[Probe]) -> float | None:
    """The next rate to probe, or None when the search is done (resolution reached, bounds hit, probes spent)."""
    if not probes:
        return load.start_rate
    if len(probes) >= load.max_probes:
        return None
    lo, hi = bracket(probes)
    if hi is None:  # everything passed so far: ramp up, up to max_rate
        assert lo is not None
        return None if lo >= load.max_rate else min(load.max_rate, lo * load.growth)
    if lo is None:  # everything failed so far: ramp down, at most MAX_STEPS_DOWN steps below the start
        low = hi / load.growth
        return None if low < load.start_rate / load.growth ** MAX_STEPS_DOWN * (1 - 1e-9) else low
    if (hi - lo) / lo <= load.resolution:
        return None
    return math.sqrt(lo * hi)  # bisect in log space: the resolution is relative


def result(probes: Sequence[Probe]) -> float | None:
    """The max rate at SLO: the highest passing rate below every failing one (None when no probe passed)."""
    return bracket(probes)[0]


def confirmation_rate(load: SearchLoad, probes: Sequence[Probe]) -> float | None:
    """The rate of the confirmation point that follows a finished search (``confirm_requests``): its answer; None
    when the search is not finished, found no passing rate or confirms nothing."""
    if not load.confirm_requests or next_rate(load, probes) is not None:
        return None
    return result(probes)


def fixed_sweep_points(probes: Sequence[Probe], resolution: float) -> int | None:
    """Points a fixed geometric sweep over the probed range needs to resolve the result as finely as the search:
    ceil(log(max/min) / log(1 + resolution)) + 1 (the search spends len(probes)); None when the search did not
    bracket a limit (no failing or no passing probe)."""
    rates = [r for r, _ in probes]
    lo, hi = bracket(probes)
    if lo is None or hi is None or min(rates) <= 0:
        return None
    return math.ceil(round(math.log(max(rates) / min(rates)) / math.log1p(resolution), 9)) + 1
