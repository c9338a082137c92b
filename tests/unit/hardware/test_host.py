"""The host fingerprint names the CPU's instruction-set extensions its runtimes' CPU kernels are chosen by."""

from __future__ import annotations

import platform
from pathlib import Path

from inferboard.hardware.host import CPU_ISA, host_fingerprint


def test_the_cpu_extensions_are_those_of_proc_cpuinfo() -> None:
    host = host_fingerprint()
    isa = host["cpu_isa"]
    assert isa == sorted(isa) and set(isa) <= CPU_ISA
    line = next(ln for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.lower().startswith(("flags", "features")))
    flags = set(line.split(":", 1)[1].split())
    assert set(isa) == flags & CPU_ISA
    if platform.machine() == "x86_64":
        assert "avx2" in isa or "avx2" not in flags
