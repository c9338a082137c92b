"""Waking at a monotonic nanosecond: never early, in deadline order, and without spinning the core."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
import uvloop

from inferboard.measure import loadgen
from inferboard.measure.waker import Waker, waker


def test_many_sleepers_wake_after_their_deadlines_in_order() -> None:
    async def go() -> list[tuple[int, int]]:
        w = waker()
        if w is None:
            pytest.skip("no timerfd on this platform")
        assert isinstance(w, Waker) and waker() is w  # one per loop
        t0 = time.monotonic_ns()
        # every deadline still ahead when its task starts
        deadlines = [t0 + int(d * 1e6) for d in np.random.default_rng(0).uniform(50, 80, 60)]
        woke: list[tuple[int, int]] = []

        async def one(ns: int) -> None:
            await w.until(ns)
            woke.append((ns, time.monotonic_ns()))

        await asyncio.gather(*(one(ns) for ns in deadlines), w.until(t0 - 1))  # a past deadline returns at once
        return woke

    woke = uvloop.run(go())
    assert len(woke) == 60 and all(at >= ns for ns, at in woke)
    assert [ns for ns, _ in woke] == sorted(ns for ns, _ in woke)


def test_waits_before_sends_leave_the_core_idle() -> None:
    """A run of sub-5 ms waits (an open loop's gaps): never early, and the process's CPU time a fraction of the
    wall time (the old yield-spin of the last 1.5 ms kept the core busy at high rates)."""

    async def go() -> tuple[list[float], float, float]:
        late = []
        wall, cpu = time.monotonic(), time.process_time()
        for d in np.random.default_rng(1).uniform(0.5, 4.0, 150):
            ns = time.monotonic_ns() + int(d * 1e6)
            await loadgen.sleep_until(ns)
            late.append((time.monotonic_ns() - ns) / 1e3)
        return late, time.monotonic() - wall, time.process_time() - cpu

    if uvloop.run(_has_waker()) is False:
        pytest.skip("no timerfd on this platform")
    late, wall, cpu = uvloop.run(go())
    assert min(late) >= 0
    assert cpu < 0.6 * wall, (cpu, wall)


async def _has_waker() -> bool:
    return waker() is not None
