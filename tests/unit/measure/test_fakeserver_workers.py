"""The test server's ``--workers``: one port served by several processes (client-capacity benchmark), which take
their behaviour from the flags and die with the first; and ``--parent``: the server dies with who started it."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import psutil
import pytest

from testkit.fakeserver_handle import ROOT, start_fake_server

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


def _wait_gone(procs: list[psutil.Process]) -> None:
    deadline = time.monotonic() + 20
    for p in procs:
        while True:
            try:
                if not p.is_running() or p.status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.NoSuchProcess:
                break
            assert time.monotonic() < deadline, f"process {p.pid} outlived the one it should die with"
            time.sleep(0.05)


def test_workers_share_the_port_take_flags_and_die_with_the_first() -> None:
    server = start_fake_server(workers=3, zero_delay=True)
    try:
        workers = [psutil.Process(server.proc.pid), *psutil.Process(server.proc.pid).children()]
        assert len(workers) == 3  # all forked before the port was printed
        socks = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(24)]
        try:
            t0 = time.monotonic()
            for sock in socks:  # each: 5 tokens and [DONE]
                data = _stream(sock)
                assert data.count(b'"text":" tok"') == 5 and b"data: [DONE]" in data
            # zero delay from the flag: without it each stream takes at least TTFT 50 + 4 × ITL 10 ms, 2.16 s in all
            assert time.monotonic() - t0 < 2.0
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
        with pytest.raises(urllib.error.HTTPError) as err:
            server.records()
        assert err.value.code == 409
    finally:
        server.proc.kill()
        server.proc.wait()
        assert server.proc.stdout is not None
        server.proc.stdout.close()
    _wait_gone(workers[1:])


def test_the_server_and_its_workers_die_with_the_process_that_started_them() -> None:
    starter = subprocess.Popen(
        [sys.executable, "-c", "import time\nfrom testkit.fakeserver_handle import start_fake_server\n"
         "s = start_fake_server(workers=2)\nprint(s.proc.pid, flush=True)\ntime.sleep(120)\n"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert starter.stdout is not None
        first = psutil.Process(int(starter.stdout.readline()))
        procs = [first, *first.children()]
        assert len(procs) == 2
    finally:
        starter.kill()  # SIGKILL: no cleanup of its own runs
        starter.wait()
        assert starter.stdout is not None
        starter.stdout.close()
    try:
        _wait_gone(procs)
    finally:  # never leave a server behind, even when this fails
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
