"""Where an entry comes from: the accepted bundles (the leaderboard's ``inferboard.bundles`` metadata) and the
files of each cell folder, read under the folder the leaderboard was built in and nowhere else.

Everything here is untrusted text from submitters: it is normalised to plain types (str, bool, None) and
capped, never interpreted; paths are refused when absolute, with ``..``, or resolving outside the root.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow.parquet as pq
from pydantic import ValidationError

from inferboard.results.provenance import Provenance

BUNDLES_KEY = b"inferboard.bundles"
MAX_PROVENANCE_BYTES = 2 * 1024 * 1024
MAX_FILE_BYTES = 60 * 1024 * 1024
MAX_FILES = 200  # per cell folder: more are not listed
MAX_TEXT = 4000  # characters kept of a free-text field (notes, reasons)
#: extensions served as they are; any other file is published with ".txt" appended (never as HTML, SVG, Markdown…)
SAFE_SUFFIXES = (".parquet", ".json", ".jsonl", ".log", ".txt", ".csv")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")


def text(v: Any, limit: int = MAX_TEXT) -> str | None:
    """A string field of untrusted JSON: str kept (capped), numbers turned to text, anything else None."""
    if isinstance(v, str):
        return v[:limit]
    if isinstance(v, int | float) and not isinstance(v, bool):
        return str(v)
    return None


@dataclass(frozen=True)
class CheckResult:
    """One check of a bundle as the checker recorded it."""

    id: str
    ok: bool
    severity: str
    reason: str | None


@dataclass(frozen=True)
class Reproduction:
    """A reproduction record of one cell of a bundle."""

    path: str
    cell_id: str
    verdict: str
    different_host: bool
    created_utc: str


@dataclass
class BundleInfo:
    """An accepted submission bundle: who sent it, its checks and its reproduction records."""

    id: str
    submitter: str
    org: str | None = None
    notes: str | None = None
    created_utc: str | None = None
    custom: bool = False
    path: str | None = None
    checks: list[CheckResult] = field(default_factory=list)
    reproductions: list[Reproduction] = field(default_factory=list)

    def reproductions_of(self, cell_id: str) -> list[Reproduction]:
        return [r for r in self.reproductions if r.cell_id == cell_id]


def _check(d: Any) -> CheckResult | None:
    if not isinstance(d, dict) or not text(d.get("id")):
        return None
    return CheckResult(id=str(text(d["id"], 200)), ok=d.get("ok") is True, severity=text(d.get("severity"), 20) or "?",
                       reason=text(d.get("reason")))


def _reproduction(d: Any) -> Reproduction | None:
    if not isinstance(d, dict):
        return None
    return Reproduction(path=text(d.get("path"), 500) or "", cell_id=text(d.get("cell_id"), 500) or "",
                        verdict=text(d.get("verdict"), 20) or "?", different_host=d.get("different_host") is True,
                        created_utc=text(d.get("created_utc"), 60) or "")


def parse_bundles(raw: bytes | str | None) -> dict[str, BundleInfo]:
    """The ``inferboard.bundles`` JSON (submission id → bundle) as BundleInfo; {} when missing or malformed."""
    if not raw:
        return {}
    try:
        doc = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(doc, dict):
        return {}
    out = {}
    for sid, b in sorted(doc.items()):
        if not isinstance(b, dict):
            continue
        checks: list[Any] = b["checks"] if isinstance(b.get("checks"), list) else []
        repros: list[Any] = b["reproductions"] if isinstance(b.get("reproductions"), list) else []
        out[sid] = BundleInfo(
            id=sid, submitter=text(b.get("submitter"), 200) or "", org=text(b.get("org"), 200),
            notes=text(b.get("notes")), created_utc=text(b.get("created_utc"), 60), custom=b.get("custom") is True,
            path=text(b.get("path"), 500), checks=[c for c in map(_check, checks) if c is not None],
            reproductions=[r for r in map(_reproduction, repros) if r is not None])
    return out


def read_bundles(path: Path) -> dict[str, BundleInfo]:
    """The bundles described in the leaderboard file's metadata ({} when it carries none)."""
    meta = pq.read_schema(path).metadata or {}
    return parse_bundles(meta.get(BUNDLES_KEY))


def cell_dir(root: Path | None, cell_path: Any, cell_id: str, submission_id: str | None = None) -> Path | None:
    """``root / cell_path`` when it is the folder of cell ``cell_id`` inside ``root``: its last four parts are
    the cell id's (sku/runtime/model/workload), after ``<submission id>/cells/`` for a submitted entry. None for
    an absolute path, a ``..`` part, a path resolving (through links) outside the root, any other folder
    (the root itself, a bundle, another cell), or no folder there."""
    if root is None or not isinstance(cell_path, str) or not cell_path or "\0" in cell_path:
        return None
    p = PurePosixPath(cell_path)
    if p.is_absolute() or ".." in p.parts or "\\" in cell_path or re.match(r"^[A-Za-z]:", cell_path):
        return None
    ids = cell_id.split("/")
    if len(ids) != 4 or p.parts[-4:] != tuple(ids):
        return None
    if submission_id is not None and p.parts[-6:-4] != (submission_id, "cells"):
        return None
    d = root / p
    try:
        if not d.resolve().is_relative_to(root.resolve()) or not d.is_dir():
            return None
    except (OSError, RuntimeError):
        return None
    return d


def _regular(path: Path, limit: int) -> int | None:
    """The size of ``path`` when it is a plain file (not a link) of at most ``limit`` bytes, else None."""
    try:
        st = path.lstat()
    except OSError:
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) and st.st_size <= limit else None


def read_provenance(d: Path) -> tuple[dict[str, Any] | None, str | None]:
    """A cell folder's provenance.json, validated: (document, None), or (None, why it is not shown)."""
    f = d / "provenance.json"
    if _regular(f, MAX_PROVENANCE_BYTES) is None:
        return None, ("provenance.json is not in the cell folder" if not f.exists()
                      else "provenance.json is not a plain file of at most 2 MB")
    try:
        doc = json.loads(f.read_bytes())
        Provenance.model_validate(doc)
    except (OSError, ValueError, ValidationError):
        return None, "provenance.json does not match the provenance schema"
    return doc, None


def requests_file(d: Path | None) -> Path | None:
    """The cell folder's requests.parquet when it is a plain file of at most 60 MB."""
    return cell_file(d, "requests.parquet")


def cell_file(d: Path | None, name: str, limit: int = MAX_FILE_BYTES) -> Path | None:
    """The cell folder's file ``name`` when it is a plain file (not a link) of at most ``limit`` bytes."""
    if d is None:
        return None
    f = d / name
    return f if _regular(f, limit) is not None else None


def safe_name(name: str) -> str:
    """A file or folder name for the built site: the name itself when harmless, else a slug and a hash."""
    if _SAFE_NAME.match(name) and ".." not in name:
        return name
    cleaned = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")[:40] or "x"
    return f"{cleaned}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"


def published_name(rel: PurePosixPath) -> str:
    """Where a cell's file goes under its download folder: every part made safe, ".txt" added unless its
    extension is one served as data (so an .html, .svg or .md file is never served or built as a page)."""
    parts = [safe_name(p) for p in rel.parts]
    if not parts[-1].lower().endswith(SAFE_SUFFIXES):
        parts[-1] += ".txt"
    return "/".join(parts)


@dataclass(frozen=True)
class CellFile:
    """A file of a cell folder: its name there, its size and where it goes in the built site (relative)."""

    name: str
    size: int
    source: Path
    dest: str


def cell_files(d: Path, dest_dir: str) -> list[CellFile]:
    """Every plain file under the cell folder ``d`` (links, oversized files and hidden names skipped; at most
    MAX_FILES), sorted by name, with its destination under ``dest_dir``."""
    found: list[CellFile] = []
    used: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(d, followlinks=False):
        dirnames[:] = sorted(n for n in dirnames if not n.startswith("."))
        for n in sorted(filenames):
            f = Path(dirpath) / n
            size = _regular(f, MAX_FILE_BYTES)
            if n.startswith(".") or size is None:
                continue
            rel = PurePosixPath(f.relative_to(d).as_posix())
            dest = f"{dest_dir}/{published_name(rel)}"
            if dest in used:
                continue
            used.add(dest)
            found.append(CellFile(name=rel.as_posix(), size=size, source=f, dest=dest))
            if len(found) >= MAX_FILES:
                return sorted(found, key=lambda c: c.name)
    return sorted(found, key=lambda c: c.name)


def copy_file(source: Path, dest: Path) -> bool:
    """Copy a plain file (a link is refused even if it appeared since it was listed) of at most 60 MB."""
    try:
        fd = os.open(source, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    with os.fdopen(fd, "rb") as src:
        st = os.fstat(src.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:
            return False
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    return True
