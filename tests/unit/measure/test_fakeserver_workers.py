"""The test server's ``--workers``: one port served by several processes (client-capacity benchmark), which take
their behaviour from the flags and die with the first."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request

import psutil
import pytest

from tests.fakeserver_handle import start_fake_server

BODY = json.dumps({"model": "fake", "prompt": "hi", "max_tokens": 5, "stream": True}).encode()


def _stream(sock: socket.socket) -> bytes:
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY))
    data = b""
    while not data.endswith(b"0\r\n\r\n"):
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    return data


def test_workers_share_the_port_take_flags_and_die_with_the_first() -> None:
    server = start_fake_server(workers=3, zero_delay=True)
    try:
        deadline = time.monotonic() + 10
        while len(psutil.Process(server.proc.pid).children()) < 2:  # forked after the port is printed
            assert time.monotonic() < deadline
            time.sleep(0.05)
        workers = [psutil.Process(server.proc.pid), *psutil.Process(server.proc.pid).children()]
        socks = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(24)]
        try:
            for sock in socks:  # zero delay from the flag: each whole stream at once, 5 tokens and [DONE]
                data = _stream(sock)
                assert data.count(b'"text":" tok"') == 5 and b"data: [DONE]" in data
            ports = {s.getsockname()[1] for s in socks}
            served = [sum(1 for c in w.net_connections("tcp") if c.raddr and c.raddr.port in ports)
                      for w in workers]
        finally:
            for sock in socks:
                sock.close()
        assert sum(served) == 24 and sum(1 for n in served if n) >= 2, served  # the kernel spread them
        with pytest.raises(urllib.error.HTTPError) as err:  # control would reach one worker only
            server.configure(ttft_ms=1)
        assert err.value.code == 409
    finally:
        server.proc.kill()
        server.proc.wait()
    deadline = time.monotonic() + 10
    while any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers[1:]):
        assert time.monotonic() < deadline, "a worker outlived the server's first process"
        time.sleep(0.05)
