"""OpenAI-compatible streaming client: one timestamp per received chunk, one record per request.

Built for timing accuracy and capacity on one core: each plain-TCP connection is a non-blocking
socket read with ``recvmsg``, so every read carries the kernel's receive time (``inferboard.measure.netio``),
and the SSE events are parsed in the read callback (HTTP/1.1 framing by ``httptools``, the llhttp
parser; JSON by ``orjson``), so no coroutine wakes up per chunk. TLS endpoints use an asyncio
transport and the loop's read time. Timeouts
are separate for connect, first token, between chunks and total, enforced by one timer per request
that re-arms itself only when it fires; there are no retries.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from typing import Any, cast
from urllib.parse import urlsplit

import httptools
import orjson

from inferboard.measure.exchange import Exchange, Outcome, now_ns
from inferboard.measure.netio import (
    CONSUME_BYTES,
    KERNEL_TIMESTAMPS,
    RawStream,
    can_peek,
    open_raw,
    resolve,
)
from inferboard.scenario.workload import Sampling, Timeouts


class PooledConnection:
    """One keep-alive HTTP/1.1 connection: httptools parses responses; every read carries its time."""

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.io: RawStream | _TLSIO | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.ex: Exchange | None = None
        self.now = 0
        self.closed = False
        self.framed = False  # response has Content-Length or chunked framing
        self.keep_alive = True
        self.reused = False  # taken from the idle pool (may have been closed by the server meanwhile)
        self.served = False  # a response came back on it (a pre-opened connection has none yet)

    def write(self, data: bytes) -> None:
        assert self.io is not None
        self.io.write(data)

    def feed(self, data: bytes, now: int) -> None:
        """Bytes read from the socket at monotonic ``now`` (kernel receive time where available)."""
        self.now = now
        ex = self.ex
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as err:
            if ex is not None:
                ex.fail("invalid_response", f"HTTP parse error: {err}")

    def lost(self, exc: Exception | None) -> None:
        """The peer closed the connection (exc None) or it failed."""
        self.closed = True
        ex = self.ex
        if ex is None or ex.future.done():
            return
        if ex.out.http_status is not None and not self.framed and exc is None:
            ex.finish(now_ns())  # close-delimited body: EOF ends the response
        else:
            ex.fail("connection_error", f"connection lost mid-response: {exc or 'closed by peer'}")

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        n = name.lower()
        if n == b"content-length" or (n == b"transfer-encoding" and b"chunked" in value.lower()):
            self.framed = True

    def on_headers_complete(self) -> None:
        if self.ex is not None:
            self.ex.out.http_status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        ex = self.ex
        if ex is None or ex.future.done():
            return
        try:
            ex.body(body, self.now)
        except Exception as err:  # malformed SSE event or JSON
            ex.fail("invalid_response", f"{type(err).__name__}: {err}")

    def on_message_complete(self) -> None:
        self.served = True
        ex, self.ex = self.ex, None
        if ex is not None:
            ex.finish(self.now)
        if self.keep_alive and not self.closed:
            self.framed = False
            self.pool.release(self)
        else:
            self.abort()

    def abort(self) -> None:
        self.closed = True
        if self.io is not None:
            self.io.close()


class _TLSIO(asyncio.Protocol):
    """TLS connections go through an asyncio transport; reads are stamped when the loop sees them."""

    def __init__(self, conn: PooledConnection) -> None:
        self.conn = conn
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream connection's: it reads and writes

    def data_received(self, data: bytes) -> None:
        self.conn.feed(data, now_ns())

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn.lost(exc)

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class _Pool:
    """Idle keep-alive connections to one host."""

    def __init__(self, host: str, port: int, ssl_ctx: ssl.SSLContext | None, *, bulk_reads: bool = False) -> None:
        self.host, self.port, self.ssl = host, port, ssl_ctx
        self.bulk = bulk_reads and ssl_ctx is None and can_peek()  # PeekStreams: see netio
        self.idle: deque[PooledConnection] = deque()
        self.reuse = True  # cleared once the server is seen closing idle keep-alive connections
        self.target: tuple[int, int, Any] | None = None  # resolved address, looked up once

    @property
    def timestamps(self) -> str:
        """Where chunk arrival times come from."""
        if self.ssl is None and KERNEL_TIMESTAMPS:
            how = f"; each arrival peeked, the queue emptied every {CONSUME_BYTES} bytes" if self.bulk else ""
            return f"kernel receive time (SO_TIMESTAMPNS){how}"
        return "event loop read time"

    async def acquire(self, timeout_s: float, *, fresh: bool = False) -> PooledConnection:
        while self.idle and not fresh and self.reuse:
            conn = self.idle.pop()
            if not conn.closed:
                conn.reused = True
                return conn
        loop = asyncio.get_running_loop()
        conn = PooledConnection(self)
        if self.ssl is None:
            if self.target is None:
                async with asyncio.timeout(timeout_s):  # not wait_for: see netio.open_raw
                    self.target = await resolve(loop, self.host, self.port)
            conn.io = await open_raw(loop, self.target, timeout_s, conn.feed, conn.lost, peek=self.bulk)
        else:
            async with asyncio.timeout(timeout_s):
                _, conn.io = await loop.create_connection(lambda: _TLSIO(conn), self.host, self.port, ssl=self.ssl,
                                                          server_hostname=self.host)
        return conn

    def release(self, conn: PooledConnection) -> None:
        if self.reuse:
            self.idle.append(conn)
        else:
            conn.abort()

    def close(self) -> None:
        """Close the idle connections (those in use keep going)."""
        while self.idle:
            self.idle.pop().abort()

    async def fill(self, n: int, timeout_s: float) -> int:
        """Open connections (concurrently) until ``n`` are idle, as a client in steady state holds them; returns
        how many are idle. A connection that fails is left out: its request meets the failure itself."""
        want = n - sum(1 for c in self.idle if not c.closed)
        if want <= 0 or not self.reuse:
            return len(self.idle)
        got = await asyncio.gather(*(self.acquire(timeout_s, fresh=True) for _ in range(want)),
                                   return_exceptions=True)
        self.idle.extend(c for c in got if isinstance(c, PooledConnection))
        return len(self.idle)


class StreamingClient:
    """Sends chat or completions requests with ``stream: true`` and records chunk arrival times.

    ``bulk_reads``: the server switches Nagle's algorithm off (TCP_NODELAY), so the client may read by peeking and
    empty its receive queue in bulk (``netio.PeekStream``; plain TCP on Linux 6.10+): the server's writes then
    coalesce and cost it less CPU, timing unchanged. A server that leaves Nagle on would wait for acknowledgements
    that a bulk reader holds back (up to the kernel's 40 ms delayed-ACK timer): off unless the server is known."""

    def __init__(self, base_url: str, model: str, *, api: str = "completions",
                 timeouts: Timeouts | None = None, sampling: Sampling | None = None,
                 api_key: str | None = None, length_control: str = "ignore_eos", bulk_reads: bool = False) -> None:
        parts = urlsplit(base_url if "://" in base_url else "http://" + base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"endpoint must be http(s)://host[:port][/path], got {base_url!r}")
        tls = parts.scheme == "https"
        path = parts.path.rstrip("/")
        if not path.endswith("/v1"):
            path += "/v1"
        self.path = path + ("/chat/completions" if api == "chat" else "/completions")
        self.host, self.port = parts.hostname, parts.port or (443 if tls else 80)
        self.url = f"{parts.scheme}://{parts.netloc}{self.path}"
        self.model, self.api = model, api
        self.timeouts = timeouts or Timeouts()
        self.sampling = sampling or Sampling()
        self.length_control = length_control
        host_header = parts.netloc.rsplit("@", 1)[-1]
        head = [f"POST {self.path} HTTP/1.1", f"Host: {host_header}", "Content-Type: application/json",
                "Accept: text/event-stream", "Connection: keep-alive"]
        if api_key:
            head.append(f"Authorization: Bearer {api_key}")
        self._head = ("\r\n".join(head) + "\r\n").encode()
        self._pool = _Pool(self.host, self.port, ssl.create_default_context() if tls else None, bulk_reads=bulk_reads)
        self.timestamps = self._pool.timestamps

    async def __aenter__(self) -> StreamingClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._pool.close()

    async def open_connections(self, n: int) -> int:
        """Open up to ``n`` keep-alive connections before a load starts (a closed loop opens one per stream), so
        no measured request waits for a connect that the server accepts only as its load allows; returns how
        many are open."""
        return await self._pool.fill(n, self.timeouts.connect_s)

    def body(self, *, prompt: str | None, messages: Any, max_tokens: int, extra: dict[str, Any] | None = None) -> bytes:
        """The JSON request body for one turn (built before its send time); ``extra`` fields come last (the
        model or adapter a traffic split's target addresses)."""
        payload: dict[str, Any] = {"model": self.model, "max_tokens": max_tokens, "stream": True,
                                   "stream_options": {"include_usage": True},
                                   "temperature": self.sampling.temperature}
        if self.api == "chat":
            payload["messages"] = list(messages)
        else:
            payload["prompt"] = prompt
        if self.sampling.ignore_eos and self.length_control == "generation_config":
            # transformers serve: no ignore_eos field; min_new_tokens = max_new_tokens forces the length
            payload["generation_config"] = orjson.dumps({
                "max_new_tokens": max_tokens, "min_new_tokens": max_tokens,
                "do_sample": self.sampling.temperature > 0}).decode()
        elif self.sampling.ignore_eos:
            payload["ignore_eos"] = True
            payload["min_tokens"] = max_tokens
        payload.update(self.sampling.extra_body)
        if extra:
            payload.update(extra)
        return orjson.dumps(payload)

    async def send(self, body: bytes, *, request_id: str) -> Outcome:
        """Send one streaming request; request failures become the status, never an exception.

        ``sent_ns`` is the moment the request is handed to the socket (after connecting, when a new
        connection was needed); TTFT and E2E count from there. There are no retries, with one
        transport-level exception every HTTP client makes: a pooled keep-alive connection that the
        server had already closed (the request met a closed socket and not one response byte came
        back) is replaced by a new connection and the request is sent on it, once.
        """
        data = b"".join((self._head, b"Content-Length: ", str(len(body)).encode(), b"\r\nX-Request-Id: ",
                         request_id.encode(), b"\r\n\r\n", body))
        fresh = False
        while True:
            out, conn = await self._exchange(data, fresh)
            stale = (conn is not None and conn.reused and out.status == "connection_error"
                     and out.http_status is None and not out.chunk_ns)
            if not stale or fresh:
                return out
            if conn is not None and conn.served:  # this server closes after each response: connect afresh from
                self._pool.reuse = False  # now on (a pre-opened connection it dropped unused says nothing of that)
                self._pool.close()
            fresh = True

    async def _exchange(self, data: bytes, fresh: bool) -> tuple[Outcome, PooledConnection | None]:
        loop = asyncio.get_running_loop()
        out = Outcome(sent_ns=now_ns())
        ex = Exchange(loop, out, self.api == "chat", self.timeouts)
        try:
            conn = await self._pool.acquire(self.timeouts.connect_s, fresh=fresh)
        except TimeoutError:
            ex.fail("timeout_connect", f"no connection within {self.timeouts.connect_s:g} s")
            return out, None
        except OSError as err:
            ex.fail("connection_error", f"connect failed: {err}")
            return out, None
        except asyncio.CancelledError:
            ex.fail("connection_error", "aborted: run interrupted")
            raise
        ex.conn = conn
        conn.ex = ex
        out.sent_ns = now_ns()
        ex.start(out.sent_ns)
        conn.write(data)
        try:
            await ex.future
        except asyncio.CancelledError:
            ex.fail("connection_error", "aborted: run interrupted")
            raise
        return out, conn
