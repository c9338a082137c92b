"""The Snakemake workflow: lint, cluster profiles (dry runs), bad config, and a real one-cell run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from inferboard.envs import env_info

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
H100 = "results/h100-sxm/vllm/llama-3.1-8b-instruct/1k-1k/cell.json"
MI300X = "results/mi300x/vllm/llama-3.1-8b-instruct/1k-1k/cell.json"
pytestmark = pytest.mark.e2e


def smk(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run([*SNAKEMAKE, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


def test_lint_is_clean() -> None:
    proc = smk("--lint")
    assert proc.returncode == 0 and "good condition" in proc.stdout + proc.stderr, proc.stdout[-2000:]


@pytest.mark.parametrize("profile", ["slurm", "kubernetes"])
def test_cluster_profiles_request_the_right_gpus(profile: str) -> None:
    proc = smk(H100, MI300X, "-n", "--profile", f"workflows/profiles/{profile}", "--configfile",
               "tests/e2e/gpu-matrix.yaml")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    jobs = {}
    for block in out.split("\nrule ")[1:]:
        res = next((ln for ln in block.splitlines() if ln.strip().startswith("resources:")), "")
        outp = next((ln for ln in block.splitlines() if ln.strip().startswith("output:")), "")
        jobs[outp] = res
    h100 = next(r for o, r in jobs.items() if "h100-sxm" in o)
    mi = next(r for o, r in jobs.items() if "mi300x" in o)
    assert "gpu=1," in h100 and "gres=gpu:h100:1" in h100 and "gpu_manufacturer=nvidia" in h100
    assert "machine_type=p5.48xlarge" in h100 and "constraint=h100-sxm" in h100
    assert "gpu=8," in mi and "gres=gpu:mi300x:8" in mi and "gpu_manufacturer=amd" in mi
    assert "slurm_partition=amd" in mi


def test_bad_config_stops_before_any_job(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"matrix": [{"runtimes": ["vllm", "tensorrt"], "models": ["tiny-llama-2l"],
                                               "workloads": ["smoke"], "skus": ["cpu-host"]}]}))
    proc = smk("-n", "--configfile", str(bad))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "matrix[0].runtimes" in out and "'tensorrt'" in out
    assert "Job stats" not in out


@pytest.mark.integration
def test_one_cell_end_to_end_then_nothing_to_do(tmp_path: Path) -> None:
    if env_info("llamacpp") is None:
        pytest.fail("the llamacpp environment is not built (`make test` builds it first)")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({
        "results_dir": str(tmp_path / "results"), "publish_dir": str(tmp_path / "published"),
        "leaderboard": str(tmp_path / "leaderboard.parquet"),
        "matrix": [{"runtimes": ["llamacpp"], "models": ["tiny-llama-2l"], "workloads": ["smoke"],
                    "skus": ["cpu-host"]}]}))
    proc = smk("--cores", "2", "--resources", "bench=1", "--configfile", str(cfg), timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cell = "cpu-host/llamacpp/tiny-llama-2l/smoke"
    status = json.loads((tmp_path / "published" / cell / "cell.json").read_text())
    # "invalid" (kept, with its reason) happens when a loaded machine delays the client's sends
    assert (status["status"], status["reason"] is None) in (("ok", True), ("invalid", False))
    assert (tmp_path / "published" / cell / "summary.parquet").is_file()
    board = pq.read_table(tmp_path / "leaderboard.parquet").to_pylist()
    assert {r["cell_id"] for r in board} >= {cell} and all(r["row_kind"] == "aggregate" for r in board)
    again = smk("--cores", "2", "--resources", "bench=1", "--configfile", str(cfg))
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
