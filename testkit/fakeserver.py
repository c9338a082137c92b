"""Fault-injecting OpenAI-compatible streaming server: a test fixture, never a benchmark default.

Run ``python testkit/fakeserver.py --port 0``; it prints ``PORT <n>`` once listening. Behaviour is set
with ``POST /_control`` (JSON, see ``Control``) and what it actually did is read back from
``GET /_records``: per request id (the ``X-Request-Id`` header), when the request's first byte was
read (``arrival_ns``), when each content chunk was written (``sent_ns``) and the fault it injected.
Clock: ``time.monotonic_ns()``, shared by every process on the machine.

``--workers N`` serves one port from N processes, ``--zero-delay`` and ``--parent``: testkit/fakeserver_procs.py.

It is built to stay out of the way of timing tests: one asyncio Protocol per connection (request
parsing by httptools) and one timer wheel for all streams, so a token costs a heap operation and a
socket write.

Faults (chosen per request by a seeded hash of its id, with the given probabilities, or forced per
id with ``fault_for``): ``reset`` (RST after 2 tokens), ``reset_before`` (RST before any response),
``http_429``, ``http_503``, ``stall_first`` (headers, then silence for ``stall_s``), ``stall_between``
(2 tokens, then silence), ``truncate`` (half the tokens, then a normal end), ``cut`` (half the tokens,
stream closed without ``[DONE]``), ``wrong_usage`` (usage reports 3 tokens more than sent),
``invalid_json`` (a malformed event), ``slow_total`` (a token every ``slow_itl_ms``).

Capacity model (off unless ``slots`` is set; testkit/fakecapacity.py): at most ``slots`` requests generate
at once; the rest wait in a FIFO queue and one starts when a slot frees (at the planned time of the
holder's last action, or when the holder's connection is lost). A started request's timeline is the
usual one counted from its start: headers at the start, first token ``ttft_ms`` later, then one every
``itl_ms``; so each holds a slot for ``ttft_ms + (n - 1) * itl_ms``. With ``queue_limit``, a request
that finds that many waiting gets an immediate 503 and is recorded with fault ``shed``. Records carry
``queued_ns`` (arrival) and ``start_ns`` (slot taken; None if it never got one); ``/metrics`` exports
``fake_requests_running`` (slot holders) and ``fake_requests_waiting`` (queue length). ``http_429``/
``http_503``/``reset_before`` faults never take a slot; ``zero_delay`` streams take no time and bypass the model.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import itertools
import os
import socket
import struct
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httptools
import orjson

from inferboard.measure.netio import RawStream

if __package__:  # imported as testkit.fakeserver
    from .fakeanswers import answer
    from .fakecapacity import Slots
    from .fakeserver_procs import run_server
else:  # run as a script, perhaps by runpy from elsewhere: its sibling modules are not on sys.path
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from fakeanswers import answer
    from fakecapacity import Slots
    from fakeserver_procs import run_server

FAULTS = ("reset", "reset_before", "http_429", "http_503", "stall_first", "stall_between", "truncate", "cut",
          "wrong_usage", "invalid_json", "slow_total")
_now = time.monotonic_ns
_SSE_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n")


@dataclass
class Control:
    ttft_ms: float = 50.0
    itl_ms: float = 10.0
    zero_delay: bool = False  # write each whole stream at once (client capacity benchmark)
    faults: dict[str, float] = field(default_factory=dict)
    fault_seed: int = 0
    stall_s: float = 3600.0
    slow_itl_ms: float = 200.0
    record_chunks: bool = True
    fault_for: dict[str, str] = field(default_factory=dict)
    close_after_response: bool = False  # close keep-alive connections without saying so (like some servers)
    slots: int | None = None  # decode slots: at most this many requests generate at once (None: unlimited)
    queue_limit: int | None = None  # with slots: shed (503) a request that finds this many waiting
    answers: str = "reference"  # non-streaming requests (the accuracy gate): testkit/fakeanswers.py


def _fault(ctrl: Control, rid: str) -> str | None:
    if rid in ctrl.fault_for:
        return ctrl.fault_for[rid]
    if not ctrl.faults:
        return None
    u = struct.unpack(">Q", hashlib.sha256(f"{ctrl.fault_seed}:{rid}".encode()).digest()[:8])[0] / 2**64
    acc = 0.0
    for name, p in sorted(ctrl.faults.items()):
        acc += p
        if u < acc:
            return name
    return None


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _event(obj: Any) -> bytes:
    return _chunk(b"data: " + orjson.dumps(obj) + b"\n\n")


def _delta(chat: bool, model: str, text: str | None, finish: str | None = None) -> bytes:
    if chat:
        choice = {"index": 0, "delta": {"content": text} if text else {"role": "assistant", "content": ""},
                  "finish_reason": finish}
        obj = "chat.completion.chunk"
    else:
        choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}
        obj = "text_completion"
    return _event({"id": "x", "object": obj, "created": 0, "model": model, "choices": [choice]})


def _json_response(status: int, obj: Any) -> bytes:
    body = orjson.dumps(obj)
    reason = {200: "OK", 404: "Not Found", 409: "Conflict", 429: "Too Many Requests",
              503: "Service Unavailable"}.get(status, "X")
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


class Server:
    """Shared state: control, records and the timer wheel that emits every stream's chunks."""

    def __init__(self, ctrl: Control, workers: int = 1) -> None:
        self.ctrl = ctrl
        self.workers = workers
        self.slots: Slots | None = None
        self.records: dict[str, dict[str, Any]] = {}
        self.heap: list[tuple[int, int, Stream]] = []
        self.seq = itertools.count()
        self.timer: asyncio.TimerHandle | None = None
        self.timer_due = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.anon = itertools.count()

    def schedule(self, stream: Stream) -> None:
        due = stream.next_due()
        if due is None:
            return
        heapq.heappush(self.heap, (due, next(self.seq), stream))
        if self.timer is None or due < self.timer_due:
            self._arm(due)

    def _arm(self, due: int) -> None:
        assert self.loop is not None
        if self.timer is not None:
            self.timer.cancel()
        self.timer_due = due
        self.timer = self.loop.call_later(max(0.0, (due - _now()) / 1e9), self._tick)

    def _tick(self) -> None:
        self.timer = None
        heap = self.heap
        now = _now()
        while heap and heap[0][0] <= now + 100_000:  # due within 0.1 ms
            _, _, stream = heapq.heappop(heap)
            stream.step()
            due = stream.next_due()
            if due is not None:
                heapq.heappush(heap, (due, next(self.seq), stream))
            now = _now()
        if heap:
            self._arm(heap[0][0])


class Stream:
    """The planned actions of one streaming response: (ns after its start, kind, bytes, is_token).

    ``state``: new, waiting (for a slot of ``slots``), running (scheduled from ``t0``), done. Its last
    action, or the loss of its connection, ends it: it leaves the queue or frees its slot.
    """

    def __init__(self, conn: Connection, rec: dict[str, Any], actions: list[tuple[int, str, bytes, bool]],
                 slots: Slots | None) -> None:
        self.conn, self.rec, self.actions, self.i, self.slots = conn, rec, actions, 0, slots
        self.t0, self.state = 0, "new"

    def start(self, t0: int) -> None:
        self.t0, self.state = t0, "running"
        self.rec["start_ns"] = t0
        self.conn.server.schedule(self)

    def finish(self, at: int) -> None:
        state, self.state = self.state, "done"
        if self.rec["end_ns"] is None:
            self.rec["end_ns"] = _now()
        if self.slots is not None and state == "waiting":
            self.slots.leave(self)
        elif self.slots is not None and state == "running":
            self.slots.release(at)

    def next_due(self) -> int | None:
        if self.state != "running" or self.i >= len(self.actions):
            return None
        return self.t0 + self.actions[self.i][0]

    def step(self) -> None:
        due, kind, data, token = self.actions[self.i]
        self.i += 1
        conn = self.conn
        if conn.closed:  # closed by this server (lost connections finish at once)
            self.finish(_now())
            return
        if kind == "rst":
            self.rec["end_ns"] = _now()
            conn.rst()
            self.finish(self.t0 + due)
            return
        if token and conn.server.ctrl.record_chunks:
            self.rec["sent_ns"].append(_now())
        conn.write(data)
        if kind == "end":
            self.rec["end_ns"] = _now()
            conn.busy = False
            if conn.server.ctrl.close_after_response:
                conn.stream.close()
            self.finish(self.t0 + due)


class Connection:
    """One client connection on a raw non-blocking socket (``inferboard.measure.netio.RawStream``).

    Reads carry the kernel's receive time, so a request's arrival is when its bytes reached the
    machine, not when this busy event loop got round to them. Requests are parsed by httptools.
    """

    def __init__(self, server: Server, sock: socket.socket) -> None:
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.busy = False
        self.now = 0
        self.current: Stream | None = None
        assert server.loop is not None
        self.stream = RawStream(server.loop, sock, self._data, self._lost)

    @property
    def closed(self) -> bool:
        return self.stream.closed

    def _data(self, data: bytes, now: int) -> None:
        self.now = now
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.stream.close()

    def _lost(self, exc: Exception | None) -> None:
        if self.current is not None:  # a queued request leaves the queue; a running one frees its slot
            self.current.finish(_now())

    def write(self, data: bytes) -> None:
        self.stream.write(data)

    def rst(self) -> None:
        self.stream.close(reset=True)

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.arrival = self.now
        self.headers: dict[bytes, bytes] = {}
        self.body: list[bytes] = []

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        method = self.parser.get_method()
        path = self.url.split(b"?")[0]
        body = b"".join(self.body)
        if path in (b"/v1/completions", b"/v1/chat/completions") and method == b"POST":
            req, chat = orjson.loads(body), path.endswith(b"/chat/completions")
            if req.get("stream") is False:
                self.write(_json_response(200, answer(self.server.ctrl.answers, chat, req)))
            else:
                self.generate(chat, req)
        elif path in (b"/_control", b"/_records", b"/metrics") and self.server.workers > 1:
            self.write(_json_response(409, {"error": {"message": "several workers: set behaviour with flags"}}))
        elif path == b"/_control":
            ctrl = self.server.ctrl = Control(**orjson.loads(body))
            self.server.slots = Slots(ctrl.slots, ctrl.queue_limit) if ctrl.slots is not None else None
            self.server.records = {}  # requests in flight finish on the slots they were admitted to
            self.write(_json_response(200, asdict(self.server.ctrl)))
        elif path == b"/_records":
            self.write(_json_response(200, self.server.records))
        elif path in (b"/health", b"/v1/models"):
            self.write(_json_response(200, {"object": "list", "data": [{"id": "fake"}]}))
        elif path == b"/metrics":
            slots = self.server.slots
            running = (slots.running if slots is not None
                       else sum(1 for r in self.server.records.values() if r.get("end_ns") is None))
            waiting = len(slots.waiting) if slots is not None else 0
            text = (f"# TYPE fake_requests_running gauge\nfake_requests_running {running}\n"
                    f"# TYPE fake_requests_waiting gauge\nfake_requests_waiting {waiting}\n"
                    f"# TYPE fake_requests_total counter\nfake_requests_total {len(self.server.records)}\n").encode()
            self.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                                 % (len(text), text))
        else:
            self.write(_json_response(404, {"error": {"message": "not found"}}))

    def generate(self, chat: bool, body: dict[str, Any]) -> None:
        srv = self.server
        ctrl = srv.ctrl
        rid = self.headers.get(b"x-request-id", b"").decode() or f"anon-{next(srv.anon)}"
        model = body.get("model", "fake")
        n = int(body.get("max_tokens") or 16)
        fault = _fault(ctrl, rid)
        arrival = self.arrival
        rec: dict[str, Any] = {"arrival_ns": arrival, "queued_ns": arrival, "start_ns": None, "sent_ns": [],
                               "fault": fault, "max_tokens": n, "end_ns": None, "model": model,
                               "lora": body.get("lora")}
        if srv.workers == 1:  # several workers' records could never be read (409)
            srv.records[rid] = rec
        if fault == "reset_before":
            rec["end_ns"] = _now()
            self.rst()
            return
        if fault in ("http_429", "http_503"):
            status = 429 if fault == "http_429" else 503
            rec["end_ns"] = _now()
            self.write(_json_response(status, {"error": {"message": f"injected {status}"}}))
            return
        tok = _delta(chat, model, " tok")
        send_n = max(1, n // 2) if fault in ("truncate", "cut") else n
        usage_n = send_n + 3 if fault == "wrong_usage" else send_n
        prompt = body.get("prompt") or " ".join(str(m.get("content", "")) for m in body.get("messages", []))
        n_in = len(str(prompt).split())
        usage = _event({"id": "x", "object": "chat.completion.chunk" if chat else "text_completion", "created": 0,
                        "model": model, "choices": [],
                        "usage": {"prompt_tokens": n_in, "completion_tokens": usage_n,
                                  "total_tokens": n_in + usage_n}})
        tail = _delta(chat, model, None, "length") + usage + _chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n"
        if ctrl.zero_delay and fault is None:
            head = _SSE_HEAD + (_delta(chat, model, None) if chat else b"")
            rec["start_ns"] = arrival
            rec["sent_ns"].append(_now())
            self.write(head + tok * n + tail)
            rec["end_ns"] = _now()
            return
        acts: list[tuple[int, str, bytes, bool]] = [(0, "write", _SSE_HEAD + (_delta(chat, model, None) if chat
                                                                               else b""), False)]
        itl = int((ctrl.slow_itl_ms if fault == "slow_total" else ctrl.itl_ms) * 1e6)
        stall = int(ctrl.stall_s * 1e9)
        t = int(ctrl.ttft_ms * 1e6)
        for i in range(send_n):
            if (fault == "stall_first" and i == 0) or (fault == "stall_between" and i == 2):
                t += stall
            if fault == "reset" and i == 2:
                acts.append((t, "rst", b"", False))
                break
            if fault == "invalid_json" and i == 1:
                acts.append((t, "write", _chunk(b"data: {not json\n\n"), False))
            else:
                acts.append((t, "write", tok, True))
            t += itl
        else:
            t -= itl
            if fault == "cut":
                acts.append((t, "end", b"0\r\n\r\n", False))
            else:
                acts.append((t, "end", tail, False))
        self.busy = True
        stream = self.current = Stream(self, rec, acts, srv.slots)
        if srv.slots is None:
            stream.start(arrival)
        elif not srv.slots.admit(stream, arrival):
            stream.state = "done"
            rec["fault"], rec["end_ns"] = "shed", _now()
            self.write(_json_response(503, {"error": {"message": "queue full: shed"}}))


async def serve(lsock: socket.socket, ctrl: Control, workers: int) -> None:
    """Accept on ``lsock`` and serve each connection; ``workers`` processes serve the port in all."""
    server = Server(ctrl, workers)
    loop = server.loop = asyncio.get_running_loop()
    conns: set[Connection] = set()
    while True:
        sock, _ = await loop.sock_accept(lsock)
        conns = {c for c in conns if not c.closed}
        conns.add(Connection(server, sock))


def main() -> None:
    run_server(lambda lsock, zero_delay, workers: serve(
        lsock, Control(zero_delay=zero_delay, record_chunks=not zero_delay), workers))


if __name__ == "__main__":
    main()
