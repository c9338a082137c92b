# The two set-up commands of the README: `make main` (the main job) and `make test` (the tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
IB := $(VENV)/bin/inferboard
STAMP := $(VENV)/.installed
MODEL := .inferboard/models/tiny-llama-2l
RUNTIMES := vllm llamacpp

$(STAMP): pyproject.toml requirements/dev.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements/dev.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

.PHONY: install envs lint test test-containers images main
install: $(STAMP)

# Locked local environments of the CPU runtimes (cached: rebuilt only when their pins change).
envs: $(STAMP)
	for rt in $(RUNTIMES); do $(IB) env build $$rt || exit 1; done

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(IB) schema --check

test: lint envs
	$(PY) -m pytest

# The CPU runtime images (cached by recipe hash) and the container-mode tests; .ci/run runs this after
# `make test`. It installs and starts the Docker daemon it needs, and stops one it started.
images: $(STAMP)
	for rt in $(RUNTIMES); do $(IB) image build $$rt || exit 1; done

test-containers: $(STAMP)
	.ci/container-engine.sh start
	$(MAKE) images && $(PY) -m pytest -m container tests/integration/test_container_mode.py; \
	  rc=$$?; .ci/container-engine.sh stop; exit $$rc

# The main job: the default CPU matrix through Snakemake (workflows/config/config.yaml): builds what is
# missing (envs, tiny model), runs every cell, publishes them under data/results/ and writes
# data/leaderboard.parquet. Running it again does nothing; an interrupted run resumes.
main: envs
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/snakemake --profile workflows/profiles/local
