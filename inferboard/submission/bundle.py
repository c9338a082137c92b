"""A submission bundle as the checker sees it: untrusted bytes, read without following a link, every read capped.

Nothing in a bundle is executed, imported or unpickled: JSON is parsed by orjson, Parquet by pyarrow after its
footer has been checked against the caps, and nothing is ever written into the bundle. Paths come from a walk
that lists links and special files instead of following them.
"""

from __future__ import annotations

import functools
import itertools
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from inferboard.results.schema import ADDED_COLUMNS, TABLES, with_added_columns
from inferboard.submission.manifest import CELLS, MANIFEST

# caps: a bundle over any of them is rejected before its contents are parsed
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_BUNDLE_BYTES = 200 * 1024 * 1024
MAX_ENTRIES = 2000
MAX_DEPTH = 8
MAX_NAME = 100
MAX_JSON_BYTES = 2 * 1024 * 1024
MAX_MANIFEST_BYTES = 2 * 1024 * 1024
MAX_JSON_DEPTH = 32
MAX_PARQUET_ROWS = 200_000  # the largest standard workload (chat) records 10,740 requests per cell
MAX_BUNDLE_ROWS = 1_000_000
MAX_ROW_GROUPS = 256
MAX_PARQUET_UNCOMPRESSED = 256 * 1024 * 1024
MAX_DECODED_BYTES = 256 * 1024 * 1024
BATCH_ROWS = 1024
# Python rows are kept for reuse (several checks read each table) while the tables they came from hold at most
# this many Arrow bytes in all; past it each caller gets fresh rows and none are kept (memory stays bounded)
ROWS_KEPT_ARROW_BYTES = 32 * 1024 * 1024
#: metrics.parquet: the runtime's /metrics samples (written by inferboard.runtimes.server)
METRICS_SCHEMA = pa.schema([("trial", pa.int64()), ("t_ns", pa.int64()), ("name", pa.string()),
                            ("labels", pa.string()), ("value", pa.float64())])
_TABLE_OF = {"requests.parquet": "requests", "summary.parquet": "summary", "gpu_samples.parquet": "gpu_samples",
             "windows.parquet": "windows", "accuracy.parquet": "accuracy"}
MAX_PARQUET_FOOTER = 4 * 1024 * 1024


def expected_schema(rel: str) -> pa.Schema | None:
    """The Arrow schema a bundle's Parquet file must have, by its name (None: not a known table)."""
    name = rel.rsplit("/", 1)[-1]
    if name == "metrics.parquet":
        return METRICS_SCHEMA
    return TABLES[_TABLE_OF[name]][1] if name in _TABLE_OF else None


def added_columns(rel: str, want: pa.Schema | None, got: pa.Schema) -> list[str] | None:
    """The columns of ``want`` a file may lack because it was written before they were added (empty when it has
    them all); None when its columns are not its table's, then or now."""
    if want is None:
        return None
    have = [(f.name, f.type) for f in got]
    if have == [(f.name, f.type) for f in want]:
        return []
    later = ADDED_COLUMNS.get(_TABLE_OF.get(rel.rsplit("/", 1)[-1], ""), ())
    names = {n for n, _ in have}
    if have == [(f.name, f.type) for f in want if f.name not in later or f.name in names]:
        return [n for n in later if n in want.names and n not in names]
    return None


class Unreadable(Exception):
    """A file of the bundle cannot be read within the caps; the message says why."""


@dataclass(frozen=True)
class Entry:
    """One thing found in the bundle folder (never followed if it is a link)."""

    rel: str  # POSIX path relative to the bundle
    kind: str  # file, dir, symlink or other
    size: int


def json_depth(value: Any, depth: int = 1) -> int:
    """Nesting depth of a parsed JSON value (iterative: a deep document cannot exhaust the stack)."""
    deepest, stack = 0, [(value, depth)]
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if d > MAX_JSON_DEPTH + 1:
            break
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return deepest


class Bundle:
    """Read-only, capped access to one bundle folder."""

    def __init__(self, root: Path, *, against: list[Path] | None = None) -> None:
        self.root = root
        self.against = against or []  # accepted bundle folders to check duplicates against
        self.id = root.name
        self.validated_tables: set[str] = set()  # tables whose rows passed their row model
        self._json: dict[str, Any] = {}  # what was read once, kept for this bundle only
        self._meta: dict[str, pq.FileMetaData] = {}
        self._tables: dict[str, pa.Table] = {}
        self._rows: dict[str, list[dict[str, Any]]] = {}
        self._rows_kept_bytes = 0

    @functools.cached_property
    def entries(self) -> list[Entry]:
        """Everything under the bundle (links and special files listed, never followed), walk capped: it stops
        after MAX_ENTRIES + 1 entries, whatever one folder holds."""
        out: list[Entry] = []
        stack = [("", 0)]
        while stack and len(out) <= MAX_ENTRIES:
            rel, depth = stack.pop()
            try:
                with os.scandir(self.root / rel if rel else self.root) as it:
                    found = list(itertools.islice(it, MAX_ENTRIES + 1 - len(out)))
            except OSError as err:
                raise Unreadable(f"{rel or '.'}: cannot list ({err.strerror})") from None
            for e in sorted(found, key=lambda e: e.name):
                path = f"{rel}/{e.name}" if rel else e.name
                st = e.stat(follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    kind = "symlink"
                elif stat.S_ISDIR(st.st_mode):
                    kind = "dir"
                    if depth < MAX_DEPTH:
                        stack.append((path, depth + 1))
                elif stat.S_ISREG(st.st_mode):
                    kind = "file"
                else:
                    kind = "other"
                out.append(Entry(path, kind, st.st_size if kind == "file" else 0))
        return out

    @property
    def files(self) -> list[Entry]:
        return [e for e in self.entries if e.kind == "file"]

    def read_bytes(self, rel: str, cap: int = MAX_FILE_BYTES) -> bytes:
        """A regular file's bytes; refuses links (O_NOFOLLOW on every component it opens) and files over ``cap``."""
        if rel.startswith("/") or ".." in rel.split("/"):
            raise Unreadable(f"{rel}: not a path inside the bundle")
        try:
            fd = os.open(self.root / rel, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        except OSError as err:
            raise Unreadable(f"{rel}: cannot open ({err.strerror})") from None
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise Unreadable(f"{rel}: not a regular file")
            data = f.read(cap + 1)
        if len(data) > cap:
            raise Unreadable(f"{rel}: over {cap} bytes")
        return data

    def json(self, rel: str) -> Any:
        """A JSON file of the bundle, parsed (orjson: no code, no custom types), size and depth capped."""
        if rel not in self._json:
            self._json[rel] = self._parse_json(rel)
        return self._json[rel]

    def _parse_json(self, rel: str) -> Any:
        data = self.read_bytes(rel, MAX_MANIFEST_BYTES if rel == MANIFEST else MAX_JSON_BYTES)
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as err:
            raise Unreadable(f"{rel}: not JSON ({err})") from None
        if json_depth(doc) > MAX_JSON_DEPTH:
            raise Unreadable(f"{rel}: nested deeper than {MAX_JSON_DEPTH} levels")
        return doc

    def parquet_meta(self, rel: str) -> pq.FileMetaData:
        """A Parquet file's footer, after the caps on footer size, rows, row groups and decompressed size."""
        if rel not in self._meta:
            self._meta[rel] = self._read_meta(rel)
        return self._meta[rel]

    def _read_meta(self, rel: str) -> pq.FileMetaData:
        data = self.read_bytes(rel)
        if len(data) < 12 or data[:4] != b"PAR1" or data[-4:] != b"PAR1":
            raise Unreadable(f"{rel}: not a Parquet file (magic bytes)")
        footer = int.from_bytes(data[-8:-4], "little")
        if footer > min(MAX_PARQUET_FOOTER, len(data) - 12):
            raise Unreadable(f"{rel}: Parquet footer of {footer} bytes over the cap")
        try:
            meta = pq.ParquetFile(pa.BufferReader(data)).metadata
        except Exception as err:
            raise Unreadable(f"{rel}: unreadable Parquet footer ({type(err).__name__})") from None
        if meta.num_rows > MAX_PARQUET_ROWS:
            raise Unreadable(f"{rel}: {meta.num_rows} rows > {MAX_PARQUET_ROWS}")
        if meta.num_row_groups > MAX_ROW_GROUPS:
            raise Unreadable(f"{rel}: {meta.num_row_groups} row groups > {MAX_ROW_GROUPS}")
        total = 0
        for i in range(meta.num_row_groups):
            rg = meta.row_group(i)
            for j in range(rg.num_columns):
                total += max(rg.column(j).total_uncompressed_size, 0)
        if total > MAX_PARQUET_UNCOMPRESSED:
            raise Unreadable(f"{rel}: {total} bytes once decompressed > {MAX_PARQUET_UNCOMPRESSED}")
        return meta

    def table(self, rel: str) -> pa.Table:
        """A Parquet file's table, read only when its footer passed the caps and its columns are exactly its
        table's (see parquet.schema), in small batches whose decoded size is capped: dictionary or run-length
        encoded values that would decode to gigabytes stop the read."""
        if rel in self._tables:
            return self._tables[rel]
        meta = self.parquet_meta(rel)
        if self.total_rows > MAX_BUNDLE_ROWS:
            raise Unreadable(f"{rel}: not read: the bundle's Parquet files hold over {MAX_BUNDLE_ROWS} rows")
        want = expected_schema(rel)
        got = meta.schema.to_arrow_schema()
        added = added_columns(rel, want, got)
        if want is None or added is None:
            raise Unreadable(f"{rel}: not read: its columns are not its table's (parquet.schema)")
        batches, decoded = [], 0
        try:
            for batch in pq.ParquetFile(pa.BufferReader(self.read_bytes(rel))).iter_batches(batch_size=BATCH_ROWS):
                decoded += batch.nbytes
                if decoded > MAX_DECODED_BYTES:
                    raise Unreadable(f"{rel}: over {MAX_DECODED_BYTES} bytes once decoded")
                batches.append(batch)
            table = pa.Table.from_batches(batches, schema=got)
            if added:  # written before those columns existed: null (results.schema.ADDED_COLUMNS)
                table = with_added_columns(table, _TABLE_OF[rel.rsplit("/", 1)[-1]])
            self._tables[rel] = table
        except Unreadable:
            raise
        except Exception as err:
            raise Unreadable(f"{rel}: unreadable Parquet data ({type(err).__name__}: {str(err)[:120]})") from None
        return self._tables[rel]

    @functools.cached_property
    def total_rows(self) -> int:
        """Rows of all the bundle's Parquet files, from their footers (those within the per-file caps)."""
        total = 0
        for e in self.files:
            if e.rel.endswith(".parquet"):
                try:
                    total += self.parquet_meta(e.rel).num_rows
                except Unreadable:
                    continue
        return total

    def rows(self, rel: str, *, names: frozenset[str] | None = None) -> list[dict[str, Any]]:
        """The rows of a Parquet file as Python values (a value Python cannot hold is a clear reason); with
        ``names``, only the rows whose ``name`` column is one of them (metrics.parquet's series, filtered before
        they become Python objects). Callers share the rows and never change them; they are kept while
        ROWS_KEPT_ARROW_BYTES allows."""
        key = rel if names is None else "\0".join([rel, *sorted(names)])
        if key in self._rows:
            return self._rows[key]
        try:
            table = self.table(rel)
            if names is not None:
                table = table.filter(pc.is_in(table["name"], value_set=pa.array(sorted(names), pa.string())))
            data: list[dict[str, Any]] = table.to_pylist()
        except Unreadable:
            raise
        except Exception as err:
            raise Unreadable(f"{rel}: values out of range ({type(err).__name__}: {str(err)[:120]})") from None
        if self._rows_kept_bytes + table.nbytes <= ROWS_KEPT_ARROW_BYTES:
            self._rows[key] = data
            self._rows_kept_bytes += table.nbytes
        return data

    @property
    def cell_dirs(self) -> list[str]:
        """Bundle-relative folders of its cells: cells/<sku>/<runtime>/<model>/<workload>."""
        return sorted(e.rel for e in self.entries if e.kind == "dir" and e.rel.startswith(f"{CELLS}/")
                      and e.rel.count("/") == 4)

    def cell_id(self, cell_dir: str) -> str:
        return cell_dir.removeprefix(f"{CELLS}/")

    def has(self, rel: str) -> bool:
        return any(e.rel == rel and e.kind == "file" for e in self.entries)
