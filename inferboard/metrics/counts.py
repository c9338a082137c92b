"""Request counts and error rate of a load point (warm-up excluded)."""

from __future__ import annotations

from inferboard.metrics.base import AggregateMetric, PointContext


class RequestsTotal(AggregateMetric):
    """requests_total = measured requests issued (every one has a record, failed or not)."""

    name, unit, dtype = "requests_total", "requests", int
    label, better, group = "requests", None, "counts"

    @staticmethod
    def compute(ctx: PointContext) -> int:
        return len(ctx.records)


class RequestsOk(AggregateMetric):
    """requests_ok = measured requests with status ``ok``."""

    name, unit, dtype = "requests_ok", "requests", int
    label, better, group = "ok requests", "higher", "counts"

    @staticmethod
    def compute(ctx: PointContext) -> int:
        return sum(1 for r in ctx.records if r["status"] == "ok")


class RequestsFailed(AggregateMetric):
    """requests_failed = requests_total − requests_ok."""

    name, unit, dtype = "requests_failed", "requests", int
    label, better, group = "failed requests", "lower", "counts"
    requires = ("requests_total", "requests_ok")

    @staticmethod
    def compute(ctx: PointContext) -> int:
        return int(ctx.values["requests_total"] - ctx.values["requests_ok"])


class ErrorRate(AggregateMetric):
    """error_rate = requests_failed / requests_total (0..1); above 1% the load point is invalid."""

    name, unit, display_unit = "error_rate", "fraction", ""
    label, better, group, headline = "error rate", "lower", "reliability", True
    requires = ("requests_total", "requests_failed")

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        total = ctx.values["requests_total"]
        return ctx.values["requests_failed"] / total if total else None


class UsageMismatches(AggregateMetric):
    """usage_mismatches = ok requests whose usage.completion_tokens differs from counted content chunks."""

    name, unit, dtype = "usage_mismatches", "requests", int
    label, better, group = "usage mismatches", "lower", "counts"

    @staticmethod
    def compute(ctx: PointContext) -> int:
        return sum(1 for r in ctx.records if r["usage_mismatch"])
