"""The slurm profile for real: one CPU cell as a job of the one-node Slurm cluster of .ci/slurm-cluster.sh
(`make test-slurm` starts it, runs this and stops it). The job asks for what `cluster:` of the config says, on a node
with the SKU's feature (cpu-host), and its status comes from squeue (no accounting storage on that cluster)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from inferboard.runtimes.envs import env_info

ROOT = Path(__file__).resolve().parents[2]
CELL = "cpu-host/llamacpp/tiny-llama-2l/smoke"
pytestmark = [pytest.mark.e2e, pytest.mark.slurm]


def _node_idle() -> bool:
    if shutil.which("sinfo") is None:
        return False
    proc = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=30)
    return proc.returncode == 0 and "idle" in proc.stdout.split()


@pytest.mark.timeout(900)
def test_one_cpu_cell_runs_as_a_slurm_job(tmp_path: Path) -> None:
    if not _node_idle():
        pytest.fail("no idle Slurm node: run `make test-slurm` (it starts .ci/slurm-cluster.sh and stops it)")
    if env_info("llamacpp") is None:
        pytest.fail("the llamacpp environment is not built (`make envs`)")
    results = tmp_path / "results"
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({
        "results_dir": str(results), "submissions_dir": None, "site_dir": None,
        "leaderboard": str(tmp_path / "leaderboard.parquet"),
        "matrix": [{"runtimes": ["llamacpp"], "models": ["tiny-llama-2l"], "workloads": ["smoke"],
                    "skus": ["cpu-host"]}],
        # what the job asks for comes from here (the profile asks for nothing): fits a 2-core CI host
        "cluster": {"cpu-host": {"cpus_per_task": 2, "mem_mb": 4096, "runtime_min": 15}}}))
    before = time.time()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", str(results / CELL / "cell.json"), "--profile", "workflows/profiles/slurm",
         "--configfile", str(cfg), "--slurm-logdir", str(tmp_path / "slurm-logs"),
         # the first status check after 5 s, not 40 s: a short test (the profile keeps the plugin's default)
         "--slurm-init-seconds-before-status-checks", "5"],
        cwd=ROOT, capture_output=True, text=True, timeout=840, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]

    # submitted with sbatch, checked with squeue (never sacct: it has no records on this cluster)
    jobid = re.search(r"submitted with SLURM jobid (\d+)", out)
    assert jobid, out[-4000:]
    assert "Falling back to 'sacct'" not in out
    job = subprocess.run(["scontrol", "show", "job", jobid.group(1)], capture_output=True, text=True,
                         timeout=30).stdout
    assert "JobState=COMPLETED" in job and "ExitCode=0:0" in job, job
    assert "Features=cpu-host" in job and "TRES=cpu=2,mem=4G,node=1" in job, job  # -C, --cpus-per-task, --mem
    assert f"StdOut={tmp_path / 'slurm-logs'}/" in job, job  # (the plugin deletes a successful job's log)

    status = json.loads((results / CELL / "cell.json").read_text())
    # "invalid" (kept, with its reason) happens when a loaded machine delays the client's sends
    assert (status["status"], status["reason"] is None) in (("ok", True), ("invalid", False)), status
    assert (results / CELL / "summary.parquet").is_file()
    # results only under tmp_path: the checkout's results/ has no new file of this cell
    mine = ROOT / "results" / CELL
    assert [p for p in mine.rglob("*") if p.stat().st_mtime >= before] == []  # (none if the folder is missing)
