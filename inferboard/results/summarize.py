"""Summary rows from request records: distributions, aggregate metrics, validity and trial CIs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from inferboard.core.stats import (
    CV_FLAG,
    PERCENTILES,
    bootstrap_ci,
    coefficient_of_variation,
    min_samples,
    percentile,
    pname,
)
from inferboard.hardware.roofline import row_limits
from inferboard.hardware.sku import Sku
from inferboard.metrics import (
    AGGREGATE_METRICS,
    ALIAS_STATS,
    ALIASES,
    CENSORED,
    RECORD_METRICS,
    PointContext,
)
from inferboard.metrics.drift import DRIFTS, drift_columns
from inferboard.metrics.windows import window_rows
from inferboard.models.catalog import ModelEntry
from inferboard.results.schema import CI_METRICS, HARDWARE_FIELDS, SCHEMA_VERSION

MAX_ERROR_RATE = 0.01
MAX_SEND_LAG_P99_MS = 10.0
MIN_ACHIEVED_FRACTION = 0.95


@dataclass(slots=True)
class PointInfo:
    """Identity of one (trial, load point) and what surrounds its measurement."""

    cell_id: str
    workload: str
    workload_hash: str
    schedule_hash: str
    runtime: str
    model: str
    sku: str
    trials: int
    trial: int
    load_point: int
    load_kind: str
    load_value: float
    burstiness: float | None
    slo: dict[str, float | None]
    requests_planned: int
    warmup_requests: int
    gpu_count: int = 0
    server_exit_code: int | None = None
    server_log_tail: str | None = None
    cold_start_s: float | None = None
    hardware: dict[str, Any] = field(default_factory=dict)  # HARDWARE_FIELDS taken from the fingerprint
    gpu_window: dict[str, Any] | None = None  # GpuWindow.summary() of this point's measurement window
    model_entry: ModelEntry | None = None
    sku_entry: Sku | None = None
    kv_cache_samples: list[tuple[int, float]] = field(default_factory=list)  # (t_ns, fraction) from /metrics
    waiting_samples: list[tuple[int, float]] = field(default_factory=list)  # (t_ns, requests) from /metrics
    rss_samples: list[tuple[int, float]] = field(default_factory=list)  # (t_ns, bytes): the server's process tree
    phases: tuple[Any, ...] = ()  # metrics.windows.PhaseSpan of a phased load
    recovery_factor: float = 1.5
    window_s: float = 1.0
    #: this point is the first after a server start (load point 0 of a trial that started a server)
    after_start: bool = False
    server_caches: str | None = None  # "empty" or "warm": the compile caches the server started with


def _values(records: Sequence[dict[str, Any]], name: str, pooled: bool, ok_only: bool) -> np.ndarray:
    pop = [r for r in records if r["status"] == "ok"] if ok_only else records
    if pooled:  # ITL: gaps between consecutive content chunks
        gaps = [np.diff(r["chunk_times_ms"]) for r in pop if len(r["chunk_times_ms"]) > 1]
        return np.concatenate(gaps) if gaps else np.empty(0)
    return np.asarray([r[name] for r in pop if r[name] is not None], dtype=float)


def distributions(records: Sequence[dict[str, Any]], nulls: dict[str, str]) -> dict[str, Any]:
    """count/mean/std/max and percentiles of every record metric (percentile rule applied)."""
    out: dict[str, Any] = {}
    for m in RECORD_METRICS:
        v = _values(records, m.name, m.pooled, m.ok_only)
        out[f"{m.name}_count"] = len(v)
        out[f"{m.name}_mean"] = float(v.mean()) if len(v) else None
        out[f"{m.name}_std"] = float(v.std(ddof=1)) if len(v) > 1 else None
        out[f"{m.name}_max"] = float(v.max()) if len(v) else None
        for q in PERCENTILES:
            key = f"{m.name}_{pname(q)}"
            out[key], reason = percentile(v, q)
            if reason:
                nulls[key] = reason
    for name in CENSORED:  # failed requests count as infinitely slow
        v = np.asarray([r[name] if r["status"] == "ok" and r[name] is not None else np.inf for r in records])
        for q in (50.0, 90.0, 99.0):
            key = f"{name}_{pname(q)}_incl_failed"
            out[key], reason = percentile(v, q)
            if reason:
                nulls[key] = reason
    for alias, ours in ALIASES.items():
        for stat in ALIAS_STATS:
            out[f"{alias}_{stat}"] = out[f"{ours}_{stat}"]
    return out


def plausibility(values: dict[str, Any]) -> list[str]:
    """Physical checks: a row faster than its roofline limit cannot be published (methodology: validity)."""
    eff = values.get("roofline_efficiency_pct")
    if eff is not None and eff > 100.0:
        return [f"implausible: {values['output_tokens_per_s']:.4g} tok/s is {eff:.0f}% of the roofline "
                f"limit {values['roofline_decode_tokens_per_s']:.4g} tok/s"]
    return []


def send_lag_percentile(n: int) -> float:
    """The send-lag percentile held to MAX_SEND_LAG_P99_MS for a point of ``n`` measured requests: the p99 where
    they bound it (662, core.stats.min_samples), else the highest percentile they do bound (p90 from 64, else the
    median). The p99 of fewer requests is their one or two largest lags: a single descheduling of the client by
    the host (a 10-17 ms stall, seen here with no request in flight) would decide it, not a saturated client."""
    return next((q for q in (99.0, 90.0) if n >= min_samples(q)), 50.0)


def send_lag_reasons(records: Iterable[dict[str, Any]]) -> list[str]:
    """Each client process (``client_proc``; null: the only one) whose send lag, at the percentile the point's
    requests bound (send_lag_percentile), is above the bound: a process that fell behind its schedule is
    saturated, whatever the others did."""
    lags: dict[int | None, list[float]] = {}
    for r in records:
        if r["send_lag_ms"] is not None:
            lags.setdefault(r.get("client_proc"), []).append(r["send_lag_ms"])
    out = []
    for proc, v in sorted(lags.items(), key=lambda kv: -1 if kv[0] is None else kv[0]):
        q = send_lag_percentile(len(v))
        lag = float(np.percentile(v, q))
        if lag > MAX_SEND_LAG_P99_MS:
            who = "" if proc is None or len(lags) == 1 else f"client process {proc}: "
            out.append(f"{who}p{q:g} send lag {lag:.1f} ms > {MAX_SEND_LAG_P99_MS:g} ms")
    return out


def validity(values: dict[str, Any], records: Sequence[dict[str, Any]]) -> list[str]:
    """Named checks that make a load point invalid; each returns a reason (methodology: validity)."""
    reasons = plausibility(values)
    if not records:
        return [*reasons, "no measured requests"]
    if values["requests_ok"] == 0:
        reasons.append("no successful requests")
    rate = values["error_rate"]
    if values.get("overload_error_rate") is not None:  # errors under overload are what a phased load measures
        rate = None
    if rate is not None and rate > MAX_ERROR_RATE:
        reasons.append(f"error rate {rate:.1%} > {MAX_ERROR_RATE:.0%}")
    reasons += [f"client saturated: {why}" for why in send_lag_reasons(records)]
    sched, achieved = values["scheduled_rate"], values["achieved_rate"]
    if sched and achieved is not None and achieved < MIN_ACHIEVED_FRACTION * sched:
        reasons.append(f"client saturated: achieved {achieved:.3g} req/s < "
                       f"{MIN_ACHIEVED_FRACTION:g} × scheduled {sched:.3g} req/s")
    if values.get("server_exit_code") is not None:
        reasons.append(f"server exited with code {values['server_exit_code']} during the run")
    return reasons


def kv_cache_columns(samples: Sequence[tuple[int, float]], records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Max and mean of the runtime's KV-cache usage gauge (0–1) while the point's requests were in flight."""
    starts = [r["sent_ns"] for r in records if r.get("sent_ns")]
    ends = [r["end_ns"] for r in records if r.get("end_ns")]
    t0, t1 = (min(starts), max(ends)) if starts and ends else (1, 0)  # an empty window holds no sample
    vals = [v for t, v in samples if t0 <= t <= t1]
    return {"kv_cache_usage_max": max(vals) if vals else None,
            "kv_cache_usage_mean": float(np.mean(vals)) if vals else None}


GAUGE_SLACK_NS = 1_000_000_000  # gauges are sampled about every 0.5-1 s: a short point may fall between two


def _in_flight(samples: Sequence[tuple[int, float]], records: Sequence[dict[str, Any]]) -> list[float]:
    """Samples taken while the records were in flight, widened by GAUGE_SLACK_NS on either side."""
    starts = [r["sent_ns"] for r in records if r.get("sent_ns")]
    ends = [r["end_ns"] for r in records if r.get("end_ns")]
    t0, t1 = (min(starts) - GAUGE_SLACK_NS, max(ends) + GAUGE_SLACK_NS) if starts and ends else (1, 0)
    return [v for t, v in samples if t0 <= t <= t1]


def cold_start_columns(info: PointInfo, all_records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The first request after the server became ready: its TTFT, and how many requests came before the first one
    within 1.5× the steady TTFT (the median of the later half of the point's requests); null unless the point
    follows a start."""
    out: dict[str, Any] = {"cold_ttft_ms": None, "requests_to_steady": None, "server_caches": info.server_caches}
    ok = sorted((r for r in all_records if r["status"] == "ok" and r["ttft_ms"] is not None), key=lambda r: r["sent_ns"])
    if not info.after_start or not ok:
        return out
    first = min(all_records, key=lambda r: r["sent_ns"])
    out["cold_ttft_ms"] = first["ttft_ms"] if first["status"] == "ok" else None
    steady = float(np.median([r["ttft_ms"] for r in ok[len(ok) // 2:]]))
    out["requests_to_steady"] = next(i for i, r in enumerate([*ok, {"ttft_ms": 0.0}]) if r["ttft_ms"] <= 1.5 * steady)
    return out


def hardware_columns(info: PointInfo, all_records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Fingerprint, energy and power columns of a row; energy per output token counts every token
    generated in the window (warm-up included, since the window's energy includes it)."""
    out: dict[str, Any] = dict.fromkeys(HARDWARE_FIELDS)
    out.update(info.hardware)
    out.update(kv_cache_columns(info.kv_cache_samples, all_records))
    waiting, rss = _in_flight(info.waiting_samples, all_records), _in_flight(info.rss_samples, all_records)
    out["waiting_requests_max"] = max(waiting) if waiting else None
    out["server_rss_max_bytes"] = max(rss) if rss else None
    out.update(cold_start_columns(info, all_records))
    win = info.gpu_window
    if win is None:
        out["energy_null_reason"] = "no GPU monitored (CPU host or remote endpoint)"
        return out
    out.update({k: v for k, v in win.items() if k in out})
    tokens = sum(r["output_tokens"] or 0 for r in all_records)
    if out["energy_j"] is not None and tokens:
        out["joules_per_output_token"] = out["energy_j"] / tokens
    return out


def summarize_point(all_records: Sequence[dict[str, Any]], info: PointInfo) -> dict[str, Any]:
    """One ``trial`` summary row from the records of one (trial, load point)."""
    records = [r for r in all_records if not r["warmup"]]
    nulls: dict[str, str] = {}
    row: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "cell_id": info.cell_id, "row_kind": "trial", "target": None,
        "trial": info.trial,
        "load_point": info.load_point, "load_kind": info.load_kind, "load_value": info.load_value,
        "burstiness": info.burstiness, "trials": info.trials, "workload": info.workload, "workload_hash": info.workload_hash,
        "schedule_hash": info.schedule_hash, "runtime": info.runtime, "model": info.model, "sku": info.sku,
        "gpu_count": info.gpu_count, "requests_planned": info.requests_planned,
        "requests_not_issued": max(0, info.requests_planned - len(all_records)),
        "warmup_requests": sum(1 for r in all_records if r["warmup"]),
        "server_exit_code": info.server_exit_code, "server_log_tail": info.server_log_tail,
        "cold_start_s": info.cold_start_s,
        # spread across trials exists only on aggregate rows: null here, explicitly
        **{f"{key}_{stat}": None for key in CI_METRICS for stat in ("ci95_low", "ci95_high", "cv")},
    }
    dist = distributions(records, nulls)
    ctx = PointContext(records=list(records), slo=info.slo, load_kind=info.load_kind,
                       load_value=info.load_value, gpu_count=info.gpu_count, values=dict(dist),
                       phases=info.phases, recovery_factor=info.recovery_factor, window_s=info.window_s,
                       all_records=list(all_records))
    for m in AGGREGATE_METRICS:
        ctx.values[m.name] = m.compute(ctx)
    nulls.update(ctx.nulls)
    row.update(ctx.values)
    row.update(hardware_columns(info, all_records))
    if info.phases:
        drift: dict[str, Any] = {f"{c}{s}": None for c, _, _ in DRIFTS for s in ("", "_ci95_low", "_ci95_high")}
        drift_flags: list[str] = []
        nulls.update({c: "a phased load changes its rate by design" for c, _, _ in DRIFTS})
    else:
        # measured requests only: slow warm-up windows at the start would tilt the slope
        windows = window_rows(records, window_s=info.window_s, series={"server_rss_bytes": info.rss_samples})
        drift, drift_flags = drift_columns(windows, nulls)
    row.update(drift)
    row.update(row_limits(row, info.model_entry, info.sku_entry))
    reasons = validity(row, records)
    row["valid"] = not reasons
    row["invalid_reason"] = "; ".join(reasons) or None
    flags = []
    if row["power_over_limit"]:
        flags.append(f"mean power {row['power_mean_w']:.0f} W above the enforced limit {row['power_limit_w']:.0f} W")
    if row["usage_mismatches"]:
        flags.append(f"usage_mismatch on {row['usage_mismatches']} request(s)")
    if any(not r["output_forced"] for r in records):
        flags.append("output length not forced")
    flags.extend(drift_flags)
    row["flags"] = "; ".join(flags) or None
    row["null_reasons"] = orjson.dumps(nulls, option=orjson.OPT_SORT_KEYS).decode() if nulls else None
    return row


def aggregate_trials(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """An ``aggregate`` row for one load point: the median of each metric across trials.

    The headline metrics (CI_METRICS) also get a bootstrap 95% CI of that median and a coefficient of
    variation; CV above 5% adds an ``unstable`` flag. The row is valid only when every trial is.
    """
    first = rows[0]
    agg: dict[str, Any] = {k: first[k] for k in (
        "schema_version", "cell_id", "load_point", "load_kind", "load_value", "burstiness", "trials", "workload",
        "workload_hash", "schedule_hash", "runtime", "model", "sku", "gpu_count")}
    agg.update(row_kind="aggregate", target=None, trial=None)
    nulls: dict[str, str] = {}
    skip = set(agg) | {"valid", "invalid_reason", "flags", "null_reasons", "server_log_tail", "server_exit_code"}
    for key in first:
        if key in skip:
            continue
        vals = [r[key] for r in rows if r[key] is not None]
        if not vals or isinstance(vals[0], bool | str):  # kept only where every trial agrees
            same = len({str(v) for v in vals}) == 1 and len(vals) == len(rows)
            agg[key] = vals[0] if vals and same else None
            continue
        med = float(np.median(vals))
        agg[key] = round(med) if isinstance(vals[0], int) else med
    flags = list(dict.fromkeys(f for r in rows for f in (r["flags"] or "").split("; ")
                               if f.startswith("significant drift")))  # a trial's drift flag stays visible
    for key in CI_METRICS:
        vals = [r[key] for r in rows if r[key] is not None]
        lo, hi, reason = bootstrap_ci(vals)
        agg[f"{key}_ci95_low"], agg[f"{key}_ci95_high"] = lo, hi
        if reason:
            nulls[f"{key}_ci95"] = reason
        cv = coefficient_of_variation(vals)
        agg[f"{key}_cv"] = cv
        if cv is not None and cv > CV_FLAG:
            flags.append(f"unstable {key} (CV {cv:.1%})")
    bad = [f"trial {r['trial']}: {r['invalid_reason']}" for r in rows if not r["valid"]]
    agg["valid"] = not bad
    agg["invalid_reason"] = "; ".join(bad) or None
    agg["flags"] = "; ".join(flags) or None
    for r in rows:
        for k, v in orjson.loads(r["null_reasons"] or "{}").items():
            nulls.setdefault(k, v)
    agg["null_reasons"] = orjson.dumps(nulls, option=orjson.OPT_SORT_KEYS).decode() if nulls else None
    agg["server_exit_code"] = next((r["server_exit_code"] for r in rows if r["server_exit_code"] is not None), None)
    agg["server_log_tail"] = None
    return agg
