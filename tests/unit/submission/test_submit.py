"""``inferboard submit``: host paths scrubbed, unfit cells refused with one line, and its bundles pass the checker."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from inferboard.core.errors import InferboardError
from inferboard.core.paths import REPO_ROOT
from inferboard.submission.checks.documents import HOST_PATH
from inferboard.submission.submit import scrub, submit
from tests.unit.submission.bundles import (
    SUBMISSIONS,
    cell_id,
    edit_json,
    failed,
    first_cell,
    report,
    run_cli,
)


@pytest.fixture
def cell(committed: Path, tmp_path: Path) -> Path:
    """A finished cell: the committed bundle's first cell copied to ``tmp/results/<cell id>``."""
    src = first_cell(committed)
    return Path(shutil.copytree(src, tmp_path / "results" / cell_id(committed, src)))


def _submit(cell: Path, out: Path, **kw: Any) -> Path:
    return submit([cell], submitter=kw.pop("submitter", "Test Person"), org=None, notes=None, out=out, **kw)


# ------------------------------------------------------------------ scrub
@pytest.mark.parametrize(("text", "want"), [
    (f"{REPO_ROOT}/results/cpu-host/x.log", "results/cpu-host/x.log"),
    (f"cd {REPO_ROOT} && make", "cd . && make"),
    ("/home/bob/models/tiny.gguf", "~/models/tiny.gguf"),
    ("--model=/home/bob/m", "--model=~/m"),
    ("/Users/dave/src", "~/src"),
    ("C:\\Users\\carol\\llama", "~\\llama"),
    ("/root/.cache/x", "~/.cache/x"),
    ("file:///home/bob/x", "file://~/x"),
    ("/usr/lib/x86_64 /opt/llama", "/usr/lib/x86_64 /opt/llama"),
])
def test_scrub(text: str, want: str) -> None:
    """The checkout is made relative, any home folder becomes ~; other paths stay."""
    assert scrub(text) == want
    assert not HOST_PATH.search(scrub(text))


def test_scrub_own_home(monkeypatch: pytest.MonkeyPatch) -> None:
    """The submitter's own home, wherever it is, becomes ~."""
    monkeypatch.setenv("HOME", "/srv/people/erin")
    assert scrub("log in /srv/people/erin/.cache/env") == "log in ~/.cache/env"


@pytest.mark.parametrize(("home", "text", "want"), [
    ("/home/al", "/home/alice/x", "~/x"),  # gives '~ice/x': the rest of another user's name stays
    ("/root", "/rootfs/x", "/rootfs/x"),  # gives '~fs/x'
])
def test_scrub_whole_components(home: str, text: str, want: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", home)
    assert scrub(text) == want


# ------------------------------------------------------------------ refusals
def _failed(c: Path) -> None:
    edit_json(c / "cell.json", lambda d: d.update(status="failed", reason="server crashed"))


def _interrupted(c: Path) -> None:
    edit_json(c / "provenance.json", lambda p: p.update(complete=False))


def _dirty(c: Path) -> None:
    edit_json(c / "provenance.json", lambda p: p["suite"].update(git_dirty=True))


def _custom_workload(c: Path) -> None:
    edit_json(c / "provenance.json", lambda p: p["workload"]["definition"]["timeouts"].update(connect_s=11.0))
    edit_json(c / "provenance.json", lambda p: p["workload"].update(workload_hash="sha256:" + "1" * 64))


@pytest.mark.parametrize(("edit", "says", "fix"), [
    (_failed, "the cell failed (server crashed)", "rerun it"),
    (_interrupted, "the cell was interrupted", "inferboard rerun"),
    (_dirty, "uncommitted changes", "commit or stash"),
    (_custom_workload, "workload 'cpu-fixed' is not the standard one", "--custom"),
], ids=["failed", "interrupted", "dirty", "custom-workload"])
def test_refuses(edit: Callable[[Path], None], says: str, fix: str, cell: Path, tmp_path: Path) -> None:
    """One line naming the cell, what is wrong and the fix; nothing is left in the output folder."""
    edit(cell)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InferboardError) as exc:
        _submit(cell, out)
    msg = str(exc.value)
    assert "\n" not in msg
    assert str(cell) in msg and says in msg, msg
    assert fix in msg.partition("(fix: ")[2], msg
    assert list(out.iterdir()) == []


def test_custom_workload_with_custom(cell: Path, tmp_path: Path) -> None:
    """--custom lets the non-standard workload through, marked custom in the manifest."""
    _custom_workload(cell)
    bundle = _submit(cell, tmp_path / "out", custom=True)
    assert '"custom": true' in (bundle / "manifest.json").read_text()


# ------------------------------------------------------------------ its bundles
def test_submitted_bundle_is_accepted_then_duplicate(cell: Path, tmp_path: Path) -> None:
    """A bundle made by submit() passes every check; against the committed bundles it is a duplicate."""
    bundle = _submit(cell, tmp_path / "out")
    assert not list((tmp_path / "out").glob(".*")), "a partial folder was left"
    assert not failed(report(bundle, against=None))
    assert failed(report(bundle, against=SUBMISSIONS)) == {"duplicate.accepted"}


def test_submit_twice_refused(cell: Path, tmp_path: Path) -> None:
    _submit(cell, tmp_path / "out")
    with pytest.raises(InferboardError, match="exists"):
        _submit(cell, tmp_path / "out")


def test_cli_bad_submitter(cell: Path, tmp_path: Path) -> None:
    """Markup as the submitter: exit 2, one line on stderr, no traceback, no bundle."""
    out = tmp_path / "out"
    code, stdout, err = run_cli("submit", str(cell), "--submitter", "<b>x</b>", "--out", str(out))
    assert code == 2
    assert stdout == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "submitter" in lines[0], err
    assert "Traceback" not in err
    assert not out.exists() or list(out.iterdir()) == []


def test_cli_submit(cell: Path, tmp_path: Path) -> None:
    """The CLI prints the bundle folder, which validates."""
    out = tmp_path / "out"
    code, stdout, _ = run_cli("submit", str(cell), "--submitter", "Test Person", "--out", str(out))
    assert code == 0
    bundle = Path(stdout.strip())
    assert bundle.parent == out
    code, _, _ = run_cli("validate", str(bundle))
    assert code == 0
