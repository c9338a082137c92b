from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from inferboard.pipeline.schemas import export_schemas
from inferboard.results.schema import REQUESTS_SCHEMA, SUMMARY_SCHEMA, RequestRecord

ROOT = Path(__file__).resolve().parents[3]


def test_exported_json_schemas_are_current() -> None:
    from inferboard.submission.manifest import Manifest
    from inferboard.submission.record import ReproductionRecord

    extra = {"manifest": Manifest, "reproduction": ReproductionRecord}
    assert export_schemas(ROOT / "workflows" / "schemas", check=True, extra=extra) == [], "run `inferboard schema`"


def test_arrow_schema_follows_the_pydantic_model() -> None:
    assert REQUESTS_SCHEMA.names == list(RequestRecord.model_fields)
    assert REQUESTS_SCHEMA.field("status").type == pa.string() and not REQUESTS_SCHEMA.field("status").nullable
    assert REQUESTS_SCHEMA.field("ttft_ms").nullable
    assert REQUESTS_SCHEMA.field("chunk_times_ms").type == pa.list_(pa.float64())
    assert SUMMARY_SCHEMA.field("valid").type == pa.bool_()
    assert SUMMARY_SCHEMA.metadata[b"inferboard.schema_version"] == b"1"
