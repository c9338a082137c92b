"""hardware/skus.yaml: coverage, sources, agreement with the shared reference, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from inferboard.core.errors import InferboardError
from inferboard.hardware.sku import load_skus, skus_file

ROOT = Path(__file__).resolve().parents[3]
REFERENCE = ROOT.parent / "shared" / "reference" / "gpu_skus.yaml"
REQUIRED = ["h100-sxm", "h100-pcie", "h100-nvl", "h200-sxm", "b200", "gb200", "a100-sxm-40gb", "a100-sxm-80gb",
            "a100-pcie-40gb", "a100-pcie-80gb", "l40s", "l4", "a10g", "t4", "rtx-4090", "rtx-5090",
            "rtx-6000-ada", "mi300x", "mi325x", "mi355x", "gaudi3", "cpu-host"]
FIGURES = ("memory_gb", "memory_bandwidth_tbps", "bf16_dense_tflops", "fp8_dense_tflops", "tdp_w")


def test_catalogue_covers_the_fleet() -> None:
    skus = load_skus()
    assert len([s for s in skus.values() if s.kind == "gpu"]) >= 20
    assert set(REQUIRED) <= set(skus)
    assert all(s.match.names or s.match.pci_device_ids for s in skus.values() if s.vendor == "NVIDIA"
               and s.reference_id)


@pytest.mark.skipif(not REFERENCE.is_file(), reason="shared/reference is not beside this checkout")
def test_figures_equal_the_reference() -> None:
    ref = {s["id"]: s for s in yaml.safe_load(REFERENCE.read_text())["skus"]}
    for s in load_skus().values():
        if s.reference_id is None:
            assert all(getattr(s, f) is None for f in FIGURES), f"{s.id}: unsourced figure"
            continue
        for f in FIGURES:
            assert getattr(s, f) == (ref[s.reference_id].get(f) or {}).get("value"), f"{s.id}.{f}"


def test_figure_without_source_is_an_error(tmp_path: Path) -> None:
    doc = yaml.safe_load(skus_file().read_text())
    doc["skus"][0]["sources"].pop("memory_gb")
    p = tmp_path / "skus.yaml"
    p.write_text(yaml.safe_dump(doc))
    with pytest.raises(InferboardError, match="memory_gb has no source"):
        load_skus(p)


def test_unknown_field_names_the_field(tmp_path: Path) -> None:
    doc = yaml.safe_load(skus_file().read_text())
    doc["skus"][0]["hbm_tbps"] = 3
    p = tmp_path / "skus.yaml"
    p.write_text(yaml.safe_dump(doc))
    with pytest.raises(InferboardError, match="hbm_tbps"):
        load_skus(p)
