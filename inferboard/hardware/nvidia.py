"""GPU fingerprint through NVML (nvidia-ml-py, ``import pynvml``); every field present on every GPU.

A field the device or driver does not support is ``"unsupported"``; one that failed otherwise is
``"error: <NVML error>"``. UUIDs and serials are hashed. Without NVML (no driver, no package, a CPU
host) :func:`gpu_fingerprints` returns ``[]`` and :func:`nvml_status` says why.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

UNSUPPORTED = "unsupported"

#: clock-event (throttle) reason bits, named as nvidia-smi names them
THROTTLE_BITS = {
    0x1: "gpu_idle", 0x2: "applications_clocks_setting", 0x4: "sw_power_cap", 0x8: "hw_slowdown",
    0x10: "sync_boost", 0x20: "sw_thermal_slowdown", 0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown", 0x100: "display_clock_setting",
}


def _pynvml() -> Any:
    import pynvml

    return pynvml


def nvml_status() -> str:
    """``ok`` when NVML initialises, else the reason it cannot be used."""
    try:
        nv = _pynvml()
    except ImportError:
        return "nvidia-ml-py is not installed"
    try:
        nv.nvmlInit()
    except Exception as err:  # NVMLError_LibraryNotFound, _DriverNotLoaded, ...
        return f"NVML unavailable: {err}"
    nv.nvmlShutdown()
    return "ok"


@contextmanager
def nvml() -> Iterator[Any]:
    """NVML initialised for the duration of the block (init/shutdown are reference counted)."""
    nv = _pynvml()
    nv.nvmlInit()
    try:
        yield nv
    finally:
        nv.nvmlShutdown()


def query(nv: Any, fn: Callable[..., Any], *args: Any) -> Any:
    """Call an NVML getter; map "not supported" to ``unsupported`` and other errors to their text."""
    try:
        value = fn(*args)
    except nv.NVMLError as err:
        if getattr(err, "value", None) in (nv.NVML_ERROR_NOT_SUPPORTED, nv.NVML_ERROR_FUNCTION_NOT_FOUND):
            return UNSUPPORTED
        return f"error: {err}"
    return value.decode() if isinstance(value, bytes) else value


def hashed(text: Any) -> Any:
    """The first 16 hex digits of the SHA-256 of an identifier (UUID, serial); a non-answer unchanged."""
    if not isinstance(text, str) or text == UNSUPPORTED or text.startswith("error:"):
        return text
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def answered(value: Any) -> bool:
    """Whether a ``query`` gave a value, not ``UNSUPPORTED`` or an error text."""
    return not (isinstance(value, str) and (value == UNSUPPORTED or value.startswith("error:")))


def scaled(value: Any, factor: float) -> Any:
    """An answered value divided by ``factor`` (a unit change); a non-answer unchanged."""
    return value / factor if answered(value) else value


def _throttle_names(mask: Any) -> Any:
    if not answered(mask):
        return mask
    return sorted(name for bit, name in THROTTLE_BITS.items() if mask & bit) or ["none"]


def _nvlinks(nv: Any, h: Any) -> Any:
    active, supported = 0, False
    for link in range(getattr(nv, "NVML_NVLINK_MAX_LINKS", 18)):
        state = query(nv, nv.nvmlDeviceGetNvLinkState, h, link)
        if not answered(state):
            if state == UNSUPPORTED:
                continue
            break  # invalid argument past the last link
        supported = True
        active += int(bool(state))
    return active if supported else UNSUPPORTED


def device_fingerprint(nv: Any, index: int) -> dict[str, Any]:
    """Every fingerprint field of one GPU (the hardware page lists them)."""
    h = nv.nvmlDeviceGetHandleByIndex(index)
    pci = query(nv, nv.nvmlDeviceGetPciInfo, h)
    mem = query(nv, nv.nvmlDeviceGetMemoryInfo, h)
    mig = query(nv, nv.nvmlDeviceGetMigMode, h)
    ecc = query(nv, nv.nvmlDeviceGetEccMode, h)
    cc = query(nv, nv.nvmlDeviceGetCudaComputeCapability, h)
    clk = {name: getattr(nv, const) for name, const in (("sm", "NVML_CLOCK_SM"), ("memory", "NVML_CLOCK_MEM"))}
    reasons_fn = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
        nv.nvmlDeviceGetCurrentClocksThrottleReasons
    pci_device_id = f"0x{(pci.pciDeviceId >> 16):04x}" if answered(pci) else pci
    bus = pci.busId if answered(pci) else pci
    return {
        "index": index,
        "name": query(nv, nv.nvmlDeviceGetName, h),
        "uuid_sha256": hashed(query(nv, nv.nvmlDeviceGetUUID, h)),
        "serial_sha256": hashed(query(nv, nv.nvmlDeviceGetSerial, h)),
        "pci_bus_id": bus.decode() if isinstance(bus, bytes) else bus,
        "pci_device_id": pci_device_id,
        "pci_subsystem_id": f"0x{pci.pciSubSystemId:08x}" if answered(pci) else pci,
        "vbios": query(nv, nv.nvmlDeviceGetVbiosVersion, h),
        "architecture": query(nv, nv.nvmlDeviceGetArchitecture, h),
        "compute_capability": f"{cc[0]}.{cc[1]}" if answered(cc) else cc,
        "cuda_cores": query(nv, nv.nvmlDeviceGetNumGpuCores, h),
        "memory_total_bytes": mem.total if answered(mem) else mem,
        "memory_bus_width_bits": query(nv, nv.nvmlDeviceGetMemoryBusWidth, h),
        "clock_sm_max_mhz": query(nv, nv.nvmlDeviceGetMaxClockInfo, h, clk["sm"]),
        "clock_memory_max_mhz": query(nv, nv.nvmlDeviceGetMaxClockInfo, h, clk["memory"]),
        "clock_sm_mhz": query(nv, nv.nvmlDeviceGetClockInfo, h, clk["sm"]),
        "clock_memory_mhz": query(nv, nv.nvmlDeviceGetClockInfo, h, clk["memory"]),
        "power_limit_w": scaled(query(nv, nv.nvmlDeviceGetEnforcedPowerLimit, h), 1000.0),
        "power_limit_default_w": scaled(query(nv, nv.nvmlDeviceGetPowerManagementDefaultLimit, h), 1000.0),
        "persistence_mode": query(nv, nv.nvmlDeviceGetPersistenceMode, h),
        "mig_mode": mig[0] if answered(mig) else mig,
        "ecc_mode": ecc[0] if answered(ecc) else ecc,
        "pcie_link_gen": query(nv, nv.nvmlDeviceGetCurrPcieLinkGeneration, h),
        "pcie_link_gen_max": query(nv, nv.nvmlDeviceGetMaxPcieLinkGeneration, h),
        "pcie_link_width": query(nv, nv.nvmlDeviceGetCurrPcieLinkWidth, h),
        "pcie_link_width_max": query(nv, nv.nvmlDeviceGetMaxPcieLinkWidth, h),
        "nvlink_active_links": _nvlinks(nv, h),
        "temperature_c": query(nv, nv.nvmlDeviceGetTemperature, h, nv.NVML_TEMPERATURE_GPU),
        "throttle_reasons": _throttle_names(query(nv, reasons_fn, h)),
        "energy_counter": "supported" if answered(query(nv, nv.nvmlDeviceGetTotalEnergyConsumption, h))
        else UNSUPPORTED,
    }


def system_fingerprint(nv: Any) -> dict[str, Any]:
    cuda = query(nv, nv.nvmlSystemGetCudaDriverVersion)
    return {
        "driver": query(nv, nv.nvmlSystemGetDriverVersion),
        "cuda_driver": f"{cuda // 1000}.{cuda % 1000 // 10}" if answered(cuda) else cuda,
        "nvml": query(nv, nv.nvmlSystemGetNVMLVersion),
    }


def gpu_fingerprints() -> list[dict[str, Any]]:
    """One entry per visible NVIDIA GPU (driver fields repeated on each); ``[]`` without NVML."""
    if nvml_status() != "ok":
        return []
    with nvml() as nv:
        system = system_fingerprint(nv)
        return [{**device_fingerprint(nv, i), **system} for i in range(nv.nvmlDeviceGetCount())]
