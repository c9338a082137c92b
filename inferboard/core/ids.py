"""Cell ids: ``{sku}/{runtime}/{model}/{workload}``, each part path-safe."""

from __future__ import annotations

import re

BASE_TARGET = "base"  # the served model itself, as a target of a traffic split (its LoRA adapters are the others)


def slug(text: str) -> str:
    """A path-safe id component (``meta-llama/Llama-3.1-8B`` → ``meta-llama--Llama-3.1-8B``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text.replace("/", "--")).strip("-") or "unnamed"


def cell_id(sku: str, runtime: str, model: str, workload: str) -> str:
    """``{sku}/{runtime}/{model}/{workload}`` with each part made path-safe."""
    return "/".join(slug(p) for p in (sku, runtime, model, workload))
