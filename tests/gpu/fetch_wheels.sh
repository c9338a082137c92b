#!/usr/bin/env bash
# Download the device check's extra wheels (tests/gpu/wheels.txt) for CPython 3.12 on x86-64 into .whl/.
# .whl/ is git-ignored: the device check carries it, and its tree hash must equal the commit's.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
mkdir -p .whl
grep -v '^#' tests/gpu/wheels.txt | grep -v '^\s*$' | while read -r req; do
  "$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "$req"
done
du -sh .whl
