"""The fake server's capacity model (``Control.slots``/``queue_limit``) behaves as its analytic model says.

With S slots, TTFT T, ITL I and n output tokens a request holds its slot for ``service = T + (n-1)*I``,
so a burst of K > S drains in ceil(K/S) services. A queued request starts at the *planned* end of the
slot holder it replaces (the server's own clock, not its late timer), so start times are compared
exactly, in integer nanoseconds, and the tests do not depend on how busy the machine is. The only
slack is the burst's own arrival spread (the first S start at their arrival), which is measured.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.request
from typing import Any

from inferboard.measure.client import StreamingClient
from inferboard.measure.exchange import Outcome

MS = 1_000_000


def _service_ns(ttft_ms: int, itl_ms: int, n: int) -> int:
    return (ttft_ms + (n - 1) * itl_ms) * MS


def _metrics(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return {k: float(v) for k, v in (line.split() for line in text.splitlines() if not line.startswith("#"))}


async def _burst(url: str, rids: list[str], n: int) -> list[Outcome]:
    """Fire every request at once, each on its own connection of the project's streaming client."""
    async with StreamingClient(url, "m") as client:
        body = client.body(prompt="hello world", messages=None, max_tokens=n)
        return await asyncio.gather(*(client.send(body, request_id=r) for r in rids))


def _in_server_order(records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return list(records.values())  # the server inserts a request's record when it handles it


def _post(port: int, rid: str, n: int) -> socket.socket:
    """Send one streaming completion on a raw socket and return the socket, unread."""
    body = json.dumps({"model": "m", "prompt": "hi", "max_tokens": n, "stream": True}).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"X-Request-Id: %s\r\nContent-Length: %d\r\n\r\n%s" % (rid.encode(), len(body), body))
    return sock


def _read_stream(sock: socket.socket) -> bytes:
    """Read a chunked SSE response to its terminating chunk."""
    data = b""
    while not data.endswith(b"\r\n0\r\n\r\n"):
        got = sock.recv(65536)
        if not got:
            break
        data += got
    sock.close()
    return data


def _wait_for(pred: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, "timed out waiting for the server"
        time.sleep(0.002)


def test_a_burst_drains_at_slots_per_service_time(server) -> None:
    S, K, T, ITL, n = 2, 7, 100, 10, 11
    service = _service_ns(T, ITL, n)  # 200 ms; 7 requests on 2 slots: 4 rounds
    server.configure(ttft_ms=T, itl_ms=ITL, slots=S)
    outs = asyncio.run(_burst(server.url, [f"b{k}" for k in range(K)], n))
    assert [o.status for o in outs] == ["ok"] * K
    recs = _in_server_order(server.records())
    assert len(recs) == K and all(r["start_ns"] is not None and r["fault"] is None for r in recs)
    s = sorted(r["start_ns"] for r in recs)
    assert max(r["queued_ns"] for r in recs) < s[0] + service  # it was a burst: all queued before a slot freed
    spread = s[S - 1] - s[0]  # the first S start at their own arrival
    assert spread < service
    for k in range(K):
        assert 0 <= s[k] - s[0] - (k // S) * service <= spread, k
        if k >= S:
            assert s[k] - s[k - S] == service, k  # a freed slot is taken at its holder's planned end
    # at most S hold a slot at any moment, and S do while the queue drains
    assert max(sum(t <= u < t + service for t in s) for u in s) == S
    # FIFO: queued requests start in the order the server took them
    queued = [r["start_ns"] for r in recs[S:]]
    assert queued == sorted(queued)
    for r in recs:  # every request ran the normal timeline from its start, never early
        assert r["queued_ns"] <= r["start_ns"] and len(r["sent_ns"]) == n
        assert r["sent_ns"][0] - r["start_ns"] >= T * MS - MS // 10
        assert r["sent_ns"][-1] - r["start_ns"] >= service - MS // 10
        assert r["end_ns"] >= r["sent_ns"][-1]


def test_queue_limit_sheds_what_exceeds_slots_plus_queue(server) -> None:
    S, L, K, T = 2, 3, 9, 300
    service = _service_ns(T, 0, 1)
    server.configure(ttft_ms=T, itl_ms=5, slots=S, queue_limit=L)
    rids = [f"q{k}" for k in range(K)]
    outs = dict(zip(rids, asyncio.run(_burst(server.url, rids, 1)), strict=True))
    records = server.records()
    recs = _in_server_order(records)
    first = min(r["start_ns"] for r in recs if r["start_ns"] is not None)
    assert max(r["queued_ns"] for r in recs) < first + service  # all arrived before a slot freed
    assert [r["fault"] for r in recs] == [None] * (S + L) + ["shed"] * (K - S - L)
    for rid, r in records.items():
        out = outs[rid]
        if r["fault"] == "shed":
            assert r["start_ns"] is None and not r["sent_ns"]
            assert out.status == "http_error" and out.http_status == 503
            assert out.end_ns is not None and out.end_ns < first + service  # refused at once, not queued
        else:
            assert out.status == "ok" and r["start_ns"] is not None
    starts = sorted(r["start_ns"] for r in recs if r["start_ns"] is not None)
    assert starts[S:] == [t + service for t in starts[:L]]


def test_metrics_report_running_and_waiting_during_a_burst(server) -> None:
    S, K, T = 2, 6, 600
    service = _service_ns(T, 0, 1)
    server.configure(ttft_ms=T, itl_ms=5, slots=S)
    seen: list[tuple[int, dict[str, float]]] = []

    def watch() -> None:
        _wait_for(lambda: _metrics(server.url)["fake_requests_total"] == K)
        seen.append((time.monotonic_ns(), _metrics(server.url)))
        _wait_for(lambda: _metrics(server.url)["fake_requests_waiting"] < K - S)
        seen.append((time.monotonic_ns(), _metrics(server.url)))

    async def go() -> list[Outcome]:
        burst = asyncio.create_task(_burst(server.url, [f"m{k}" for k in range(K)], 1))
        await asyncio.to_thread(watch)
        return await burst

    assert [o.status for o in asyncio.run(go())] == ["ok"] * K
    first = min(r["start_ns"] for r in server.records().values())
    (t_all, all_in), (t_next, next_round) = seen
    assert t_all < first + service  # read before any slot freed
    assert all_in["fake_requests_running"] == S and all_in["fake_requests_waiting"] == K - S
    assert t_next < first + 2 * service  # read during the second round
    assert next_round["fake_requests_running"] == S and next_round["fake_requests_waiting"] == K - 2 * S
    after = _metrics(server.url)
    assert after["fake_requests_running"] == 0 and after["fake_requests_waiting"] == 0


def test_a_client_that_leaves_the_queue_frees_its_place(server) -> None:
    T = 400
    service = _service_ns(T, 0, 1)
    server.configure(ttft_ms=T, itl_ms=5, slots=1)
    socks = {}
    for rid in ("a", "b", "c"):  # one at a time, so the queue order is a, b, c
        socks[rid] = _post(server.port, rid, 1)
        _wait_for(lambda rid=rid: rid in server.records())
    m = _metrics(server.url)
    assert m["fake_requests_running"] == 1 and m["fake_requests_waiting"] == 2
    socks["b"].close()  # b gives up while queued
    _wait_for(lambda: _metrics(server.url)["fake_requests_waiting"] == 1)
    assert b"[DONE]" in _read_stream(socks["a"]) and b"[DONE]" in _read_stream(socks["c"])
    recs = server.records()
    a, b, c = recs["a"], recs["b"], recs["c"]
    assert c["queued_ns"] < a["start_ns"] + service  # c was waiting behind b when a's slot freed
    assert b["start_ns"] is None and b["end_ns"] is not None and not b["sent_ns"]
    assert c["start_ns"] == a["start_ns"] + service  # c, not b, took a's slot when it freed
    assert c["sent_ns"][0] - c["start_ns"] >= T * MS - MS // 10
    m = _metrics(server.url)
    assert m["fake_requests_running"] == 0 and m["fake_requests_waiting"] == 0


def test_a_client_that_leaves_while_generating_frees_its_slot(server) -> None:
    T = 1000
    server.configure(ttft_ms=T, itl_ms=5, slots=1)
    a = _post(server.port, "a", 1)
    _wait_for(lambda: "a" in server.records())
    b = _post(server.port, "b", 1)
    _wait_for(lambda: "b" in server.records())
    a.recv(4096)  # a's headers (written when it took its slot): a holds the slot
    a.close()
    _wait_for(lambda: server.records()["b"]["start_ns"] is not None)
    assert b"[DONE]" in _read_stream(b)
    recs = server.records()
    ra, rb = recs["a"], recs["b"]
    assert not ra["sent_ns"] and ra["end_ns"] is not None  # a ended at its loss, without a token
    assert rb["start_ns"] - ra["start_ns"] < T * MS  # b did not wait for a's planned end
    assert 0 <= ra["end_ns"] - rb["start_ns"] < MS  # b started when a's loss was seen
    assert rb["sent_ns"][0] - rb["start_ns"] >= T * MS - MS // 10


def test_faults_under_the_capacity_model(server) -> None:
    """An HTTP-error fault takes no slot; a reset holds its slot until its planned reset."""
    T, ITL, n = 100, 20, 5
    server.configure(ttft_ms=T, itl_ms=ITL, slots=1, fault_for={"e": "http_503", "r": "reset"})
    socks = {}
    for rid in ("r", "e", "x"):
        socks[rid] = _post(server.port, rid, n)
        _wait_for(lambda rid=rid: rid in server.records())
    assert b" 503 " in socks["e"].recv(4096)  # answered at once although the only slot is held
    assert b"[DONE]" in _read_stream(socks["x"])
    socks["r"].close()
    socks["e"].close()
    recs = server.records()
    r, e, x = recs["r"], recs["e"], recs["x"]
    assert e["fault"] == "http_503" and e["start_ns"] is None
    assert r["fault"] == "reset" and len(r["sent_ns"]) == 2
    assert x["start_ns"] == r["start_ns"] + (T + 2 * ITL) * MS  # the reset is r's last planned action
