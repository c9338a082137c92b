"""Shared fixtures: the fault-injecting test server (one process per session) and a local tokenizer."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


class FakeServerHandle:
    """A running tests/fakeserver.py process and its control API."""

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
        """Set timing/faults (see tests/fakeserver.py Control) and clear the records."""
        self._call("POST", "/_control", ctrl)

    def records(self) -> dict[str, dict[str, Any]]:
        """What the server did, per request id."""
        return self._call("GET", "/_records")


def start_fake_server() -> FakeServerHandle:
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fakeserver.py"), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"fake server did not start: {line!r}")
    return FakeServerHandle(proc, int(line.split()[1]))


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeServerHandle]:
    """One fault-injecting server for the whole session; tests reconfigure it."""
    handle = start_fake_server()
    yield handle
    handle.proc.terminate()
    try:
        handle.proc.wait(10)
    except subprocess.TimeoutExpired:
        handle.proc.kill()


@pytest.fixture
def server(fake_server: FakeServerHandle) -> FakeServerHandle:
    """The session server reset to defaults (50 ms TTFT, 10 ms ITL, no faults)."""
    fake_server.configure()
    return fake_server


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small ASCII BPE tokenizer.json trained here on the package's word list."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from inferboard.scenario.prompts import word_list

    words = list(word_list())
    lines = [" ".join(words[(i * 7 + j * 13) % len(words)] for j in range(12)) for i in range(400)]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=400, special_tokens=["<unk>", "<s>", "</s>"],
                                                       show_progress=False))
    out = tmp_path_factory.mktemp("tok")
    tok.save(str(out / "tokenizer.json"))
    return out
