"""Goodput: requests meeting every SLO bound of the workload."""

from __future__ import annotations

from typing import Any

from inferboard.metrics.base import AggregateMetric, PointContext, per_gpu


def meets_slo(r: dict[str, Any], slo: dict[str, float | None]) -> bool:
    """True when ``r`` is ok and each set SLO bound (ttft_ms, tpot_ms, e2e_ms) holds."""
    if r["status"] != "ok":
        return False
    for key, bound in slo.items():
        if bound is None:
            continue
        value = r.get(key)
        if value is not None and value > bound:
            return False
    return True


def meets_slo_scheduled(r: dict[str, Any], slo: dict[str, float | None]) -> bool:
    """True when ``r`` is ok and each set SLO bound holds with TTFT and E2E counted from the scheduled time."""
    scheduled = {**r, "ttft_ms": r.get("ttft_from_scheduled_ms"), "e2e_ms": r.get("e2e_from_scheduled_ms")}
    return meets_slo(scheduled, slo)


def slo_fraction_scheduled(records: list[dict[str, Any]], slo: dict[str, float | None]) -> float | None:
    """Fraction of ``records`` meeting every SLO bound from the scheduled time (None without records)."""
    return sum(1 for r in records if meets_slo_scheduled(r, slo)) / len(records) if records else None


class GoodRequests(AggregateMetric):
    """good_requests = ok requests meeting every SLO bound."""

    name, unit, dtype = "good_requests", "requests", int
    label, better, group = "good requests", "higher", "counts"

    @staticmethod
    def compute(ctx: PointContext) -> int:
        return sum(1 for r in ctx.records if meets_slo(r, ctx.slo))


class Goodput(AggregateMetric):
    """goodput_requests_per_s = good_requests / duration_s."""

    name, unit, requires = "goodput_requests_per_s", "req/s", ("good_requests", "duration_s")
    label, better, group, headline = "goodput", "higher", "requests", True

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        d = ctx.values["duration_s"]
        return ctx.values["good_requests"] / d if d else None


class GoodputFraction(AggregateMetric):
    """goodput_fraction = good_requests / requests_total."""

    name, unit, requires = "goodput_fraction", "fraction", ("good_requests", "requests_total")
    label, display_unit, better, group = "goodput fraction", "", "higher", "requests"

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        total = ctx.values["requests_total"]
        return ctx.values["good_requests"] / total if total else None


class GoodputFractionScheduled(AggregateMetric):
    """goodput_fraction_scheduled = measured requests meeting every SLO bound with TTFT and E2E counted from the
    scheduled time (a queue the client never sees counts) / requests_total; a search probe passes above its target."""

    name, unit, requires = "goodput_fraction_scheduled", "fraction", ("requests_total",)
    label, display_unit, better, group = "goodput fraction (from scheduled)", "", "higher", "requests"

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        return slo_fraction_scheduled(ctx.records, ctx.slo)


class GoodputPerGpu(AggregateMetric):
    """goodput_requests_per_s_per_gpu = goodput_requests_per_s / gpu_count (null on CPU hosts)."""

    name, unit, requires = "goodput_requests_per_s_per_gpu", "req/s/GPU", ("goodput_requests_per_s",)
    label, display_unit, better, group = "goodput / GPU", "req/s", "higher", "requests"
    leaderboard = True

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        return per_gpu(ctx, "goodput_requests_per_s")
