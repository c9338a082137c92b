"""Bad input: one line naming the field, no traceback, non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BASE = ["run", "--endpoint", "http://127.0.0.1:9", "--model", "m", "--out"]


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "inferboard.cli", *args], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        (["--workload", "smoke", "--concurrency", "abc"], "--concurrency"),
        (["--workload", "smoke", "--concurrency", "0"], "--concurrency"),
        (["--workload", "smoke", "--rate", "1,x"], "--rate"),
        (["--workload", "no-such"], "--workload"),
        (["--workload", "missing.yaml"], "--workload"),
        (["--workload", "smoke", "--requests", "0"], "--requests"),
        (["--workload", "smoke", "--concurrency", "2", "--rate", "1"], "--concurrency/--rate"),
        (["--workload", "smoke", "--api", "grpc"], "--api"),
        (["--workload", "smoke", "--tokenizer", "/nonexistent"], "--tokenizer"),
        (["--workload", "smoke", "--bogus"], "--bogus"),
        (["--workload", "smoke", "--endpoint", "ftp://x"], "--endpoint"),
    ],
)
def test_bad_cli_input(tmp_path: Path, extra: list[str], field: str) -> None:
    res = _run([*BASE, str(tmp_path / "o"), *extra])
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and field in lines[0], res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "o").exists()


def test_bad_workload_file(tmp_path: Path) -> None:
    w = tmp_path / "w.yaml"
    w.write_text("name: x\nversion: 1\ndataset: {kind: fixed, input_tokens: 4, output_tokens: 4}\n"
                 "load: {kind: concurrency, concurrency: [1]}\nrequests: 2\ntimeouts: {connect: 3}\n")
    res = _run([*BASE, str(tmp_path / "o"), "--workload", str(w)])
    assert res.returncode == 2 and "timeouts.connect" in res.stderr and "unknown field" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_workload_list_and_show() -> None:
    res = _run(["workload", "list"])
    assert res.returncode == 0 and "smoke" in res.stdout and "sha256:" in res.stdout
    res = _run(["workload", "show", "chat"])
    assert res.returncode == 0 and '"workload_hash": "sha256:' in res.stdout


def test_markup_in_input_is_printed_verbatim(tmp_path: Path) -> None:
    res = _run([*BASE, str(tmp_path / "o"), "--workload", "[bold]x[/nope]"])
    assert res.returncode == 2 and "[bold]x[/nope]" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["validate", "/nonexistent/bundle"], "BUNDLE"),
        (["submit", "/nonexistent/cell", "--submitter", "x", "--out", "{tmp}"], "CELL_DIR"),
        (["submit", "{tmp}", "--submitter", "x", "--out", "{tmp}"], "CELL_DIR"),
        (["intake", "--base", "--upload-pack=evil", "--head", "HEAD"], "--base"),
        (["intake", "--base", "no-such-ref-xyz", "--head", "HEAD"], "--base/--head"),
        (["reproduce", "/nonexistent/bundle", "{tmp}"], "BUNDLE"),
        (["leaderboard", "--local", "/nonexistent/results", "--out", "{tmp}/b.parquet"], "--local"),
        (["leaderboard", "--submissions", "/nonexistent/subs", "--out", "{tmp}/b.parquet"], "--submissions"),
        (["rerun", "cpu-host/nope/tiny-llama-2l/smoke"], "CELL"),
    ],
)
def test_bad_submission_input(tmp_path: Path, args: list[str], field: str) -> None:
    """The submission commands and rerun: exit 2, one line naming the field, nothing written."""
    res = _run([a.replace("{tmp}", str(tmp_path)) for a in args])
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and field in lines[0], res.stderr
    assert "Traceback" not in res.stderr and list(tmp_path.iterdir()) == []
