"""The submission flow end to end on a throwaway git repository: `inferboard submit` → `validate` → `intake` of a
pull-request-like branch (accepted), the same branch touching README.md too (rejected), a link or an edit of an
accepted bundle (rejected), then the leaderboard and the site showing the row with its submitter."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]
SUBMISSIONS = ROOT / "data" / "submissions"
pytestmark = pytest.mark.e2e


def ib(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "inferboard.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org"}
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True, env=env).stdout


def published_cell() -> Path:
    """A cell of the project's own committed bundle (a real measurement by a clean checkout): a cpu-fixed cell
    (3 load points × 3 trials: its headline metrics have confidence intervals), else the one with most rows."""
    bundles = sorted(p for p in SUBMISSIONS.iterdir() if p.is_dir()) if SUBMISSIONS.is_dir() else []
    if not bundles:
        pytest.fail("no bundle under data/submissions/ (the project's default matrix is published as one)")
    cells = sorted(p.parent for b in bundles for p in (b / "cells").glob("*/*/*/*/provenance.json"))
    return min(cells, key=lambda c: (c.name != "cpu-fixed", -pq.read_metadata(c / "summary.parquet").num_rows))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A repository with a main branch and a `pr` branch adding one bundle made by `inferboard submit`."""
    repo = tmp_path_factory.mktemp("repo")
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("leaderboard data\n")
    (repo / "data" / "submissions").mkdir(parents=True)
    (repo / "data" / "submissions" / "README.md").write_text("bundles\n")  # a file outside any bundle folder
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "checkout", "-q", "-b", "pr")
    cell = repo.parent / "results" / "cell"
    shutil.copytree(published_cell(), cell)
    proc = ib("submit", str(cell), "--submitter", "Ada Lovelace", "--org", "Analytical Engines",
              "--notes", "<script>alert(1)</script> measured twice", "--out", "data/submissions", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    bundle = repo / proc.stdout.strip().splitlines()[-1]
    assert bundle.is_dir() and bundle.parent == repo / "data" / "submissions"
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "submit")
    return repo, bundle.name, git(repo, "rev-parse", "HEAD").strip()


def test_submitted_bundle_validates(repo: tuple[Path, str, str]) -> None:
    root, bundle_id, _ = repo
    proc = ib("validate", f"data/submissions/{bundle_id}", "--json", cwd=root)
    report = json.loads(proc.stdout)
    assert proc.returncode == 0 and report["accepted"], proc.stdout
    assert all(c["ok"] for c in report["checks"])
    dup = ib("validate", f"data/submissions/{bundle_id}", "--against", str(SUBMISSIONS), cwd=root)
    assert dup.returncode == 1 and "duplicate.accepted: " in dup.stdout  # the same measurement, a new id


def test_intake_accepts_a_new_bundle_and_reports_markdown(repo: tuple[Path, str, str], tmp_path: Path) -> None:
    root, bundle_id, head = repo
    summary = tmp_path / "summary.md"
    proc = ib("intake", "--base", "main", "--head", head, "--repo", str(root), "--report", str(summary), cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = summary.read_text()
    assert "intake: accepted" in text and f"### {bundle_id}: accepted" in text and "| summary.recomputed | ok |" in text
    assert git(root, "status", "--porcelain") == ""  # nothing written into the repository


def test_intake_rejects_a_change_outside_new_bundles(repo: tuple[Path, str, str]) -> None:
    root, _, head = repo
    git(root, "checkout", "-q", "-b", "pr-readme", head)
    (root / "README.md").write_text("changed by a submitter\n")
    git(root, "commit", "-q", "-am", "readme")
    proc = ib("intake", "--base", "main", "--head", "pr-readme", "--repo", str(root), cwd=ROOT)
    git(root, "checkout", "-q", "pr")
    assert proc.returncode == 1 and "refused: 'README.md'" in proc.stdout


def test_intake_refuses_links_and_edits_of_accepted_bundles(repo: tuple[Path, str, str]) -> None:
    root, bundle_id, head = repo
    git(root, "checkout", "-q", "-b", "pr-link", head)
    cell = next((root / "data" / "submissions" / bundle_id / "cells").glob("*/*/*/*"))
    os.symlink("/etc/passwd", cell / "server-trial9.log")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "link")
    linked = ib("intake", "--base", "main", "--head", "pr-link", "--repo", str(root), cwd=ROOT)
    assert linked.returncode == 1 and "not a plain file (git mode 120000" in linked.stdout
    assert "root:" not in linked.stdout  # the link's target was never read
    git(root, "checkout", "-q", "-b", "accepted", head)  # the bundle is accepted on this branch: edit it in a PR
    git(root, "checkout", "-q", "-b", "pr-edit", "accepted")
    cj = cell / "cell.json"
    cj.write_text(cj.read_text().replace('"ok"', '"invalid"'))
    git(root, "commit", "-q", "-am", "edit")
    edited = ib("intake", "--base", "accepted", "--head", "pr-edit", "--repo", str(root), cwd=ROOT)
    git(root, "checkout", "-q", "pr")
    assert edited.returncode == 1 and "changed or removed (status M)" in edited.stdout


def test_leaderboard_and_site_show_the_row_with_its_submitter(repo: tuple[Path, str, str], tmp_path: Path) -> None:
    from inferboard.site.build import build_site

    root, bundle_id, _ = repo
    board = tmp_path / "leaderboard.parquet"
    proc = ib("leaderboard", "--submissions", "data/submissions", "--out", str(board), "--root", ".", cwd=root)
    assert proc.returncode == 0, proc.stderr
    rows = pq.read_table(board).to_pylist()
    assert rows and {(r["submission_id"], r["submitter"], r["origin"]) for r in rows} == {
        (bundle_id, "Ada Lovelace", "submitted")}
    build_site(board, tmp_path / "html", project=tmp_path / "src", root=root)
    page = next((tmp_path / "html" / "cells").rglob("*.html")).read_text()
    assert "Ada Lovelace" in page and bundle_id in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_reproduction_record_by_pull_request_marks_the_cell_reproduced(repo: tuple[Path, str, str],
                                                                         tmp_path: Path) -> None:
    """`inferboard reproduce` writes a record into the accepted bundle; intake accepts it as the only change to
    that bundle; the leaderboard marks the cell reproduced only for a record from another host."""
    root, bundle_id, head = repo
    git(root, "checkout", "-q", "-B", "accepted-2", head)
    git(root, "checkout", "-q", "-b", "pr-repro", "accepted-2")
    bundle = root / "data" / "submissions" / bundle_id
    cell_dir = next((bundle / "cells").glob("*/*/*/*"))  # the bundle's one cell (published_cell: cpu-fixed)
    same_host = tmp_path / "same"
    shutil.copytree(cell_dir, same_host)  # a rerun that measured exactly the same, on the same host
    proc = ib("reproduce", str(bundle), str(same_host), cwd=root)
    assert proc.returncode == 0 and "agrees" in proc.stderr, proc.stderr
    board = tmp_path / "board.parquet"
    assert ib("leaderboard", "--submissions", "data/submissions", "--out", str(board), cwd=root).returncode == 0
    assert not any(r["reproduced"] for r in pq.read_table(board).to_pylist())  # the same host proves nothing
    other = tmp_path / "other"
    shutil.copytree(cell_dir, other)
    prov = json.loads((other / "provenance.json").read_text())
    prov["hardware"]["host"]["hostname_sha256"] = "0" * 16  # another machine of the same SKU
    (other / "provenance.json").write_text(json.dumps(prov))
    assert ib("reproduce", str(bundle), str(other), cwd=root).returncode == 0
    records = sorted((bundle / "reproductions").glob("*.json"))
    assert len(records) == 2
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "reproductions")
    proc = ib("intake", "--base", "accepted-2", "--head", "pr-repro", "--repo", str(root), cwd=ROOT)
    assert proc.returncode == 0, proc.stdout
    assert "| reproductions.records | ok |" in proc.stdout
    assert ib("leaderboard", "--submissions", "data/submissions", "--out", str(board), cwd=root).returncode == 0
    rows = pq.read_table(board).to_pylist()
    assert rows and all(r["reproduced"] for r in rows)
    record = json.loads(records[-1].read_text())
    record["verdict"] = "disagrees"  # a record that misstates its own comparisons is refused
    records[-1].write_text(json.dumps(record))
    bad = ib("validate", str(bundle), cwd=root)
    git(root, "checkout", "-q", "--", ".")
    git(root, "checkout", "-q", "pr")
    assert bad.returncode == 1 and "reproductions.records: " in bad.stdout
