"""Metric base classes: one metric = one small class with its formula in the docstring and a unit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

NS_PER_MS = 1_000_000


@dataclass(slots=True)
class Timing:
    """Raw per-request timestamps (monotonic ns) from which every record metric is derived."""

    scheduled_ns: int
    sent_ns: int
    chunk_ns: list[int] = field(default_factory=list)  # arrival of each content chunk
    end_ns: int | None = None
    output_tokens: int | None = None  # n_out: usage.completion_tokens, else counted chunks


class RecordMetric:
    """A value per request, computed from its Timing; summarised by percentiles over a load point."""

    name: ClassVar[str]
    unit: ClassVar[str]
    #: summarise over ok requests only (False: over every issued request)
    ok_only: ClassVar[bool] = True
    #: pooled list metric (one value per chunk gap) rather than one scalar per request
    pooled: ClassVar[bool] = False

    @staticmethod
    def of(t: Timing) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(slots=True)
class PointContext:
    """What aggregate metrics see for one (trial, load point)."""

    records: list[dict[str, Any]]  # measured (non-warm-up) records of this point
    slo: dict[str, float | None]
    load_kind: str
    load_value: float
    gpu_count: int = 0
    values: dict[str, Any] = field(default_factory=dict)  # results of earlier metrics


class AggregateMetric:
    """A value per load point computed from the records and from metrics it ``requires``."""

    name: ClassVar[str]
    unit: ClassVar[str]
    requires: ClassVar[tuple[str, ...]] = ()
    dtype: ClassVar[type] = float

    @staticmethod
    def compute(ctx: PointContext) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


def per_gpu(ctx: PointContext, name: str) -> float | None:
    """``ctx.values[name]`` divided by the GPU count; None on CPU hosts (no GPUs) or without a value."""
    v = ctx.values[name]
    return v / ctx.gpu_count if v is not None and ctx.gpu_count else None
