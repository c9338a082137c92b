"""A submission bundle's layout and ``manifest.json``: who submitted it, from which suite, and every file's hash.

A bundle is a folder ``data/submissions/<id>/``: ``manifest.json``, the cells under
``cells/<sku>/<runtime>/<model>/<workload>/`` and, added later by pull request, reproduction records under
``reproductions/``. The manifest lists every file but itself and the reproduction records (which come in after
it, each checked on its own).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated

from pydantic import Field, StringConstraints

from inferboard.core.strict import Strict

MANIFEST = "manifest.json"
MANIFEST_SCHEMA_VERSION = 1
CELLS = "cells"
REPRODUCTIONS = "reproductions"
#: files a cell folder may hold (server logs: ``server-trial<N>.log``)
CELL_FILES = ("cell.json", "provenance.json", "summary.parquet", "requests.parquet", "windows.parquet",
              "metrics.parquet", "gpu_samples.parquet", "accuracy.parquet")
SERVER_LOG = re.compile(r"^server-trial[0-9]{1,4}\.log$")
REPRODUCTION_FILE = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}\.json$")
#: a bundle id: <yyyymmdd>-<submitter slug>-<8 hex>
BUNDLE_ID = r"^[0-9]{8}-[a-z0-9][a-z0-9-]{0,40}-[0-9a-f]{8}$"
#: a name segment of a cell id (SKU, runtime, model, workload)
NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
#: who submits: letters, digits, spaces and . _ @ ( ) - only (shown on every row)
PERSON = r"^[A-Za-z0-9][A-Za-z0-9 ._@()-]{0,63}$"
#: free text: printable, no control characters but newline (shown escaped)
NOTES = r"^[^\x00-\x09\x0b-\x1f\x7f]{0,2000}$"
SHA256 = r"^[0-9a-f]{64}$"
#: a home folder or a user's path (with the user's name where there is one): `inferboard submit` replaces each
#: with ``~`` and the checker's paths.no_host refuses any left
HOST_PATH = re.compile(r"(?<![\w.~-])(/home/[^/\s\"']+|/root(?![\w.-])|/Users/[^/\s\"']+"
                       r"|[A-Za-z]:\\Users\\(?:[^\\\s\"']+)?)")
GIT_SHA = r"^[0-9a-f]{40}$"

Person = Annotated[str, StringConstraints(pattern=PERSON)]
RelPath = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,400}$")]


class FileEntry(Strict):
    """One file of the bundle: its path relative to the bundle, its SHA-256 and its size."""

    path: RelPath
    sha256: Annotated[str, StringConstraints(pattern=SHA256)]
    bytes: Annotated[int, Field(ge=0)]


class SuiteRef(Strict):
    """The inferboard checkout that measured every cell of the bundle."""

    version: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z.+-]{1,32}$")]
    git_sha: Annotated[str, StringConstraints(pattern=GIT_SHA)]
    git_dirty: bool


class Manifest(Strict):
    """manifest.json of a submission bundle (exported as workflows/schemas/manifest.schema.json)."""

    schema_version: int
    id: Annotated[str, StringConstraints(pattern=BUNDLE_ID)]
    submitter: Person
    org: Person | None = None
    notes: Annotated[str, StringConstraints(pattern=NOTES)] | None = None
    created_utc: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{8,15}Z$")]
    custom: bool = False
    """the cells may use workloads that are not standard ones (shown apart on the site)"""
    suite: SuiteRef
    cells: Annotated[list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._/-]{7,410}$")]],
                     Field(min_length=1, max_length=2000)]
    files: Annotated[list[FileEntry], Field(min_length=1, max_length=20000)]


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def allowed_path(rel: str) -> bool:
    """Whether ``rel`` (a bundle-relative POSIX path) is a file a bundle may hold."""
    parts = rel.split("/")
    if parts == [MANIFEST]:
        return True
    if len(parts) == 2 and parts[0] == REPRODUCTIONS:
        return bool(REPRODUCTION_FILE.fullmatch(parts[1]))
    if len(parts) == 6 and parts[0] == CELLS and all(re.fullmatch(NAME, p) for p in parts[1:5]):
        return parts[5] in CELL_FILES or bool(SERVER_LOG.fullmatch(parts[5]))
    return False
