"""AMD GPU fingerprint through amdsmi (ROCm's ``amdsmi`` Python package), where it is present.

The same fields as the NVML fingerprint (inferboard.hardware.nvidia), so rows from both vendors line up: a field
the device or driver does not support is ``"unsupported"`` (so are NVIDIA-only ones: CUDA cores, compute
capability, NVLink), one that failed otherwise is ``"error: <text>"``. UUIDs and serials are hashed.
Without amdsmi (no ROCm, no AMD GPU) :func:`amd_fingerprints` returns ``[]`` and :func:`amdsmi_status`
says why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from inferboard.hardware.nvidia import UNSUPPORTED, answered, hashed, scaled

#: amdsmi status codes meaning "this device/driver cannot answer" (AMDSMI_STATUS_NOT_SUPPORTED, _NOT_YET_IMPLEMENTED)
_NOT_SUPPORTED_CODES = (2, 3)


def _amdsmi() -> Any:
    import amdsmi

    return amdsmi


def amdsmi_status() -> str:
    """``ok`` when amdsmi initialises and sees at least one AMD GPU, else why it cannot be used."""
    try:
        smi = _amdsmi()
    except ImportError:
        return "amdsmi is not installed (ROCm)"
    try:
        smi.amdsmi_init()
    except Exception as err:  # AmdSmiLibraryException: driver not loaded, ...
        return f"amdsmi unavailable: {err}"
    try:
        n = len(smi.amdsmi_get_processor_handles())
    finally:
        smi.amdsmi_shut_down()
    return "ok" if n else "amdsmi sees no AMD GPU"


@contextmanager
def amdsmi_session() -> Iterator[Any]:
    smi = _amdsmi()
    smi.amdsmi_init()
    try:
        yield smi
    finally:
        smi.amdsmi_shut_down()


def query(smi: Any, fn: Callable[..., Any], *args: Any) -> Any:
    """Call an amdsmi getter; "not supported" → ``unsupported``, other errors → their text."""
    try:
        return fn(*args)
    except smi.AmdSmiException as err:
        if getattr(err, "err_code", None) in _NOT_SUPPORTED_CODES:
            return UNSUPPORTED
        return f"error: {err}"


def _get(d: Any, *keys: str) -> Any:
    """A nested field of an amdsmi dict, passing ``unsupported``/errors through; "N/A" counts as unsupported."""
    for k in keys:
        if not answered(d):
            return d
        d = d.get(k, UNSUPPORTED) if isinstance(d, dict) else UNSUPPORTED
    return UNSUPPORTED if d in ("N/A", None) else d


def _hex(v: Any, width: int = 4) -> Any:
    return f"0x{int(v):0{width}x}" if answered(v) and isinstance(v, int) else v


def device_fingerprint(smi: Any, index: int, h: Any) -> dict[str, Any]:
    """Every fingerprint field of one AMD GPU, under the NVML fingerprint's names."""
    asic = query(smi, smi.amdsmi_get_gpu_asic_info, h)
    vbios = query(smi, smi.amdsmi_get_gpu_vbios_info, h)
    vram = query(smi, smi.amdsmi_get_gpu_vram_info, h)
    gfx = query(smi, smi.amdsmi_get_clock_info, h, smi.AmdSmiClkType.GFX)
    mem_clk = query(smi, smi.amdsmi_get_clock_info, h, smi.AmdSmiClkType.MEM)
    cap = query(smi, smi.amdsmi_get_power_cap_info, h)
    pcie = query(smi, smi.amdsmi_get_pcie_info, h)
    energy = query(smi, smi.amdsmi_get_energy_count, h)
    return {
        "index": index,
        "vendor": "amd",
        "name": _get(asic, "market_name"),
        "uuid_sha256": hashed(query(smi, smi.amdsmi_get_gpu_device_uuid, h)),
        "serial_sha256": hashed(_get(asic, "asic_serial")),
        "pci_bus_id": query(smi, smi.amdsmi_get_gpu_device_bdf, h),
        "pci_device_id": _hex(_get(asic, "device_id")),
        "pci_subsystem_id": _hex(_get(asic, "subvendor_id")),
        "vbios": _get(vbios, "version"),
        "architecture": _get(asic, "target_graphics_version"),
        "compute_capability": UNSUPPORTED,
        "cuda_cores": UNSUPPORTED,
        "compute_units": _get(asic, "num_of_compute_units"),
        "memory_total_bytes": query(smi, smi.amdsmi_get_gpu_memory_total, h, smi.AmdSmiMemoryType.VRAM),
        "memory_bus_width_bits": _get(vram, "vram_bit_width"),
        "clock_sm_max_mhz": _get(gfx, "max_clk"),
        "clock_memory_max_mhz": _get(mem_clk, "max_clk"),
        "clock_sm_mhz": _get(gfx, "clk"),
        "clock_memory_mhz": _get(mem_clk, "clk"),
        "power_limit_w": scaled(_get(cap, "power_cap"), 1e6),  # amdsmi reports microwatts
        "power_limit_default_w": scaled(_get(cap, "default_power_cap"), 1e6),
        "persistence_mode": UNSUPPORTED,
        "mig_mode": query(smi, smi.amdsmi_get_gpu_compute_partition, h),  # SPX/DPX/CPX: AMD's partitioning
        "ecc_mode": query(smi, smi.amdsmi_get_gpu_ecc_enabled, h),
        "pcie_link_gen": _get(pcie, "pcie_metric", "pcie_speed"),
        "pcie_link_gen_max": _get(pcie, "pcie_static", "pcie_interface_version"),
        "pcie_link_width": _get(pcie, "pcie_metric", "pcie_width"),
        "pcie_link_width_max": _get(pcie, "pcie_static", "max_pcie_width"),
        "nvlink_active_links": UNSUPPORTED,
        "temperature_c": query(smi, smi.amdsmi_get_temp_metric, h, smi.AmdSmiTemperatureType.EDGE,
                               smi.AmdSmiTemperatureMetric.CURRENT),
        "throttle_reasons": UNSUPPORTED,
        "energy_counter": "supported" if answered(energy) else UNSUPPORTED,
    }


def system_fingerprint(smi: Any, h: Any) -> dict[str, Any]:
    drv = query(smi, smi.amdsmi_get_gpu_driver_info, h)
    lib = query(smi, smi.amdsmi_get_lib_version)
    return {
        "driver": _get(drv, "driver_version"),
        "cuda_driver": UNSUPPORTED,
        "nvml": UNSUPPORTED,
        "amdsmi": ".".join(str(lib[k]) for k in ("major", "minor", "release") if k in lib) if answered(lib) else lib,
    }


def amd_fingerprints() -> list[dict[str, Any]]:
    """One entry per AMD GPU that amdsmi sees (driver fields repeated on each); ``[]`` without amdsmi."""
    if amdsmi_status() != "ok":
        return []
    with amdsmi_session() as smi:
        handles = smi.amdsmi_get_processor_handles()
        system = system_fingerprint(smi, handles[0])
        return [{**device_fingerprint(smi, i, h), **system} for i, h in enumerate(handles)]


def host_gpus() -> list[dict[str, Any]]:
    """Every GPU of this host: NVIDIA through NVML, then AMD through amdsmi (each ``[]`` where absent)."""
    from inferboard.hardware.nvidia import gpu_fingerprints

    return [*gpu_fingerprints(), *amd_fingerprints()]
