"""Checks on names, sizes and bytes: run before any file is parsed."""

from __future__ import annotations

import re
from collections.abc import Iterator

from inferboard.submission.bundle import MAX_BUNDLE_BYTES, MAX_DEPTH, MAX_ENTRIES, MAX_FILE_BYTES, MAX_NAME, Bundle
from inferboard.submission.manifest import BUNDLE_ID, CELLS, MANIFEST, REPRODUCTIONS, allowed_path
from inferboard.submission.registry import Finding, check

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@check("layout.entries", stage="files")
def entries(b: Bundle) -> Iterator[Finding]:
    """The bundle folder is named like a bundle id and holds only plain folders and regular files: no symbolic
    link, device, socket or pipe; no dot-file; every name made of letters, digits, ``.``, ``_`` and ``-``, at most
    100 characters; at most 8 levels deep and 2,000 entries."""
    if not re.fullmatch(BUNDLE_ID, b.id):
        yield Finding(f"the bundle folder {b.id!r} is not a bundle id (<yyyymmdd>-<submitter>-<8 hex>)")
    if len(b.entries) > MAX_ENTRIES:
        yield Finding(f"more than {MAX_ENTRIES} entries")
    for e in b.entries:
        name = e.rel.rsplit("/", 1)[-1]
        if e.kind in ("symlink", "other"):
            yield Finding(f"{e.rel!r} is a {'symbolic link' if e.kind == 'symlink' else 'special file'}")
        elif name.startswith("."):
            yield Finding(f"{e.rel!r} is a dot-file")
        elif not _SAFE_NAME.fullmatch(name) or len(name) > MAX_NAME:
            yield Finding(f"{e.rel!r}: names may hold only letters, digits, '.', '_' and '-' (≤ {MAX_NAME})")
        elif e.rel.count("/") >= MAX_DEPTH:
            yield Finding(f"{e.rel!r} is nested deeper than {MAX_DEPTH} levels")


@check("layout.allowed_files", stage="files")
def allowed_files(b: Bundle) -> Iterator[Finding]:
    """Only the files a bundle may hold, where it may hold them: ``manifest.json``;
    ``cells/<sku>/<runtime>/<model>/<workload>/`` with cell.json, provenance.json, summary.parquet,
    requests.parquet, windows.parquet and optionally metrics.parquet, gpu_samples.parquet, accuracy.parquet and
    server-trial<N>.log;
    reproduction records ``reproductions/<utc>-<12 hex>.json``. At least one cell, each with its five required
    files."""
    if not b.has(MANIFEST):
        yield Finding("no manifest.json")
    for e in b.files:
        if not allowed_path(e.rel):
            yield Finding(f"{e.rel!r} is not a file a bundle may hold")
    for e in b.entries:
        if e.kind == "dir" and e.rel.split("/")[0] not in (CELLS, REPRODUCTIONS):
            yield Finding(f"folder {e.rel!r} is not cells/ or reproductions/")
        if e.kind == "dir" and e.rel.startswith(CELLS) and e.rel.count("/") > 4:
            yield Finding(f"folder {e.rel!r} is below a cell folder")
    if not b.cell_dirs:
        yield Finding("no cell under cells/<sku>/<runtime>/<model>/<workload>/")
    for cd in b.cell_dirs:
        for name in ("cell.json", "provenance.json", "summary.parquet", "requests.parquet", "windows.parquet"):
            if not b.has(f"{cd}/{name}"):
                yield Finding(f"no {name}", cell=b.cell_id(cd))


@check("caps.sizes", stage="files")
def sizes(b: Bundle) -> Iterator[Finding]:
    """No file over 50 MB and the whole bundle at most 200 MB."""
    total = 0
    for e in b.files:
        total += e.size
        if e.size > MAX_FILE_BYTES:
            yield Finding(f"{e.rel!r} is {e.size / 1e6:.1f} MB > {MAX_FILE_BYTES / 1e6:.0f} MB")
    if total > MAX_BUNDLE_BYTES:
        yield Finding(f"the bundle holds {total / 1e6:.1f} MB > {MAX_BUNDLE_BYTES / 1e6:.0f} MB")


@check("files.magic", stage="files")
def magic(b: Bundle) -> Iterator[Finding]:
    """Each file is what its name says, by its bytes: Parquet files start and end with ``PAR1``; JSON files are
    UTF-8 text starting with ``{``; logs are UTF-8 text without NUL bytes. (Not run on a bundle over the size
    caps: caps.sizes says why.)"""
    if sum(e.size for e in b.files) > MAX_BUNDLE_BYTES:
        return
    for e in b.files:
        if e.size > MAX_FILE_BYTES:
            continue  # caps.sizes
        data = b.read_bytes(e.rel)
        if e.rel.endswith(".parquet"):
            if len(data) < 12 or data[:4] != b"PAR1" or data[-4:] != b"PAR1":
                yield Finding(f"{e.rel!r} is not a Parquet file")
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            yield Finding(f"{e.rel!r} is not UTF-8 text")
            continue
        if e.rel.endswith(".json") and not text.lstrip().startswith("{"):
            yield Finding(f"{e.rel!r} is not a JSON object")
        elif "\x00" in text:
            yield Finding(f"{e.rel!r} holds NUL bytes")
