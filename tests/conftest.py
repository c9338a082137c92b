"""Shared fixtures: the fault-injecting test server (one process per session) and a local tokenizer."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.fakeserver_handle import FakeServerHandle, start_fake_server

ROOT = Path(__file__).resolve().parent.parent


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
