"""windows.parquet: every (trial, load point) of a cell cut into time windows (``metrics.windows``), with the
server's gauges (process-tree RSS, GPU memory, KV-cache usage, queue) per window. A function of the cell folder's
records, scraped metrics and GPU samples, like the summary."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from inferboard.metrics.windows import PhaseSpan, window_rows
from inferboard.runtimes.sampler import RSS_SERIES
from inferboard.scenario.workload import PhasesLoad, Workload

#: the gauges read from metrics.parquet: runner metric name keys, and the suite's own RSS sample
GAUGE_KEYS: tuple[str, ...] = ("server_rss_bytes", "kv_cache_usage", "waiting_requests", "running_requests")


def series_name(catalogue: dict[str, Any], key: str) -> str | None:
    """The metrics.parquet series name of gauge ``key``: from the runner definition snapshotted in provenance,
    or the suite's own RSS series; None when the runtime exports no such gauge."""
    if key == "server_rss_bytes":
        return RSS_SERIES
    node: Any = catalogue
    for part in ("runner", "metrics", "names", key):
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, str) and node else None


def gauge_names(catalogue: dict[str, Any]) -> frozenset[str]:
    """Every series name the summary and the windows read from metrics.parquet (the rest is never used)."""
    return frozenset(n for k in GAUGE_KEYS if (n := series_name(catalogue, k)))


def gauge_samples(metrics_rows: list[dict[str, Any]], catalogue: dict[str, Any],
                  key: str) -> dict[int, list[tuple[int, float]]]:
    """One gauge per trial from metrics.parquet's rows: ``key`` is one of GAUGE_KEYS (see series_name).
    Empty when the runtime exports no such gauge."""
    name = series_name(catalogue, key)
    by_trial: dict[int, list[tuple[int, float]]] = defaultdict(list)
    if not name:
        return by_trial
    for m in metrics_rows:
        if m["name"] == name:
            by_trial[m["trial"]].append((m["t_ns"], m["value"]))
    return by_trial


def phase_spans(wdef: Workload) -> tuple[PhaseSpan, ...]:
    """The phases of a phased load as spans from the origin (empty for any other load)."""
    if not isinstance(wdef.load, PhasesLoad):
        return ()
    return tuple(PhaseSpan(p.name, p.rate, a, b) for p, (a, b) in zip(wdef.load.phases, wdef.load.bounds(),
                                                                       strict=True))


def gpu_memory_samples(gpu_samples: list[dict[str, Any]],
                       gpu_windows: list[dict[str, Any]]) -> dict[tuple[int, int], list[tuple[int, float]]]:
    """Memory used, summed over the monitored GPUs per sweep, as (t_ns, bytes) per (trial, load point); a
    sample's time is its window's start (recorded in provenance) plus its offset. Empty without GPUs."""
    starts = {(w["trial"], w["load_point"]): w.get("started_ns") for w in gpu_windows}
    sums: dict[tuple[int, int, float], float] = defaultdict(float)
    for smp in gpu_samples:
        if smp.get("memory_used_bytes") is not None:
            sums[(smp["trial"], smp["load_point"], smp["t_s"])] += smp["memory_used_bytes"]
    out: dict[tuple[int, int], list[tuple[int, float]]] = defaultdict(list)
    for (trial, lp, t_s), used in sums.items():
        t0 = starts.get((trial, lp))
        if t0 is not None:
            out[(trial, lp)].append((t0 + int(t_s * 1e9), used))
    return out


def window_table(prov: dict[str, Any], wdef: Workload, records: list[dict[str, Any]],
                 metrics_rows: list[dict[str, Any]], gpu_samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of windows.parquet, ordered by (trial, load point, window)."""
    catalogue = prov.get("catalogue") or {}
    gauges = {key: gauge_samples(metrics_rows, catalogue, key) for key in GAUGE_KEYS}
    gpu_mem = gpu_memory_samples(gpu_samples, prov.get("gpu_windows") or [])
    groups: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[(r["trial"], r["load_point"])].append(r)
    phases = phase_spans(wdef)
    rows = []
    for (trial, lp), recs in sorted(groups.items()):
        series = {key: by_trial.get(trial, []) for key, by_trial in gauges.items()}
        series["gpu_memory_used_bytes"] = gpu_mem.get((trial, lp), [])
        for row in window_rows(recs, window_s=wdef.window_s, phases=phases, series=series):
            rows.append({"trial": trial, "load_point": lp, **row})
    return rows
