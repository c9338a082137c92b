"""Several models on one server: what addressing a LoRA adapter costs next to the base model on the same server.

A record's ``target`` is the model its request addressed in a traffic split: ``base`` (the served model) or an
adapter's name; null without a split.
"""

from __future__ import annotations

import numpy as np

from inferboard.core.ids import BASE_TARGET
from inferboard.core.stats import min_samples
from inferboard.metrics.base import AggregateMetric, PointContext


class AdapterTtftPenalty(AggregateMetric):
    """adapter_ttft_penalty_pct = (median TTFT of the ok requests addressed to an adapter / median TTFT of the ok
    requests addressed to the base model − 1) × 100, measured requests of the same point: what serving adapters
    next to the model costs a request's first token (a runtime that cannot batch different adapters together
    pays here). Null without a traffic split (no reason given), or with fewer than 11 requests addressed to the
    base model or to adapters (the minimum sample of a median)."""

    name, unit, display_unit = "adapter_ttft_penalty_pct", "%", "%"
    label, better, group, shown = "adapter TTFT penalty", "lower", "operations", False

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        ok = [r for r in ctx.records if r["status"] == "ok" and r.get("target") is not None]
        base = [r["ttft_ms"] for r in ok if r["target"] == BASE_TARGET]
        adapters = [r["ttft_ms"] for r in ok if r["target"] != BASE_TARGET]
        need = min_samples(50.0)
        if not ok:  # no traffic split: the column does not apply (no reason, as in cells measured before it)
            return None
        if len(base) < need or len(adapters) < need:
            ctx.nulls[AdapterTtftPenalty.name] = (f"{len(base)} base and {len(adapters)} adapter requests: "
                                                  f"{need} of each needed")
        else:
            return (float(np.median(adapters)) / float(np.median(base)) - 1.0) * 100.0
        return None
