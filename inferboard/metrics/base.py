"""Metric base classes: one metric = one small class with its formula in the docstring, its unit and how it is shown.

Every metric declares ``name`` (its summary column), ``unit``, ``label`` (display name), ``better`` (which
direction is an improvement) and ``group`` (where tables place it); headline information says which of its
columns get a confidence interval across trials, are compared by ``inferboard compare`` and lead every table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

NS_PER_MS = 1_000_000

Better = Literal["higher", "lower"] | None
#: display groups in table order (a metric's columns follow its group, then the order of registration):
#: token throughput, request throughput and goodput, latency, errors, operations (overload, recovery, cold start),
#: energy, cost, hardware, offered load, counts
GROUPS: tuple[str, ...] = (
    "tokens", "requests", "latency", "reliability", "accuracy", "operations", "energy", "cost", "hardware", "load",
    "counts",
)


@dataclass(slots=True)
class Timing:
    """Raw per-request timestamps (monotonic ns) from which every record metric is derived."""

    scheduled_ns: int
    sent_ns: int
    chunk_ns: list[int] = field(default_factory=list)  # arrival of each content chunk
    end_ns: int | None = None
    output_tokens: int | None = None  # n_out: usage.completion_tokens, else counted chunks


class Metric:
    """What every metric declares (``better`` has no default: None, meaning neither direction, is a choice)."""

    name: ClassVar[str]
    unit: ClassVar[str]
    #: display name, e.g. "TTFT"
    label: ClassVar[str]
    #: unit shown after the label ("TTFT p50 (ms)"): None shows ``unit``; "" none, the label says it ("output tok/s")
    display_unit: ClassVar[str | None] = None
    better: ClassVar[Better]
    group: ClassVar[str]
    #: headline information and leaderboard columns: statistics for record metrics, yes/no for the others
    headline: ClassVar[tuple[str, ...] | bool]
    leaderboard: ClassVar[tuple[str, ...] | bool]
    #: how the methodology page describes where the value comes from
    kind: ClassVar[str] = ""


class RecordMetric(Metric):
    """A value per request, computed from its Timing; summarised by percentiles over a load point.

    Its values are a column of requests.parquet too (``RequestRecord``), except pooled ones.
    """

    kind = "per request"
    #: summarise over ok requests only (False: over every issued request)
    ok_only: ClassVar[bool] = True
    #: pooled list metric (one value per chunk gap) rather than one scalar per request
    pooled: ClassVar[bool] = False
    #: headline statistics, e.g. ("p50", "p99"): columns ``<name>_p50`` … with a CI, compared, in every table
    headline: ClassVar[tuple[str, ...]] = ()
    #: statistics shown in the site's leaderboard tables
    leaderboard: ClassVar[tuple[str, ...]] = ()

    @staticmethod
    def of(t: Timing) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


class PointMetric(Metric):
    """A value per load point (one summary column)."""

    #: headline: a bootstrap CI and CV across trials, compared by ``inferboard compare``, in every results table
    headline: ClassVar[bool] = False
    #: shown in results tables (the CLI summary and cell pages) without being headline
    shown: ClassVar[bool] = False
    #: shown in the site's leaderboard tables
    leaderboard: ClassVar[bool] = False


@dataclass(slots=True)
class PointContext:
    """What aggregate metrics see for one (trial, load point)."""

    records: list[dict[str, Any]]  # measured (non-warm-up) records of this point
    slo: dict[str, float | None]
    load_kind: str
    load_value: float
    gpu_count: int = 0
    values: dict[str, Any] = field(default_factory=dict)  # results of earlier metrics
    #: the phases of a phased load (metrics.windows.PhaseSpan), its recovery factor and the window width
    phases: tuple[Any, ...] = ()
    recovery_factor: float = 1.5
    window_s: float = 1.0
    #: every issued record of the point, warm-up included (the timeline; ``records`` holds the measured ones)
    all_records: list[dict[str, Any]] = field(default_factory=list)
    #: why a metric is null, by column (a metric may add its reason here)
    nulls: dict[str, str] = field(default_factory=dict)


class AggregateMetric(PointMetric):
    """A value per load point computed from the records and from metrics it ``requires``."""

    kind = "per load point"
    requires: ClassVar[tuple[str, ...]] = ()
    dtype: ClassVar[type] = float

    @staticmethod
    def compute(ctx: PointContext) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


class ColumnMetric(PointMetric):
    """A value per load point computed outside the metric classes (energy, roofline, site figures).

    Declared so that the registry is the one list of what tables show and what gets a CI; ``computed_in``
    names the function that computes it. ``stored``: a summary.parquet column (False: derived by the site).
    """

    kind = "per load point"
    computed_in: ClassVar[str]
    stored: ClassVar[bool] = True


def per_gpu(ctx: PointContext, name: str) -> float | None:
    """``ctx.values[name]`` divided by the GPU count; None on CPU hosts (no GPUs) or without a value."""
    v = ctx.values[name]
    return v / ctx.gpu_count if v is not None and ctx.gpu_count else None
