"""Throughput over the measurement window of a load point."""

from __future__ import annotations

from inferboard.metrics.base import NS_PER_MS, AggregateMetric, PointContext, per_gpu


class Duration(AggregateMetric):
    """duration_s = last end − first sent over the measured requests (s)."""

    name, unit = "duration_s", "s"

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        sent = [r["sent_ns"] for r in ctx.records]
        ends = [r["end_ns"] or r["sent_ns"] for r in ctx.records]
        if not sent:
            return None
        return (max(ends) - min(sent)) / (1000 * NS_PER_MS)


def _per_s(ctx: PointContext, amount: float) -> float | None:
    d = ctx.values["duration_s"]
    return amount / d if d else None


class RequestsPerS(AggregateMetric):
    """requests_per_s = requests_ok / duration_s."""

    name, unit, requires = "requests_per_s", "req/s", ("duration_s", "requests_ok")

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        return _per_s(ctx, ctx.values["requests_ok"])


class OutputTokensPerS(AggregateMetric):
    """output_tokens_per_s = Σ n_out over ok requests / duration_s."""

    name, unit, requires = "output_tokens_per_s", "tok/s", ("duration_s",)

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        return _per_s(ctx, sum(r["output_tokens"] or 0 for r in ctx.records if r["status"] == "ok"))


class InputTokensPerS(AggregateMetric):
    """input_tokens_per_s = Σ prompt tokens (usage, else target) over ok requests / duration_s."""

    name, unit, requires = "input_tokens_per_s", "tok/s", ("duration_s",)

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        total = sum((r["prompt_tokens"] if r["prompt_tokens"] is not None else r["prompt_tokens_target"])
                    for r in ctx.records if r["status"] == "ok")
        return _per_s(ctx, total)


class TotalTokensPerS(AggregateMetric):
    """total_tokens_per_s = input_tokens_per_s + output_tokens_per_s."""

    name, unit, requires = "total_tokens_per_s", "tok/s", ("input_tokens_per_s", "output_tokens_per_s")

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        i, o = ctx.values["input_tokens_per_s"], ctx.values["output_tokens_per_s"]
        return None if i is None or o is None else i + o


class OutputTokensPerSPerGpu(AggregateMetric):
    """output_tokens_per_s_per_gpu = output_tokens_per_s / gpu_count (null on CPU hosts)."""

    name, unit, requires = "output_tokens_per_s_per_gpu", "tok/s/GPU", ("output_tokens_per_s",)

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        return per_gpu(ctx, "output_tokens_per_s")


class Interactivity(AggregateMetric):
    """interactivity = 1000 / median TPOT (tokens/s seen by one user)."""

    name, unit, requires = "interactivity_tokens_per_s_per_user", "tok/s/user", ("tpot_ms_p50",)

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        tpot = ctx.values["tpot_ms_p50"]
        return 1000.0 / tpot if tpot else None
