"""Throughput over the measurement window of a load point."""

from __future__ import annotations

from inferboard.metrics.base import NS_PER_MS, AggregateMetric, PointContext, per_gpu


class Duration(AggregateMetric):
    """duration_s = last end − first sent over the measured requests (s)."""

    name, unit, label, better, group = "duration_s", "s", "duration", None, "load"

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        sent = [r["sent_ns"] for r in ctx.records]
        ends = [r["end_ns"] or r["sent_ns"] for r in ctx.records]
        if not sent:
            return None
        return float((max(ends) - min(sent)) / (1000 * NS_PER_MS))


def _per_s(ctx: PointContext, amount: float) -> float | None:
    d = ctx.values["duration_s"]
    return amount / d if d else None


class RequestsPerS(AggregateMetric):
    """requests_per_s = requests_ok / duration_s."""

    name, unit, requires = "requests_per_s", "req/s", ("duration_s", "requests_ok")
    label, display_unit, better, group, headline = "req/s", "", "higher", "requests", True

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        return _per_s(ctx, ctx.values["requests_ok"])


class OutputTokensPerS(AggregateMetric):
    """output_tokens_per_s = Σ n_out over ok requests / duration_s."""

    name, unit, requires = "output_tokens_per_s", "tok/s", ("duration_s",)
    label, display_unit, better, group, headline = "output tok/s", "", "higher", "tokens", True

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        return _per_s(ctx, sum(r["output_tokens"] or 0 for r in ctx.records if r["status"] == "ok"))


class InputTokensPerS(AggregateMetric):
    """input_tokens_per_s = Σ prompt tokens (usage, else target) over ok requests / duration_s."""

    name, unit, requires = "input_tokens_per_s", "tok/s", ("duration_s",)
    label, display_unit, better, group = "input tok/s", "", "higher", "tokens"

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        total = sum((r["prompt_tokens"] if r["prompt_tokens"] is not None else r["prompt_tokens_target"])
                    for r in ctx.records if r["status"] == "ok")
        return _per_s(ctx, total)


class TotalTokensPerS(AggregateMetric):
    """total_tokens_per_s = input_tokens_per_s + output_tokens_per_s."""

    name, unit, requires = "total_tokens_per_s", "tok/s", ("input_tokens_per_s", "output_tokens_per_s")
    label, display_unit, better, group = "total tok/s", "", "higher", "tokens"

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        i, o = ctx.values["input_tokens_per_s"], ctx.values["output_tokens_per_s"]
        return None if i is None or o is None else i + o


class OutputTokensPerSPerGpu(AggregateMetric):
    """output_tokens_per_s_per_gpu = output_tokens_per_s / gpu_count (null on CPU hosts)."""

    name, unit, requires = "output_tokens_per_s_per_gpu", "tok/s/GPU", ("output_tokens_per_s",)
    label, display_unit, better, group = "output tok/s / GPU", "", "higher", "tokens"
    leaderboard = True

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        return per_gpu(ctx, "output_tokens_per_s")


class Interactivity(AggregateMetric):
    """interactivity = 1000 / median TPOT (tokens/s seen by one user)."""

    name, unit, requires = "interactivity_tokens_per_s_per_user", "tok/s/user", ("tpot_ms_p50",)
    label, display_unit, better, group = "tok/s / user", "", "higher", "tokens"
    shown = leaderboard = True

    @staticmethod
    def compute(ctx: PointContext) -> float | None:
        tpot = ctx.values["tpot_ms_p50"]
        return 1000.0 / tpot if tpot else None
