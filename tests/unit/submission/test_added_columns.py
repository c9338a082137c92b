"""Bundles written before a column was added (results.schema.ADDED_COLUMNS) read as having it, null."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from inferboard.results.schema import ADDED_COLUMNS, REQUESTS_SCHEMA
from inferboard.submission.bundle import Bundle
from tests.unit.submission.bundles import failed, first_cell, rehash, report


def test_a_file_from_before_the_target_column_reads_it_as_null(bundle: Path) -> None:
    cell = first_cell(bundle)
    table = pq.read_table(cell / "requests.parquet")
    if "target" in table.column_names:  # the committed bundle may be newer: make it an older one
        pq.write_table(table.drop_columns(list(ADDED_COLUMNS["requests"])), cell / "requests.parquet")
        rehash(bundle)
    assert "target" not in pq.read_schema(cell / "requests.parquet").names
    rel = str(cell.relative_to(bundle) / "requests.parquet")
    rows = Bundle(bundle).rows(rel)
    assert rows and all(r["target"] is None for r in rows)
    assert list(rows[0]) == REQUESTS_SCHEMA.names  # in the table's order
    assert not failed(report(bundle))


def test_a_file_lacking_any_other_column_is_refused(bundle: Path) -> None:
    cell = first_cell(bundle)
    table = pq.read_table(cell / "requests.parquet")
    pq.write_table(table.drop_columns(["error"]), cell / "requests.parquet")
    rehash(bundle)
    assert "parquet.schema" in failed(report(bundle))
