"""Real runtimes on the CPU: one cell per runtime per session, through `inferboard run --runtime`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from inferboard.models.tiny import write_tiny_model
from inferboard.runtimes.envs import env_info

RUNTIMES = ("vllm", "llamacpp")
# server on core 0, load generator on core 1 (as the CPU matrix runs) where there are two cores
ISOLATE = ["--server-cpus", "0", "--client-cpus", "1"] if len(os.sched_getaffinity(0)) >= 2 else []


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models") / "tiny-llama-2l"
    write_tiny_model(out)
    return out


class Cell:
    def __init__(self, out: Path, proc: subprocess.CompletedProcess[str]) -> None:
        self.out, self.proc = out, proc
        self.requests: list[dict[str, Any]] = pq.read_table(out / "requests.parquet").to_pylist()
        self.summary: list[dict[str, Any]] = pq.read_table(out / "summary.parquet").to_pylist()
        self.provenance: dict[str, Any] = json.loads((out / "provenance.json").read_text())


def require_env(runtime: str) -> None:
    """Fail (not skip) when the runtime's locked environment is not built."""
    if env_info(runtime) is None:
        pytest.fail(f"the {runtime} environment is not built: run `inferboard env build {runtime}` "
                    "(`make test` and .ci/run do this first)")


@pytest.fixture(scope="session", params=RUNTIMES)
def smoke_cell(request: pytest.FixtureRequest, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Cell:
    """The smoke workload against a real server started by `inferboard run --runtime` (once per session)."""
    runtime = request.param
    require_env(runtime)
    out = tmp_path_factory.mktemp(f"cell-{runtime}")
    proc = subprocess.run(
        [sys.executable, "-m", "inferboard.cli", "run", "--runtime", runtime, "--model", str(tiny_model),
         "--workload", "smoke", "--out", str(out), "--sku", "cpu-host", "--no-progress", *ISOLATE],
        capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Cell(out, proc)
