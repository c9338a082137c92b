"""The library entry point: ``run_cell(system, scenario, output) -> CellResult``.

MLPerf LoadGen's split: the system under test (an endpoint, or a runtime this process starts) is kept apart
from the scenario (a workload and its overrides). ``inferboard run``, ``inferboard run-cell`` (the pipeline),
the tests and the benchmarks all run cells through this one function.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inferboard.cell.run import CellSpec, check_output, execute
from inferboard.cell.system import PreparedSystem, SystemUnderTest, prepare
from inferboard.core.errors import InferboardError
from inferboard.scenario.scenario import Scenario


@dataclass(frozen=True)
class CellResult:
    """What a cell wrote: its id, folder and summary rows (one per trial and load point, plus aggregates)."""

    cell_id: str
    output: Path
    rows: list[dict[str, Any]]

    @property
    def aggregates(self) -> list[dict[str, Any]]:
        """One row per load point: the median across trials, with CIs."""
        return [r for r in self.rows if r["row_kind"] == "aggregate"]


def run_cell(system: SystemUnderTest | PreparedSystem, scenario: Scenario, output: Path, *,
             client_cpus: tuple[int, ...] = (), client_procs: int | None = None, progress: bool = False) -> CellResult:
    """Run ``scenario`` against ``system`` and write the cell into ``output``.

    The workload is resolved first (bad input stops before anything is built or started), then the system is
    prepared (environment or image, SKU check), then the cell runs and is finalized. Partial results survive an
    interruption (KeyboardInterrupt is raised again after they are written). ``client_cpus`` pins this process
    (the load generator) to those cores; ``client_procs`` splits each load point over that many client processes,
    each on one of those cores in turn (default: one per core given, else one).
    """
    procs = client_procs if client_procs is not None else max(1, len(client_cpus))
    if procs < 1:
        raise InferboardError(f"{procs} client processes", field="--client-procs", fix="give 1 or more")
    workload, source = scenario.resolve()
    check_output(output)
    adapters = workload.models.adapters if workload.models else ()
    prepared = system if isinstance(system, PreparedSystem) else prepare(
        system, output, adapters=adapters, studies_starts=workload.fresh_server_per_trial)
    if prepared.server is not None and prepared.adapters != adapters:
        raise InferboardError(f"the server was prepared with adapters {list(prepared.adapters)}, the workload "
                              f"addresses {list(adapters)}", field="models.targets",
                              fix="prepare the system for this workload (run_cell does when given the system)")
    if client_cpus:
        os.sched_setaffinity(0, set(client_cpus))
    spec = CellSpec(system=prepared, workload=workload, out=output, workload_source=source, progress=progress,
                    client_cpus=client_cpus, client_procs=procs)
    rows = execute(spec)
    return CellResult(cell_id=spec.id, output=output, rows=rows)
