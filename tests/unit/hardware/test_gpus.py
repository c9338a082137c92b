"""NVML fingerprint and energy with a faked pynvml: every field, every unsupported path."""

from __future__ import annotations

import sys
import time

import pytest

from inferboard.hardware import energy
from inferboard.hardware import nvidia as gpus
from inferboard.hardware.sku import match_gpu, resolve_sku
from tests import fake_nvml

ALL_GETTERS = [n for n in dir(fake_nvml.make()) if n.startswith("nvml") and n not in
               ("nvmlInit", "nvmlShutdown", "nvmlDeviceGetCount", "nvmlDeviceGetHandleByIndex",
                "nvmlDeviceGetPowerUsage")]  # the power reading belongs to the energy monitor (tested below)


@pytest.fixture
def nv(monkeypatch: pytest.MonkeyPatch):
    def install(**kw):
        mod = fake_nvml.make(**kw)
        monkeypatch.setitem(sys.modules, "pynvml", mod)
        return mod
    return install


def test_fingerprint_has_every_field(nv) -> None:
    mod = nv()
    (fp,) = gpus.gpu_fingerprints()
    assert fp["name"] == "NVIDIA H100 80GB HBM3" and fp["pci_device_id"] == "0x2330"
    assert fp["uuid_sha256"] != fake_nvml.H100["uuid"] and len(fp["uuid_sha256"]) == 16  # hashed, not raw
    assert fp["compute_capability"] == "9.0" and fp["cuda_driver"] == "13.0" and fp["driver"] == "580.159.04"
    assert fp["power_limit_w"] == 700.0 and fp["memory_total_bytes"] == 85520809984
    assert fp["nvlink_active_links"] == 18 and fp["throttle_reasons"] == ["gpu_idle"]
    assert fp["mig_mode"] == 0 and fp["ecc_mode"] == 1 and fp["energy_counter"] == "supported"
    assert fp["pci_bus_id"] == "00000000:18:00.0"
    assert None not in fp.values()
    assert mod.calls["init"] == mod.calls["shutdown"] >= 1
    assert match_gpu(fp) == "h100-sxm"


@pytest.mark.parametrize("getter", ALL_GETTERS)
def test_each_unsupported_getter_is_explicit(nv, getter: str) -> None:
    nv(unsupported=[getter])
    (fp,) = gpus.gpu_fingerprints()
    assert None not in fp.values()
    # each field fed by the getter reads "unsupported" (or, for counters, a count without that link)
    assert any(v == gpus.UNSUPPORTED for v in fp.values()) or getter in (
        "nvmlDeviceGetCurrentClocksThrottleReasons",)  # the newer EventReasons call is used first


def test_no_nvml_means_no_gpus(nv) -> None:
    nv(init_error=fake_nvml.DRIVER_NOT_LOADED)
    assert gpus.gpu_fingerprints() == []
    assert "Driver Not Loaded" in gpus.nvml_status()


def test_energy_window_delta_and_power(nv) -> None:
    h = dict(fake_nvml.H100, energy_mj=[1_000_000, 1_250_000])
    nv(gpus=[h])
    with energy.GpuMonitor([0], interval_s=0.01) as mon:
        time.sleep(0.05)
    s = mon.window.summary()
    assert s["energy_j"] == 250.0 and s["energy_method"] == energy.METHOD and s["energy_null_reason"] is None
    assert s["power_mean_w"] == 350.0 and s["power_limit_w"] == 700.0 and s["power_over_limit"] is False
    assert s["gpu_memory_used_max_bytes"] == 1 << 30 and len(mon.window.samples) >= 2


def test_energy_null_when_unsupported(nv) -> None:
    nv(unsupported=["nvmlDeviceGetTotalEnergyConsumption"])
    with energy.GpuMonitor([0], interval_s=0.01) as mon:
        time.sleep(0.02)
    s = mon.window.summary()
    assert s["energy_j"] is None and "unsupported" in s["energy_null_reason"] and s["energy_method"] is None


def test_energy_null_when_counter_resets(nv) -> None:
    nv(gpus=[dict(fake_nvml.H100, energy_mj=[5_000_000, 10])])
    with energy.GpuMonitor([0], interval_s=0.01) as mon:
        pass
    assert mon.window.energy_j is None and "reset" in mon.window.energy_null_reason


def test_power_unsupported_gives_nulls(nv) -> None:
    nv(unsupported=["nvmlDeviceGetPowerUsage", "nvmlDeviceGetEnforcedPowerLimit"])
    with energy.GpuMonitor([0], interval_s=0.01) as mon:
        time.sleep(0.02)
    s = mon.window.summary()
    assert s["power_mean_w"] is None and s["power_limit_w"] is None and s["power_over_limit"] is None
    assert s["energy_j"] is not None  # the counter still works


def test_power_above_limit_is_flagged(nv) -> None:
    nv(gpus=[dict(fake_nvml.H100, power_mw=800000)])
    with energy.GpuMonitor([0], interval_s=0.01) as mon:
        time.sleep(0.03)
    assert mon.window.summary()["power_over_limit"] is True


def test_energy_delta_never_zero_for_missing() -> None:
    assert energy.energy_delta([], []) == (None, "no GPU in the window")
    assert energy.energy_delta([100, 200], [300, 500]) == (0.5, None)


def test_sku_resolution(nv) -> None:
    nv()
    fps = gpus.gpu_fingerprints()
    assert resolve_sku(None, fps, local_server=True) == ("h100-sxm", True)
    assert resolve_sku(None, [], local_server=True) == ("cpu-host", True)
    assert resolve_sku("mi300x", [], local_server=False) == ("mi300x", False)
    with pytest.raises(Exception, match="fingerprints as h100-sxm"):
        resolve_sku("h200-sxm", fps, local_server=True)
    with pytest.raises(Exception, match="unknown SKU"):
        resolve_sku("h900", fps, local_server=True)
    assert match_gpu({"name": "NVIDIA H100", "pci_device_id": "0xffff"}) == "unknown-nvidia-h100"


def test_mean_power_is_per_sweep_even_when_two_sweeps_share_a_timestamp() -> None:
    # the last sweep of the sampling thread and the closing sweep can fall in the same rounded millisecond
    w = energy.GpuWindow(gpus=[0, 1])
    for t in (0.0, 0.1, 0.1):
        w.samples += [{"t_s": t, "gpu": g, "power_w": 300.0} for g in (0, 1)]
    assert w.summary()["power_mean_w"] == 600.0
