"""One request/response of the streaming client: its outcome, SSE parsing and per-request deadlines.

The read callback of a connection feeds an ``Exchange`` the body bytes with their receive time; it parses
the SSE events (``orjson``), records one timestamp per content chunk and settles the waiter future. One timer
per request re-arms itself only when it fires (connect, first token, between chunks, total).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import orjson

from inferboard.scenario.workload import Timeouts

if TYPE_CHECKING:
    from inferboard.measure.client import PooledConnection

Status = Literal[
    "ok", "http_error", "timeout_connect", "timeout_first_token", "timeout_between_chunks",
    "timeout_total", "connection_error", "truncated", "invalid_response",
]
_NS = 1_000_000_000
ERROR_BODY_LIMIT = 2048
now_ns = time.monotonic_ns


@dataclass(slots=True)
class Outcome:
    """What happened to one request: raw timestamps, counts and a status."""

    status: str = "ok"
    http_status: int | None = None
    sent_ns: int = 0
    chunk_ns: list[int] = field(default_factory=list)
    end_ns: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    done_marker: bool = False
    error: str | None = None


class Exchange:
    """One request/response on a connection: SSE parsing, deadlines and the waiter future."""

    __slots__ = ("armed_ns", "between_ns", "chat", "conn", "deadline_ns", "err_body", "future", "got_first",
                 "handle", "loop", "out", "rest", "total_ns")

    def __init__(self, loop: asyncio.AbstractEventLoop, out: Outcome, chat: bool, t: Timeouts) -> None:
        self.loop = loop
        self.out = out
        self.chat = chat
        self.future: asyncio.Future[None] = loop.create_future()
        self.rest = b""
        self.err_body = b""
        self.conn: PooledConnection | None = None
        self.got_first = False
        self.between_ns = int(t.between_chunks_s * _NS)
        self.deadline_ns = int(t.first_token_s * _NS)
        self.total_ns = int(t.total_s * _NS)
        self.handle: asyncio.TimerHandle | None = None
        self.armed_ns = 0

    def start(self, sent_ns: int) -> None:
        """The request is being sent: first-token and total deadlines count from now."""
        self.deadline_ns += sent_ns
        self.total_ns += sent_ns
        self._arm(min(self.deadline_ns, self.total_ns), sent_ns)

    def _arm(self, due: int, now: int) -> None:
        if self.handle is not None:
            self.handle.cancel()
        self.armed_ns = due
        self.handle = self.loop.call_later((due - now) / _NS, self._check)

    # ------------------------------------------------------------ deadlines
    def _check(self) -> None:
        if self.future.done():
            return
        now = now_ns()
        due = min(self.deadline_ns, self.total_ns)
        if now < due:
            self._arm(due, now)
            return
        if self.total_ns <= self.deadline_ns:
            reason = "timeout_total"
        else:
            reason = "timeout_between_chunks" if self.got_first else "timeout_first_token"
        self.fail(reason, f"{reason.replace('_', ' ')} exceeded")

    # ------------------------------------------------------------ outcome
    def fail(self, status: str, error: str) -> None:
        """End the request with ``status``; its connection is closed (never reused)."""
        if self.future.done():
            return
        self.out.status, self.out.error = status, error
        self.out.end_ns = now_ns()
        if self.conn is not None:
            self.conn.abort()
        self._settle()

    def finish(self, now: int) -> None:
        """The response ended normally (end of the HTTP message)."""
        if self.future.done():
            return
        out = self.out
        if out.http_status != 200:
            out.status = "http_error"
            out.error = f"HTTP {out.http_status}: {self.err_body.decode('utf-8', 'replace').strip()}"
        else:
            if self.rest.strip():
                try:
                    self._event(self.rest.strip(), now)
                except Exception as err:  # malformed trailing event
                    self.fail("invalid_response", f"{type(err).__name__}: {err}")
                    return
            if not out.done_marker:
                out.error = "stream ended without [DONE]"
        out.end_ns = now
        self._settle()

    def _settle(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
        self.future.set_result(None)

    # ------------------------------------------------------------ body
    def body(self, data: bytes, now: int) -> None:
        """Decoded HTTP body bytes, all received at ``now``."""
        if self.out.http_status != 200:
            if len(self.err_body) < ERROR_BODY_LIMIT:
                self.err_body += data[: ERROR_BODY_LIMIT - len(self.err_body)]
            return
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        if self.rest:
            data = self.rest + data
        events = data.split(b"\n\n")
        self.rest = events.pop()
        for ev in events:
            self._event(ev, now)

    def _event(self, ev: bytes, now: int) -> None:
        if ev.startswith(b"data:"):
            payload = ev[5:].strip()
        elif b"\ndata:" in ev:  # comment lines before the data, or a multi-line event
            payload = b"\n".join(ln[5:].strip() for ln in ev.split(b"\n") if ln.startswith(b"data:"))
        else:
            return  # comment or keep-alive
        if payload == b"[DONE]":
            self.out.done_marker = True
            return
        obj = orjson.loads(payload)
        choices = obj.get("choices")
        if not choices and "error" in obj:
            err = obj["error"]
            raise ValueError(f"error event in stream: {err.get('message', err) if isinstance(err, dict) else err}")
        if choices:
            c = choices[0]
            if self.chat:
                d = c.get("delta") or {}
                text = d.get("content") or d.get("reasoning_content") or d.get("reasoning")
            else:
                text = c.get("text")
            if text:
                self.out.chunk_ns.append(now)
                self.deadline_ns = now + self.between_ns
                if self.deadline_ns < self.armed_ns:  # only after the first token can it move earlier
                    self._arm(self.deadline_ns, now)
                self.got_first = True
            fr = c.get("finish_reason")
            if fr:
                self.out.finish_reason = fr
        usage = obj.get("usage")
        if usage:
            self.out.prompt_tokens = usage.get("prompt_tokens")
            self.out.completion_tokens = usage.get("completion_tokens")


