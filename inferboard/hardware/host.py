"""Host fingerprint (CPU and its instruction-set extensions, memory, kernel, OS, governor); GPU fields come from
hardware.nvidia and hardware.amd."""

from __future__ import annotations

import hashlib
import os
import platform
import socket
from pathlib import Path
from typing import Any

UNSUPPORTED = "unsupported"


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _cpu_model() -> str:
    info = _read("/proc/cpuinfo") or ""
    for line in info.splitlines():
        if line.lower().startswith(("model name", "hardware", "cpu model")):
            return line.split(":", 1)[1].strip()
    return platform.processor() or UNSUPPORTED


#: the CPU's instruction-set extensions an inference runtime's CPU backend picks its kernels by (/proc/cpuinfo
#: flags on x86, Features on Arm): a natively built runtime (llama.cpp's GGML_NATIVE) uses exactly these, and
#: llama.cpp repacks weights into AMX tiles only where amx_* are present
CPU_ISA = frozenset({
    "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
    "avx512_fp16", "avx512vbmi", "amx_tile", "amx_int8", "amx_bf16", "amx_fp16",
    "asimd", "asimddp", "asimdhp", "i8mm", "bf16", "sve", "sve2", "sme",
})


def _cpu_isa() -> list[str] | str:
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        if line.lower().startswith(("flags", "features")):
            return sorted(CPU_ISA.intersection(line.split(":", 1)[1].split()))
    return UNSUPPORTED


def _mem_total_bytes() -> int | str:
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return UNSUPPORTED


def _os_release() -> str:
    for line in (_read("/etc/os-release") or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return UNSUPPORTED


def host_fingerprint() -> dict[str, Any]:
    """What the host is; unsupported fields say ``unsupported`` rather than going missing."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 0
    return {
        "hostname_sha256": hashlib.sha256(socket.gethostname().encode()).hexdigest()[:16],
        "cpu_model": _cpu_model(),
        "cpu_arch": platform.machine(),
        "cpu_isa": _cpu_isa(),
        "cpu_logical_cores": os.cpu_count(),
        "cpu_usable_cores": cpus,
        "memory_bytes": _mem_total_bytes(),
        "kernel": platform.release(),
        "os": _os_release(),
        "cpu_governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor") or UNSUPPORTED,
        "python": platform.python_version(),
    }
