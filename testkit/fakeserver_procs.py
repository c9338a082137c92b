"""The processes of testkit/fakeserver.py: its command line, listening sockets, workers, dying with a parent.

``--workers N`` (with ``--zero-delay``, for the client-capacity benchmark) serves one port from N processes, each
with its own ``SO_REUSEPORT`` socket (the kernel spreads connections over them), so that the server is not what
limits several client processes. Their behaviour is set by the flags: control, records and metrics would reach one
worker only, so they answer 409. ``--parent PID`` ends the server (every worker) when that process ends.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
from collections.abc import Callable, Coroutine
from typing import Any

from inferboard.core.lifetime import die_with_parent


def listen(host: str, port: int, n: int) -> list[socket.socket]:
    """``n`` listening sockets on one port (``SO_REUSEPORT`` when more than one: the kernel spreads connections
    over them); port 0 picks a free one."""
    socks: list[socket.socket] = []
    for _ in range(n):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if n > 1:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, socks[0].getsockname()[1] if socks else port))
        sock.listen(4096)
        sock.setblocking(False)
        socks.append(sock)
    return socks


def fork_workers(socks: list[socket.socket]) -> tuple[socket.socket, bool]:
    """Fork one process per socket after the first; each serves its own socket and dies with this one. Returns the
    socket this process serves and whether it is the first process."""
    parent = os.getpid()
    for sock in socks[1:]:
        if os.fork() == 0:
            die_with_parent(parent, signal.SIGKILL)
            for other in socks:
                if other is not sock:
                    other.close()
            return sock, False
    for sock in socks[1:]:
        sock.close()
    return socks[0], True


def run_server(serve: Callable[[socket.socket, bool, int], Coroutine[Any, Any, None]]) -> None:
    """The command line: listen, fork the workers, print ``PORT <n>`` once they all exist, then run
    ``serve(socket, zero_delay, workers)`` on uvloop in each process."""
    ap = argparse.ArgumentParser(description="fault-injecting OpenAI-compatible test server")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1, help="processes serving the port (SO_REUSEPORT)")
    ap.add_argument("--zero-delay", action="store_true", help="write each whole stream at once (Control.zero_delay)")
    ap.add_argument("--parent", type=int, help="die with this process (the thread of it that starts this one)")
    args = ap.parse_args()
    if args.workers < 1:
        ap.error("--workers must be 1 or more")
    if args.parent is not None:
        die_with_parent(args.parent, signal.SIGKILL)
    lsock, first = fork_workers(listen(args.host, args.port, args.workers))
    if first:
        print(f"PORT {lsock.getsockname()[1]}", flush=True)
    try:
        import uvloop

        uvloop.run(serve(lsock, args.zero_delay, args.workers))
    except KeyboardInterrupt:
        pass
