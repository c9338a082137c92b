"""Reading by peeking (``netio.PeekStream``): every byte arrives once and in order, with its receive time, the
receive queue is emptied in bulk, a socket holding peeked bytes stays quiet until more come, and the peer's close
or reset is seen."""

from __future__ import annotations

import asyncio
import fcntl
import socket
import struct
import termios
import threading
import time
from collections.abc import Callable

import pytest
import uvloop

from inferboard.measure import netio
from inferboard.measure.netio import PeekStream, open_raw


def _peer(behave: Callable[[socket.socket], None]) -> tuple[int, threading.Thread]:
    """A one-connection TCP server on 127.0.0.1 that does ``behave`` with the accepted socket."""
    lsock = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with lsock:
            conn, _ = lsock.accept()
            with conn:
                behave(conn)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return lsock.getsockname()[1], t


def _queued(sock: socket.socket) -> int:
    """Bytes in the socket's receive queue (SIOCINQ)."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]


async def _receive(port: int, until: Callable[[bytes], bool], busy_s: float = 0.0,
                   rcvbuf: int | None = None) -> tuple[bytes, list[int], list[object], PeekStream]:
    """Connect (with a receive buffer of ``rcvbuf`` bytes if given), send b"go" (then keep the loop busy ``busy_s``:
    what the peer does meanwhile arrives together), hand on what arrives until ``until`` holds or the peer closes."""
    loop = asyncio.get_running_loop()
    got, stamps, closed = bytearray(), [], []
    done = loop.create_future()

    def on_data(data: bytes, ns: int) -> None:
        got.extend(data)
        stamps.append(ns)
        if until(bytes(got)) and not done.done():
            done.set_result(None)

    def on_close(exc: Exception | None) -> None:
        closed.append(exc)
        if not done.done():
            done.set_result(None)

    st = await open_raw(loop, (socket.AF_INET, 0, ("127.0.0.1", port)), 5, on_data, on_close, peek=True)
    assert isinstance(st, PeekStream), "this kernel peeks at an offset on TCP (Linux 6.10+)"
    if rcvbuf:
        st.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    st.write(b"go")
    time.sleep(busy_s)
    await asyncio.wait_for(done, 10)
    await asyncio.sleep(0.05)
    return bytes(got), stamps, closed, st


def test_every_byte_arrives_once_in_order_and_the_queue_empties_in_bulk() -> None:
    """2 MB in writes of 1 to 5,000 bytes: more than one read can take, and more than the receive buffer."""
    payload = bytes(i % 251 for i in range(2_000_000))

    def behave(conn: socket.socket) -> None:
        conn.recv(2)
        sizes = [1, 7, 300, 5000, 64, 1200]
        i = k = 0
        while i < len(payload):
            n = sizes[k % len(sizes)]
            conn.sendall(payload[i:i + n])
            i, k = i + n, k + 1
        time.sleep(0.5)  # the client checks its queue before the close

    port, t = _peer(behave)
    ends: list[int] = []

    async def go() -> tuple[bytes, list[int], list[object], PeekStream]:
        got = await _receive(port, lambda b: len(b) >= len(payload))
        ends.append(_queued(got[3].sock))
        return got

    got, stamps, closed, st = asyncio.run(go())
    t.join(5)
    assert got == payload and not closed
    assert stamps == sorted(stamps)  # kernel receive times, never out of order
    # what was peeked and not yet consumed is exactly what the kernel still holds: less than one bulk
    assert ends == [st.peeked] and 0 <= st.peeked < netio.CONSUME_BYTES


@pytest.mark.parametrize("together", [False, True])
@pytest.mark.parametrize("reset", [False, True])
def test_the_peers_close_and_reset_are_seen(reset: bool, together: bool) -> None:
    """Also when the data and the close are queued before the client reads (one readiness report for both)."""
    def behave(conn: socket.socket) -> None:
        conn.recv(2)
        conn.sendall(b"hello")
        if not together:
            time.sleep(0.1)
        if reset:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    port, t = _peer(behave)
    got, _, closed, st = asyncio.run(_receive(port, lambda b: False, busy_s=0.2 if together else 0.0))
    t.join(5)
    assert got == b"hello" and st.closed
    assert isinstance(closed[0], ConnectionResetError) if reset else closed == [None]


def _idle_reads(monkeypatch, run: Callable, rcvbuf: int | None, writes: int) -> tuple[int, int, int, int]:
    """Receive ``writes`` writes of 100 bytes (2 ms apart), then sit idle 0.3 s; returns the reads made while idle,
    the socket's low-water mark and queued bytes then, and how many bytes were handed on."""
    reads: list[int] = []
    real = PeekStream._read

    def counted(self: PeekStream):  # type: ignore[no-untyped-def]
        reads.append(1)
        return real(self)

    monkeypatch.setattr(PeekStream, "_read", counted)

    def behave(conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.recv(2)
        for _ in range(writes):
            conn.sendall(b"a" * 100)
            time.sleep(0.002)
        time.sleep(1)

    port, t = _peer(behave)

    async def go() -> tuple[int, int, int, int]:
        got, _, _, st = await _receive(port, lambda b: len(b) >= 100 * writes, rcvbuf=rcvbuf)
        start = len(reads)
        await asyncio.sleep(0.3)
        out = (len(reads) - start, st.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT), _queued(st.sock),
               len(got))
        st.close()
        return out

    out = run(go())
    t.join(5)
    return out


LOOPS = {"asyncio": asyncio.run, "uvloop": uvloop.run}


@pytest.mark.parametrize("loop", LOOPS)
def test_a_socket_holding_peeked_bytes_is_not_reported_again_until_more_come(monkeypatch, loop: str) -> None:
    """The event loop watches a PeekStream level-triggered: without its low-water mark one byte above what it has
    peeked, the unconsumed bytes would keep it readable and the loop would read it (in vain) at every turn."""
    idle, lowat, queued, got = _idle_reads(monkeypatch, LOOPS[loop], None, 10)
    assert got == 1000 and queued == 1000 and lowat == 1001  # under one bulk: peeked, handed on, still queued
    assert idle == 0


@pytest.mark.parametrize("loop", LOOPS)
def test_short_of_receive_memory_what_was_peeked_is_consumed(monkeypatch, loop: str) -> None:
    """A socket short of receive memory is readable whatever its low-water mark: the peek that finds nothing new
    consumes what was peeked, so the loop does not read it at every turn. (A 4 KiB receive buffer holding 40 small
    segments is short.)"""
    idle, lowat, queued, got = _idle_reads(monkeypatch, LOOPS[loop], 4096, 40)
    assert got == 4000 and queued < 4000 and lowat == queued + 1
    assert idle <= 1


def test_closing_with_peeked_bytes_queued_sends_a_fin_not_a_reset() -> None:
    seen: list[object] = []

    def behave(conn: socket.socket) -> None:
        conn.recv(2)
        conn.sendall(b"x" * 1000)  # peeked, never consumed: under one bulk
        try:
            seen.append(conn.recv(10))
        except OSError as err:
            seen.append(err)

    port, t = _peer(behave)

    async def go() -> None:
        _, _, _, st = await _receive(port, lambda b: len(b) >= 1000)
        assert st.peeked == 1000
        st.close()

    asyncio.run(go())
    t.join(5)
    assert seen == [b""]  # a reset would raise ConnectionResetError here


def test_the_client_reads_in_bulk_only_from_a_server_known_to_switch_nagle_off(server) -> None:
    """Bulk reads would stall a server that leaves Nagle on: a client reads in bulk only when told the server
    switches it off (a runner's api.tcp_nodelay, or run --server-nodelay), and says so in its provenance."""
    from inferboard.measure.client import StreamingClient
    from inferboard.measure.netio import RawStream

    server.configure(ttft_ms=1, itl_ms=0.5)

    async def kinds(bulk: bool) -> tuple[type, str, int]:
        async with StreamingClient(server.url, "m", bulk_reads=bulk) as c:
            out = await c.send(c.body(prompt="a b c", messages=None, max_tokens=20), request_id=f"bulk-{bulk}")
            (conn,) = c._pool.idle
            return type(conn.io), c.timestamps, len(out.chunk_ns)

    plain, plain_text, n_plain = asyncio.run(kinds(False))
    bulk, bulk_text, n_bulk = asyncio.run(kinds(True))
    assert plain is RawStream and bulk is PeekStream and n_plain == n_bulk == 20
    assert "peeked" not in plain_text and "peeked" in bulk_text


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_an_interrupt_in_the_turn_a_connect_completes_is_not_lost(monkeypatch, loop: str) -> None:
    """A run interrupted in the very loop turn its connect completes in stops: the cancellation is raised, not
    dropped (asyncio.wait_for on Python 3.11 returned the connection instead, and a SIGTERM'd load went on)."""
    lsock = socket.create_server(("127.0.0.1", 0))

    async def main() -> None:
        ev = asyncio.get_running_loop()
        real = ev.sock_connect
        connected = ev.create_future()
        tasks: list[asyncio.Task[object]] = []

        async def connect_then_interrupted(sock: socket.socket, addr: object) -> None:
            await real(sock, addr)
            connected.set_result(None)
            tasks[0].cancel()  # the signal handler's cancel lands as the connect's result is delivered

        monkeypatch.setattr(ev, "sock_connect", connect_then_interrupted)
        target = (socket.AF_INET, socket.IPPROTO_TCP, lsock.getsockname())
        task = asyncio.create_task(open_raw(ev, target, 5.0, lambda b, t: None, lambda e: None))
        tasks.append(task)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert connected.done()

    with lsock:
        (uvloop.run if loop == "uvloop" else asyncio.run)(main())
