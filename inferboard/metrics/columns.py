"""Metrics computed outside the metric classes, declared here so that the registry lists every shown metric.

Energy, roofline and KV-cache columns come from the hardware monitors (``results.summarize``,
``hardware.roofline``); tokens per joule and requests per dollar are derived by the site from stored columns.
"""

from __future__ import annotations

from inferboard.metrics.base import ColumnMetric


class JoulesPerOutputToken(ColumnMetric):
    """joules_per_output_token = GPU energy over the window / output tokens generated in it (warm-up included)."""

    name, unit, label, display_unit = "joules_per_output_token", "J/token", "J / token", ""
    better, group, headline = "lower", "energy", True
    computed_in = "results.summarize.hardware_columns"


class TokensPerJoule(ColumnMetric):
    """tokens_per_joule = 1 / joules_per_output_token (null where energy is unknown)."""

    name, unit, label, display_unit = "tokens_per_joule", "tok/J", "tok / J", ""
    better, group, leaderboard = "higher", "energy", True
    computed_in, stored = "site.data.tokens_per_joule", False


class GoodputPerDollar(ColumnMetric):
    """goodput_per_dollar = goodput per GPU × 3600 / the SKU's price per GPU-hour (good requests per US dollar)."""

    name, unit, label, display_unit = "goodput_per_dollar", "req/USD", "req / $", ""
    better, group, leaderboard = "higher", "cost", True
    computed_in, stored = "site.data.goodput_per_dollar", False


class RooflineEfficiency(ColumnMetric):
    """roofline_efficiency_pct = 100 × output_tokens_per_s / the decode roofline limit of the model on the SKU."""

    name, unit, label, display_unit = "roofline_efficiency_pct", "%", "roofline %", ""
    better, group, shown = "higher", "hardware", True
    computed_in = "hardware.roofline.row_limits"


class KvCacheUsageMax(ColumnMetric):
    """kv_cache_usage_max = max of the runtime's KV-cache usage gauge (0–1) while the point's requests ran."""

    name, unit, label, display_unit = "kv_cache_usage_max", "fraction", "KV cache max", ""
    better, group, shown = None, "hardware", True
    computed_in = "results.summarize.kv_cache_columns"


class WaitingRequestsMax(ColumnMetric):
    """waiting_requests_max = max of the runtime's waiting-requests gauge while the point's requests ran (its queue)."""

    name, unit, label, display_unit = "waiting_requests_max", "requests", "peak queue", ""
    better, group, shown = None, "operations", True
    computed_in = "results.summarize.hardware_columns"


class ServerRssMax(ColumnMetric):
    """server_rss_max_bytes = max resident memory of the server's process tree (sampled) while the point ran."""

    name, unit, label, display_unit = "server_rss_max_bytes", "bytes", "server RSS max", None
    better, group, shown = None, "hardware", True
    computed_in = "results.summarize.hardware_columns"


class ColdTtft(ColumnMetric):
    """cold_ttft_ms = TTFT of the first request sent after the server became ready (null unless the point
    follows a server start)."""

    name, unit, label, display_unit = "cold_ttft_ms", "ms", "cold TTFT", None
    better, group, leaderboard = "lower", "operations", True
    computed_in = "results.summarize.cold_start_columns"


class RequestsToSteady(ColumnMetric):
    """requests_to_steady = requests after a server start before the first whose TTFT is within 1.5× the steady
    TTFT, the median of the later half of the point's requests (the warm-up curve's length; 0 = steady from the
    first request)."""

    name, unit, label, display_unit = "requests_to_steady", "requests", "requests to steady", ""
    better, group, shown = "lower", "operations", True
    computed_in = "results.summarize.cold_start_columns"


class DriftTtft(ColumnMetric):
    """drift_ttft_p50_pct_per_h = 100 × slope of the windows' median TTFT per hour / their mean (with a 95% CI:
    columns _ci95_low and _ci95_high); null on a phased load, or with fewer than 10 windows with a median or
    less than 60 s between the first and the last."""

    name, unit, label, display_unit = "drift_ttft_p50_pct_per_h", "%/h", "TTFT drift", None
    better, group, leaderboard = None, "operations", True
    computed_in = "metrics.drift.drift_columns"


class DriftTpot(ColumnMetric):
    """drift_tpot_p50_pct_per_h = 100 × slope of the windows' median TPOT per hour / their mean (with a 95% CI)."""

    name, unit, label, display_unit = "drift_tpot_p50_pct_per_h", "%/h", "TPOT drift", None
    better, group, shown = None, "operations", True
    computed_in = "metrics.drift.drift_columns"


class RssGrowth(ColumnMetric):
    """rss_growth_bytes_per_h = slope of the server's process-tree RSS over the windows, bytes per hour (95% CI)."""

    name, unit, label, display_unit = "rss_growth_bytes_per_h", "bytes/h", "RSS growth", None
    better, group, shown = "lower", "operations", True
    computed_in = "metrics.drift.drift_columns"


class MaxRateAtSlo(ColumnMetric):
    """max_rate_at_slo_rps = the highest probed rate whose goodput fraction from the scheduled time reaches the
    search's target (0.99), below every failing probe; found by ramping up then bisecting to 5% (null: no probe
    passed, or not a search load)."""

    name, unit, label, display_unit = "max_rate_at_slo_rps", "req/s", "max rate at SLO", None
    better, group, leaderboard = "higher", "operations", True
    computed_in = "cell.finalize.search_columns"


class ColdStart(ColumnMetric):
    """cold_start_s = seconds from starting the server process to its first ready answer (readiness probe), for
    the server that ran the point; with server_caches empty or warm where the runtime has compile caches."""

    name, unit, label, display_unit = "cold_start_s", "s", "cold start", None
    better, group, shown = "lower", "operations", True
    computed_in = "cell.finalize.summary_rows"
