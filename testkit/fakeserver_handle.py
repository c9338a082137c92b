"""Start the fault-injecting test server (testkit/fakeserver.py) and drive its control API; no pytest here, so the
benchmarks use it too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class FakeServerHandle:
    """A running testkit/fakeserver.py process and its control API."""

    def __init__(self, proc: subprocess.Popen[str], port: int) -> None:
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def configure(self, **ctrl: Any) -> None:
        """Set timing/faults (see testkit/fakeserver.py Control) and clear the records."""
        self._call("POST", "/_control", ctrl)

    def records(self) -> dict[str, dict[str, Any]]:
        """What the server did, per request id."""
        return self._call("GET", "/_records")


def start_fake_server(workers: int = 1, zero_delay: bool = False) -> FakeServerHandle:
    """Start testkit/fakeserver.py on a free port; ``workers`` > 1 serves it from that many processes (behaviour from
    the flags only: ``zero_delay``). Every one of them dies with this process (call it from the main thread)."""
    argv = [sys.executable, str(ROOT / "testkit" / "fakeserver.py"), "--port", "0", "--workers", str(workers),
            "--parent", str(os.getpid())]
    proc = subprocess.Popen(argv + (["--zero-delay"] if zero_delay else []),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"fake server did not start: {line!r}")
    return FakeServerHandle(proc, int(line.split()[1]))
