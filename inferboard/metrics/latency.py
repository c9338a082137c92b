"""Per-request latency metrics; all from raw chunk timestamps."""

from __future__ import annotations

from inferboard.metrics.base import NS_PER_MS, RecordMetric, Timing


class TTFT(RecordMetric):
    """Time to first token: TTFT = first content chunk − sent (ms)."""

    name, unit, label, better, group = "ttft_ms", "ms", "TTFT", "lower", "latency"
    headline, leaderboard = ("p50", "p99"), ("p99",)

    @staticmethod
    def of(t: Timing) -> float | None:
        return (t.chunk_ns[0] - t.sent_ns) / NS_PER_MS if t.chunk_ns else None


class E2E(RecordMetric):
    """End-to-end latency: E2E = last content chunk − sent (ms)."""

    name, unit, label, better, group = "e2e_ms", "ms", "E2E latency", "lower", "latency"
    headline = ("p50", "p99")

    @staticmethod
    def of(t: Timing) -> float | None:
        return (t.chunk_ns[-1] - t.sent_ns) / NS_PER_MS if t.chunk_ns else None


class TPOT(RecordMetric):
    """Time per output token excluding the first: TPOT = (E2E − TTFT) / (n_out − 1) (vLLM, MLPerf)."""

    name, unit, label, better, group = "tpot_ms", "ms", "TPOT", "lower", "latency"
    headline, leaderboard = ("p50", "p99"), ("p99",)

    @staticmethod
    def of(t: Timing) -> float | None:
        n = t.output_tokens
        if not t.chunk_ns or n is None or n < 2:
            return None
        return (t.chunk_ns[-1] - t.chunk_ns[0]) / NS_PER_MS / (n - 1)


class NTPOT(RecordMetric):
    """Normalised time per output token: NTPOT = E2E / n_out (includes the prefill)."""

    name, unit, label, better, group = "ntpot_ms", "ms", "NTPOT", "lower", "latency"

    @staticmethod
    def of(t: Timing) -> float | None:
        n = t.output_tokens
        if not t.chunk_ns or not n:
            return None
        return (t.chunk_ns[-1] - t.sent_ns) / NS_PER_MS / n


class ITL(RecordMetric):
    """Inter-token latency: ITL_i = t(chunk i) − t(chunk i−1) over content chunks, pooled over requests (vLLM)."""

    name, unit, label, better, group = "itl_ms", "ms", "ITL", "lower", "latency"
    pooled, headline = True, ("p50",)

    @staticmethod
    def of(t: Timing) -> list[float]:
        c = t.chunk_ns
        return [(c[i] - c[i - 1]) / NS_PER_MS for i in range(1, len(c))]


class SendLag(RecordMetric):
    """Client lateness: send_lag = sent − scheduled (ms); large values mean a saturated client."""

    name, unit, label, better, group = "send_lag_ms", "ms", "client send lag", "lower", "load"
    ok_only = False

    @staticmethod
    def of(t: Timing) -> float:
        return (t.sent_ns - t.scheduled_ns) / NS_PER_MS


class TTFTFromScheduled(RecordMetric):
    """Coordinated-omission-safe TTFT: ttft_from_scheduled = first content chunk − scheduled (ms)."""

    name, unit, label, better, group = "ttft_from_scheduled_ms", "ms", "TTFT from scheduled send", "lower", "latency"

    @staticmethod
    def of(t: Timing) -> float | None:
        return (t.chunk_ns[0] - t.scheduled_ns) / NS_PER_MS if t.chunk_ns else None


class E2EFromScheduled(RecordMetric):
    """Coordinated-omission-safe latency: e2e_from_scheduled = last content chunk − scheduled (ms)."""

    name, unit, label, better, group = "e2e_from_scheduled_ms", "ms", "E2E from scheduled send", "lower", "latency"

    @staticmethod
    def of(t: Timing) -> float | None:
        return (t.chunk_ns[-1] - t.scheduled_ns) / NS_PER_MS if t.chunk_ns else None
