# Helpers: the validated config, the expanded matrix, and the per-cell inputs and resources.
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from inferboard.runtimes.envs import build_files, home, source_hash
from inferboard.runtimes.images import recipe_files, recipe_pins
from inferboard.runtimes.runner import LocalCmake, LocalVenv, load_runner, runner_file
from inferboard.scenario.workload import standard_workloads
from inferboard.core.errors import InferboardError
from inferboard.pipeline.matrix import expand, parse_config
from inferboard.pipeline.matrix import ClusterSku
from inferboard.pipeline.jobs import model_path, sku_variant
from inferboard.hardware.sku import load_skus
from inferboard.core.hashing import content_hash
from inferboard.models.catalog import load_models

try:
    CFG = parse_config(config, source="workflows/config/config.yaml")
    CELLS = {c.id: c for c in expand(CFG)}
except InferboardError as err:  # a bad config stops here, before any job, naming the entry
    raise WorkflowError(str(err)) from None

_home = home().resolve()
# where environments, images and generated models live (INFERBOARD_HOME, default .inferboard/)
IB_HOME = str(_home.relative_to(Path.cwd())) if _home.is_relative_to(Path.cwd()) else str(_home)
RESULTS = CFG.results_dir
SUBMISSIONS = CFG.submissions_dir
LEADERBOARD = CFG.leaderboard
SITE_DIR = CFG.site_dir
IB = f"{sys.executable} -m inferboard.cli"
SKUS = load_skus()
MODELS = load_models()


wildcard_constraints:
    sku=r"[a-z0-9][a-z0-9.-]*",
    runtime=r"[a-z0-9][a-z0-9-]*",
    model=r"[A-Za-z0-9._-]+",
    workload=r"[a-z0-9][a-z0-9._-]*",


def cell_of(wc):
    cid = f"{wc.sku}/{wc.runtime}/{wc.model}/{wc.workload}"
    if cid not in CELLS:
        raise WorkflowError(f"cell {cid} is not in the matrix of workflows/config/config.yaml")
    return CELLS[cid]


def submission_files():
    """What the leaderboard reads of the accepted bundles: each manifest (which hashes every cell file) and each
    reproduction record (which the manifest does not list)."""
    if not SUBMISSIONS or not Path(SUBMISSIONS).is_dir():
        return []
    found = [*Path(SUBMISSIONS).glob("*/manifest.json"), *Path(SUBMISSIONS).glob("*/reproductions/*.json")]
    return sorted(str(p) for p in found if p.is_file() and not p.is_symlink())


def checker_sources():
    """The code that checks the bundles again and builds the leaderboard rows: a change rebuilds the leaderboard."""
    return [str(p) for p in sorted(Path("inferboard/submission").rglob("*.py"))]


def result_cells():
    return [f"{RESULTS}/{cid}/cell.json" for cid in CELLS]


def _source(path):
    """A checked-in file of the checkout (workload, runner, lock), relative to the working directory where it
    lies below it; local: it is part of the workflow's sources, never looked for in a storage provider
    (the kubernetes profile's shared volume holds only what the rules write)."""
    path = Path(path).resolve()
    return local(str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path))


def env_input(wc):
    """The pinned environment a cell runs in: the local env record or the image lock (GPU variants run
    the upstream image by digest, pulled on the node; a `system` runner runs the host's own Python,
    checked when the cell starts)."""
    cell = cell_of(wc)
    if cell.mode == "container":
        variant = sku_variant(cell.sku)
        return f"{IB_HOME}/images/{cell.runtime}-cpu/image.lock" if variant == "cpu" else []
    if not isinstance(load_runner(cell.runtime).local, LocalVenv | LocalCmake):
        return []
    return f"{IB_HOME}/envs/{cell.runtime}/env.json"


def workload_input(wc):
    """The workload's definition (workflows/workloads/<name>.yaml, or INFERBOARD_WORKLOADS_DIR's)."""
    return _source(standard_workloads()[cell_of(wc).workload])


def runner_input(wc):
    """The runner definition and, in local mode, the files it names that the environment is built from
    (lock, cmake include script): an edit reruns the runtime's cells, whether or not it rebuilds anything."""
    cell = cell_of(wc)
    runner = load_runner(cell.runtime)
    files = [runner_file(cell.runtime)] + (build_files(runner) if cell.mode == "local" else [])
    return [_source(f) for f in files]


def env_pins(wc):
    """The environment's rerun trigger: the hash of its pins (the lock, or the cmake source, arguments and
    include script), not the files' mtimes: the env record lives in a store shared by checkouts and is not
    rewritten when its build is reused, so an mtime trigger would rerun the rule (and every cell) forever."""
    return source_hash(load_runner(wc.runtime))


def env_files(wc):
    """What an environment is built from (ancient: only a changed pin, above, reruns the rule)."""
    runner = load_runner(wc.runtime)
    return [ancient(_source(f)) for f in [runner_file(wc.runtime), *build_files(runner)]]


def image_files(wc):
    """What a CPU image is built from: the runner, its Containerfile.cpu and the local build's files."""
    runner = load_runner(wc.runtime)
    return [ancient(_source(f)) for f in [runner_file(wc.runtime), *recipe_files(runner, "cpu")]]


def image_pins(wc):
    return recipe_pins(load_runner(wc.runtime), "cpu")


def model_input(wc):
    """Generated models are built by a rule (with their LoRA adapters); catalogue models are folders the node must
    have (models/)."""
    path = model_path(cell_of(wc).model).resolve()
    if not path.is_relative_to(_home):
        return []
    return [f"{IB_HOME}/models/{path.name}/manifest.json", f"{IB_HOME}/models/{path.name}/adapters/manifest.json"]


def _cluster(sku):
    return CFG.cluster.get(sku) or ClusterSku()


def gpus_for(wc):
    return _cluster(wc.sku).gpus(SKUS[wc.sku])


def cpus_for(wc):
    """CPUs of the cell's job: `cluster.<sku>.cpus_per_task`, else by the SKU's kind (ClusterSku.cpus)."""
    return _cluster(wc.sku).cpus(SKUS[wc.sku])


def mem_for(wc):
    """Host memory of the cell's job (MiB): `cluster.<sku>.mem_mb`, else from the SKU (ClusterSku.memory_mb)."""
    return _cluster(wc.sku).memory_mb(SKUS[wc.sku])


def gres_for(wc):
    n = gpus_for(wc)
    kind = _cluster(wc.sku).slurm_gres_type
    return "" if n == 0 else (f"gpu:{kind}:{n}" if kind else f"gpu:{n}")


def constraint_for(wc):
    return _cluster(wc.sku).slurm_constraint or wc.sku


def partition_for(wc):
    return _cluster(wc.sku).slurm_partition or ""


def manufacturer_for(wc):
    return (SKUS[wc.sku].vendor or "none").lower()


def machine_type_for(wc):
    return _cluster(wc.sku).k8s_machine_type or wc.sku


def runtime_for(wc):
    return _cluster(wc.sku).runtime_min


def site_sources():
    """What the site is made from besides the data: site/, the code that renders it, the metric registry and
    what its generated reference pages read (schemas, runners, SKUs, the command line)."""
    files = [p for p in sorted(Path("site").rglob("*")) if p.is_file() and "__pycache__" not in p.parts]
    code = [p for d in ("inferboard/site", "inferboard/metrics", "inferboard/cli", "inferboard/submission")
            for p in sorted(Path(d).rglob("*.py"))]
    catalogues = [*sorted(Path("workflows/schemas").glob("*.json")), *sorted(Path("runners").glob("*/runner.yaml")),
                  Path("hardware/skus.yaml")]
    return [str(p) for p in files + code + catalogues]


def catalogue_of(wc):
    """Hash of the catalogue entries a cell snapshots: its SKU's figures and its model's entry."""
    model = MODELS.get(wc.model)
    return content_hash({"sku": SKUS[wc.sku].model_dump(mode="json"),
                         "model": model.model_dump(mode="json") if model else None})
