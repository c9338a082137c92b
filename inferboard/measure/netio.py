"""Non-blocking sockets read with the kernel's receive timestamp (Linux ``SO_TIMESTAMPNS``).

A timestamp taken when the event loop gets round to a socket is late by however busy the loop is.
The kernel stamps every received segment; ``recvmsg`` returns the stamp of the last segment read,
converted here from CLOCK_REALTIME to the monotonic clock (the offset is read at the same moment, so
clock slewing cannot accumulate). Where the platform has no such stamp the read time is used.

A client whose server switches Nagle's algorithm off may read through PeekStreams (Linux 6.10+): each arrival is
peeked and stamped at once, but the receive queue is emptied in bulk, so the kernel stops acknowledging from
inside the server's send calls (on loopback the receiver's TCP runs on the sender's CPU) and the server's writes
coalesce as they do for a busier client. Against one core's test server that cut the server's CPU per request
from 0.367 to 0.310 ms (psutil sampling, side by side) and its data segments per request from 68 to 25
(``benchmarks/peer_compare.py``; read from CPU clocks it is now 0.285 ms against vLLM bench's 0.282), timing
unchanged; against a server that leaves Nagle on it would hold back the acknowledgements that server waits for.
A PeekStream is watched by the event loop like any socket: its low-water mark keeps it quiet until new bytes
come (an edge-triggered epoll of the pool's own, which it replaced, ran a second wake-up callback per arrival on
the sender's core).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # 35 on Linux (x86-64 and arm64)
KERNEL_TIMESTAMPS = sys.platform.startswith("linux")
_CMSG_SPACE = socket.CMSG_SPACE(16) if hasattr(socket, "CMSG_SPACE") else 0
_READ_SIZE = 262144
SO_PEEK_OFF = getattr(socket, "SO_PEEK_OFF", 42)  # 42 on Linux (x86-64 and arm64)
#: a PeekStream consumes what it has peeked once this much is waiting (a few dozen SSE events): well under the
#: receive buffer (131,072 bytes to start with, each small segment taking about 1 KiB of it)
CONSUME_BYTES = 4096
_SINK = bytearray(_READ_SIZE)  # the target of MSG_TRUNC reads, which TCP discards in the kernel: nothing is copied
_now = time.monotonic_ns
_wall = time.time_ns


def enable_rx_timestamps(sock: socket.socket) -> bool:
    """Ask the kernel to stamp received data on ``sock``; False where unsupported."""
    if not KERNEL_TIMESTAMPS:
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


class RawStream:
    """A connected non-blocking TCP socket on the event loop: stamped reads, buffered writes.

    ``on_data(data, ns)`` gets each read with its monotonic receive time; ``on_close(exc)`` is called
    once when the peer closes (exc None) or the socket fails.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, on_data: Callable[[bytes, int], None],
                 on_close: Callable[[Exception | None], None]) -> None:
        self.loop, self.sock, self.fd = loop, sock, sock.fileno()
        self.on_data, self.on_close = on_data, on_close
        self.closed = False
        self._out = bytearray()
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.stamped = enable_rx_timestamps(sock)
        loop.add_reader(self.fd, self._readable)

    def _read(self) -> tuple[bytes, Any]:
        if self.stamped:
            data, anc, _, _ = self.sock.recvmsg(_READ_SIZE, _CMSG_SPACE)
            return data, anc
        return self.sock.recv(_READ_SIZE), ()

    def _readable(self) -> None:
        try:
            data, anc = self._read()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            self._lost(err)
            return
        now = _now()
        if not data:
            self._lost(None)
            return
        for level, kind, cdata in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(cdata) >= 16:
                sec, nsec = struct.unpack("qq", cdata[:16])
                stamp = sec * 1_000_000_000 + nsec - (_wall() - _now())
                if stamp < now:
                    now = stamp
        self.on_data(data, now)

    def write(self, data: bytes) -> None:
        """Send ``data``; what the socket cannot take now is sent when it becomes writable."""
        if self.closed:
            return
        if self._out:
            self._out += data
            return
        try:
            n = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError as err:
            self._lost(err)
            return
        if n < len(data):
            self._out += data[n:]
            self.loop.add_writer(self.fd, self._writable)

    def _writable(self) -> None:
        try:
            n = self.sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            self._lost(err)
            return
        del self._out[:n]
        if not self._out:
            self.loop.remove_writer(self.fd)

    def _lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self.close()
            self.on_close(exc)

    def close(self, *, reset: bool = False) -> None:
        """Close the socket (with ``reset``, send an RST instead of a FIN)."""
        if self.closed:
            return
        self.closed = True
        self.loop.remove_reader(self.fd)
        if self._out:
            self.loop.remove_writer(self.fd)
        if reset:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


async def resolve(loop: asyncio.AbstractEventLoop, host: str, port: int) -> tuple[int, int, Any]:
    """(family, proto, sockaddr) of ``host:port`` (resolve once per pool: getaddrinfo runs in a thread)."""
    family, _, proto, _, addr = (await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM))[0]
    return family, proto, addr


async def open_raw(loop: asyncio.AbstractEventLoop, target: tuple[int, int, Any], timeout_s: float,
                   on_data: Callable[[bytes, int], None], on_close: Callable[[Exception | None], None], *,
                   peek: bool = False) -> RawStream:
    """Connect to a resolved ``target`` within ``timeout_s`` (TimeoutError) and return a RawStream; with ``peek``, a
    PeekStream where the kernel can peek at an offset on TCP (Linux 6.10+)."""
    family, proto, addr = target
    sock = socket.socket(family, socket.SOCK_STREAM, proto)
    sock.setblocking(False)
    try:
        # not asyncio.wait_for: on Python 3.11 it returns the result, dropping the cancellation, when a run is
        # interrupted in the loop turn its connect completes in (a server that closes after each response
        # connects once per request), and the load goes on after a SIGTERM
        async with asyncio.timeout(timeout_s):
            await loop.sock_connect(sock, addr)
    except BaseException:
        sock.close()
        raise
    if peek and _peek_from_start(sock):
        return PeekStream(loop, sock, on_data, on_close)
    return RawStream(loop, sock, on_data, on_close)


def _peek_from_start(sock: socket.socket) -> bool:
    """Make ``sock``'s peeks continue from where the last one ended (``SO_PEEK_OFF``); False where the kernel
    cannot do that for TCP (before Linux 6.10)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_PEEK_OFF, 0)
    except OSError:
        return False
    return True


@functools.cache
def can_peek() -> bool:
    """Whether this kernel peeks at an offset on TCP: then a bulk-reading pool's sockets are PeekStreams."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return _peek_from_start(sock)


class PeekStream(RawStream):
    """A RawStream that reads by peeking and consumes in bulk.

    Each arrival is peeked (``MSG_PEEK`` from the socket's peek offset) as soon as it comes, with its kernel
    receive time, and handed on at once; the bytes leave the receive queue only once ``CONSUME_BYTES`` have been
    peeked (``MSG_TRUNC``: discarded in the kernel). A reader that empties the queue at every arrival makes the
    kernel acknowledge every couple of small segments from inside the server's own send call (on loopback the
    receiver's TCP runs there); a queue that empties in bulk is acknowledged from this process's reads instead.

    A peeked socket still holds data, so the socket's low-water mark (``SO_RCVLOWAT``) is kept one byte above
    what has been peeked: the event loop's own watch reports it readable only when something new has come, or the
    peer closed, or an error, or the kernel is short of receive memory (then what was peeked is consumed at once).
    The mark stays under ``CONSUME_BYTES``: the kernel grows the receive buffer (and may clamp the window) for a
    mark only when the mark's bytes would take more memory than the buffer holds, which segments of SSE events'
    size, a few dozen to a few hundred bytes each, never do at 4 KiB.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, on_data: Callable[[bytes, int], None],
                 on_close: Callable[[Exception | None], None]) -> None:
        self.peeked = 0
        super().__init__(loop, sock, on_data, on_close)

    def _read(self) -> tuple[bytes, Any]:
        try:
            data, anc, _, _ = self.sock.recvmsg(_READ_SIZE, _CMSG_SPACE, socket.MSG_PEEK)
        except BlockingIOError:
            # reported readable with nothing new: the kernel is short of receive memory (or the window nearly
            # closed), which marks a socket holding data readable whatever its low-water mark. Consume what was
            # peeked (already handed on), so it goes quiet instead of being reported at every turn of the loop.
            if self.peeked:
                self._consume()
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, self.peeked + 1)
            raise
        self.peeked += len(data)
        if self.peeked >= CONSUME_BYTES:
            self._consume()
        if data:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, self.peeked + 1)
        return data, anc

    def _consume(self) -> None:
        """Discard what has been peeked (``MSG_TRUNC``: nothing is copied)."""
        while self.peeked:
            n = self.sock.recv_into(_SINK, min(self.peeked, _READ_SIZE), socket.MSG_TRUNC)
            if n <= 0:
                break
            self.peeked -= n

    def close(self, *, reset: bool = False) -> None:
        """Close; first discard what is still queued, which would otherwise make the kernel send a reset instead
        of a FIN."""
        if not self.closed and not reset:
            with contextlib.suppress(OSError):
                while self.sock.recv_into(_SINK, _READ_SIZE, socket.MSG_TRUNC | socket.MSG_DONTWAIT) > 0:
                    pass
        super().close(reset=reset)
