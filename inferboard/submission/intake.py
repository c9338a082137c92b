"""``inferboard intake``: what CI does with a pull request, from git objects alone (the PR is never checked out).

A pull request may only add files: a new bundle folder ``data/submissions/<id>/``, or new reproduction records
under ``data/submissions/<id>/reproductions/`` of an accepted bundle. Each bundle it touches is copied out of the
head commit blob by blob (only plain files: a link, an executable or a submodule is refused before anything is
written) and checked by this checkout's checker, i.e. the base branch's in CI. The report is Markdown.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from inferboard.core.errors import InferboardError
from inferboard.submission.bundle import MAX_BUNDLE_BYTES, MAX_ENTRIES, MAX_FILE_BYTES
from inferboard.submission.manifest import BUNDLE_ID, MANIFEST, REPRODUCTIONS
from inferboard.submission.validate import Report, inert, validate

SUBMISSIONS = "data/submissions"
MAX_REFUSED = 50
_SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass
class Intake:
    """The outcome: changes refused outright, and each touched bundle's report."""

    refused: list[str] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return not self.refused and bool(self.reports) and all(r.accepted for r in self.reports)


def _git(repo: Path, *args: str) -> bytes:
    try:
        proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as err:
        raise InferboardError(f"git {args[0]} could not run ({type(err).__name__}: {err})", field="--repo",
                              fix="run in a git clone of the repository, with git installed") from None
    if proc.returncode != 0:
        raise InferboardError(f"git {args[0]} failed: {proc.stderr.decode(errors='replace').strip()[:300]}",
                              field="--base/--head", fix="give commits of this repository (fetch them first)")
    return proc.stdout


def resolve(repo: Path, ref: str, what: str) -> str:
    """The commit ``ref`` names (refs are data: one starting with '-' is refused, never passed on as an option)."""
    if not ref or ref.startswith("-") or len(ref) > 200:
        raise InferboardError(f"{ref!r} is not a git revision", field=what, fix="give a commit SHA or branch")
    return _git(repo, "rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}").decode().strip()


def _tree(repo: Path, rev: str, path: str, limit: int = MAX_ENTRIES) -> list[tuple[str, str, str, int, str]]:
    """(mode, type, object, size, path) of every entry below ``path`` at ``rev``; read as a stream and stopped
    after ``limit`` + 1 entries, so a tree of a million files costs no more than a small one."""
    out: list[tuple[str, str, str, int, str]] = []
    args = ["git", "ls-tree", "-r", "-z", "--long", "--full-tree", rev, "--", path]
    with subprocess.Popen(args, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        buf = b""
        while len(out) <= limit:
            chunk = proc.stdout.read(1 << 16)
            if not chunk:
                break
            buf += chunk
            *items, buf = buf.split(b"\0")
            for item in items:
                meta, _, name = item.partition(b"\t")
                mode, kind, obj, size = meta.decode(errors="replace").split()
                out.append((mode, kind, obj, int(size) if size.isdigit() else -1, name.decode(errors="replace")))
        proc.kill()
    return out


def _export(repo: Path, rev: str, bundle_id: str, dest: Path, only: tuple[str, ...] = ()) -> str | None:
    """Copy bundle ``bundle_id`` at ``rev`` into ``dest`` from git blobs (``only``: just files of these names);
    a reason when it cannot be."""
    prefix = f"{SUBMISSIONS}/{bundle_id}/"
    entries = [e for e in _tree(repo, rev, prefix) if not only or e[4].rsplit("/", 1)[-1] in only]
    if len(entries) > MAX_ENTRIES:
        return f"{len(entries)} files > {MAX_ENTRIES}"
    total = 0
    for mode, kind, _obj, size, name in entries:
        rel = name.removeprefix(prefix)
        if mode != "100644" or kind != "blob":
            return f"{rel!r} is not a plain file (git mode {mode}: a link, executable or submodule)"
        if not all(_SAFE_PART.fullmatch(p) for p in rel.split("/")):
            return f"{rel!r} has a name a bundle may not hold"
        if size > MAX_FILE_BYTES:
            return f"{rel!r} is {size / 1e6:.1f} MB > {MAX_FILE_BYTES / 1e6:.0f} MB"
        total += size
        if total > MAX_BUNDLE_BYTES:
            return f"the bundle is over {MAX_BUNDLE_BYTES / 1e6:.0f} MB"
    for _mode, _kind, obj, _size, name in entries:
        out = dest / name.removeprefix(prefix)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(_git(repo, "cat-file", "blob", obj))
    return None


def classify(changes: list[tuple[str, str]], existing: set[str]) -> tuple[set[str], list[str]]:
    """The bundles a change touches, and the changes refused: anything but files added in a new bundle folder
    or as reproduction records of an existing one."""
    touched: set[str] = set()
    refused: list[str] = []
    for status, path in changes:
        parts = path.split("/")
        inside = path.startswith(f"{SUBMISSIONS}/") and len(parts) >= 4
        bundle_id = parts[2] if inside else ""
        if not inside or not re.fullmatch(BUNDLE_ID, bundle_id):
            refused.append(f"{path!r}: a pull request may change only new folders under {SUBMISSIONS}/")
        elif status != "A":
            refused.append(f"{path!r}: changed or removed (status {status}); accepted files are never changed")
        elif bundle_id in existing and not (len(parts) == 5 and parts[3] == REPRODUCTIONS):
            refused.append(f"{path!r}: bundle {bundle_id} exists; only reproductions/ records may be added to it")
        else:
            touched.add(bundle_id)
    return touched, refused


def intake(repo: Path, base: str, head: str) -> Intake:
    """Check the change from ``base`` to ``head`` as CI does for a pull request."""
    if not repo.is_dir():
        raise InferboardError(f"{repo} is not a folder", field="--repo", fix="give the repository's clone")
    base_sha, head_sha = resolve(repo, base, "--base"), resolve(repo, head, "--head")
    merge_base = _git(repo, "merge-base", base_sha, head_sha).decode().strip()
    raw = _git(repo, "diff", "--name-status", "-z", "--no-renames", merge_base, head_sha)
    fields = [f.decode(errors="replace") for f in raw.split(b"\0") if f]
    changes = list(zip(fields[0::2], fields[1::2], strict=False))
    existing = {e[4].split("/")[2] for e in _tree(repo, base_sha, f"{SUBMISSIONS}/") if e[4].count("/") >= 3}
    touched, refused = classify(changes, existing)
    result = Intake(refused=refused)
    if not changes:
        result.refused.append("the pull request changes nothing")
    with tempfile.TemporaryDirectory(prefix="inferboard-intake-") as tmp:
        accepted = Path(tmp) / "accepted"
        for other in sorted(existing):  # what duplicates are looked for in: the accepted bundles' requests
            (accepted / other).mkdir(parents=True)
            _export(repo, base_sha, other, accepted / other, only=(MANIFEST, "requests.parquet"))
        for bundle_id in sorted(touched):
            dest = Path(tmp) / "head" / bundle_id
            dest.mkdir(parents=True)
            why = _export(repo, head_sha, bundle_id, dest)
            if why:
                result.refused.append(f"{bundle_id}: {why}")
                continue
            others = [p for p in sorted(accepted.iterdir()) if p.name != bundle_id] if accepted.exists() else []
            result.reports.append(validate(dest, extra_against=others))
    return result


def markdown(result: Intake, base: str, head: str) -> str:
    """The report for the pull request (GitHub step summary)."""
    verdict = "accepted" if result.accepted else "rejected"
    lines = [f"## inferboard intake: {verdict}", "", f"base {_md(base)}, head {_md(head)}", ""]
    for r in result.refused[:MAX_REFUSED]:
        lines.append(f"- refused: {_md(r)}")
    if len(result.refused) > MAX_REFUSED:
        lines.append(f"- … and {len(result.refused) - MAX_REFUSED} more refused changes")
    for rep in result.reports:
        lines += ["", f"### {_md(rep.bundle)}: {'accepted' if rep.accepted else 'rejected'}", "",
                  "| check | result | severity | reason |", "|---|---|---|---|"]
        for c in rep.results:
            lines.append(f"| {c.id} | {'ok' if c.ok else 'FAILED'} | {c.severity} | {_md(c.reason or '')} |")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    """Text from a submission made inert in Markdown: no HTML, no table or line breaks, no code spans, no links
    (autolinks included), no control characters; at most 2,000 characters."""
    text = inert(text)[:2000]
    for a, b in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|"), ("[", "\\["), ("]", "\\]"),
                 ("`", "\\`"), ("*", "\\*"), ("_", "\\_"), ("#", "\\#"), ("://", "&#58;//"), ("www.", "www&#46;"),
                 ("@", "&#64;")):
        text = text.replace(a, b)
    return text
