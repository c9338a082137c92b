"""The SKU catalogue (hardware/skus.yaml) and matching a fingerprinted GPU to its SKU id."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from inferboard.core.errors import InferboardError, validated
from inferboard.core.paths import REPO_ROOT
from inferboard.core.strict import Strict
from inferboard.core.yamltext import load_yaml

CPU_HOST = "cpu-host"


class Match(Strict):
    names: list[str] = Field(default_factory=list, description="exact device names (NVML / amd-smi)")
    pci_device_ids: list[str] = Field(default_factory=list, description="PCI device ids, e.g. 0x2330")


class Sku(Strict):
    """One accelerator SKU (or CPU host class); figures are sourced or null."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")
    reference_id: str | None = None
    vendor: str | None
    name: str
    kind: Literal["gpu", "cpu"]
    match: Match
    memory_gb: float | None
    memory_bandwidth_tbps: float | None
    bf16_dense_tflops: float | None
    fp8_dense_tflops: float | None
    tdp_w: float | None
    interconnect: str | None
    sources: dict[str, list[str]]
    alternatives: dict[str, list[Any]] = Field(default_factory=dict)
    price_per_gpu_hour_usd: float | None = None
    note: str | None = None


class SkuCatalogue(Strict):
    schema_version: Literal[1]
    source: str
    skus: list[Sku]


def skus_file() -> Path:
    return REPO_ROOT / "hardware" / "skus.yaml"


def load_skus(path: Path | None = None) -> dict[str, Sku]:
    """Every SKU by id (validated; a figure given without a source is an error)."""
    p = path or skus_file()
    cat = validated(SkuCatalogue, load_yaml(p.read_text()), source=str(p))
    for s in cat.skus:
        for f in ("memory_gb", "memory_bandwidth_tbps", "bf16_dense_tflops", "fp8_dense_tflops", "tdp_w"):
            if getattr(s, f) is not None and not s.sources.get(f):
                raise InferboardError(f"{p}: sku {s.id}: {f} has no source", field=f"skus.{s.id}.{f}",
                                      fix="add its source under sources, or set it to null")
    return {s.id: s for s in cat.skus}


def match_gpu(gpu: dict[str, Any], skus: dict[str, Sku] | None = None) -> str:
    """The SKU id of one fingerprinted GPU: by exact name, else PCI device id; else ``unknown-<name>``."""
    skus = skus or load_skus()
    name = str(gpu.get("name", ""))
    for s in skus.values():
        if name and name.lower() in (n.lower() for n in s.match.names):
            return s.id
    pci = str(gpu.get("pci_device_id", "")).lower()
    for s in skus.values():
        if pci and pci in s.match.pci_device_ids:
            return s.id
    return "unknown-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "gpu")


def resolve_sku(requested: str | None, gpus: list[dict[str, Any]], *, local_server: bool) -> tuple[str, bool]:
    """The cell's SKU id and whether it was verified against the fingerprint.

    With a server started here (``local_server``) the fingerprint decides: a requested SKU that
    disagrees is an error. Against an endpoint the GPUs are elsewhere: the requested SKU is recorded
    as declared (unverified).
    """
    skus = load_skus()
    if requested is not None and requested not in skus and not requested.startswith("unknown-"):
        raise InferboardError(f"unknown SKU {requested!r}", field="--sku",
                              fix=f"one of hardware/skus.yaml: {', '.join(sorted(skus))}")
    if not local_server:
        return requested or "unknown", False
    found = sorted({match_gpu(g, skus) for g in gpus}) or [CPU_HOST]
    if len(found) > 1:
        raise InferboardError(f"this host mixes GPU SKUs {found}", field="GPUs",
                              fix="make one kind visible with CUDA_VISIBLE_DEVICES")
    if requested is not None and requested != found[0]:
        raise InferboardError(f"--sku {requested} but this host fingerprints as {found[0]}", field="--sku",
                              fix=f"drop --sku or pass --sku {found[0]}")
    return found[0], True
