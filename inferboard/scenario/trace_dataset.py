"""The ``trace`` dataset of a workload: a CSV trace pinned by SHA-256, a contiguous slice of it and a length scale."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PositiveInt

from inferboard.core.strict import Strict

MAX_TRACE_ROWS = 1_000_000
SLICE_DEFAULTS: dict[str, float] = {"start_row": 0, "token_scale": 1.0}


class TraceDataset(Strict):
    """Request lengths from a CSV trace in the public Azure LLM inference trace format (TIMESTAMP, ContextTokens,
    GeneratedTokens), pinned by its SHA-256; arrivals come with ``load: trace``. A relative ``file`` is relative to
    the repository (workflows/traces/ holds the 2023 Azure traces and small synthetic ones).

    The workload replays the contiguous slice of rows [start_row, start_row + warm-up + requests), its offsets
    measured from the slice's first row; every length is multiplied by ``token_scale``, rounded half up and
    clamped to [1, max_*_tokens]."""

    kind: Literal["trace"]
    file: Annotated[str, Field(min_length=1, max_length=4096)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    max_input_tokens: PositiveInt = 8192
    max_output_tokens: PositiveInt = 2048
    start_row: Annotated[int, Field(ge=0, lt=MAX_TRACE_ROWS, description="0-based first data row of the slice")] = 0
    token_scale: Annotated[float, Field(gt=0, le=1000, description="factor on every ContextTokens and "
                                        "GeneratedTokens, before rounding and clamping")] = 1.0

    def hash_exclusions(self) -> set[str]:
        """The slice fields left at their defaults: kept out of the workload's content hash, so that the hashes of
        trace workloads written before these fields existed are unchanged."""
        return {name for name, default in SLICE_DEFAULTS.items() if getattr(self, name) == default}
