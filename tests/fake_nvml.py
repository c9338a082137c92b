"""A fake ``pynvml`` module for tests on hosts without a GPU (NVML cannot run here)."""

from __future__ import annotations

import types
from collections.abc import Iterable
from typing import Any

NOT_SUPPORTED, FUNCTION_NOT_FOUND, INVALID_ARGUMENT, DRIVER_NOT_LOADED = 3, 13, 2, 9


class NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return {NOT_SUPPORTED: "Not Supported", INVALID_ARGUMENT: "Invalid Argument",
                DRIVER_NOT_LOADED: "Driver Not Loaded"}.get(self.value, f"NVML error {self.value}")


H100 = {
    "name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-0b8b6a9e-1111-2222-3333-444455556666", "serial": "1650123456789",
    "pci_device_id": 0x233010DE, "pci_subsystem": 0x16C110DE, "bus_id": "00000000:18:00.0",
    "vbios": "96.00.99.00.01", "arch": 9, "cc": (9, 0), "cores": 16896, "mem_total": 85520809984,
    "mem_used": 1 << 30, "bus_width": 5120, "max_clock": {1: 1980, 2: 2619}, "clock": {1: 1980, 2: 2619},
    "power_limit_mw": 700000, "power_default_mw": 700000, "persistence": 1, "mig": (0, 0), "ecc": (1, 1),
    "pcie_gen": 5, "pcie_gen_max": 5, "pcie_width": 16, "pcie_width_max": 16, "nvlinks": [1] * 18,
    "temp": 34, "throttle": 0x1, "energy_mj": [1_000_000, 1_350_000], "power_mw": 350000,
    "driver": "580.159.04", "cuda": 13000, "nvml": "13.580.159.04",
}


def make(gpus: list[dict[str, Any]] | None = None, unsupported: Iterable[str] = (), *,
         init_error: int | None = None) -> types.ModuleType:
    """A pynvml stand-in; ``unsupported`` names functions that raise NVML_ERROR_NOT_SUPPORTED.

    ``energy_mj`` is a list of successive counter readings (the last repeats).
    """
    gpus = [dict(g) for g in (gpus or [H100])]
    bad = set(unsupported)
    m = types.ModuleType("pynvml")
    m.NVMLError = NVMLError
    m.NVML_ERROR_NOT_SUPPORTED, m.NVML_ERROR_FUNCTION_NOT_FOUND = NOT_SUPPORTED, FUNCTION_NOT_FOUND
    m.NVML_CLOCK_SM, m.NVML_CLOCK_MEM, m.NVML_TEMPERATURE_GPU, m.NVML_NVLINK_MAX_LINKS = 1, 2, 0, 18
    m.calls = {"init": 0, "shutdown": 0}

    def fn(name: str, getter: Any) -> None:
        def wrapped(*args: Any) -> Any:
            if name in bad:
                raise NVMLError(NOT_SUPPORTED)
            return getter(*args)
        setattr(m, name, wrapped)

    def init() -> None:
        if init_error is not None:
            raise NVMLError(init_error)
        m.calls["init"] += 1

    m.nvmlInit = init
    m.nvmlShutdown = lambda: m.calls.__setitem__("shutdown", m.calls["shutdown"] + 1)
    m.nvmlDeviceGetCount = lambda: len(gpus)
    m.nvmlDeviceGetHandleByIndex = lambda i: gpus[i]

    def energy(h: dict[str, Any]) -> int:
        seq = h["energy_mj"]
        return seq.pop(0) if len(seq) > 1 else seq[0]

    def nvlink(h: dict[str, Any], link: int) -> int:
        if link >= len(h["nvlinks"]):
            raise NVMLError(INVALID_ARGUMENT)
        return h["nvlinks"][link]

    pci = lambda h: types.SimpleNamespace(pciDeviceId=h["pci_device_id"], pciSubSystemId=h["pci_subsystem"],  # noqa: E731
                                          busId=h["bus_id"].encode())
    mem = lambda h: types.SimpleNamespace(total=h["mem_total"], used=h["mem_used"], free=h["mem_total"] - h["mem_used"])  # noqa: E731
    getters = {
        "nvmlDeviceGetName": lambda h: h["name"], "nvmlDeviceGetUUID": lambda h: h["uuid"],
        "nvmlDeviceGetSerial": lambda h: h["serial"], "nvmlDeviceGetPciInfo": pci,
        "nvmlDeviceGetVbiosVersion": lambda h: h["vbios"], "nvmlDeviceGetArchitecture": lambda h: h["arch"],
        "nvmlDeviceGetCudaComputeCapability": lambda h: h["cc"], "nvmlDeviceGetNumGpuCores": lambda h: h["cores"],
        "nvmlDeviceGetMemoryInfo": mem, "nvmlDeviceGetMemoryBusWidth": lambda h: h["bus_width"],
        "nvmlDeviceGetMaxClockInfo": lambda h, t: h["max_clock"][t],
        "nvmlDeviceGetClockInfo": lambda h, t: h["clock"][t],
        "nvmlDeviceGetEnforcedPowerLimit": lambda h: h["power_limit_mw"],
        "nvmlDeviceGetPowerManagementDefaultLimit": lambda h: h["power_default_mw"],
        "nvmlDeviceGetPersistenceMode": lambda h: h["persistence"], "nvmlDeviceGetMigMode": lambda h: h["mig"],
        "nvmlDeviceGetEccMode": lambda h: h["ecc"], "nvmlDeviceGetCurrPcieLinkGeneration": lambda h: h["pcie_gen"],
        "nvmlDeviceGetMaxPcieLinkGeneration": lambda h: h["pcie_gen_max"],
        "nvmlDeviceGetCurrPcieLinkWidth": lambda h: h["pcie_width"],
        "nvmlDeviceGetMaxPcieLinkWidth": lambda h: h["pcie_width_max"], "nvmlDeviceGetNvLinkState": nvlink,
        "nvmlDeviceGetTemperature": lambda h, s: h["temp"],
        "nvmlDeviceGetCurrentClocksEventReasons": lambda h: h["throttle"],
        "nvmlDeviceGetCurrentClocksThrottleReasons": lambda h: h["throttle"],
        "nvmlDeviceGetTotalEnergyConsumption": energy, "nvmlDeviceGetPowerUsage": lambda h: h["power_mw"],
        "nvmlSystemGetDriverVersion": lambda: gpus[0]["driver"],
        "nvmlSystemGetCudaDriverVersion": lambda: gpus[0]["cuda"],
        "nvmlSystemGetNVMLVersion": lambda: gpus[0]["nvml"],
    }
    for name, getter in getters.items():
        fn(name, getter)
    return m
