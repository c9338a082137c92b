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
	$(MAKE) images && $(PY) -m pytest -m container tests/integration/test_containers.py; \
	  rc=$$?; .ci/container-engine.sh stop; exit $$rc

# Until the Snakemake CPU matrix lands (issue 4/6) the main job runs the smoke workload on each CPU
# runtime against the locally generated tiny model, one cell each under results/.
main: envs
	$(IB) model tiny --out $(MODEL)
	for rt in $(RUNTIMES); do $(IB) run --runtime $$rt --model $(MODEL) --workload smoke --sku cpu-host \
	  --out results/cpu-host/$$rt/tiny-llama-2l/smoke || exit 1; done
