"""Several models on one server: how a runner loads LoRA adapters next to its model, and how a request picks one.

A runner declares it under ``adapters`` in its runner.yaml: the arguments added to its launch when a workload
splits traffic over adapters, and how a request addresses one (``model``: the adapter's name in the request's
``model`` field, as vLLM serves ``--lora-modules``; ``lora_field``: llama-server's per-request ``lora`` list of
adapter ids and scales). The adapters are the model folder's (``adapters/<name>/`` in PEFT form and
``adapters/<name>.gguf``, written by ``inferboard model tiny``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from inferboard.core.errors import InferboardError
from inferboard.core.ids import BASE_TARGET as BASE
from inferboard.core.strict import Strict

#: the only placeholders of an adapters argv (besides MODULES_ITEM alone in an item)
ADAPTER_PLACEHOLDERS = frozenset({"adapter_count", "adapter_rank", "adapter_ggufs"})
#: an argv item that is exactly this becomes one ``name=path`` item per adapter (vLLM's --lora-modules)
MODULES_ITEM = "{adapter_modules}"
ADAPTERS_DIR = "adapters"


class Adapters(Strict):
    """How a runtime serves LoRA adapters next to its model."""

    kind: Literal["lora"] = "lora"
    argv: list[str] = Field(description="added to the launch argv; {adapter_modules} alone in an item expands to "
                                        "name=path items, {adapter_ggufs} is the comma-separated GGUF paths")
    request: Literal["model", "lora_field"] = Field(
        description="model: the adapter's name goes in the request's model field; lora_field: a `lora` list of "
                    "{id, scale} selects it (llama-server)")


def adapter_ranks(model_dir: Path, names: tuple[str, ...]) -> dict[str, int]:
    """The rank of each named adapter of the model folder (from its adapter_config.json), checked to exist."""
    ranks = {}
    for name in names:
        config = model_dir / ADAPTERS_DIR / name / "adapter_config.json"
        gguf = model_dir / ADAPTERS_DIR / f"{name}.gguf"
        if not config.is_file() or not gguf.is_file():
            raise InferboardError(f"the model folder has no adapter {name!r} ({config.parent} and {gguf})",
                                  field="models.targets", fix="`inferboard model tiny` writes lora-a and lora-b; "
                                  "or name adapters the model folder has")
        try:
            rank = json.loads(config.read_text())["r"]
        except (OSError, ValueError, KeyError, TypeError):
            rank = None
        if not isinstance(rank, int) or not 1 <= rank <= 1024:
            raise InferboardError(f"{config}: no valid LoRA rank r", field="models.targets",
                                  fix="write the adapter again with `inferboard model tiny`")
        ranks[name] = rank
    return ranks


def adapter_argv(adapters: Adapters, model_path: str, ranks: dict[str, int]) -> list[str]:
    """The launch arguments that load ``ranks``' adapters, with paths as the server sees the model folder."""
    base = model_path.rstrip("/")
    values = {"adapter_count": str(len(ranks)), "adapter_rank": str(max(ranks.values())),
              "adapter_ggufs": ",".join(f"{base}/{ADAPTERS_DIR}/{n}.gguf" for n in ranks)}
    out: list[str] = []
    for item in adapters.argv:
        if item == MODULES_ITEM:
            out.extend(f"{n}={base}/{ADAPTERS_DIR}/{n}" for n in ranks)
        else:
            out.append(item.format(**values))
    return out


def request_fields(request: Literal["model", "lora_field"] | None, served_model_name: str,
                   adapters: tuple[str, ...], target: str) -> dict[str, Any]:
    """The request body fields that address ``target`` (``base`` or one of ``adapters``, in launch order).

    Without a runner declaration (an endpoint) the target's name is the request's model (``base``: the
    served one). A target the server did not load is an error: it would be served by the base model."""
    if request is not None and target != BASE and target not in adapters:
        raise InferboardError(f"target {target!r} is not one of the adapters the server loaded "
                              f"({', '.join(adapters) or 'none'})", field="models.targets",
                              fix="prepare the server with the workload's adapters")
    if target == BASE:
        if request == "lora_field":  # every adapter at scale 0: the model alone
            return {"lora": [{"id": i, "scale": 0.0} for i in range(len(adapters))]}
        return {"model": served_model_name}
    if request == "lora_field":
        return {"lora": [{"id": i, "scale": 1.0 if n == target else 0.0} for i, n in enumerate(adapters)]}
    return {"model": target}
