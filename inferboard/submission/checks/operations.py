"""Checks of the operational loads: a search load's probes are the ones its own rule chooses."""

from __future__ import annotations

from collections.abc import Iterator

from inferboard.core.errors import validated
from inferboard.scenario.search import confirmation_rate, next_rate
from inferboard.scenario.workload import SearchLoad, Workload
from inferboard.submission.bundle import Bundle
from inferboard.submission.checks.common import provenance, rows
from inferboard.submission.registry import Finding, check

REL_TOL = 1e-9


@check("search.probes")
def search_probes(b: Bundle) -> Iterator[Finding]:
    """A search cell's probes (provenance ``search_probes``) are, in order, the rates the search rule picks given
    whether each earlier probe passed (its goodput fraction from the scheduled time in summary.parquet, against the
    workload's target), and it stopped where the rule stops: a chosen probe cannot be left out or added. A point
    marked as the confirmation comes last, once, at the search's answer, and only where the workload asks for it."""
    for cd in b.cell_dirs:
        prov = provenance(b, cd)
        wdef = validated(Workload, prov["workload"]["definition"], source=f"{cd}/provenance.json")
        if not isinstance(wdef.load, SearchLoad):
            continue
        fractions = {r["load_point"]: r["goodput_fraction_scheduled"] for r in rows(b, cd, "summary")
                     if r["row_kind"] == "aggregate"}
        done: list[tuple[float, bool]] = []
        logged = prov.get("search_probes") or []
        for k, probe in enumerate(logged):
            if probe.get("confirmation"):
                want = confirmation_rate(wdef.load, done)
                if want is None or k != len(logged) - 1 or abs(probe["rate"] - want) > REL_TOL * want:
                    yield Finding(f"point {k} is marked as the search's confirmation at {probe['rate']:.6g} req/s; "
                                  f"the search confirms {'nothing there' if want is None else f'{want:.6g} req/s'} "
                                  "(once, after its last probe)", b.cell_id(cd), k)
                break
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
            elif prov.get("complete") and (want := confirmation_rate(wdef.load, done)) is not None:
                yield Finding(f"the search found {want:.6g} req/s but ran no confirmation point there; its workload "
                              f"asks for one of {wdef.load.confirm_requests} requests", b.cell_id(cd))
