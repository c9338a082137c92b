"""Operational metrics of a phased load: what happened under the overload phase and how fast the server recovered.

The overload phase is the phase with the highest rate when it is above the first (baseline) phase's rate; these
metrics are null (with a reason) for any other load.
"""

from __future__ import annotations

from typing import Any

from inferboard.metrics.base import NS_PER_MS, AggregateMetric, PointContext
from inferboard.metrics.windows import PhaseSpan, origin_ns, phase_of, recovery

TIMEOUTS = ("timeout_connect", "timeout_first_token", "timeout_between_chunks", "timeout_total")


def overload_records(ctx: PointContext) -> list[dict[str, Any]] | None:
    """Measured records scheduled in the overload phase; None when the load has no overload phase."""
    phases: tuple[PhaseSpan, ...] = ctx.phases
    if not phases:
        return None
    peak = max(range(len(phases)), key=lambda i: (phases[i].rate, -i))
    if phases[peak].rate <= phases[0].rate:
        return None
    t0 = origin_ns(ctx.all_records or ctx.records)
    if t0 is None:
        return []
    return [r for r in ctx.records if phase_of((r["scheduled_ns"] - t0) / (1000 * NS_PER_MS), phases) == peak]


def _fraction(ctx: PointContext, name: str, pick: Any) -> float | None:
    recs = overload_records(ctx)
    if recs is None:
        ctx.nulls[name] = "no overload phase (a phased load with a phase above the first phase's rate)"
        return None
    if not recs:
        ctx.nulls[name] = "no request scheduled in the overload phase"
        return None
    return sum(1 for r in recs if pick(r)) / len(recs)


class OverloadErrorRate(AggregateMetric):
    """overload_error_rate = failed / issued among the measured requests scheduled in the overload phase."""

    name, unit, display_unit = "overload_error_rate", "fraction", ""
    label, better, group, shown = "overload errors", "lower", "operations", True

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        return _fraction(ctx, OverloadErrorRate.name, lambda r: r["status"] != "ok")


class OverloadShedRate(AggregateMetric):
    """overload_shed_rate = requests rejected with HTTP 429 or 503 / issued, in the overload phase (fast shedding)."""

    name, unit, display_unit = "overload_shed_rate", "fraction", ""
    label, better, group, shown = "overload shed", None, "operations", True

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        return _fraction(ctx, OverloadShedRate.name, lambda r: r["http_status"] in (429, 503))


class OverloadTimeoutRate(AggregateMetric):
    """overload_timeout_rate = requests that hit a client timeout / issued, in the overload phase (queued too long)."""

    name, unit, display_unit = "overload_timeout_rate", "fraction", ""
    label, better, group, shown = "overload timeouts", "lower", "operations", True

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        return _fraction(ctx, OverloadTimeoutRate.name, lambda r: r["status"] in TIMEOUTS)


class RecoveryS(AggregateMetric):
    """recovery_s = from the end of the overload phase to the start of the first window (window_s wide, by
    scheduled time) after which every window's median TTFT-from-scheduled, failed requests as +inf, stays within
    recovery_factor × the baseline (first) phase's median; null with a reason when it never gets there."""

    name, unit, label, better, group = "recovery_s", "s", "recovery", "lower", "operations"
    leaderboard = True

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        if not ctx.phases:
            ctx.nulls[RecoveryS.name] = "not a phased load"
            return None
        value, reason = recovery(ctx.all_records or ctx.records, ctx.phases, factor=ctx.recovery_factor,
                                 window_s=ctx.window_s)
        if reason:
            ctx.nulls[RecoveryS.name] = reason
        return value
