"""The same cell in local mode and in container mode: are the results within each other's CIs?

Runs the ``smoke`` workload (3 trials, so the aggregate rows carry bootstrap 95% CIs; server on core 0,
client on core 1) through ``run_cell`` (as ``inferboard run --runtime RT`` does) in local mode and in
container mode (the CPU image built by ``inferboard image build RT``), alternating the two ``--rounds``
times, then prints each headline metric's median and CI per mode and whether each median lies inside the other
mode's CI. Needs the local env and the image built and a container engine running.
Usage: ``python benchmarks/local_vs_container.py --runtime llamacpp [--rounds 1]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
METRICS = ("output_tokens_per_s", "ttft_ms_p50", "tpot_ms_p50", "e2e_ms_p50")


def run(runtime: str, mode: str, model: Path, out: Path) -> list[dict]:
    """One cell through the library entry point (as ``inferboard run`` does): server on core 0, client on 1."""
    from inferboard.cell.api import run_cell
    from inferboard.cell.system import LocalRuntime
    from inferboard.scenario.scenario import Scenario, WorkloadOverrides

    system = LocalRuntime(runtime=runtime, model_dir=model, mode=mode, server_cpus=(0,))  # type: ignore[arg-type]
    return run_cell(system, Scenario("smoke", WorkloadOverrides(trials=3)), out, client_cpus=(1,)).aggregates


def _f(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runtime", default="llamacpp")
    ap.add_argument("--rounds", type=int, default=1)
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from inferboard.models.tiny import write_tiny_model

    tmp = Path(tempfile.mkdtemp(prefix="ib-lvc-"))
    model = tmp / "tiny-llama-2l"
    write_tiny_model(model)
    results: dict[str, list[list[dict]]] = {"local": [], "container": []}
    for i in range(a.rounds):
        for mode in ("local", "container"):
            results[mode].append(run(a.runtime, mode, model, tmp / f"{mode}-{i}"))
    print(f"{a.runtime}, smoke workload, 3 trials per mode, {a.rounds} round(s); median [95% CI] per load point")
    inside = total = 0
    for i in range(a.rounds):
        for lp, (loc, con) in enumerate(zip(results["local"][i], results["container"][i], strict=True)):
            print(f"round {i + 1}, concurrency {loc['load_value']:g}:")
            for m in METRICS:
                lo, hi = loc[f"{m}_ci95_low"], loc[f"{m}_ci95_high"]
                clo, chi = con[f"{m}_ci95_low"], con[f"{m}_ci95_high"]
                ok = bool((lo is not None and con[m] is not None and lo <= con[m] <= hi)
                          or (clo is not None and loc[m] is not None and clo <= loc[m] <= chi))
                inside += ok
                total += 1
                print(f"  {m:22} local {_f(loc[m]):>9} [{_f(lo)}, {_f(hi)}]   container {_f(con[m]):>9} "
                      f"[{_f(clo)}, {_f(chi)}]   {'within CI' if ok else 'OUTSIDE CI'}")
            del lp
    print(f"{inside}/{total} metric medians lie within the other mode's 95% CI")


if __name__ == "__main__":
    main()
