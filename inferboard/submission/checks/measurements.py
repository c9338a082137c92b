"""Checks that the numbers hang together: the summary is what the requests give, each request is sane, and every
published percentile has the samples it needs."""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from inferboard.cell.finalize import summary_rows
from inferboard.cell.timeline import gauge_names, window_table
from inferboard.core.errors import InferboardError, validated
from inferboard.core.stats import PERCENTILES, min_samples, pname
from inferboard.metrics import RECORD_METRICS
from inferboard.scenario.workload import Workload
from inferboard.submission.bundle import Bundle, Unreadable
from inferboard.submission.checks.common import provenance, rows
from inferboard.submission.registry import Finding, check

REL_TOL = 1e-9
MAX_SHOWN = 3


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12)
    return bool(a == b)


def _differences(table: str, got: list[dict[str, Any]], want: list[dict[str, Any]], cell: str,
                 where: Callable[[dict[str, Any]], str]) -> Iterator[Finding]:
    """What differs between a published table's rows and their recomputation (``where`` names a row)."""
    if len(got) != len(want):
        yield Finding(f"{table}.parquet has {len(got)} rows, the requests give {len(want)}", cell)
        return
    diffs = [f"{k} ({where(w)})" for g, w in zip(got, want, strict=True) for k in w if not _same(g.get(k), w[k])]
    if diffs:
        yield Finding(f"{table}.parquet differs from its recomputation in {len(diffs)} value(s): "
                      f"{', '.join(diffs[:MAX_SHOWN])}", cell)


def _gauges(b: Bundle, cd: str, prov: dict[str, Any]) -> list[dict[str, Any]]:
    """The metrics.parquet rows the summary and the windows read: the series of the gauges they use only."""
    rel = f"{cd}/metrics.parquet"
    if not b.has(rel):
        return []
    catalogue = prov.get("catalogue")
    return b.rows(rel, names=gauge_names(catalogue if isinstance(catalogue, dict) else {}))


@check("summary.recomputed")
def summary_recomputed(b: Bundle) -> Iterator[Finding]:
    """summary.parquet is exactly what the suite computes from the cell's own requests.parquet, metrics.parquet
    and provenance (equal within a relative 1e-9): an edited summary is caught even when the manifest was
    hashed again after the edit."""
    for cd in b.cell_dirs:
        cell = b.cell_id(cd)
        try:
            prov = provenance(b, cd)
            answers = rows(b, cd, "accuracy") if b.has(f"{cd}/accuracy.parquet") else None
            want = summary_rows(prov, rows(b, cd, "requests"), _gauges(b, cd, prov), source=f"{cd}/provenance.json",
                                accuracy=answers)
        except (InferboardError, KeyError, IndexError, ValueError, TypeError) as err:
            raise Unreadable(f"{cell}: the summary cannot be recomputed ({type(err).__name__}: {err})") from None
        yield from _differences("summary", rows(b, cd, "summary"), want, cell,
                                lambda w: f"{w['row_kind']} trial {w['trial']} point {w['load_point']}")


@check("windows.recomputed")
def windows_recomputed(b: Bundle) -> Iterator[Finding]:
    """windows.parquet is exactly what the suite computes from the cell's requests, metrics, GPU samples and
    provenance (equal within a relative 1e-9), like the summary."""
    for cd in b.cell_dirs:
        cell = b.cell_id(cd)
        gpu = rows(b, cd, "gpu_samples") if b.has(f"{cd}/gpu_samples.parquet") else []
        try:
            prov = provenance(b, cd)
            wdef = validated(Workload, prov["workload"]["definition"], source=f"{cd}/provenance.json")
            want = window_table(prov, wdef, rows(b, cd, "requests"), _gauges(b, cd, prov), gpu)
        except (InferboardError, KeyError, IndexError, ValueError, TypeError) as err:
            raise Unreadable(f"{cell}: the windows cannot be recomputed ({type(err).__name__}: {err})") from None
        yield from _differences("windows", rows(b, cd, "windows"), want, cell,
                                lambda w: f"trial {w['trial']} point {w['load_point']} window {w['window']}")


def _record_problems(r: dict[str, Any]) -> list[str]:
    out = []
    if r["sent_ns"] < r["scheduled_ns"]:
        out.append("sent before it was scheduled")
    if r["first_token_ns"] is not None and r["first_token_ns"] < r["sent_ns"]:
        out.append("first token before it was sent")
    if r["end_ns"] is not None and r["first_token_ns"] is not None and r["end_ns"] < r["first_token_ns"]:
        out.append("ended before its first token")
    chunks = r["chunk_times_ms"]
    if any(b < a for a, b in itertools.pairwise(chunks)):
        out.append("chunk times go backwards")
    if r["content_chunks"] != len(chunks):
        out.append("content_chunks is not the number of chunk times")
    if r["ttft_ms"] is not None and r["e2e_ms"] is not None and r["ttft_ms"] > r["e2e_ms"]:
        out.append("ttft > e2e")
    usage = r["output_tokens_usage"]
    if r["output_tokens"] != (usage if usage is not None else r["content_chunks"]):
        out.append("output_tokens is neither usage.completion_tokens nor the counted chunks")
    if r["usage_mismatch"] != (usage is not None and usage != r["content_chunks"]):
        out.append("usage_mismatch disagrees with usage and chunk counts")
    if r["status"] == "ok" and r["output_forced"] and (r["output_tokens"] or 0) < r["max_tokens"]:
        out.append("ok with fewer forced output tokens than max_tokens")
    return out


@check("requests.sanity")
def requests_sanity(b: Bundle) -> Iterator[Finding]:
    """Every request is internally consistent: unique id; scheduled ≤ sent ≤ first token ≤ end; chunk times in
    order and counted; ttft ≤ e2e; output tokens equal to usage (or the chunk count without usage); a forced
    output not short when ok. Per trial and load point, ok + failed = issued (the non-warm-up requests)."""
    for cd in b.cell_dirs:
        cell = b.cell_id(cd)
        recs = rows(b, cd, "requests")
        dup = [k for k, n in Counter(r["request_id"] for r in recs).items() if n > 1]
        if dup:
            yield Finding(f"request ids used twice: {dup[:MAX_SHOWN]}", cell)
        bad = [(r["request_id"], p) for r in recs for p in _record_problems(r)]
        if bad:
            shown = "; ".join(f"{i}: {p}" for i, p in bad[:MAX_SHOWN])
            yield Finding(f"{len(bad)} inconsistent request record(s): {shown}", cell)
        issued: dict[tuple[int, int], int] = defaultdict(int)
        for r in recs:
            issued[(r["trial"], r["load_point"])] += not r["warmup"]
        for s in rows(b, cd, "summary"):
            if s["row_kind"] != "trial":
                continue
            n = issued.get((s["trial"], s["load_point"]), 0)
            if (s["requests_ok"] or 0) + (s["requests_failed"] or 0) != n or s["requests_total"] != n:
                yield Finding(f"trial {s['trial']} point {s['load_point']}: ok {s['requests_ok']} + failed "
                              f"{s['requests_failed']} is not the {n} requests issued", cell)


@check("percentiles.samples")
def percentile_samples(b: Bundle) -> Iterator[Finding]:
    """Every published percentile has the samples behind it that the suite's rule requires (e.g. p99 needs 662,
    p99.9 needs 6,636): a percentile shown from too few samples is refused."""
    for cd in b.cell_dirs:
        for s in rows(b, cd, "summary"):
            if s["row_kind"] != "trial":  # aggregate rows are medians of these (summary.recomputed)
                continue
            for m in RECORD_METRICS:
                n = s.get(f"{m.name}_count") or 0
                for q in PERCENTILES:
                    if s.get(f"{m.name}_{pname(q)}") is not None and n < min_samples(q):
                        yield Finding(f"{m.name}_{pname(q)} published from {n} samples < {min_samples(q)} "
                                      f"(trial {s['trial']} point {s['load_point']})", b.cell_id(cd))
