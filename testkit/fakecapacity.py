"""The capacity model of testkit/fakeserver.py (``Control.slots``): decode slots and a FIFO queue.

At most ``n`` requests hold a slot; the rest wait in arrival order. When a slot frees, at the planned
time of its holder's last action (or when the holder's connection is lost), the queue's head starts
on it then, or at its own arrival if that is later. With ``limit``, a request that finds ``limit``
requests waiting is refused (the server answers 503 and records it as shed).
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Any, Protocol


class Startable(Protocol):
    """What a slot admits: the server's Stream."""

    rec: dict[str, Any]
    state: str

    def start(self, t0: int) -> None: ...


class Slots:
    """``n`` decode slots and the requests waiting for one.

    ``free`` is a heap of the times the free slots became free: a request never starts on a slot
    before its previous holder's planned end, even when it is handled after that end's timer ran.
    """

    def __init__(self, n: int, limit: int | None) -> None:
        if n < 1 or (limit is not None and limit < 0):
            raise ValueError("slots must be >= 1 and queue_limit >= 0")
        self.n, self.limit = n, limit
        self.free = [0] * n
        self.waiting: deque[Startable] = deque()

    @property
    def running(self) -> int:
        """Requests holding a slot."""
        return self.n - len(self.free)

    def admit(self, stream: Startable, arrival: int) -> bool:
        """Start ``stream`` on a free slot, or queue it; False when the queue is full (shed it)."""
        if self.free:
            stream.start(max(arrival, heapq.heappop(self.free)))
        elif self.limit is not None and len(self.waiting) >= self.limit:
            return False
        else:
            stream.state = "waiting"
            self.waiting.append(stream)
        return True

    def leave(self, stream: Startable) -> None:
        """A waiting request whose connection closed gives up its place."""
        self.waiting.remove(stream)

    def release(self, at: int) -> None:
        """A slot frees at ``at``: the queue's head takes it (from ``at``, or its arrival if later)."""
        if self.waiting:
            head = self.waiting.popleft()
            head.start(max(at, head.rec["queued_ns"]))
        else:
            heapq.heappush(self.free, at)


def fifo_ttft(arrivals: list[float], n: int, service_s: float, ttft_s: float) -> list[float]:
    """The model's TTFT from the scheduled time of each arrival (seconds, in arrival order): ``n`` FIFO slots, each
    request holding one for ``service_s`` and writing its first token ``ttft_s`` after it starts."""
    free = [0.0] * n
    out = []
    for a in arrivals:
        start = max(a, heapq.heappop(free))
        heapq.heappush(free, start + service_s)
        out.append(start - a + ttft_s)
    return out
