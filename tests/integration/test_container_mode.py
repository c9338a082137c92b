"""Container mode for real: the CPU images built here run the smoke workload (`make test-containers`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from inferboard.runtimes.containers import engine_works
from inferboard.runtimes.images import image_lock
from tests.integration.conftest import ISOLATE, Cell

pytestmark = [pytest.mark.integration, pytest.mark.container,
              pytest.mark.skipif(not engine_works("docker") and not engine_works("podman"),
                                 reason="no container engine answers (start dockerd --bridge=none "
                                        "--iptables=false --ip-masq=false; `make test-containers` does)")]
RUNTIMES = ("llamacpp", "vllm")


@pytest.fixture(scope="session", params=RUNTIMES)
def container_cell(request: pytest.FixtureRequest, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Cell:
    runtime = request.param
    if image_lock(runtime, "cpu") is None:
        pytest.fail(f"no cpu image of {runtime}: run `inferboard image build {runtime}` (make test-containers does)")
    out = tmp_path_factory.mktemp(f"container-{runtime}")
    proc = subprocess.run(
        [sys.executable, "-m", "inferboard.cli", "run", "--runtime", runtime, "--mode", "container",
         "--model", str(tiny_model), "--workload", "smoke", "--out", str(out), "--no-progress", *ISOLATE],
        capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Cell(out, proc)


def test_smoke_runs_in_the_container(container_cell: Cell) -> None:
    ok = [r for r in container_cell.requests if not r["warmup"]]
    assert ok and all(r["status"] == "ok" and r["output_tokens"] == 16 for r in ok)
    assert all(r["valid"] for r in container_cell.summary if r["row_kind"] == "trial"), [
        r["invalid_reason"] for r in container_cell.summary]
    assert container_cell.provenance["runtime"]["server_cpus"] == ([0] if ISOLATE else [])


def test_provenance_holds_image_and_base_digests(container_cell: Cell) -> None:
    rt = container_cell.provenance["runtime"]
    lock = rt["image"]["image_lock"]
    assert rt["mode"] == "container" and rt["engine"] in ("docker", "podman") and rt["engine_version"]
    assert rt["resolved_image_id"] == lock["image_id"] and lock["image_id"].startswith("sha256:")
    assert lock["base"]["id"].startswith("sha256:") and lock["recipe_hash"].startswith("sha256:")
    assert lock["packages"]["dpkg"]  # what the image resolved to, recorded
    server = container_cell.provenance["servers"][0]
    assert "--network" in server["argv"] and "host" in server["argv"] and any(":/model:ro" in a for a in server["argv"])
    assert container_cell.provenance["sku"] == "cpu-host"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_unchanged_recipe_reuses_the_image(runtime: str) -> None:
    before = image_lock(runtime, "cpu")
    assert before is not None
    proc = subprocess.run([sys.executable, "-m", "inferboard.cli", "image", "build", runtime],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["cached"] is True and out["image_id"] == before["image_id"]
