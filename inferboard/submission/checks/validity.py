"""Checks whose failure keeps the bundle but marks the load point invalid, with the reason, never ranked: the
measurement is real, but not a result to rank (too many errors, a saturated client, physically implausible)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from inferboard.results.summarize import MAX_ERROR_RATE, MIN_ACHIEVED_FRACTION, send_lag_reasons
from inferboard.submission.bundle import Bundle
from inferboard.submission.checks.common import rows
from inferboard.submission.registry import Finding, check

#: mean power may exceed the enforced limit by this much (sampling and sensor error) before it is implausible
POWER_MARGIN = 1.05


def _aggregates(b: Bundle, cd: str) -> list[dict[str, Any]]:
    return [r for r in rows(b, cd, "summary") if r["row_kind"] == "aggregate"]


@check("validity.error_rate", severity="invalid")
def error_rate(b: Bundle) -> Iterator[Finding]:
    """At most 1% of a load point's requests failed (median across trials), except under an overload phase, where
    errors are what a phased load measures (overload_error_rate)."""
    for cd in b.cell_dirs:
        for r in _aggregates(b, cd):
            if r["overload_error_rate"] is not None:
                continue
            if r["error_rate"] is not None and r["error_rate"] > MAX_ERROR_RATE:
                yield Finding(f"error rate {r['error_rate']:.1%} > {MAX_ERROR_RATE:.0%}", b.cell_id(cd),
                              r["load_point"])


@check("validity.client_saturation", severity="invalid")
def client_saturation(b: Bundle) -> Iterator[Finding]:
    """The load generator kept up, from the request records: send lag at most 10 ms at the p99 (at the p90 for a
    point of 64 to 661 requests, the median below: the percentile its requests bound) and, for a rate load point, an
    achieved rate of at least 95% of the scheduled one."""
    for cd in b.cell_dirs:
        points: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
        for r in rows(b, cd, "requests"):
            if not r["warmup"]:
                points[(r["trial"], r["load_point"])].append(r)
        for (trial, lp), recs in sorted(points.items()):  # per trial, as the summary judges it
            for why in send_lag_reasons(recs):
                yield Finding(f"client saturated: trial {trial}: {why}", b.cell_id(cd), lp)
        for r in _aggregates(b, cd):
            sched, got = r["scheduled_rate"], r["achieved_rate"]
            if sched and got is not None and got < MIN_ACHIEVED_FRACTION * sched:
                yield Finding(f"client saturated: achieved {got:.3g} req/s < {MIN_ACHIEVED_FRACTION:g} × "
                              f"scheduled {sched:.3g} req/s", b.cell_id(cd), r["load_point"])


@check("validity.roofline", severity="invalid")
def roofline(b: Bundle) -> Iterator[Finding]:
    """Output throughput is not above the decode roofline of the SKU and model (memory bandwidth over the bytes
    read per token): a faster result is physically implausible."""
    for cd in b.cell_dirs:
        for r in _aggregates(b, cd):
            eff = r["roofline_efficiency_pct"]
            if eff is not None and eff > 100.0:
                yield Finding(f"implausible: {eff:.0f}% of the roofline limit "
                              f"{r['roofline_decode_tokens_per_s']:.4g} tok/s", b.cell_id(cd), r["load_point"])


@check("validity.power", severity="invalid")
def power(b: Bundle) -> Iterator[Finding]:
    """Mean GPU power over the measurement window is not above the enforced power limit by more than 5%."""
    for cd in b.cell_dirs:
        for r in _aggregates(b, cd):
            mean, limit = r["power_mean_w"], r["power_limit_w"]
            if mean is not None and limit and mean > POWER_MARGIN * limit:
                yield Finding(f"implausible: mean power {mean:.0f} W above the enforced limit {limit:.0f} W",
                              b.cell_id(cd), r["load_point"])
