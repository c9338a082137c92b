"""Core sets given as text (``0``, ``0,2``, ``0-3``), checked against the cores this process may use."""

from __future__ import annotations

import os

from inferboard.core.errors import InferboardError


def parse_cores(text: str | None, field: str) -> tuple[int, ...]:
    """``0``, ``0,2`` or ``0-3`` → sorted core numbers; ``None`` → () (no pinning)."""
    if text is None:
        return ()
    cores: set[int] = set()
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            cores.update(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        cores = set()
    usable = os.sched_getaffinity(0)
    if not cores or not cores <= usable:
        raise InferboardError(f"{text!r} is not a set of usable cores", field=field,
                              fix=f"e.g. {field} 0 or 0-1; usable here: {sorted(usable)}")
    return tuple(sorted(cores))
