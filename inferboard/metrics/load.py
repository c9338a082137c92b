"""Offered versus achieved load: did the client send what the schedule asked for?"""

from __future__ import annotations

from inferboard.metrics.base import NS_PER_MS, AggregateMetric, PointContext

#: load kinds with scheduled arrivals (open loop)
OPEN_LOOP = ("rate", "phases", "search", "trace")


def _rate(ns: list[int]) -> float | None:
    ns = sorted(ns)
    if len(ns) < 2 or ns[-1] == ns[0]:
        return None
    return (len(ns) - 1) / ((ns[-1] - ns[0]) / (1000 * NS_PER_MS))


class TargetRate(AggregateMetric):
    """target_rate = the configured arrival rate (req/s; a phased load's mean offered rate); null in closed loop."""

    name, unit, label, better, group = "target_rate", "req/s", "target rate", None, "load"

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        return ctx.load_value if ctx.load_kind in OPEN_LOOP else None


class ScheduledRate(AggregateMetric):
    """scheduled_rate = (n − 1) / (last scheduled − first scheduled): the rate the drawn schedule asks."""

    name, unit, label, better, group = "scheduled_rate", "req/s", "scheduled rate", None, "load"

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        return _rate([r["scheduled_ns"] for r in ctx.records]) if ctx.load_kind in OPEN_LOOP else None


class AchievedRate(AggregateMetric):
    """achieved_rate = (n − 1) / (last sent − first sent) over issued requests (req/s)."""

    name, unit, label, better, group = "achieved_rate", "req/s", "achieved rate", None, "load"

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        return _rate([r["sent_ns"] for r in ctx.records])


class Concurrency(AggregateMetric):
    """target_concurrency = the configured number of requests in flight; null in open loop."""

    name, unit, label, better, group = "target_concurrency", "requests", "concurrency", None, "load"

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        return ctx.load_value if ctx.load_kind == "concurrency" else None
