"""Energy and GPU telemetry over a measurement window, from NVML.

Energy is the delta of NVML's total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``, mJ since
the driver loaded) between the window's start and end, summed over the cell's GPUs: method
``nvml_total_energy_counter``. It is null, never 0, when a GPU does not support the counter or the
counter went backwards (a reset). A background thread samples power, SM clock, temperature and memory
in use every ``interval_s``; mean power above the enforced power limit is flagged.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from inferboard.hardware.nvidia import nvml_status, query

METHOD = "nvml_total_energy_counter"
#: tolerance of the power-limit check (NVML power readings are averaged and rounded)
POWER_LIMIT_SLACK = 1.02


@dataclass
class GpuWindow:
    """What one measurement window measured (JSON-ready through :meth:`summary`)."""

    gpus: list[int]
    energy_j: float | None = None
    energy_null_reason: str | None = None
    duration_s: float = 0.0
    power_limit_w: float | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)
    started_ns: int | None = None  # monotonic ns at the window's start: a sample's time is this + its t_s

    def summary(self) -> dict[str, Any]:
        def agg(key: str, fn: Any) -> float | None:
            vals = [s[key] for s in self.samples if isinstance(s.get(key), int | float)]
            return float(fn(vals)) if vals else None

        # mean of the per-sweep totals across GPUs, so the limit compares like with like; a sweep is one
        # reading of every GPU, appended together (two sweeps may share a rounded t_s: never key by it)
        n = max(1, len(self.gpus))
        totals = [sum(s["power_w"] for s in sweep if isinstance(s.get("power_w"), int | float))
                  for sweep in (self.samples[i:i + n] for i in range(0, len(self.samples), n))
                  if any(isinstance(s.get("power_w"), int | float) for s in sweep)]
        power_mean = sum(totals) / len(totals) if totals else None
        limit = self.power_limit_w
        return {
            "energy_j": self.energy_j,
            "energy_method": METHOD if self.energy_j is not None else None,
            "energy_null_reason": self.energy_null_reason,
            "gpu_window_s": self.duration_s,
            "power_mean_w": power_mean,
            "power_max_w": agg("power_w", max),
            "power_limit_w": limit,
            "power_over_limit": (power_mean > limit * POWER_LIMIT_SLACK
                                 if power_mean is not None and limit else None),
            "sm_clock_mean_mhz": agg("sm_clock_mhz", lambda v: sum(v) / len(v)),
            "gpu_temp_max_c": agg("temp_c", max),
            "gpu_memory_used_max_bytes": agg("memory_used_bytes", max),
        }


class GpuMonitor:
    """Samples the listed GPUs during a window: ``with GpuMonitor([0]) as mon: ...; mon.window``."""

    def __init__(self, gpus: list[int], interval_s: float = 0.1) -> None:
        self.gpus, self.interval_s = gpus, interval_s
        self.window = GpuWindow(gpus=gpus)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._nv: Any = None
        self._handles: list[Any] = []
        self._start_mj: list[Any] = []
        self._t0 = 0.0

    def __enter__(self) -> GpuMonitor:
        status = nvml_status()
        if status != "ok":
            self.window.energy_null_reason = status
            return self
        import pynvml as nv

        nv.nvmlInit()
        self._nv = nv
        self._handles = [nv.nvmlDeviceGetHandleByIndex(i) for i in self.gpus]
        limits = [query(nv, nv.nvmlDeviceGetEnforcedPowerLimit, h) for h in self._handles]
        if limits and all(isinstance(v, int) for v in limits):
            self.window.power_limit_w = sum(limits) / 1000.0
        self._t0 = time.monotonic()
        self.window.started_ns = int(self._t0 * 1e9)
        self._start_mj = [query(nv, nv.nvmlDeviceGetTotalEnergyConsumption, h) for h in self._handles]
        self._thread = threading.Thread(target=self._sample_loop, name="gpu-monitor", daemon=True)
        self._thread.start()
        return self

    def _sample_once(self) -> None:
        nv, t = self._nv, round(time.monotonic() - self._t0, 3)
        for idx, h in zip(self.gpus, self._handles, strict=True):
            power = query(nv, nv.nvmlDeviceGetPowerUsage, h)
            mem = query(nv, nv.nvmlDeviceGetMemoryInfo, h)
            clock = query(nv, nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_SM)
            temp = query(nv, nv.nvmlDeviceGetTemperature, h, nv.NVML_TEMPERATURE_GPU)
            self.window.samples.append({
                "t_s": t, "gpu": idx,
                "power_w": power / 1000.0 if isinstance(power, int) else None,
                "memory_used_bytes": getattr(mem, "used", None),
                "sm_clock_mhz": clock if isinstance(clock, int) else None,
                "temp_c": temp if isinstance(temp, int) else None,
            })

    def _sample_loop(self) -> None:
        while not self._stop.is_set():
            self._sample_once()
            self._stop.wait(self.interval_s)

    def __exit__(self, *exc: object) -> None:
        if self._nv is None:
            return
        nv = self._nv
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        end_mj = [query(nv, nv.nvmlDeviceGetTotalEnergyConsumption, h) for h in self._handles]
        self.window.duration_s = time.monotonic() - self._t0
        self._sample_once()
        nv.nvmlShutdown()
        self.window.energy_j, self.window.energy_null_reason = energy_delta(self._start_mj, end_mj)


def energy_delta(start_mj: list[Any], end_mj: list[Any]) -> tuple[float | None, str | None]:
    """Summed counter delta in joules, or ``(None, reason)``; never a made-up 0."""
    if not start_mj:
        return None, "no GPU in the window"
    total = 0
    for i, (a, b) in enumerate(zip(start_mj, end_mj, strict=True)):
        if not isinstance(a, int) or not isinstance(b, int):
            return None, f"GPU {i}: energy counter {a if not isinstance(a, int) else b}"
        if b < a:
            return None, f"GPU {i}: energy counter went backwards ({a} → {b} mJ): counter reset"
        total += b - a
    return total / 1000.0, None
