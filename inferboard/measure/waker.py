"""Waking the event loop at a monotonic nanosecond, without spinning (Linux ``timerfd``).

The loop's own timers round to whole milliseconds, so the load generator used to yield-spin the last 1.5 ms
before each arrival: exact, but the client's core was busy whatever the rate. A ``timerfd`` on CLOCK_MONOTONIC
(the clock of ``time.monotonic_ns``) armed at the earliest waiting deadline wakes the loop through its poller
instead: one file descriptor per loop, a heap of deadlines. Where there is no timerfd (not Linux, no libc),
``Waker.create`` returns None and the caller spins as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import heapq
import itertools
import os
import sys
import time

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC
_TFD_TIMER_ABSTIME = 1
_now = time.monotonic_ns


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.timerfd_settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Itimerspec), ctypes.c_void_p]
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


class Waker:
    """Futures resolved at monotonic deadlines by one timerfd on ``loop``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        self.loop, self.fd = loop, fd
        self.heap: list[tuple[int, int, asyncio.Future[None]]] = []
        self.seq = itertools.count()
        self.armed = 0  # the deadline the timerfd is set to (0: disarmed)
        loop.add_reader(fd, self._fired)

    @classmethod
    def create(cls, loop: asyncio.AbstractEventLoop) -> Waker | None:
        if _LIBC is None:
            return None
        fd = _LIBC.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        return None if fd < 0 else cls(loop, fd)

    def _arm(self, ns: int) -> bool:
        spec = _Itimerspec(it_value=_Timespec(ns // 1_000_000_000, ns % 1_000_000_000))
        if _LIBC is not None and _LIBC.timerfd_settime(self.fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None) == 0:
            self.armed = ns
            return True
        return False

    async def until(self, ns: int) -> None:
        """Return at monotonic ``ns`` (at once when it has passed)."""
        if ns <= _now():
            return
        if (not self.armed or ns < self.armed) and not self._arm(ns):  # cannot set the timer: the loop's own
            await asyncio.sleep((ns - _now()) / 1e9)  # (a millisecond late at worst; the caller spins the rest)
            return
        fut = self.loop.create_future()
        heapq.heappush(self.heap, (ns, next(self.seq), fut))
        await fut

    def _fired(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self.fd, 8)
        self.armed = 0
        now = _now()
        while self.heap and self.heap[0][0] <= now:
            _, _, fut = heapq.heappop(self.heap)
            if not fut.done():
                fut.set_result(None)
        if self.heap:
            self._arm(self.heap[0][0])

    def close(self) -> None:
        if _WAKERS.get(self.loop) is self:
            del _WAKERS[self.loop]
        if not self.loop.is_closed():
            self.loop.remove_reader(self.fd)
        os.close(self.fd)
        for _, _, fut in self.heap:
            fut.cancel()
        self.heap.clear()


_WAKERS: dict[asyncio.AbstractEventLoop, Waker | None] = {}


def waker() -> Waker | None:
    """The running loop's Waker (made on first use; None where there is no timerfd)."""
    loop = asyncio.get_running_loop()
    if loop not in _WAKERS:
        for old in [lp for lp in _WAKERS if lp.is_closed()]:  # a closed loop's timerfd is closed here, once
            w = _WAKERS.get(old)
            if w is not None:
                w.close()
            _WAKERS.pop(old, None)
        _WAKERS[loop] = Waker.create(loop)
    return _WAKERS[loop]
