"""Checks of the operational loads: a search load's probes are the ones its own rule chooses."""

from __future__ import annotations

from collections.abc import Iterator

from inferboard.core.errors import validated
from inferboard.scenario.search import next_rate
from inferboard.scenario.workload import SearchLoad, Workload
from inferboard.submission.bundle import Bundle
from inferboard.submission.checks.common import provenance, rows
from inferboard.submission.registry import Finding, check

REL_TOL = 1e-9


@check("search.probes")
def search_probes(b: Bundle) -> Iterator[Finding]:
    """A search cell's probes (provenance ``search_probes``) are, in order, the rates the search rule picks given
    whether each earlier probe passed (its goodput fraction from the scheduled time in summary.parquet, against the
    workload's target), and it stopped where the rule stops: a chosen probe cannot be left out or added."""
    for cd in b.cell_dirs:
        prov = provenance(b, cd)
        wdef = validated(Workload, prov["workload"]["definition"], source=f"{cd}/provenance.json")
        if not isinstance(wdef.load, SearchLoad):
            continue
        fractions = {r["load_point"]: r["goodput_fraction_scheduled"] for r in rows(b, cd, "summary")
                     if r["row_kind"] == "aggregate"}
        done: list[tuple[float, bool]] = []
        for k, probe in enumerate(prov.get("search_probes") or []):
            want = next_rate(wdef.load, done)
            if want is None or abs(probe["rate"] - want) > REL_TOL * want:
                yield Finding(f"probe {k} ran at {probe['rate']:.6g} req/s; the search picks "
                              f"{'no further probe' if want is None else f'{want:.6g} req/s'}", b.cell_id(cd), k)
                break
            frac = fractions.get(k)
            done.append((probe["rate"], frac is not None and frac >= wdef.load.goodput_target))
        else:
            if prov.get("complete") and next_rate(wdef.load, done) is not None:
                yield Finding(f"the search stopped after {len(done)} probes; its rule asks for another",
                              b.cell_id(cd))
