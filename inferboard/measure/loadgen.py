"""Load generation: closed-loop concurrency and open-loop gamma arrivals over a planned schedule.

``scheduled_ns`` is when a request should go out (open loop: its arrival; closed loop: the moment its
worker became free; a later turn: previous end + think time); ``sent_ns`` is when it did. Warm-up
requests are the first ``warmup_requests`` by slot and are recorded but excluded from statistics.
Bounds: ``warmup + requests`` requests, and optionally ``duration_s`` after which nothing new is issued.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from inferboard.measure.client import StreamingClient
from inferboard.measure.exchange import Outcome
from inferboard.measure.waker import waker
from inferboard.metrics import Timing, record_values
from inferboard.scenario.schedule import LoadPointPlan, PlannedSession, PlannedTurn

_now = time.monotonic_ns
START_LEAD_NS = 20_000_000  # open loop: the first arrival is 20 ms after the loop starts


@dataclass(slots=True)
class PointRun:
    """Bookkeeping of one load point's run."""

    issued: int = 0
    started_ns: int = 0
    ended_ns: int = 0


#: the last stretch before a send time spent yielding to the loop (never sleeping past it): without a timerfd the
#: loop's timers have ~1 ms granularity (1.5 ms); a timerfd wakes the loop 50 µs late at the median and 0.2 ms
#: at p99 here (0.25 ms), so the spin is a sixth as long and the client's core mostly idle between arrivals
SPIN_NS, TIMERFD_SPIN_NS = 1_500_000, 250_000


async def sleep_until(ns: int) -> None:
    """Sleep until monotonic ``ns``, never waking early: woken by the loop's timerfd (``waker``) or, without one, a
    loop timer, then yield-spinning the last stretch."""
    w = waker()
    if w is not None and ns - _now() > TIMERFD_SPIN_NS:
        await w.until(ns - TIMERFD_SPIN_NS)
    spin = TIMERFD_SPIN_NS if w is not None else SPIN_NS  # the last stretch: a loop timer would round it up to a
    while (left := ns - _now()) > 0:  # whole millisecond, so only a longer wait without a timerfd sleeps on one
        await asyncio.sleep((left - SPIN_NS) / 1e9 if left > spin else 0)


def make_record(out: Outcome, *, turn: PlannedTurn, scheduled_ns: int, request_id: str, trial: int,
                plan: LoadPointPlan, session_id: int, turn_index: int, warmup: bool,
                forced: bool, target: str | None = None) -> dict[str, Any]:
    """One requests.parquet row from a request's outcome (status refined for short outputs)."""
    n_chunks = len(out.chunk_ns)
    n_out = out.completion_tokens if out.completion_tokens is not None else n_chunks
    status, error = out.status, out.error
    mismatch = out.completion_tokens is not None and out.completion_tokens != n_chunks
    if status == "ok" and forced and n_out < turn.max_tokens:
        status = "truncated"
        error = f"{n_out} of {turn.max_tokens} forced output tokens" + (f"; {error}" if error else "")
    elif status == "ok" and n_chunks == 0:
        status, error = "invalid_response", "no content chunks" + (f"; {error}" if error else "")
    t = Timing(scheduled_ns=scheduled_ns, sent_ns=out.sent_ns, chunk_ns=out.chunk_ns, end_ns=out.end_ns,
               output_tokens=n_out if n_chunks else None)
    vals = record_values(t)
    if status != "ok":  # partial timings of failed requests never enter latency statistics
        for k in vals:
            if k != "send_lag_ms":
                vals[k] = None
    sent = out.sent_ns
    return {
        "request_id": request_id, "trial": trial, "load_point": plan.index, "load_kind": plan.kind,
        "load_value": plan.value, "session_id": session_id, "turn": turn_index, "target": target, "client_proc": None,
        "warmup": warmup,
        "status": status, "http_status": out.http_status, "scheduled_ns": scheduled_ns, "sent_ns": sent,
        "first_token_ns": out.chunk_ns[0] if n_chunks else None, "end_ns": out.end_ns, **vals,
        "prompt_tokens": out.prompt_tokens, "prompt_tokens_target": turn.prompt_tokens_target,
        "output_tokens": n_out, "output_tokens_usage": out.completion_tokens, "content_chunks": n_chunks,
        "max_tokens": turn.max_tokens, "output_forced": forced, "usage_mismatch": mismatch,
        "finish_reason": out.finish_reason, "done_marker": out.done_marker,
        "chunk_times_ms": [(c - sent) / 1e6 for c in out.chunk_ns], "error": error,
    }


def session_slots(plan: LoadPointPlan) -> list[range]:
    """Each session's slots (its turns' numbers within the load point, in session order) that fit in the request
    bound: the request ids and the warm-up split, the same whichever client process sends the session."""
    out, reserved = [], 0
    for session in plan.sessions:
        n = max(0, min(len(session.turns), plan.total_requests - reserved))
        out.append(range(reserved, reserved + n))
        reserved += n
    return out


def share(total: int, part: int, parts: int) -> int:
    """Part ``part`` of ``parts`` of ``total`` (concurrency, a concurrency limit): the first ``total % parts`` parts
    get one more."""
    return total // parts + (part < total % parts)


def owner(session: int, streams: int | None, parts: int) -> int:
    """The client process (of ``parts``) that sends session ``session``: the one holding stream ``session %
    streams`` (process p holds streams p, p + parts, …: ``share(streams, p, parts)`` of them), so each process's
    sessions match its streams; without a stream count (an open loop with no limit), every ``parts``-th."""
    return (session % streams if streams else session) % parts


def streams_of(plan: LoadPointPlan) -> int | None:
    """The streams a load point has at most: its concurrency, or an open loop's concurrency limit (None: none)."""
    return int(plan.value) if plan.kind == "concurrency" else plan.max_concurrency


class LoadGenerator:
    """Drives one load point of a plan through a client, handing each record to ``sink``.

    ``part`` = (i, n): this generator is client process i of n and sends every n-th session from the i-th (open
    loop: at its planned arrival from the shared ``start_ns``; closed loop: its share of the concurrency), with
    the request ids a single process would give them."""

    def __init__(self, client: StreamingClient, sink: Callable[[dict[str, Any]], None], *, trial: int = 0,
                 stop: asyncio.Event | None = None, target_fields: dict[str, dict[str, Any]] | None = None,
                 part: tuple[int, int] = (0, 1), start_ns: int | None = None) -> None:
        self.client = client
        self.sink = sink
        self.trial = trial
        self.stop = stop or asyncio.Event()
        self.target_fields = target_fields or {}  # a traffic split's target → the body fields that address it
        self.part, self.start_ns = part, start_ns

    async def run(self, plan: LoadPointPlan) -> PointRun:
        """Run ``plan`` (closed or open loop) until its bounds; every issued request is recorded."""
        self._plan = plan
        i, n = self.part
        streams = streams_of(plan)
        if n > max(1, streams or n):
            raise ValueError(f"{n} client processes for {streams} streams: at most one per stream")
        slots = session_slots(plan)
        self._mine = [(s, r) for k, (s, r) in enumerate(zip(plan.sessions, slots, strict=True))
                      if owner(k, streams, n) == i and len(r)]
        await self.connect(plan)
        if self.start_ns is not None:
            await sleep_until(self.start_ns)
        self._run = PointRun(started_ns=self.start_ns if self.start_ns is not None else _now())
        self._deadline = (self._run.started_ns + int(plan.duration_s * 1e9)) if plan.duration_s else None
        if plan.kind == "concurrency":
            await self._closed_loop(share(int(plan.value), i, n))
        else:
            await self._open_loop()
        self._run.ended_ns = _now()
        return self._run

    async def connect(self, plan: LoadPointPlan) -> None:
        """A closed loop opens its streams' connections before its first request is scheduled (``run`` does; a
        second call opens nothing). An open loop's arrivals may come after a server's keep-alive timeout: it
        connects as they come."""
        if plan.kind == "concurrency":
            await self.client.open_connections(share(int(plan.value), *self.part))

    def _open(self) -> bool:
        if self.stop.is_set():
            return False
        return self._deadline is None or _now() < self._deadline

    async def _session(self, session: PlannedSession, slots: range, scheduled_ns: int,
                       limit: asyncio.Semaphore | None = None) -> None:
        prev_end = 0
        for k, slot in enumerate(slots):
            turn = session.turns[k]
            if k > 0:
                if not self._open():
                    return
                scheduled_ns = prev_end + int(turn.think_time_s * 1e9)
                await sleep_until(scheduled_ns)
            body = self.client.body(prompt=turn.prompt, messages=turn.messages, max_tokens=turn.max_tokens,
                                    extra=self.target_fields.get(session.target) if session.target else None)
            rid = f"t{self.trial}-p{self._plan.index}-{slot:06d}"
            self._run.issued += 1
            if limit is not None:
                async with limit:
                    out = await self._send(body, rid, turn, scheduled_ns, session, k, slot)
            else:
                out = await self._send(body, rid, turn, scheduled_ns, session, k, slot)
            if out.status != "ok":
                return  # a broken conversation issues no further turns
            prev_end = out.end_ns or _now()

    async def _send(self, body: bytes, rid: str, turn: PlannedTurn, scheduled_ns: int, session: PlannedSession,
                    k: int, slot: int) -> Outcome:
        out: Outcome | None = None
        try:
            out = await self.client.send(body, request_id=rid)
        finally:
            if out is None:  # interrupted: the client recorded nothing, account for the request anyway
                out = Outcome(status="connection_error", sent_ns=_now(), end_ns=_now(),
                              error="aborted: run interrupted")
            self.sink(make_record(out, turn=turn, scheduled_ns=scheduled_ns, request_id=rid, trial=self.trial,
                                  plan=self._plan, session_id=session.session_id, turn_index=k,
                                  warmup=slot < self._plan.warmup_requests,
                                  forced=self.client.sampling.ignore_eos, target=session.target))
        return out

    async def _closed_loop(self, concurrency: int) -> None:
        sessions = iter(self._mine)

        async def worker() -> None:
            while self._open():
                session, slots = next(sessions, (None, range(0)))
                if session is None:
                    return
                await self._session(session, slots, _now())

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def _open_loop(self) -> None:
        plan = self._plan
        limit = asyncio.Semaphore(share(plan.max_concurrency, *self.part)) if plan.max_concurrency else None
        t0 = self._run.started_ns + START_LEAD_NS
        tasks = []
        for session, slots in self._mine:
            at = t0 + int((session.arrival_s or 0.0) * 1e9)
            if self._deadline is not None and at >= self._deadline:
                break
            await sleep_until(at)
            if self.stop.is_set():
                break
            tasks.append(asyncio.create_task(self._session(session, slots, at, limit)))
        if tasks:
            await asyncio.gather(*tasks)
