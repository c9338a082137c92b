"""Metrics: record metrics (per request), aggregate metrics (per load point) and columns computed elsewhere.

Adding a metric: write one class (formula in its docstring, ``name``, ``unit``, ``label``, ``better``,
``group`` and its headline information) and add it to ``BUILTIN`` below; a record metric also needs its
column in ``results.schema.RequestRecord``. Tables, CIs, ``compare`` and the site read the registry
(``inferboard.metrics.metric_registry``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from inferboard.metrics.accuracy import AccuracyExactShare, AccuracyTop5Share
from inferboard.metrics.base import (
    GROUPS,
    AggregateMetric,
    Better,
    ColumnMetric,
    Metric,
    PointContext,
    PointMetric,
    RecordMetric,
    Timing,
)
from inferboard.metrics.columns import (
    ColdStart,
    ColdTtft,
    DriftTpot,
    DriftTtft,
    GoodputPerDollar,
    JoulesPerOutputToken,
    KvCacheUsageMax,
    MaxRateAtSlo,
    RequestsToSteady,
    RooflineEfficiency,
    RssGrowth,
    ServerRssMax,
    TokensPerJoule,
    WaitingRequestsMax,
)
from inferboard.metrics.counts import ErrorRate, RequestsFailed, RequestsOk, RequestsTotal, UsageMismatches
from inferboard.metrics.goodput import (
    Goodput,
    GoodputFraction,
    GoodputFractionScheduled,
    GoodputPerGpu,
    GoodRequests,
    meets_slo,
)
from inferboard.metrics.latency import (
    E2E,
    ITL,
    NTPOT,
    TPOT,
    TTFT,
    E2EFromScheduled,
    SendLag,
    TTFTFromScheduled,
)
from inferboard.metrics.load import AchievedRate, Concurrency, ScheduledRate, TargetRate
from inferboard.metrics.metric_registry import (
    Column,
    aggregate_metrics,
    ci_metrics,
    column,
    column_heading,
    column_label,
    headline_columns,
    leaderboard_columns,
    metric,
    metrics,
    record_metrics,
    register,
    registered,
    result_columns,
    summary_columns,
    unregister,
)
from inferboard.metrics.multimodel import AdapterTtftPenalty
from inferboard.metrics.operational import OverloadErrorRate, OverloadShedRate, OverloadTimeoutRate, RecoveryS
from inferboard.metrics.throughput import (
    Duration,
    InputTokensPerS,
    Interactivity,
    OutputTokensPerS,
    OutputTokensPerSPerGpu,
    RequestsPerS,
    TotalTokensPerS,
)
from inferboard.metrics.variants import ALIAS_STATS, ALIASES

#: the suite's metrics in registration order, which is the column order of summary.parquet
BUILTIN: tuple[type[Metric], ...] = (
    # per request (stored in requests.parquet, except pooled ones, and summarised)
    TTFT, TPOT, ITL, E2E, NTPOT, SendLag, TTFTFromScheduled, E2EFromScheduled,
    # per load point
    RequestsTotal, RequestsOk, RequestsFailed, ErrorRate, UsageMismatches, Duration, RequestsPerS,
    OutputTokensPerS, InputTokensPerS, TotalTokensPerS, OutputTokensPerSPerGpu, Interactivity, GoodRequests,
    Goodput, GoodputFraction, GoodputFractionScheduled, GoodputPerGpu, TargetRate, ScheduledRate, AchievedRate,
    Concurrency,
    OverloadErrorRate, OverloadShedRate, OverloadTimeoutRate, RecoveryS, AdapterTtftPenalty,
    # computed outside the metric classes
    JoulesPerOutputToken, RooflineEfficiency, KvCacheUsageMax, TokensPerJoule, GoodputPerDollar,
    WaitingRequestsMax, ServerRssMax, ColdTtft, RequestsToSteady, DriftTtft, DriftTpot, RssGrowth,
    MaxRateAtSlo, ColdStart, AccuracyExactShare, AccuracyTop5Share,
)
for _m in BUILTIN:
    register(_m)

#: record metrics whose percentiles are also given with failed requests counted as infinitely slow
CENSORED: tuple[str, ...] = ("ttft_ms", "e2e_ms")

if TYPE_CHECKING:
    #: per-request metrics registered when read (``from inferboard.metrics import RECORD_METRICS``)
    RECORD_METRICS: tuple[type[RecordMetric], ...]
    #: aggregate metrics registered when read, every one after what it requires
    AGGREGATE_METRICS: tuple[type[AggregateMetric], ...]


def __getattr__(name: str) -> Any:
    """RECORD_METRICS and AGGREGATE_METRICS as the registry holds them when a module imports them."""
    if name == "RECORD_METRICS":
        return record_metrics()
    if name == "AGGREGATE_METRICS":
        return aggregate_metrics()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def record_values(t: Timing) -> dict[str, float | None]:
    """Scalar record metrics of one request (pooled metrics are derived from chunk times later)."""
    return {m.name: m.of(t) for m in record_metrics() if not m.pooled}


__all__ = [
    "AGGREGATE_METRICS", "ALIASES", "ALIAS_STATS", "BUILTIN", "CENSORED", "GROUPS", "RECORD_METRICS",
    "AggregateMetric", "Better", "Column", "ColumnMetric", "Metric", "PointContext", "PointMetric", "RecordMetric",
    "Timing", "aggregate_metrics", "ci_metrics", "column", "column_heading", "column_label", "headline_columns",
    "leaderboard_columns", "meets_slo", "metric", "metrics", "record_metrics", "record_values", "register",
    "registered", "result_columns", "summary_columns", "unregister",
]
