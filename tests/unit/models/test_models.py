from __future__ import annotations

from pathlib import Path

from inferboard.models.catalog import load_models
from inferboard.models.tiny import SIZES, write_tiny_model

REQUIRED = {"llama-3.1-8b-instruct", "llama-3.1-70b-instruct", "qwen3-8b", "qwen3-30b-a3b", "gpt-oss-120b",
            "deepseek-r1", "tiny-llama-2l", "tiny-llama-4l"}


def test_catalogue_has_the_required_models_with_shapes() -> None:
    models = load_models()
    assert set(models) >= REQUIRED
    for m in models.values():
        assert m.active_parameters <= m.parameters
        assert (m.kind == "moe") == (m.experts is not None)
    assert models["llama-3.1-8b-instruct"].kv_bytes_per_token == 32 * 2 * 8 * 128 * 2  # 128 KiB


def test_tiny_entries_match_the_generator(tmp_path: Path) -> None:
    models = load_models()
    for name, shape in SIZES.items():
        m = models[name]
        manifest = write_tiny_model(tmp_path / name, name)
        assert m.parameters == manifest["parameters"]
        assert (m.layers, m.hidden_size, m.attention_heads, m.kv_heads, m.head_dim) == (
            shape.num_hidden_layers, shape.hidden_size, shape.num_attention_heads, shape.num_key_value_heads,
            shape.head_dim)
