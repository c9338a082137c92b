"""The Snakemake workflow: lint, cluster profiles (dry runs), bad config, what an edit reruns (dry runs on a
throwaway copy of the checkout), and a real one-cell run."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from inferboard.runtimes.envs import env_info

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


def test_rerun_plans_exactly_that_cell() -> None:
    """`inferboard rerun CELL` forces that one cell (and what it needs, if missing), never another cell of the
    matrix nor the leaderboard."""
    cell = "cpu-host/vllm/smollm2-135m/cpu-fixed"
    proc = subprocess.run([sys.executable, "-m", "inferboard.cli", "rerun", cell, "--dry-run"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    jobs = dict.fromkeys(m.group(1) for m in re.finditer(r"^(?:local)?rule (\w+):", out, re.M))
    assert "run_cell" in jobs and not {"leaderboard", "site", "all"} & set(jobs), out[-3000:]
    assert re.findall(r"output: (results/\S+/cell\.json)", out) == [f"results/{cell}/cell.json"]


def test_main_job_writes_only_git_ignored_places() -> None:
    """Every output and log of the default matrix's whole DAG (as `make main` runs it) is git-ignored: the main
    job never modifies a tracked file (published data comes only from bundles, by pull request)."""
    proc = smk("--dry-run", "--forceall", "--profile", "workflows/profiles/local")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    paths = {p.strip() for line in out.splitlines() if line.strip().startswith(("output:", "log:"))
             for p in line.split(":", 1)[1].split(",") if p.strip()}
    assert {"build/leaderboard.parquet", "build/site/index.html"} <= paths and len(paths) > 10
    # an ignored folder ignores all below it (and .inferboard/envs/<rt> are links git cannot look beyond)
    tops = {p.split("/")[0] + "/" if "/" in p else p for p in paths}
    ignored = subprocess.run(["git", "check-ignore", "--no-index", *sorted(tops)], cwd=ROOT, capture_output=True,
                             text=True).stdout.split()
    assert sorted(tops - set(ignored)) == [] and tops == {".inferboard/", "build/", "logs/", "results/"}


@pytest.mark.parametrize("profile", ["slurm", "kubernetes"])
def test_cluster_profiles_request_the_right_gpus(profile: str, tmp_path: Path) -> None:
    """GPUs, CPUs and memory per SKU from `cluster:` of the config (or the SKU's defaults), none from the profile.
    `--cores 256`: a dry run caps threads at its cores (1 unless given), a real cluster run does not."""
    cfg = yaml.safe_load((ROOT / "tests/e2e/gpu-matrix.yaml").read_text())
    cfg["cluster"]["mi300x"] |= {"cpus_per_task": 96, "mem_mb": 1900000}
    (tmp_path / "gpu-matrix.yaml").write_text(yaml.safe_dump(cfg))
    proc = smk(H100, MI300X, "-n", "--cores", "256", "--profile", f"workflows/profiles/{profile}", "--configfile",
               str(tmp_path / "gpu-matrix.yaml"))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    jobs = {}
    for block in out.split("\nrule ")[1:]:
        lines = block.splitlines()
        res = next((ln for ln in lines if ln.strip().startswith("resources:")), "")
        threads = next((ln.split(":")[1].strip() for ln in lines if ln.strip().startswith("threads:")), "1")
        outp = next((ln for ln in lines if ln.strip().startswith("output:")), "")
        jobs[outp] = (res, threads)
    h100, h100_threads = next(r for o, r in jobs.items() if "h100-sxm" in o)
    mi, mi_threads = next(r for o, r in jobs.items() if "mi300x" in o)
    assert "gpu=1," in h100 and "gres=gpu:h100:1" in h100 and "gpu_manufacturer=nvidia" in h100
    assert "machine_type=p5.48xlarge" in h100 and "constraint=h100-sxm" in h100
    assert "gpu=8," in mi and "gres=gpu:mi300x:8" in mi and "gpu_manufacturer=amd" in mi
    assert "slurm_partition=amd" in mi
    # h100-sxm: the SKU's defaults (8 CPUs per GPU, the GPU's 80 GB); mi300x: set in `cluster:`
    assert "cpus_per_task=8," in h100 and "mem_mb=81920," in h100 and h100_threads == "8"
    assert "cpus_per_task=96," in mi and "mem_mb=1900000," in mi and mi_threads == "96"
    assert "mem_mb=65536" not in out and "mem_mb=131072" not in out  # the profiles' old fixed sizes


def test_bad_config_stops_before_any_job(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"matrix": [{"runtimes": ["vllm", "tensorrt"], "models": ["tiny-llama-2l"],
                                               "workloads": ["smoke"], "skus": ["cpu-host"]}]}))
    proc = smk("-n", "--configfile", str(bad))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "matrix[0].runtimes" in out and "'tensorrt'" in out
    assert "Job stats" not in out


# ------------------------------------------------------------------ what an edit reruns
# A throwaway copy of the checkout (package included: its catalogues are found beside it, and `python -m
# snakemake` imports the copy's), whose every output exists as a fake and is marked up to date by
# `snakemake --touch --forceall` (which runs no job; it orders the mtimes and records each job's metadata,
# the params included). Each test edits one file of its own copy and reads what a dry run plans.
COPIED = ("Snakefile", "workflows", "runners", "hardware", "inferboard", "site", "requirements")
CELLS = [f"cpu-host/{rt}/tiny-llama-2l/{wl}" for rt in ("llamacpp", "vllm") for wl in ("smoke", "cpu-fixed")] + [
    "cpu-host/llamacpp/tiny-llama-2l/cpu-chat"]
CONTAINER_CELL = "cpu-host/vllm/tiny-llama-2l/cpu-chat"  # container mode: runs the image built here
RERUN_CONFIG = {
    "results_dir": "results", "submissions_dir": "submissions", "leaderboard": "leaderboard.parquet",
    "site_dir": "site-out",
    "matrix": [{"runtimes": ["vllm", "llamacpp"], "models": ["tiny-llama-2l"], "workloads": ["smoke", "cpu-fixed"],
                "skus": ["cpu-host"]},
               {"runtimes": ["llamacpp"], "models": ["tiny-llama-2l"], "workloads": ["cpu-chat"],
                "skus": ["cpu-host"], "overrides": {"trials": 1}},
               {"runtimes": ["vllm"], "models": ["tiny-llama-2l"], "workloads": ["cpu-chat"], "skus": ["cpu-host"],
                "mode": "container"}]}
IMAGE_LOCK = ".inferboard/images/vllm-cpu/image.lock"
JOB = re.compile(r"^(?:local)?rule (\w+):\n((?:    .*\n)*)", re.M)


def smk_in(checkout: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "INFERBOARD_HOME": str(checkout / ".inferboard"), "PYTHONPATH": str(checkout)}
    env.pop("INFERBOARD_WORKLOADS_DIR", None)
    return subprocess.run([*SNAKEMAKE, "--configfile", "config.yaml", *args], cwd=checkout, capture_output=True,
                          text=True, timeout=300, env=env)


def planned(checkout: Path, *args: str) -> dict[str, dict[str, str]]:
    """rule → {output: input line} of the jobs a dry run plans."""
    proc = smk_in(checkout, "--dry-run", *args)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    jobs: dict[str, dict[str, str]] = {}
    for rule, body in JOB.findall(out + "\n"):
        fields = dict(line.strip().split(": ", 1) for line in body.splitlines() if ": " in line)
        jobs.setdefault(rule, {})[fields.get("output", "")] = fields.get("input", "")
    assert jobs or "Nothing to be done" in out, out[-3000:]
    return jobs


def cells_of(jobs: dict[str, dict[str, str]], rule: str = "run_cell") -> set[str]:
    return {o.split("/", 1)[1].rsplit("/", 1)[0] for o in jobs.get(rule, {})}


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout whose whole default-target DAG is finished and up to date."""
    root = tmp_path_factory.mktemp("checkout") / "repo"
    root.mkdir()
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, root / name)
    (root / "config.yaml").write_text(yaml.safe_dump(RERUN_CONFIG))
    fakes = [".inferboard/envs/vllm/env.json", ".inferboard/envs/llamacpp/env.json", IMAGE_LOCK,
             ".inferboard/models/tiny-llama-2l/manifest.json",
             ".inferboard/models/tiny-llama-2l/adapters/manifest.json",
             "leaderboard.parquet", "site-out/index.html",
             *(f"results/{c}/cell.json" for c in [*CELLS, CONTAINER_CELL])]
    for f in fakes:
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        (root / f).write_text("{}\n")
    jobs = planned(root, "--forceall")
    assert set(jobs) == {"env", "image", "tiny_model", "run_cell", "leaderboard", "site", "all"}
    assert cells_of(jobs) == {*CELLS, CONTAINER_CELL}  # and no fingerprint job: each cell fingerprints its host
    touch = smk_in(root, "--touch", "--forceall", "--cores", "1")  # runs no job: marks the fakes up to date
    assert touch.returncode == 0, (touch.stdout + touch.stderr)[-3000:]
    return root


@pytest.fixture
def checkout(finished: Path, tmp_path: Path) -> Path:
    """This test's own copy of the finished checkout (mtimes and Snakemake metadata kept)."""
    return Path(shutil.copytree(finished, tmp_path / "repo", symlinks=True))


def edit(path: Path, text: str) -> None:
    """Append to a file and make it newer than every output."""
    path.write_text(path.read_text() + text)
    later = time.time() + 10
    os.utime(path, (later, later))


def test_each_cell_depends_on_its_workload_runner_env_and_model(finished: Path) -> None:
    jobs = planned(finished, "--forceall")
    inputs = jobs["run_cell"]["results/cpu-host/vllm/tiny-llama-2l/cpu-fixed/cell.json"].split(", ")
    assert inputs == ["workflows/workloads/cpu-fixed.yaml", "runners/vllm/runner.yaml", "requirements/vllm-cpu.lock",
                      ".inferboard/envs/vllm/env.json", ".inferboard/models/tiny-llama-2l/manifest.json",
                      ".inferboard/models/tiny-llama-2l/adapters/manifest.json"]
    inputs = jobs["run_cell"]["results/cpu-host/llamacpp/tiny-llama-2l/smoke/cell.json"].split(", ")
    assert "runners/llamacpp/runner.yaml" in inputs and "runners/llamacpp/unity.cmake" in inputs
    assert "requirements/vllm-cpu.lock" in jobs["env"][".inferboard/envs/vllm/env.json"]
    assert jobs["run_cell"][f"results/{CONTAINER_CELL}/cell.json"].split(", ") == [
        "workflows/workloads/cpu-chat.yaml", "runners/vllm/runner.yaml", IMAGE_LOCK,
        ".inferboard/models/tiny-llama-2l/manifest.json", ".inferboard/models/tiny-llama-2l/adapters/manifest.json"]
    assert "runners/vllm/Containerfile.cpu" in jobs["image"][IMAGE_LOCK]


def test_nothing_edited_plans_nothing(finished: Path) -> None:
    assert planned(finished) == {}


def test_edited_workload_plans_exactly_its_cells(checkout: Path) -> None:
    edit(checkout / "workflows" / "workloads" / "cpu-fixed.yaml", "# edited\n")
    jobs = planned(checkout)
    want = {"cpu-host/llamacpp/tiny-llama-2l/cpu-fixed", "cpu-host/vllm/tiny-llama-2l/cpu-fixed"}
    assert cells_of(jobs) == want
    assert set(jobs) == {"run_cell", "leaderboard", "site", "all"}


def test_edited_runner_plans_that_runtimes_cells_and_rebuilds_nothing(checkout: Path) -> None:
    runner = checkout / "runners" / "llamacpp" / "runner.yaml"
    edit(runner, "# edited: a launch template or a comment changes no pin\n")
    jobs = planned(checkout)
    assert cells_of(jobs) == {c for c in CELLS if "/llamacpp/" in c}
    assert set(jobs) == {"run_cell", "leaderboard", "site", "all"}


@pytest.mark.parametrize(("pinned", "runtime"), [("requirements/vllm-cpu.lock", "vllm"),
                                                   ("runners/llamacpp/unity.cmake", "llamacpp")])
def test_changed_pin_rebuilds_the_env_and_reruns_its_cells(checkout: Path, pinned: str, runtime: str) -> None:
    edit(checkout / pinned, "# edited\n")
    jobs = planned(checkout)
    assert set(jobs["env"]) == {f".inferboard/envs/{runtime}/env.json"}
    if runtime == "vllm":  # the lock is in the image's recipe too: the image is rebuilt, its cell rerun
        assert set(jobs["image"]) == {IMAGE_LOCK}
        assert cells_of(jobs) == {c for c in CELLS if "/vllm/" in c} | {CONTAINER_CELL}
    else:
        assert "image" not in jobs and cells_of(jobs) == {c for c in CELLS if f"/{runtime}/" in c}


def test_changed_containerfile_rebuilds_the_image_and_reruns_its_cells(checkout: Path) -> None:
    edit(checkout / "runners" / "vllm" / "Containerfile.cpu", "# edited\n")
    jobs = planned(checkout)
    assert set(jobs["image"]) == {IMAGE_LOCK} and "env" not in jobs
    assert cells_of(jobs) == {CONTAINER_CELL}


def test_changed_build_pin_in_the_runner_rebuilds_the_env(checkout: Path) -> None:
    runner = checkout / "runners" / "llamacpp" / "runner.yaml"
    runner.write_text(runner.read_text().replace("-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_TESTS=OFF, -DX=1"))
    jobs = planned(checkout)
    assert set(jobs["env"]) == {".inferboard/envs/llamacpp/env.json"}  # the params trigger (its pins' hash)
    assert cells_of(jobs) == {c for c in CELLS if "/llamacpp/" in c}


def test_changed_matrix_entry_plans_that_cell(checkout: Path) -> None:
    cfg = yaml.safe_load((checkout / "config.yaml").read_text())
    cfg["matrix"][1]["overrides"] = {"trials": 2}
    (checkout / "config.yaml").write_text(yaml.safe_dump(cfg))
    jobs = planned(checkout)
    assert cells_of(jobs) == {"cpu-host/llamacpp/tiny-llama-2l/cpu-chat"}
    assert set(jobs) == {"run_cell", "leaderboard", "site", "all"}


def test_new_bundle_plans_only_the_leaderboard_and_the_site(checkout: Path) -> None:
    bundle = checkout / "submissions" / "20261129-someone-0123abcd"
    bundle.mkdir(parents=True)
    (bundle / "manifest.json").write_text("")
    edit(bundle / "manifest.json", "{}\n")
    jobs = planned(checkout)
    assert set(jobs) == {"leaderboard", "site", "all"}
    assert "submissions/20261129-someone-0123abcd/manifest.json" in jobs["leaderboard"]["leaderboard.parquet"]


def test_corrected_catalogue_entry_plans_the_cells_that_snapshot_it(checkout: Path) -> None:
    skus = checkout / "hardware" / "skus.yaml"
    text = skus.read_text()
    skus.write_text(text.replace("name: CPU host (no accelerator)", "name: CPU host (no accelerator, renamed)", 1))
    jobs = planned(checkout)
    assert cells_of(jobs) == set(CELLS) | {CONTAINER_CELL}  # every cell of the matrix runs on cpu-host
    assert "env" not in jobs and "image" not in jobs


@pytest.mark.integration
def test_one_cell_end_to_end_then_nothing_to_do(tmp_path: Path) -> None:
    if env_info("llamacpp") is None:
        pytest.fail("the llamacpp environment is not built (`make test` builds it first)")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({
        "results_dir": str(tmp_path / "results"), "submissions_dir": None,
        "leaderboard": str(tmp_path / "leaderboard.parquet"), "site_dir": str(tmp_path / "site"),
        "matrix": [{"runtimes": ["llamacpp"], "models": ["tiny-llama-2l"], "workloads": ["smoke"],
                    "skus": ["cpu-host"]}]}))
    proc = smk("--cores", "2", "--resources", "bench=1", "--configfile", str(cfg), timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cell = "cpu-host/llamacpp/tiny-llama-2l/smoke"
    status = json.loads((tmp_path / "results" / cell / "cell.json").read_text())
    # "invalid" (kept, with its reason) happens when a loaded machine delays the client's sends
    assert (status["status"], status["reason"] is None) in (("ok", True), ("invalid", False))
    assert (tmp_path / "results" / cell / "summary.parquet").is_file()
    board = pq.read_table(tmp_path / "leaderboard.parquet").to_pylist()
    assert {r["cell_id"] for r in board} == {cell} and all(r["row_kind"] == "aggregate" for r in board)
    assert {r["origin"] for r in board} == {"local"}  # this machine's cell: shown apart, not submitted
    assert (tmp_path / "site" / "index.html").is_file()  # the site rule ran last
    page = (tmp_path / "site" / "cells" / "local" / f"{cell}.html").read_text()
    assert "local, not submitted" in page
    # smoke is not a cell of the default matrix (`inferboard rerun` reruns those): the page says how to add it
    assert "not in the default matrix" in page and "<code>smoke</code>" in page
    again = smk("--cores", "2", "--resources", "bench=1", "--configfile", str(cfg))
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.integration
def test_interrupted_run_resumes_without_redoing_finished_cells(tmp_path: Path) -> None:
    """Ctrl-C during the second cell, then the same command again: the first cell is kept as it was, the
    second is measured afresh, and what the interrupted cell had recorded is kept beside it."""
    if env_info("llamacpp") is None:
        pytest.fail("the llamacpp environment is not built (`make test` builds it first)")
    results = tmp_path / "results"
    workloads = tmp_path / "workloads"  # two open-loop cells of ~15 s each: a window to interrupt in
    shutil.copytree(ROOT / "workflows" / "workloads", workloads)
    for name in ("slow-a", "slow-b"):
        (workloads / f"{name}.yaml").write_text(yaml.safe_dump({
            "schema_version": 1, "name": name, "version": 1, "dataset": {"kind": "fixed", "input_tokens": 32,
                                                                         "output_tokens": 16},
            "load": {"kind": "rate", "rate": [2]}, "requests": 30, "warmup_requests": 1, "seed": 0}))
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({
        "results_dir": str(results), "submissions_dir": None, "site_dir": None,
        "leaderboard": str(tmp_path / "leaderboard.parquet"),
        "matrix": [{"runtimes": ["llamacpp"], "models": ["tiny-llama-2l"], "workloads": ["slow-a", "slow-b"],
                    "skus": ["cpu-host"], "server_cpus": "0", "client_cpus": "1"}]}))
    cells = {w: f"cpu-host/llamacpp/tiny-llama-2l/{w}" for w in ("slow-a", "slow-b")}
    args = [*SNAKEMAKE, "--profile", "workflows/profiles/local", "--configfile", str(cfg)]  # as `make main`
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "INFERBOARD_WORKLOADS_DIR": str(workloads)}
    first = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)  # its own process group, as a terminal's foreground job
    deadline = time.monotonic() + 600
    done, running = None, None
    while time.monotonic() < deadline and first.poll() is None:
        done = next((w for w, c in cells.items() if (results / c / "cell.json").is_file()), None)
        other = next((w for w in cells if w != done), None)
        if done and (results / cells[other] / "requests.partial.jsonl").exists():
            running = other
            break
        time.sleep(0.2)
    assert done and running, "the run never reached its second cell: " + (first.stdout.read() if first.poll() else "")
    time.sleep(2)  # some requests of the second cell are on record
    os.killpg(first.pid, signal.SIGINT)  # Ctrl-C: the whole process group (snakemake, its jobs, the servers)
    out = first.communicate(timeout=120)[0]
    assert first.returncode != 0, out[-2000:]
    assert not (results / cells[running] / "cell.json").exists()
    kept = (results / cells[done] / "cell.json").stat().st_mtime_ns

    second = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    assert (results / cells[done] / "cell.json").stat().st_mtime_ns == kept  # not redone
    assert (results / cells[running] / "cell.json").is_file()
    aside = list((results / cells[running]).parent.glob(f"{running}.interrupted-*"))
    assert len(aside) == 1 and (aside[0] / "requests.parquet").is_file()  # nothing measured is lost
    assert json.loads((results / cells[running] / "cell.json").read_text())["interrupted_run_kept_in"]
    board = pq.read_table(tmp_path / "leaderboard.parquet").to_pylist()
    assert {r["cell_id"] for r in board} == set(cells.values())
