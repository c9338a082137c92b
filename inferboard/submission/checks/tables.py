"""Checks on the Parquet files: caps read from the footer first, then exact columns and types, then every row."""

from __future__ import annotations

from collections.abc import Iterator

from inferboard.results.schema import SCHEMA_VERSION
from inferboard.submission.bundle import MAX_BUNDLE_ROWS, Bundle, Unreadable, added_columns, expected_schema
from inferboard.submission.checks.common import rows
from inferboard.submission.registry import Finding, check


def _parquet(b: Bundle) -> list[str]:
    return [e.rel for e in b.files if e.rel.endswith(".parquet")]


@check("parquet.caps")
def parquet_caps(b: Bundle) -> Iterator[Finding]:
    """Every Parquet file's footer is read before its data and must stay within the caps: footer at most 4 MB,
    at most 200,000 rows and 256 row groups, at most 256 MB once decompressed (a small file that would inflate
    to gigabytes is refused unread), and at most 1,000,000 rows in the whole bundle; its data is then read in
    batches of 1,024 rows, at most 256 MB once decoded, and only when its columns are its table's."""
    for rel in _parquet(b):
        try:
            b.parquet_meta(rel)
        except Unreadable as err:
            yield Finding(str(err))
    if b.total_rows > MAX_BUNDLE_ROWS:
        yield Finding(f"the bundle's Parquet files hold {b.total_rows} rows > {MAX_BUNDLE_ROWS}")


@check("parquet.schema")
def parquet_schema(b: Bundle) -> Iterator[Finding]:
    """Every Parquet file has exactly the columns and types of its table (requests, summary, windows,
    gpu_samples, accuracy, metrics), in order, or those it had before columns were added to it (a file written
    then reads them as null: results.schema.ADDED_COLUMNS), and the tables other than metrics carry a known schema
    version."""
    for rel in _parquet(b):
        name = rel.rsplit("/", 1)[-1]
        try:
            got = b.parquet_meta(rel).schema.to_arrow_schema()
        except Unreadable:
            continue  # parquet.caps says why
        want = expected_schema(rel)
        table = None if name == "metrics.parquet" else name.removesuffix(".parquet")
        if want is None:
            continue  # layout.allowed_files refuses any other name
        if added_columns(rel, want, got) is None:
            missing = [f.name for f in want if f.name not in got.names]
            extra = [n for n in got.names if n not in want.names]
            yield Finding(f"{rel}: columns differ from the {table or 'metrics'} table"
                          f" (missing {missing[:5]}, unknown {extra[:5]}, or types/order changed)")
        elif table:
            version = (got.metadata or {}).get(b"inferboard.schema_version", b"").decode(errors="replace")
            if version != str(SCHEMA_VERSION):
                yield Finding(f"{rel}: schema version {version!r} is not a known one ({SCHEMA_VERSION})")


@check("parquet.rows")
def parquet_rows(b: Bundle) -> Iterator[Finding]:
    """Every row of requests.parquet, summary.parquet, windows.parquet, gpu_samples.parquet and accuracy.parquet
    validates against its row model (types, allowed values such as the request status)."""
    for cd in b.cell_dirs:
        for table in ("requests", "summary", "windows", "gpu_samples", "accuracy"):
            if b.has(f"{cd}/{table}.parquet"):
                try:
                    rows(b, cd, table)
                except Unreadable as err:
                    yield Finding(str(err), cell=b.cell_id(cd))
