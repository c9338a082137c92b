"""What the Snakemake rules call: run one matrix cell, always leaving cell.json.

A cell that fails is recorded as failed (``cell.json`` with the reason) and the workflow goes on. A
cell folder left by an interrupted run is finalized and moved aside (``<cell>.interrupted-<utc>``)
before the cell runs again, so nothing measured is lost.
"""

from __future__ import annotations

import contextlib
import traceback
from pathlib import Path
from typing import Any

from inferboard.cell.api import run_cell
from inferboard.cell.finalize import finalize
from inferboard.cell.system import LocalRuntime, PreparedSystem, SystemUnderTest
from inferboard.core.clock import utc_now
from inferboard.core.cpus import parse_cores
from inferboard.core.errors import InferboardError
from inferboard.pipeline.matrix import MatrixCell
from inferboard.results.provenance import read_provenance
from inferboard.results.schema import JOURNAL, PROVENANCE
from inferboard.results.status import CELL_STATUS, status_from_rows, write_status
from inferboard.scenario.scenario import Scenario


def model_path(model: str) -> Path:
    """Where a matrix model's folder is: generated models under the inferboard home, others in models/."""
    from inferboard.models.catalog import load_models
    from inferboard.runtimes.envs import home

    entry = load_models().get(model)
    if entry is not None and entry.prepared_here:
        return home() / "models" / model
    return Path("models") / model


def sku_variant(sku: str) -> str:
    """The image variant a SKU runs: cpu for CPU hosts, cuda for NVIDIA, rocm for AMD."""
    from inferboard.hardware.sku import load_skus

    s = load_skus()[sku]
    if s.kind == "cpu":
        return "cpu"
    return {"nvidia": "cuda", "amd": "rocm"}.get((s.vendor or "").lower(), "cpu")


def set_aside_interrupted(out: Path) -> Path | None:
    """Finalize and move away a folder an interrupted run left: a journal (killed) or a provenance
    that says the run did not complete (stopped by a signal after finalizing what it had). A folder that
    cannot be finalized (an unreadable provenance) is moved away as it is: its journal stays in it."""
    prov = out / PROVENANCE
    try:
        incomplete = prov.exists() and not read_provenance(prov)["complete"]
    except InferboardError:
        incomplete = True
    if not (out / JOURNAL).exists() and not incomplete:
        return None
    if prov.exists():
        with contextlib.suppress(InferboardError):
            finalize(out, complete=False)
    aside = out.with_name(f"{out.name}.interrupted-{utc_now().replace(':', '')}")
    out.rename(aside)
    return aside


def matrix_system(c: MatrixCell) -> LocalRuntime:
    """The system under test of a matrix cell: its runtime started here (locked env or image), on its SKU."""
    variant = sku_variant(c.sku)
    return LocalRuntime(runtime=c.runtime, model_dir=model_path(c.model), params=dict(c.params), mode=c.mode,
                        variant=variant, image_source="built" if variant == "cpu" else "upstream",
                        server_cpus=parse_cores(c.cpus[0], "server_cpus") if c.cpus else (), sku=c.sku,
                        compile_caches="host" if c.compile_caches == "host" else "cell")


def run_matrix_cell(c: MatrixCell, results_dir: Path, system: SystemUnderTest | PreparedSystem | None = None
                    ) -> dict[str, Any]:
    """Run one matrix cell into ``results_dir/<id>``; always leaves cell.json (ok, invalid or failed + reason).

    A folder an interrupted run left there is finalized and set aside first. Any error is recorded as the
    cell's failure and the pipeline goes on with the other cells; only an interruption propagates. ``system``
    defaults to the cell's runtime started here (``matrix_system``).
    """
    out = results_dir / c.id
    base = {"cell_id": c.id, "runtime": c.runtime, "model": c.model, "workload": c.workload, "sku": c.sku,
            "mode": c.mode, "started_utc": utc_now(), "interrupted_run_kept_in": None}
    try:
        aside = set_aside_interrupted(out)
        base["interrupted_run_kept_in"] = str(aside) if aside else None
        (out / CELL_STATUS).unlink(missing_ok=True)
        client = parse_cores(c.cpus[1], "client_cpus") if c.cpus else ()
        sut = system if system is not None else matrix_system(c)
        result = run_cell(sut, Scenario(c.workload, c.overrides), out, client_cpus=client)
        status, reason = status_from_rows(result.rows)
    except KeyboardInterrupt:
        raise
    except Exception as err:  # recorded, and the workflow goes on with the other cells
        status, reason = "failed", failure_reason(err)
    return write_status(out, **base, status=status, reason=reason)


def failure_reason(err: BaseException) -> str:
    if isinstance(err, InferboardError):
        return str(err)
    return f"{type(err).__name__}: {err} ({traceback.format_exc(limit=3).splitlines()[-1]})"

