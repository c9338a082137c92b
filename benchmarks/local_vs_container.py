"""The same cell in local mode and in container mode: are the results within each other's CIs?

Runs the ``smoke`` workload (3 trials, so the aggregate rows carry bootstrap 95% CIs; server on core 0,
client on core 1) with ``inferboard run --runtime RT`` in local mode and with ``--mode container`` (the CPU
image built by ``inferboard image build RT``), alternating local/container ``--rounds`` times, then
prints each headline metric's median and CI per mode and whether each median lies inside the other
mode's CI. Needs the local env and the image built and a container engine running.
Usage: ``python benchmarks/local_vs_container.py --runtime llamacpp [--rounds 1]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
METRICS = ("output_tokens_per_s", "ttft_ms_p50", "tpot_ms_p50", "e2e_ms_p50")


def run(runtime: str, mode: str, model: Path, out: Path) -> list[dict]:
    cmd = [sys.executable, "-m", "inferboard.cli", "run", "--runtime", runtime, "--mode", mode, "--model",
           str(model), "--workload", "smoke", "--trials", "3", "--out", str(out), "--no-progress",
           "--server-cpus", "0", "--client-cpus", "1"]
    subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, text=True)
    return [r for r in pq.read_table(out / "summary.parquet").to_pylist() if r["row_kind"] == "aggregate"]


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
