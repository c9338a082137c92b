"""Every issued request becomes exactly one record with the right status, whatever the server does."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from pathlib import Path

import pytest

from inferboard.measure.client import StreamingClient
from inferboard.scenario.workload import Timeouts
from testkit.cell_runs import requests_rows, run, workload
from testkit.fakeserver import FAULTS

EXPECTED = {
    None: "ok", "wrong_usage": "ok", "reset": "connection_error", "reset_before": "connection_error",
    "http_429": "http_error", "http_503": "http_error", "stall_first": "timeout_first_token",
    "stall_between": "timeout_between_chunks", "truncate": "truncated", "cut": "truncated",
    "invalid_json": "invalid_response", "slow_total": "timeout_total",
}
TIMEOUTS = {"connect_s": 2, "first_token_s": 1.0, "between_chunks_s": 0.5, "total_s": 2.5}


def test_each_fault_gets_its_status_and_every_request_a_row(server, tmp_path: Path) -> None:
    assert set(EXPECTED) - {None} == set(FAULTS)  # every fault the test server knows is covered
    faults = {f: 0.05 for f in EXPECTED if f}
    server.configure(ttft_ms=20, itl_ms=5, faults=faults, fault_seed=3, stall_s=5)
    w = workload(load={"kind": "concurrency", "concurrency": [16]}, requests=240, timeouts=TIMEOUTS)
    rows = run(server.url, tmp_path, w)
    reqs = requests_rows(tmp_path)
    truth = server.records()
    assert len(reqs) == 240 == len(truth)  # issued == recorded == seen by the server
    assert {r["request_id"] for r in reqs} == set(truth)
    seen = set()
    for r in reqs:
        fault = truth[r["request_id"]]["fault"]
        seen.add(fault)
        assert r["status"] == EXPECTED[fault], (fault, r["status"], r["error"])
        assert r["usage_mismatch"] is (fault == "wrong_usage")
        if r["status"] != "ok":
            assert r["error"] and r["ttft_ms"] is None and r["e2e_ms"] is None
        if fault in ("http_429", "http_503"):
            assert r["http_status"] == int(fault[-3:]) and "injected" in r["error"]
        elapsed = (r["end_ns"] - r["sent_ns"]) / 1e9
        if fault == "stall_first":  # a stall ends at its timeout, not at the server's whim
            assert 1.0 <= elapsed < 1.3
        if fault == "stall_between":
            assert 0.5 + 0.02 <= elapsed < 0.5 + 0.3
        if fault == "slow_total":
            assert 2.5 <= elapsed < 2.8
        if fault == "cut":
            assert r["done_marker"] is False and "without [DONE]" in r["error"]
    assert seen == set(EXPECTED)
    (trial,) = [x for x in rows if x["row_kind"] == "trial"]
    assert trial["requests_total"] == 240 and trial["requests_failed"] == sum(r["status"] != "ok" for r in reqs)
    assert trial["valid"] is False and "error rate" in trial["invalid_reason"]
    assert "usage_mismatch" in trial["flags"]


def test_a_small_error_rate_keeps_the_cell_valid(server, tmp_path: Path) -> None:
    server.configure(ttft_ms=5, itl_ms=1, fault_for={"t0-p0-000050": "http_503"})
    rows = run(server.url, tmp_path, workload(requests=120, load={"kind": "concurrency", "concurrency": [8]}))
    trial = rows[0]
    assert trial["requests_failed"] == 1 and trial["error_rate"] == pytest.approx(1 / 120)
    assert trial["valid"] is True


def _client(url: str, **t: float) -> StreamingClient:
    return StreamingClient(url, "m", timeouts=Timeouts(**t))


def test_connection_refused_is_a_connection_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused

    async def go():
        async with _client(f"http://127.0.0.1:{port}") as c:
            return await c.send(b"{}", request_id="x")

    out = asyncio.run(go())
    assert out.status == "connection_error" and "connect" in out.error


def test_connect_timeout() -> None:
    # A listener whose accept queue is full and never drained: further SYNs are dropped.
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    fillers = []
    for _ in range(4):
        f = socket.socket()
        f.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            f.connect(("127.0.0.1", port))
        fillers.append(f)

    async def go():
        async with _client(f"http://127.0.0.1:{port}", connect_s=0.3) as c:
            return await c.send(b"{}", request_id="x")

    try:
        out = asyncio.run(go())
    finally:
        for f in fillers:
            f.close()
        lsock.close()
    assert out.status == "timeout_connect", out
    assert 0.3 <= (out.end_ns - out.sent_ns) / 1e9 < 1.0


def test_error_event_and_garbage_are_invalid_responses(tmp_path: Path) -> None:
    """A stream that carries an OpenAI error object instead of choices is not a success."""
    body = b"data: " + json.dumps({"error": {"message": "boom"}}).encode() + b"\n\ndata: [DONE]\n\n"
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    port = lsock.getsockname()[1]

    async def serve_once() -> None:
        loop = asyncio.get_running_loop()
        lsock.setblocking(False)
        conn, _ = await loop.sock_accept(lsock)
        await loop.sock_recv(conn, 65536)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n" % len(body)
        await loop.sock_sendall(conn, head + body)
        conn.close()

    async def go():
        task = asyncio.create_task(serve_once())
        async with _client(f"http://127.0.0.1:{port}") as c:
            out = await c.send(b"{}", request_id="x")
        await task
        return out

    out = asyncio.run(go())
    lsock.close()
    assert out.status == "invalid_response" and "boom" in out.error


def test_keep_alive_connections_closed_by_the_server_are_replaced(server, tmp_path: Path) -> None:
    """A server that silently closes each connection after responding (llama-server does) costs no request."""
    server.configure(ttft_ms=1, itl_ms=1, close_after_response=True)
    run(server.url, tmp_path, workload(requests=30, load={"kind": "concurrency", "concurrency": [2]}))
    reqs = requests_rows(tmp_path)
    assert [r["status"] for r in reqs] == ["ok"] * 30
    assert len(server.records()) == 30  # nothing was sent twice
