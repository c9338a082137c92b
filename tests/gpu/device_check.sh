#!/usr/bin/env bash
# The GPU device check: on one H100/H200 host with PyTorch, transformers and NVML but no vLLM and no
# network, in at most 14 minutes: fingerprint the GPU, read the energy counter, measure the load generator on the
# host's cores (benchmarks/client_capacity.py, at most 4 minutes), and run real GPU cells with `transformers
# serve` on a random-weights model of Llama-3.1-8B's shape: gpu-check, then the operational workloads overload
# (phased load, recovery) and cold-start (two fresh starts).
#
#   tests/gpu/fetch_wheels.sh            # here, with network: extra wheels into .whl/ (carried)
#   OUT=/some/dir tests/gpu/device_check.sh
#
# Writes into $OUT: fingerprint.json, nvidia-smi.txt, model-manifest.json, client_capacity.txt, cells.tar.gz
# (one folder per workload), device_check.log. Unpack the cells into results/<cell id>/ here and submit them as a bundle
# (`inferboard submit results/<cell id> ... --submitter ...`): published data comes only from accepted bundles.
# A copied tree has no trustworthy .git: pass INFERBOARD_SUITE_GIT_SHA and INFERBOARD_SUITE_GIT_TREE (the
# commit and its tree here); the cells record git_dirty=false only when this tree hashes to that tree.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-artifacts/gpu}
mkdir -p "$OUT"
exec > >(tee "$OUT/device_check.log") 2>&1
PY=${PYTHON:-python3}
MODEL=${MODEL_DIR:-/tmp/ib-model}
step() { echo "== $(date -u +%H:%M:%S) $*"; }

step "wheels"
if ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/ib-site \
    .whl/*.whl || exit 1
  export PYTHONPATH="$PWD:/tmp/ib-site${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
IB=("$PY" -m inferboard.cli)
"$PY" - <<'PY'
import importlib.metadata as m
for p in ("torch", "transformers", "accelerate", "nvidia-ml-py", "pyarrow", "pydantic", "fastapi", "typer", "psutil"):
    try:
        print(f"{p}=={m.version(p)}")
    except m.PackageNotFoundError:
        print(f"{p}: MISSING")
PY

step "fingerprint"
nvidia-smi -q > "$OUT/nvidia-smi.txt" 2>&1 || true
"${IB[@]}" fingerprint > "$OUT/fingerprint.json" || exit 2
"$PY" - "$OUT/fingerprint.json" <<'PY'
import json, sys, time
fp = json.load(open(sys.argv[1]))
print("sku", fp["sku"], "nvml", fp["nvml"], [(g["name"], g["energy_counter"], g["power_limit_w"]) for g in fp["gpus"]])
import pynvml as nv
nv.nvmlInit(); h = nv.nvmlDeviceGetHandleByIndex(0)
a = nv.nvmlDeviceGetTotalEnergyConsumption(h); time.sleep(1.0); b = nv.nvmlDeviceGetTotalEnergyConsumption(h)
print(f"energy counter: {a} mJ → {b} mJ over 1 s idle = {(b - a) / 1000:.1f} W")
PY

# the load generator on this host's cores (issue [4/5]): chunks/s of 1-12 client processes against a test
# server of one worker per core left, and the timing error against the server's own send record at 1-1000
# streams on one client core and at 1000 streams over 2 and 4; reading as runs against vLLM do (bulk reads where
# the kernel can peek; the first line says which); bounded, and never fails the check
if [ "${CLIENT_CAPACITY:-1}" = 1 ]; then
  step "client capacity and timing error"
  PYTHONUNBUFFERED=1 timeout --kill-after=10 240 "$PY" benchmarks/client_capacity.py --procs 1,2,4,8,12 \
    --timing-procs 2,4 --repeat 3 --waves 4 --bulk-reads > "$OUT/client_capacity.txt" 2>&1
  echo "exit $?"; cat "$OUT/client_capacity.txt"
fi

WORKLOADS=${WORKLOADS:-gpu-check:190 overload:190 cold-start:140}
if [ "$WORKLOADS" = none ]; then step "done (no cells)"; exit 0; fi

step "model (random weights, Llama-3.1-8B shape)"
rm -rf "$MODEL"
"${IB[@]}" model random --like llama-3.1-8b-instruct --out "$MODEL" --device cuda || exit 3
cp "$MODEL/manifest.json" "$OUT/model-manifest.json"

CELLS=${CELLS_DIR:-/tmp/ib-cells}
rm -rf "$CELLS"; mkdir -p "$CELLS"
rc=0
# each cell is bounded (SIGINT first: an interrupted cell keeps what it measured); 520 s in all.
# WORKLOADS="name:seconds ..." runs others (e.g. WORKLOADS="overload:170 cold-start:110"); WORKLOADS=none none.
for spec in $WORKLOADS; do
  wl=${spec%%:*}
  step "cell $wl"
  timeout --signal=INT --kill-after=20 "${spec##*:}" \
    "${IB[@]}" run --runtime transformers --model "$MODEL" --workload "$wl" --out "$CELLS/$wl" --no-progress
  r=$?; echo "exit $r"; [ $r -ne 0 ] && rc=$r
done
tar -czf "$OUT/cells.tar.gz" -C "$CELLS" .
step "done (exit $rc)"
exit $rc
