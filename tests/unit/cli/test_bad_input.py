"""Every command of the CLI stops bad input at the door: exit 2, one line naming the field and the fix, no
traceback. The table must hold a row for each command registered on the typer app (a new command without one
fails ``test_every_command_has_rows``). Commands run in-process through ``inferboard.cli.main``."""

from __future__ import annotations

import http.server
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer

from inferboard.cli.app import app, main
from inferboard.cli.measurement import models_url, preflight
from inferboard.cli.reference_page import walk
from inferboard.core.errors import InferboardError
from testkit.fakeserver_handle import FakeServerHandle

# (command, arguments, the field the one-line error must name); placeholders: {tmp} an empty folder (must stay
# empty), {file} a file, {dir} a folder, {yaml} malformed YAML, {cell} a folder whose summary.parquet is not
# Parquet, {dead} a URL where nothing listens, {fake} the test server's URL
ROWS: list[tuple[str, list[str], str]] = [
    ("schema", ["--out", "{file}"], "--out"),
    ("schema", ["--check", "--out", "{file}"], "--out"),
    ("fingerprint", ["--bogus"], "--bogus"),
    ("fingerprint", ["extra"], "extra"),
    ("roofline", ["--model", "no-such-model", "--sku", "cpu-host"], "--model"),
    ("roofline", ["--model", "llama-3.1-8b-instruct", "--sku", "no-such-sku"], "--sku"),
    ("roofline", ["--model", "llama-3.1-8b-instruct", "--sku", "h100-sxm", "--batch", "0"], "--batch"),
    ("roofline", ["--model", "llama-3.1-8b-instruct", "--sku", "h100-sxm", "--gpus", "-1"], "--gpus"),
    ("compare", ["{tmp}/missing", "{dir}"], "NEW"),
    ("compare", ["{cell}", "{file}"], "PUBLISHED"),
    ("compare", ["{cell}", "{cell}"], "NEW"),
    ("rerun", ["cpu-host/nope/tiny-llama-2l/smoke"], "CELL"),
    ("rerun", ["x/y/z/w", "--config", "{tmp}/missing.yaml"], "--config"),
    ("rerun", ["x/y/z/w", "--config", "{yaml}"], "--config"),
    ("rerun", ["x/y/z/w", "--config", "{dir}"], "--config"),
    ("run", ["--workload", "smoke", "--model", "fake", "--out", "{file}", "--endpoint", "{fake}"], "--out"),
    ("run", ["--workload", "smoke", "--model", "fake", "--out", "{file}/sub", "--endpoint", "{fake}"], "--out"),
    ("run", ["--workload", "smoke", "--model", "x", "--out", "{tmp}/o", "--endpoint", "{dead}"], "--endpoint"),
    ("run", ["--workload", "smoke", "--model", "nope", "--out", "{tmp}/o", "--endpoint", "{fake}"], "--model"),
    ("run", ["--workload", "smoke", "--model", "{tmp}", "--out", "{tmp}/o", "--runtime", "llamacpp",
             "--server-nodelay"], "--server-nodelay"),
    ("run", ["--workload", "{yaml}", "--model", "fake", "--out", "{tmp}/o", "--endpoint", "{fake}"], "--workload"),
    ("run", ["--workload", "{dir}", "--model", "fake", "--out", "{tmp}/o", "--endpoint", "{fake}"], "--workload"),
    ("run", ["--workload", "smoke", "--model", "fake", "--out", "{tmp}/o", "--endpoint", "{fake}", "--sku", "nope"],
     "--sku"),
    ("run", ["--workload", "smoke", "--model", "{dir}", "--out", "{tmp}/o", "--runtime", "no-such-rt"], "--runtime"),
    ("run", ["--workload", "smoke", "--model", "{tmp}/missing", "--out", "{tmp}/o", "--runtime", "llamacpp"],
     "--model"),
    ("run", ["--workload", "smoke", "--model", "fake", "--out", "{tmp}/o", "--endpoint", "{fake}", "--duration",
             "0"], "--duration"),
    ("run", ["--workload", "smoke", "--model", "fake", "--out", "{tmp}/o", "--endpoint", "{fake}", "--client-cpus",
             "9999"], "--client-cpus"),
    ("serve", ["no-such-rt", "--model", "{dir}"], "RUNTIME"),
    ("serve", ["llamacpp", "--model", "{tmp}/missing"], "--model"),
    ("serve", ["llamacpp", "--model", "{file}"], "--model"),
    ("serve", ["llamacpp", "--model", "{dir}", "--port", "0"], "--port"),
    ("serve", ["llamacpp", "--model", "{dir}", "--port", "70000"], "--port"),
    ("serve", ["llamacpp", "--model", "{dir}", "--log", "{dir}"], "--log"),
    ("serve", ["llamacpp", "--model", "{dir}", "--param", "threads"], "--param"),
    ("finalize", ["{tmp}/missing"], "OUT"),
    ("finalize", ["{file}"], "OUT"),
    ("finalize", ["{dir}"], "OUT"),
    ("run-cell", ["x/y/z/w", "--config", "{tmp}/missing.yaml"], "--config"),
    ("run-cell", ["x/y/z/w", "--config", "{yaml}"], "--config"),
    ("run-cell", ["cpu-host/nope/tiny-llama-2l/smoke"], "CELL"),
    ("run-cell", ["x/y/z/w", "--cell-spec", "{nope"], "--cell-spec"),
    ("run-cell", ["x/y/z/w", "--cell-spec", "{nope", "--results", "{file}"], "--results"),
    ("submit", ["{tmp}/missing", "--submitter", "x", "--out", "{tmp}"], "CELL_DIR"),
    ("submit", ["{dir}", "--submitter", "x", "--out", "{file}"], "--out"),
    ("validate", ["{tmp}/missing"], "BUNDLE"),
    ("validate", ["{file}"], "BUNDLE"),
    ("validate", ["{dir}", "--against", "{tmp}/missing"], "--against"),
    ("intake", ["--base", "no-such-ref-xyz", "--head", "HEAD"], "--base/--head"),
    ("intake", ["--base", "HEAD", "--head", "HEAD", "--repo", "{tmp}/missing"], "--repo"),
    ("intake", ["--base", "HEAD", "--head", "HEAD", "--repo", "{dir}"], "--repo"),
    ("intake", ["--base", "HEAD", "--head", "HEAD", "--report", "{dir}"], "--report"),
    ("reproduce", ["{tmp}/missing", "{dir}"], "BUNDLE"),
    ("reproduce", ["{file}", "{dir}"], "BUNDLE"),
    ("leaderboard", ["--local", "{tmp}/missing", "--out", "{tmp}/b.parquet"], "--local"),
    ("leaderboard", ["--submissions", "{file}", "--out", "{tmp}/b.parquet"], "--submissions"),
    ("leaderboard", ["--local", "{dir}", "--out", "{dir}"], "--out"),
    ("workload list", ["extra"], "extra"),
    ("workload show", ["no-such-workload"], "NAME"),
    ("workload show", ["{yaml}"], "NAME"),
    ("env build", ["no-such-rt"], "RUNTIME"),
    ("env build", ["tgi"], "RUNTIME"),  # no local mode
    ("model tiny", ["--out", "{tmp}/m", "--size", "huge"], "--size"),
    ("model tiny", ["--out", "{file}"], "--out"),
    ("model random", ["--out", "{tmp}/m", "--like", "no-such-model"], "--like"),
    ("model random", ["--out", "{file}"], "--out"),
    ("model prepare", ["no-such-model", "--out", "{tmp}/m"], "MODEL"),
    ("model prepare", ["tiny-llama-2l", "--out", "{tmp}/m"], "MODEL"),
    ("model prepare", ["smollm2-135m", "--out", "{file}"], "--out"),
    ("image build", ["no-such-rt"], "RUNTIME"),
    ("image build", ["llamacpp", "--variant", "tpu"], "--variant"),
    ("image build", ["llamacpp", "--engine", "no-such-engine"], "--engine"),
    ("image build", ["llamacpp", "--base", "debian:12"], "--base"),
    ("site build", ["--data", "{tmp}/missing.parquet", "--out", "{tmp}/s"], "--data"),
    ("site build", ["--data", "{file}", "--out", "{tmp}/s"], "--data"),
    ("site build", ["--data", "{dir}", "--out", "{file}"], "--out"),
    ("site build", ["--data", "{dir}", "--root", "{tmp}/missing"], "--root"),
    ("site build", ["--data", "{dir}", "--project", "{file}"], "--project"),
]


def _commands() -> set[str]:
    root = typer.main.get_command(app)
    return {ctx.command_path.removeprefix("inferboard ") for cmd, ctx in walk(root)
            if not hasattr(cmd, "list_commands")}


def test_every_command_has_rows() -> None:
    assert {c for c, _, _ in ROWS} == _commands()


def _groups() -> list[str]:
    root = typer.main.get_command(app)
    return sorted(ctx.command_path.removeprefix("inferboard").strip() for cmd, ctx in walk(root)
                  if hasattr(cmd, "list_commands"))


@pytest.mark.parametrize("group", _groups())
def test_an_unknown_subcommand_is_named(group: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _invoke([*group.split(), "no-such-command"], capsys)
    assert code == 2 and err.count("\n") == 1 and "no-such-command" in err and "--help" in err, err


def _dead_url() -> str:
    with socket.socket() as s:  # bound, never listening: a connection is refused
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


@pytest.fixture
def places(tmp_path: Path, server: FakeServerHandle) -> dict[str, str]:
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "a-file.txt").write_text("not a folder\n")
    (tmp_path / "a-dir").mkdir()
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n  : : :\n")
    (tmp_path / "a-cell").mkdir()
    (tmp_path / "a-cell" / "summary.parquet").write_text("not parquet\n")
    return {"{tmp}": str(work), "{file}": str(tmp_path / "a-file.txt"), "{dir}": str(tmp_path / "a-dir"),
            "{yaml}": str(tmp_path / "bad.yaml"), "{cell}": str(tmp_path / "a-cell"), "{dead}": _dead_url(),
            "{fake}": server.url + "/v1"}


def _invoke(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    try:
        main(args)
        code = 0
    except SystemExit as end:
        code = end.code if isinstance(end.code, int) else 1
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(("command", "args", "field"), ROWS, ids=[f"{c}:{' '.join(a)}" for c, a, _ in ROWS])
def test_bad_input(command: str, args: list[str], field: str, places: dict[str, str],
                   capsys: pytest.CaptureFixture[str]) -> None:
    argv = command.split()
    for a in args:
        for key, value in places.items():
            a = a.replace(key, value)
        argv.append(a)
    code, out, err = _invoke(argv, capsys)
    lines = err.strip().splitlines()
    assert code == 2, (argv, out, err)
    assert "Traceback" not in out + err
    assert len(lines) == 1 and lines[0].startswith("error:") and field in lines[0], err
    assert list(Path(places["{tmp}"]).iterdir()) == [], "bad input must not write anything"


class _Refusing(http.server.BaseHTTPRequestHandler):
    """Answers every request with the status in the path's first segment (/401/v1/models → 401)."""

    def do_GET(self) -> None:
        self.send_response(int(self.path.split("/")[1]))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def refusing() -> Iterator[str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_api_key_names_the_option(status: int, refusing: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _invoke(["run", "--workload", "smoke", "--model", "m", "--out", str(tmp_path / "o"), "--endpoint",
                            f"{refusing}/{status}/v1", "--api-key", "wrong"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--api-key" in err and "OPENAI_API_KEY" in err, err
    assert not (tmp_path / "o").exists()


def test_a_server_without_a_model_list_is_let_through(refusing: str) -> None:
    preflight(f"{refusing}/404", "anything", None)


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_preflight_accepts_the_served_model(suffix: str, server: FakeServerHandle) -> None:
    preflight(server.url + suffix, "fake", None)  # the test server lists "fake"
    with pytest.raises(InferboardError, match=r"--model: .*'nope'.*one of: fake"):
        preflight(server.url + suffix, "nope", None)


def test_models_url_is_built_like_request_urls() -> None:
    assert models_url("http://h:1") == models_url("http://h:1/v1/") == "http://h:1/v1/models"
    assert models_url("h:8000/api") == "http://h:8000/api/v1/models"
    with pytest.raises(InferboardError, match="--endpoint"):
        models_url("ftp://h")


def test_rerun_without_snakemake_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Snakemake runs as ``python -m snakemake`` (no PATH lookup); where it is not installed, one line says so."""
    import importlib.util

    from inferboard.pipeline.matrix import load_config

    root = Path(__file__).resolve().parents[3]
    monkeypatch.chdir(root)
    cell = load_config(Path("workflows/config/config.yaml"))[1][0].id
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "snakemake" else real(name, *a))
    code, _, err = _invoke(["rerun", cell, "--dry-run"], capsys)
    assert code == 2 and err.count("\n") == 1 and "snakemake" in err and "make install" in err, err


def test_rerun_outside_the_checkout_names_the_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    config = Path(__file__).resolve().parents[3] / "workflows" / "config" / "config.yaml"
    from inferboard.pipeline.matrix import load_config

    cell = load_config(config)[1][0].id
    monkeypatch.chdir(tmp_path)
    code, _, err = _invoke(["rerun", cell, "--config", str(config), "--dry-run"], capsys)
    assert code == 2 and err.count("\n") == 1 and "working folder" in err, err
