"""Metric registry: record metrics (per request) and aggregate metrics, ordered by dependencies."""

from __future__ import annotations

from graphlib import TopologicalSorter

from inferboard.metrics.base import AggregateMetric, PointContext, RecordMetric, Timing
from inferboard.metrics.counts import ErrorRate, RequestsFailed, RequestsOk, RequestsTotal, UsageMismatches
from inferboard.metrics.goodput import Goodput, GoodputFraction, GoodputPerGpu, GoodRequests, meets_slo
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

#: per-request metrics, stored as columns of requests.parquet (except pooled ones) and summarised
RECORD_METRICS: tuple[type[RecordMetric], ...] = (
    TTFT, TPOT, ITL, E2E, NTPOT, SendLag, TTFTFromScheduled, E2EFromScheduled,
)
#: record metrics whose percentiles are also given with failed requests counted as infinitely slow
CENSORED: tuple[str, ...] = ("ttft_ms", "e2e_ms")

_AGGREGATES: tuple[type[AggregateMetric], ...] = (
    RequestsTotal, RequestsOk, RequestsFailed, ErrorRate, UsageMismatches, Duration, RequestsPerS,
    OutputTokensPerS, InputTokensPerS, TotalTokensPerS, OutputTokensPerSPerGpu, Interactivity, GoodRequests,
    Goodput, GoodputFraction, GoodputPerGpu, TargetRate, ScheduledRate, AchievedRate, Concurrency,
)


def _ordered(metrics: tuple[type[AggregateMetric], ...]) -> tuple[type[AggregateMetric], ...]:
    by_name = {m.name: m for m in metrics}
    graph = {m.name: {r for r in m.requires if r in by_name} for m in metrics}
    return tuple(by_name[n] for n in TopologicalSorter(graph).static_order())


#: aggregate metrics in an order where every metric comes after what it requires
AGGREGATE_METRICS: tuple[type[AggregateMetric], ...] = _ordered(_AGGREGATES)


def record_values(t: Timing) -> dict[str, float | None]:
    """Scalar record metrics of one request (pooled metrics are derived from chunk times later)."""
    return {m.name: m.of(t) for m in RECORD_METRICS if not m.pooled}


__all__ = [
    "AGGREGATE_METRICS", "ALIASES", "ALIAS_STATS", "CENSORED", "RECORD_METRICS", "AggregateMetric",
    "PointContext", "RecordMetric", "Timing", "meets_slo", "record_values",
]
