"""Finalize a cell: its journal (and any earlier requests.parquet) → requests.parquet and summary.parquet.

A function of the cell folder alone: the workload, the SKU figures, the model shape and the runner definition
come from the snapshot in ``provenance.json`` taken when the cell started, so finalizing the same folder again
gives the same bytes whatever the catalogues say today. Idempotent; safe on a folder left by a crash.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Collection
from pathlib import Path
from typing import Any

import orjson

from inferboard.cell.accuracy_gate import accuracy_columns
from inferboard.cell.timeline import gauge_samples, phase_spans, window_table
from inferboard.core.clock import utc_now
from inferboard.core.errors import InferboardError, validated
from inferboard.core.hashing import content_hash
from inferboard.hardware.sku import Sku
from inferboard.models.catalog import ModelEntry
from inferboard.results.accuracy_table import ACCURACY
from inferboard.results.provenance import read_provenance, write_provenance
from inferboard.results.schema import (
    CLIENT_JOURNALS,
    GPU_JOURNAL,
    GPU_SAMPLES,
    JOURNAL,
    PROVENANCE,
    REQUESTS,
    SEARCH_FIELDS,
    SUMMARY,
    WINDOWS,
    read_journal,
    write_rows,
)
from inferboard.results.summarize import PointInfo, aggregate_trials, summarize_point
from inferboard.scenario.schedule import planned_requests, point_total, target_counts
from inferboard.scenario.search import fixed_sweep_points, result
from inferboard.scenario.workload import MAX_REQUESTS, MultiTurnDataset, PhasesLoad, RateLoad, SearchLoad, Workload


def burstiness_of(wdef: Workload, point: int) -> float | None:
    """The gamma shape of an open-loop point's arrivals (None in closed loop and for a trace's own arrivals)."""
    if isinstance(wdef.load, RateLoad):
        return wdef.load.burstiness_of(point)
    return wdef.load.burstiness if isinstance(wdef.load, PhasesLoad | SearchLoad) else None


def schedule_hash(prov: dict[str, Any], trial: int, point: int) -> str:
    """The schedule hash of (``trial``, ``point``): its trial's own (each trial sends its own prompts), or trial 0's
    in a cell measured before trials were recorded apart."""
    trials = prov.get("trial_schedule_hashes") or []
    if trial < len(trials) and point < len(trials[trial]):
        return str(trials[trial][point])
    return str(prov["load_point_schedule_hashes"][point])


def _hardware_columns(prov: dict[str, Any]) -> dict[str, Any]:
    hw = prov.get("hardware") or {}
    gpus = hw.get("gpus") or []
    volatile = {"index", "temperature_c", "clock_sm_mhz", "clock_memory_mhz", "throttle_reasons"}
    stable = {"host": {k: v for k, v in (hw.get("host") or {}).items() if k != "hostname_sha256"},
              "gpus": [{k: v for k, v in g.items() if k not in volatile} for g in gpus]}
    return {
        "sku_verified": prov.get("sku_verified"), "hardware_fingerprint": content_hash(stable),
        "gpu_name": ", ".join(sorted({str(g.get("name")) for g in gpus})) or None,
        "gpu_driver": gpus[0].get("driver") if gpus else None,
        "host_cpu_model": (hw.get("host") or {}).get("cpu_model"),
    }


def summary_rows(prov: dict[str, Any], records: list[dict[str, Any]], metrics_rows: list[dict[str, Any]], *,
                 source: str, accuracy: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The summary rows of a cell: its request records summarised per (trial, load point), then one aggregate
    row per load point; a function of the provenance (with its catalogue snapshot), the records, the
    runtime's scraped metrics and the accuracy gate's answers (``accuracy``: accuracy.parquet's rows) only, so a
    checker can recompute a published summary from the published files and the pinned reference.
    """
    records = sorted(records, key=lambda r: (r["trial"], r["load_point"], r["request_id"]))
    # snapshotted entries are read back with today's models: a one-line error names one that has moved on
    wdef = validated(Workload, prov["workload"]["definition"], source=f"{source}: workload.definition")
    groups: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[(r["trial"], r["load_point"])].append(r)
    values = point_values(wdef, prov)
    servers = prov.get("servers") or []
    windows = {(w["trial"], w["load_point"]): w for w in prov.get("gpu_windows") or []}
    hardware = _hardware_columns(prov)
    catalogue = prov["catalogue"] or {}  # as the cell saw it when it started: never today's files
    where = f"{source}: catalogue"
    model_entry = validated(ModelEntry, catalogue["model"], source=f"{where}.model") if catalogue.get("model") else None
    sku_entry = validated(Sku, catalogue["sku"], source=f"{where}.sku") if catalogue.get("sku") else None
    kv = gauge_samples(metrics_rows, catalogue, "kv_cache_usage")
    waiting = gauge_samples(metrics_rows, catalogue, "waiting_requests")
    rss = gauge_samples(metrics_rows, catalogue, "server_rss_bytes")
    phases = phase_spans(wdef)
    # recorded by the run (a trace's length was read there); a checker never opens files a definition names
    planned = prov.get("requests_planned") or planned_requests(wdef, read_files=False)
    factor = wdef.load.recovery_factor if isinstance(wdef.load, PhasesLoad) else 1.5
    confirming = confirmation_points(prov)

    def server_for(trial: int) -> dict[str, Any]:
        """The server record that served ``trial`` (the last one started at or before it)."""
        return next((s for s in reversed(servers) if s["trial"] <= trial), {})

    rows, by_target = [], []
    for (trial, lp), recs in sorted(groups.items()):
        srv = server_for(trial)
        at_point = point_total(wdef, lp, planned, confirmation=lp in confirming)
        per_target = planned_by_target(wdef, at_point) if wdef.models else {}
        crashed = bool(srv.get("crashed"))
        info = PointInfo(
            cell_id=prov["cell_id"], workload=wdef.name, workload_hash=prov["workload"]["workload_hash"],
            schedule_hash=schedule_hash(prov, trial, lp), runtime=prov["runtime"]["name"],
            model=prov["model"]["name"], sku=prov["sku"], trials=wdef.trials, trial=trial, load_point=lp,
            load_kind=wdef.load.kind, load_value=values[lp], burstiness=burstiness_of(wdef, lp),
            slo=wdef.slo.model_dump(),
            requests_planned=at_point, warmup_requests=wdef.warmup_requests,
            gpu_count=prov.get("gpu_count", 0), server_exit_code=srv.get("exit_code") if crashed else None,
            server_log_tail=srv.get("log_tail") if crashed else None, cold_start_s=srv.get("cold_start_s"),
            hardware=hardware, gpu_window=windows.get((trial, lp)), model_entry=model_entry, sku_entry=sku_entry,
            kv_cache_samples=kv.get(trial, []), waiting_samples=waiting.get(trial, []), rss_samples=rss.get(trial, []),
            phases=phases, recovery_factor=factor, window_s=wdef.window_s,
            after_start=lp == 0 and srv.get("trial") == trial, server_caches=srv.get("caches"),
        )
        rows.append(summarize_point(recs, info))
        by_target += target_rows(wdef, recs, info, per_target)
    by_point: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_point[row["load_point"]].append(row)
    rows.extend(aggregate_trials(rs) for _, rs in sorted(by_point.items()))
    search = search_columns(wdef, rows, confirming)
    rows.extend(by_target)
    acc, null_reason, invalid = accuracy_columns(prov, accuracy)
    for row in rows:
        row.update(search)
        row.update(acc)
        if null_reason is not None:
            add_null_reasons(row, dict.fromkeys(acc, null_reason))
        if invalid is not None:
            row["valid"] = False
            row["invalid_reason"] = f"{row['invalid_reason']}; {invalid}" if row["invalid_reason"] else invalid
    return rows


def add_null_reasons(row: dict[str, Any], reasons: dict[str, str]) -> None:
    """Merge ``reasons`` (column → why it is null) into the row's ``null_reasons`` (sorted JSON)."""
    nulls = orjson.loads(row["null_reasons"]) if row["null_reasons"] else {}
    nulls.update(reasons)
    row["null_reasons"] = orjson.dumps(nulls, option=orjson.OPT_SORT_KEYS).decode()


#: summary columns of the whole server, not of one target's requests: null on target rows
SERVER_WIDE: tuple[str, ...] = (
    "energy_j", "joules_per_output_token", "gpu_window_s", "power_mean_w", "power_max_w", "sm_clock_mean_mhz",
    "gpu_temp_max_c", "gpu_memory_used_max_bytes", "roofline_efficiency_pct", "kv_cache_usage_max",
    "kv_cache_usage_mean", "waiting_requests_max", "server_rss_max_bytes", "cold_start_s", "cold_ttft_ms",
    "requests_to_steady", "rss_growth_bytes_per_h", "rss_growth_bytes_per_h_ci95_low",
    "rss_growth_bytes_per_h_ci95_high")


def target_rows(wdef: Workload, recs: list[dict[str, Any]], info: PointInfo,
                planned: dict[str, int]) -> list[dict[str, Any]]:
    """With a traffic split, one ``target`` row per (trial, load point, target): the point's latency figures over
    the requests addressed to that target only (its latency next to the other targets' on the same server), with
    ``planned`` requests (target → the requests the schedule addressed to it). The whole server's figures (energy,
    power, memory, queue, cold start) are the point row's: null here."""
    if wdef.models is None:
        return []
    out = []
    for t in wdef.models.targets:
        row = summarize_point([r for r in recs if r.get("target") == t.name],
                              dataclasses.replace(info, requests_planned=planned.get(t.name, 0)))
        row.update(dict.fromkeys(SERVER_WIDE), row_kind="target", target=t.name)
        add_null_reasons(row, dict.fromkeys(SERVER_WIDE, "a whole-server figure: see the point's row"))
        out.append(row)
    return out


def planned_by_target(wdef: Workload, requests_planned: int) -> dict[str, int]:
    """Target → the requests the schedule addressed to it (sessions × turns, the whole at most ``requests_planned``;
    counted once per cell, bounded by the workload's own bounds)."""
    turns = wdef.dataset.turns if isinstance(wdef.dataset, MultiTurnDataset) else 1
    n = min(requests_planned, 2 * MAX_REQUESTS)
    return {k: min(n, v * turns) for k, v in target_counts(wdef, math.ceil(n / turns)).items()}


def point_values(wdef: Workload, prov: dict[str, Any]) -> list[float]:
    """The load value of each point: the workload's, or for a search load the probed rates from provenance."""
    if isinstance(wdef.load, SearchLoad):
        return [float(p["rate"]) for p in prov.get("search_probes") or []]
    return wdef.load.points()


def confirmation_points(prov: dict[str, Any]) -> set[int]:
    """The load points of a search's confirmation (provenance ``search_probes``; the checker holds each to the
    search rule: check search.probes)."""
    return {int(p["load_point"]) for p in prov.get("search_probes") or [] if p.get("confirmation")}


def search_columns(wdef: Workload, rows: list[dict[str, Any]], confirming: Collection[int] = ()) -> dict[str, Any]:
    """A search load's result from its probes' aggregate rows (a probe passes when its goodput fraction from the
    scheduled time reaches the target; the ``confirming`` points measure the answer, they do not probe): the max
    rate at SLO, the probes and the requests they spent, and the requests a fixed geometric sweep would
    need for the same resolution; null for any other load."""
    out: dict[str, Any] = dict.fromkeys(SEARCH_FIELDS)
    if not isinstance(wdef.load, SearchLoad):
        return out
    aggs = [r for r in rows if r["row_kind"] == "aggregate" and r["load_point"] not in confirming]
    target = wdef.load.goodput_target
    probes = [(r["load_value"], (r["goodput_fraction_scheduled"] or 0.0) >= target) for r in aggs]
    per_probe = wdef.warmup_requests + wdef.most_requests
    points = fixed_sweep_points(probes, wdef.load.resolution)
    out.update(max_rate_at_slo_rps=result(probes), search_probes=len(probes),
               search_requests=sum(r["requests_total"] + r["warmup_requests"] for r in aggs),
               fixed_sweep_requests=None if points is None else points * per_probe)
    return out


def finalize(out: Path, *, complete: bool = True) -> list[dict[str, Any]]:
    """Turn the journal (and any earlier requests.parquet) into the cell's Parquet files; idempotent.

    The first finalize records the end time and ``complete`` (``complete`` and every planned trial × load point
    measured); finalizing the folder again keeps both, so it rewrites the same bytes.
    """
    import pyarrow.parquet as pq

    prov = read_provenance(out / PROVENANCE)
    records: list[dict[str, Any]] = []
    if (out / REQUESTS).exists():
        records.extend(pq.read_table(out / REQUESTS).to_pylist())
    seen = {r["request_id"] for r in records}
    journals = [out / JOURNAL, *sorted(out.glob(CLIENT_JOURNALS))]
    # the cell's journal, then what client processes journaled that it had not got yet (its process was killed)
    for journal in journals:
        if journal.exists():
            new = [r for r in read_journal(journal) if r["request_id"] not in seen]
            records.extend(new)
            seen.update(r["request_id"] for r in new)
    records.sort(key=lambda r: (r["trial"], r["load_point"], r["request_id"]))
    if "catalogue" not in prov:  # measured before snapshots: finalizing now would need today's catalogues
        raise InferboardError("this cell was measured before provenance recorded its catalogue entries",
                              field=f"{out / PROVENANCE}: catalogue",
                              fix="keep its published files as they are, or measure the cell again")
    metrics_rows = pq.read_table(out / "metrics.parquet").to_pylist() if (out / "metrics.parquet").exists() else []
    answers = pq.read_table(out / ACCURACY).to_pylist() if (out / ACCURACY).exists() else None
    rows = summary_rows(prov, records, metrics_rows, source=str(out / PROVENANCE), accuracy=answers)
    groups = {(r["trial"], r["load_point"]) for r in rows if r["row_kind"] == "trial"}
    wdef = validated(Workload, prov["workload"]["definition"], source=f"{out / PROVENANCE}: workload.definition")
    values = point_values(wdef, prov)
    if prov.get("end_utc") is None:  # the first finalize ends the cell: its end time and whether it is complete
        prov["end_utc"] = utc_now()
        prov["complete"] = complete and len(groups) == wdef.trials * len(values)
    # else: finalized before; its verdict stands, so finalizing the same folder again gives the same bytes
    prov["requests_recorded"] = len(records)
    meta = {"inferboard.provenance": orjson.dumps(prov).decode()}
    write_rows(out / REQUESTS, records, "requests", meta)
    write_rows(out / SUMMARY, rows, "summary", meta)
    samples: list[dict[str, Any]] = []
    if (out / GPU_JOURNAL).exists():
        samples = [orjson.loads(line) for line in (out / GPU_JOURNAL).read_bytes().splitlines() if line.strip()]
        write_rows(out / GPU_SAMPLES, samples, "gpu_samples", meta)
        (out / GPU_JOURNAL).unlink()
    elif (out / GPU_SAMPLES).exists():
        samples = pq.read_table(out / GPU_SAMPLES).to_pylist()
    write_rows(out / WINDOWS, window_table(prov, wdef, records, metrics_rows, samples), "windows", meta)
    write_provenance(out / PROVENANCE, prov)
    for journal in journals:
        journal.unlink(missing_ok=True)
    return rows
