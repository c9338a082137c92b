"""The model catalogue (workflows/models.yaml): ids, pinned revisions and roofline shapes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from inferboard.core.errors import validated
from inferboard.core.paths import REPO_ROOT
from inferboard.core.strict import Strict
from inferboard.core.yamltext import load_yaml

DTYPE_BYTES = {"float32": 4.0, "bfloat16": 2.0, "float16": 2.0, "float8_e4m3": 1.0, "mxfp4": 0.53125}
Positive = Annotated[int, Field(gt=0)]


class ModelEntry(Strict):
    """One model and the shape a roofline needs."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")]
    hf_id: str | None
    revision: str | None = Field(description="HF commit; 'generated' for local models; null = not pinned")
    kind: Literal["dense", "moe", "random-weights"]
    parameters: Positive
    active_parameters: Positive
    layers: Positive
    hidden_size: Positive
    attention_heads: Positive
    kv_heads: Positive
    head_dim: Positive
    experts: Positive | None = None
    experts_per_token: Positive | None = None
    attention: Literal["mha", "gqa", "mla"] | None = None
    dtype: Literal["float32", "bfloat16", "float16", "float8_e4m3", "mxfp4"]
    hf_config: dict[str, Any] | None = Field(
        None, description="the rest of the public config.json, enough to build a random-weights copy "
                          "(`inferboard model random`); shape fields above are merged in")

    @property
    def kv_bytes_per_token(self) -> float:
        """KV-cache bytes per token at the model's activation precision (bf16 unless float32)."""
        elem = 4.0 if self.dtype == "float32" else 2.0
        per_layer = self.head_dim if self.attention == "mla" else 2 * self.kv_heads * self.head_dim
        return self.layers * per_layer * elem


class Catalogue(Strict):
    schema_version: Literal[1]
    models: list[ModelEntry]


def models_file() -> Path:
    return REPO_ROOT / "workflows" / "models.yaml"


def load_models(path: Path | None = None) -> dict[str, ModelEntry]:
    """Every catalogue entry by id (validated)."""
    p = path or models_file()
    cat = validated(Catalogue, load_yaml(p.read_text()), source=str(p))
    return {m.id: m for m in cat.models}
