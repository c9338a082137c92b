"""On a real NVIDIA host: the NVML fingerprint and the energy counter (skipped without NVML)."""

from __future__ import annotations

import time

import pytest

from inferboard.hardware import energy
from inferboard.hardware import nvidia as gpus
from inferboard.hardware.sku import match_gpu

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(gpus.nvml_status() != "ok", reason=f"no NVML here: {gpus.nvml_status()}")]


def test_every_gpu_is_fingerprinted_with_every_field() -> None:
    fps = gpus.gpu_fingerprints()
    assert fps
    for fp in fps:
        assert None not in fp.values()
        assert isinstance(fp["memory_total_bytes"], int) and fp["memory_total_bytes"] > 1 << 30
        assert not match_gpu(fp).startswith("unknown-"), f"{fp['name']} is not in hardware/skus.yaml"


def test_energy_counter_moves_and_power_is_plausible() -> None:
    with energy.GpuMonitor([0], interval_s=0.05) as mon:
        time.sleep(1.0)
    s = mon.window.summary()
    if s["energy_j"] is None:
        assert s["energy_null_reason"]  # unsupported is said, never a 0
    else:
        assert s["energy_j"] > 0 and s["power_mean_w"] > 0
        assert s["energy_j"] / mon.window.duration_s == pytest.approx(s["power_mean_w"], rel=0.5)
