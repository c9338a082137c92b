# The two set-up commands of the README: `make main` (the main job) and `make test` (the tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml requirements/dev.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements/dev.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

.PHONY: install test lint main
install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/inferboard schema --check

test: lint
	$(PY) -m pytest

# Until the Snakemake CPU matrix lands (issue 4/6) the main job runs the standard smoke workload
# against an OpenAI-compatible server you give: make main ENDPOINT=http://127.0.0.1:8000 MODEL=name
ENDPOINT ?=
MODEL ?=
main: $(STAMP)
	@test -n "$(ENDPOINT)" -a -n "$(MODEL)" || { echo "error: ENDPOINT and MODEL: give the server to benchmark (fix: make main ENDPOINT=http://127.0.0.1:8000 MODEL=my-model)"; exit 2; }
	$(VENV)/bin/inferboard run --endpoint $(ENDPOINT) --model $(MODEL) --workload smoke --out results/endpoint/$(MODEL)/smoke
