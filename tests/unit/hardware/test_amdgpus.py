"""AMD GPU fingerprint through a fake ``amdsmi`` (ROCm cannot run here): every field, every unsupported path."""

from __future__ import annotations

import types
from typing import Any

import pytest

from inferboard.hardware import amd as amdgpus
from inferboard.hardware.nvidia import UNSUPPORTED
from inferboard.hardware.sku import load_skus, match_gpu

NVML_FIELDS = {  # the NVML fingerprint's keys (inferboard.hardware.nvidia.device_fingerprint + system_fingerprint)
    "index", "name", "uuid_sha256", "serial_sha256", "pci_bus_id", "pci_device_id", "pci_subsystem_id", "vbios",
    "architecture", "compute_capability", "cuda_cores", "memory_total_bytes", "memory_bus_width_bits",
    "clock_sm_max_mhz", "clock_memory_max_mhz", "clock_sm_mhz", "clock_memory_mhz", "power_limit_w",
    "power_limit_default_w", "persistence_mode", "mig_mode", "ecc_mode", "pcie_link_gen", "pcie_link_gen_max",
    "pcie_link_width", "pcie_link_width_max", "nvlink_active_links", "temperature_c", "throttle_reasons",
    "energy_counter", "driver", "cuda_driver", "nvml",
}


class AmdSmiException(Exception):
    pass


class AmdSmiLibraryException(AmdSmiException):
    def __init__(self, code: int) -> None:
        super().__init__(f"amdsmi error {code}")
        self.err_code = code


def fake_amdsmi(n: int = 2, unsupported: tuple[str, ...] = (), failing: tuple[str, ...] = (),
                init_error: bool = False) -> Any:
    """A module with amdsmi's getters for ``n`` MI300X; names in ``unsupported`` raise NOT_SUPPORTED (2)."""
    calls = {"init": 0, "shut_down": 0}
    m = types.SimpleNamespace(AmdSmiException=AmdSmiException,
                              AmdSmiClkType=types.SimpleNamespace(GFX="gfx", MEM="mem"),
                              AmdSmiMemoryType=types.SimpleNamespace(VRAM="vram"),
                              AmdSmiTemperatureType=types.SimpleNamespace(EDGE="edge"),
                              AmdSmiTemperatureMetric=types.SimpleNamespace(CURRENT="current"), calls=calls)

    def init() -> None:
        calls["init"] += 1
        if init_error:
            raise AmdSmiLibraryException(8)

    def shut_down() -> None:
        calls["shut_down"] += 1

    getters: dict[str, Any] = {
        "amdsmi_get_gpu_asic_info": lambda h: {"market_name": "AMD Instinct MI300X", "vendor_id": 0x1002,
                                               "device_id": 0x74A1, "subvendor_id": 0x1002, "rev_id": 0,
                                               "asic_serial": f"0xSERIAL{h}", "num_of_compute_units": 304,
                                               "target_graphics_version": "gfx942"},
        "amdsmi_get_gpu_device_uuid": lambda h: f"uuid-{h}",
        "amdsmi_get_gpu_device_bdf": lambda h: f"0000:{h + 0x11:02x}:00.0",
        "amdsmi_get_gpu_vbios_info": lambda h: {"version": "113-M3000100-102", "name": "MI300X"},
        "amdsmi_get_gpu_vram_info": lambda h: {"vram_bit_width": 8192, "vram_size": 196592},
        "amdsmi_get_clock_info": lambda h, t: {"clk": 132 if t == "gfx" else 900,
                                               "max_clk": 2100 if t == "gfx" else 1300},
        "amdsmi_get_power_cap_info": lambda h: {"power_cap": 750_000_000, "default_power_cap": 750_000_000},
        "amdsmi_get_pcie_info": lambda h: {"pcie_static": {"max_pcie_width": 16, "pcie_interface_version": 5},
                                           "pcie_metric": {"pcie_width": 16, "pcie_speed": 32000}},
        "amdsmi_get_energy_count": lambda h: {"energy_accumulator": 123, "counter_resolution": 15.3},
        "amdsmi_get_gpu_memory_total": lambda h, t: 205_822_885_888,
        "amdsmi_get_gpu_compute_partition": lambda h: "SPX",
        "amdsmi_get_gpu_ecc_enabled": lambda h: 1,
        "amdsmi_get_temp_metric": lambda h, t, k: 41,
        "amdsmi_get_gpu_driver_info": lambda h: {"driver_name": "amdgpu", "driver_version": "6.10.5"},
        "amdsmi_get_lib_version": lambda: {"major": 25, "minor": 3, "release": 0},
    }

    def wrap(name: str, fn: Any) -> Any:
        def call(*args: Any) -> Any:
            if name in unsupported:
                raise AmdSmiLibraryException(2)
            if name in failing:
                raise AmdSmiLibraryException(7)
            return fn(*args)
        return call

    for name, fn in getters.items():
        setattr(m, name, wrap(name, fn))
    m.amdsmi_init, m.amdsmi_shut_down = init, shut_down
    m.amdsmi_get_processor_handles = lambda: list(range(n))
    return m


@pytest.fixture
def smi(monkeypatch: pytest.MonkeyPatch) -> Any:
    m = fake_amdsmi()
    monkeypatch.setattr(amdgpus, "_amdsmi", lambda: m)
    return m


def test_every_field_of_every_gpu(smi: Any) -> None:
    gpus = amdgpus.amd_fingerprints()
    assert len(gpus) == 2
    g = gpus[1]
    assert set(g) >= NVML_FIELDS  # same fields as an NVIDIA GPU, so rows line up
    assert g["vendor"] == "amd" and g["name"] == "AMD Instinct MI300X" and g["pci_device_id"] == "0x74a1"
    assert g["memory_total_bytes"] == 205_822_885_888 and g["memory_bus_width_bits"] == 8192
    assert g["power_limit_w"] == 750.0 and g["clock_sm_max_mhz"] == 2100 and g["temperature_c"] == 41
    assert g["pci_bus_id"] == "0000:12:00.0" and g["mig_mode"] == "SPX" and g["driver"] == "6.10.5"
    assert g["amdsmi"] == "25.3.0" and g["energy_counter"] == "supported"
    assert g["uuid_sha256"] != "uuid-1" and len(g["uuid_sha256"]) == 16  # hashed
    assert g["serial_sha256"] != "0xSERIAL1"
    assert g["cuda_cores"] == g["nvlink_active_links"] == g["cuda_driver"] == UNSUPPORTED  # NVIDIA-only
    assert smi.calls["init"] == smi.calls["shut_down"]
    assert match_gpu(g, load_skus()) == "mi300x"


@pytest.mark.parametrize("getter", ["amdsmi_get_gpu_asic_info", "amdsmi_get_gpu_vbios_info",
                                    "amdsmi_get_gpu_vram_info", "amdsmi_get_clock_info",
                                    "amdsmi_get_power_cap_info", "amdsmi_get_pcie_info", "amdsmi_get_energy_count",
                                    "amdsmi_get_gpu_memory_total", "amdsmi_get_temp_metric",
                                    "amdsmi_get_gpu_device_uuid", "amdsmi_get_gpu_driver_info",
                                    "amdsmi_get_lib_version", "amdsmi_get_gpu_compute_partition"])
def test_an_unsupported_getter_gives_unsupported_fields(monkeypatch: pytest.MonkeyPatch, getter: str) -> None:
    m = fake_amdsmi(1, unsupported=(getter,))
    monkeypatch.setattr(amdgpus, "_amdsmi", lambda: m)
    (g,) = amdgpus.amd_fingerprints()
    assert set(g) >= NVML_FIELDS
    assert UNSUPPORTED in g.values()
    assert not any(isinstance(v, str) and v.startswith("error:") for v in g.values())


def test_other_errors_are_kept_as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    m = fake_amdsmi(1, failing=("amdsmi_get_temp_metric",))
    monkeypatch.setattr(amdgpus, "_amdsmi", lambda: m)
    (g,) = amdgpus.amd_fingerprints()
    assert g["temperature_c"].startswith("error: amdsmi error 7")


def test_without_amdsmi_or_gpus_there_is_nothing_and_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> Any:
        raise ImportError("no amdsmi")

    monkeypatch.setattr(amdgpus, "_amdsmi", missing)
    assert amdgpus.amd_fingerprints() == []
    assert "not installed" in amdgpus.amdsmi_status()
    monkeypatch.setattr(amdgpus, "_amdsmi", lambda: fake_amdsmi(init_error=True))
    assert amdgpus.amdsmi_status().startswith("amdsmi unavailable")
    monkeypatch.setattr(amdgpus, "_amdsmi", lambda: fake_amdsmi(0))
    assert amdgpus.amdsmi_status() == "amdsmi sees no AMD GPU" and amdgpus.amd_fingerprints() == []
