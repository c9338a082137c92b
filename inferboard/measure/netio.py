"""Non-blocking sockets read with the kernel's receive timestamp (Linux ``SO_TIMESTAMPNS``).

A timestamp taken when the event loop gets round to a socket is late by however busy the loop is.
The kernel stamps every received segment; ``recvmsg`` returns the stamp of the last segment read,
converted here from CLOCK_REALTIME to the monotonic clock (the offset is read at the same moment, so
clock slewing cannot accumulate). Where the platform has no such stamp the read time is used.
"""

from __future__ import annotations

import asyncio
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

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                 on_data: Callable[[bytes, int], None], on_close: Callable[[Exception | None], None]) -> None:
        self.loop, self.sock, self.fd = loop, sock, sock.fileno()
        self.on_data, self.on_close = on_data, on_close
        self.closed = False
        self._out = bytearray()
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.stamped = enable_rx_timestamps(sock)
        loop.add_reader(self.fd, self._readable)

    def _readable(self) -> None:
        try:
            if self.stamped:
                data, anc, _, _ = self.sock.recvmsg(_READ_SIZE, _CMSG_SPACE)
            else:
                data, anc = self.sock.recv(_READ_SIZE), ()
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
                   on_data: Callable[[bytes, int], None],
                   on_close: Callable[[Exception | None], None]) -> RawStream:
    """Connect to a resolved ``target`` within ``timeout_s`` (TimeoutError) and return a RawStream."""
    family, proto, addr = target
    sock = socket.socket(family, socket.SOCK_STREAM, proto)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(loop.sock_connect(sock, addr), timeout_s)
    except BaseException:
        sock.close()
        raise
    return RawStream(loop, sock, on_data, on_close)
