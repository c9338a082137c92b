"""JSON Schema export of the user-facing models; a test fails when the files on disk are stale."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from inferboard.pipeline.matrix import PipelineConfig
from inferboard.results.accuracy_table import AccuracyRow
from inferboard.results.provenance import Provenance
from inferboard.results.schema import RequestRecord, SummaryRow, WindowRow
from inferboard.results.status import CellStatus
from inferboard.scenario.scenario import WorkloadOverrides
from inferboard.scenario.workload import Workload

MODELS: dict[str, type[BaseModel]] = {
    "workload": Workload, "request_record": RequestRecord, "summary_row": SummaryRow, "config": PipelineConfig,
    "provenance": Provenance, "cell_status": CellStatus, "workload_overrides": WorkloadOverrides,
    "window_row": WindowRow, "accuracy_row": AccuracyRow}


def render(model: type[BaseModel]) -> str:
    """The JSON Schema text of one model (stable formatting)."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **model.model_json_schema()}
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def export_schemas(out: Path, *, check: bool = False, extra: dict[str, type[BaseModel]] | None = None) -> list[str]:
    """Write every schema (``MODELS`` and the ``extra`` models of the layers above) to ``out/<name>.schema.json``;
    with check, return the stale ones instead."""
    stale = []
    out.mkdir(parents=True, exist_ok=True)
    for name, model in {**MODELS, **(extra or {})}.items():
        path = out / f"{name}.schema.json"
        text = render(model)
        if check:
            if not path.is_file() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.write_text(text)
    return stale
