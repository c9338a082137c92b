#!/usr/bin/env bash
# The GPU device check: on one H100/H200 host with PyTorch, transformers and NVML but no vLLM and no
# network, in at most 8 minutes: fingerprint the GPU, read the energy counter, and run one real GPU cell
# (`transformers serve` on a random-weights model of Llama-3.1-8B's shape, workload gpu-check).
#
#   tests/gpu/fetch_wheels.sh            # here, with network: extra wheels into .whl/ (carried)
#   OUT=/some/dir tests/gpu/device_check.sh
#
# Writes into $OUT: fingerprint.json, nvidia-smi.txt, model-manifest.json, cell.tar.gz (the cell folder
# named by its cell id), device_check.log. Unpack the cell into results/<cell id>/ here and submit it as a bundle
# (`inferboard submit results/<cell id> --submitter ...`): published data comes only from accepted bundles.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-artifacts/gpu}
mkdir -p "$OUT"
exec > >(tee "$OUT/device_check.log") 2>&1
PY=${PYTHON:-python3}
MODEL=${MODEL_DIR:-/tmp/ib-model}
CELL=${CELL_DIR:-/tmp/ib-cell}
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
for p in ("torch", "transformers", "accelerate", "nvidia-ml-py", "pyarrow", "pydantic", "fastapi", "typer"):
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

step "model (random weights, Llama-3.1-8B shape)"
rm -rf "$MODEL"
"${IB[@]}" model random --like llama-3.1-8b-instruct --out "$MODEL" --device cuda || exit 3
cp "$MODEL/manifest.json" "$OUT/model-manifest.json"

step "cell"
rm -rf "$CELL"
"${IB[@]}" run --runtime transformers --model "$MODEL" --workload gpu-check --out "$CELL" --no-progress
rc=$?
tar -czf "$OUT/cell.tar.gz" -C "$(dirname "$CELL")" "$(basename "$CELL")"
step "done (run exit $rc)"
exit $rc
