from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import load_file

from inferboard.core.hashing import content_hash, file_sha256
from inferboard.models.lora import ADAPTERS, ALPHA, RANK, write_adapters
from inferboard.models.tiny import SIZES, permute, write_tiny_model

SHAPE = SIZES["tiny-llama-2l"]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("tiny") / "model"
    return out, write_tiny_model(out, SHAPE.name)


def _field(reader: Any, key: str) -> Any:
    f = reader.fields[key]
    value = f.parts[f.data[0]]
    return bytes(value).decode() if f.types[0].name == "STRING" else value[0]


def test_two_writes_are_byte_identical(model: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    out, _ = model
    again = write_adapters(tmp_path, SHAPE)
    first = json.loads((out / "adapters" / "manifest.json").read_text())
    assert again == first and set(again["adapters"]) == set(ADAPTERS)
    files = sorted(p.relative_to(out / "adapters") for p in (out / "adapters").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "adapters") for p in (tmp_path / "adapters").rglob("*")
                           if p.is_file())
    for rel in files:
        assert (out / "adapters" / rel).read_bytes() == (tmp_path / "adapters" / rel).read_bytes(), rel
    listed = {r: h for a in first["adapters"].values() for r, h in a["files"].items()}
    assert all(file_sha256(out / "adapters" / r) == h for r, h in listed.items())
    assert first["revision"] == content_hash(listed)


def test_peft_files(model: tuple[Path, dict[str, Any]]) -> None:
    out, _ = model
    kv = SHAPE.num_key_value_heads * SHAPE.head_dim
    seen = []
    for name in ADAPTERS:
        cfg = json.loads((out / "adapters" / name / "adapter_config.json").read_text())
        assert cfg["peft_type"] == "LORA" and cfg["task_type"] == "CAUSAL_LM"
        assert (cfg["r"], cfg["lora_alpha"], cfg["target_modules"]) == (RANK, ALPHA, ["q_proj", "v_proj"])
        assert cfg["base_model_name_or_path"] == SHAPE.name and cfg["modules_to_save"] is None
        w = load_file(str(out / "adapters" / name / "adapter_model.safetensors"))
        assert len(w) == 4 * SHAPE.num_hidden_layers
        for i in range(SHAPE.num_hidden_layers):
            for module, rows in (("q_proj", SHAPE.hidden_size), ("v_proj", kv)):
                p = f"base_model.model.model.layers.{i}.self_attn.{module}."
                a, b = w[p + "lora_A.weight"], w[p + "lora_B.weight"]
                assert a.shape == (RANK, SHAPE.hidden_size) and b.shape == (rows, RANK)
                assert a.dtype == b.dtype == np.float32
                assert np.count_nonzero(b) == b.size  # B non-zero: the adapter changes the output
        seen.append(w["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"])
    assert not np.array_equal(seen[0], seen[1])  # the adapters differ


def test_gguf_matches_what_llama_cpp_checks(model: tuple[Path, dict[str, Any]]) -> None:
    import gguf

    out, _ = model
    base = {t.name: tuple(int(n) for n in t.shape) for t in gguf.GGUFReader(str(out / "model.gguf")).tensors}
    for name in ADAPTERS:
        reader = gguf.GGUFReader(str(out / "adapters" / f"{name}.gguf"))
        assert _field(reader, "general.type") == "adapter"
        assert _field(reader, "general.architecture") == "llama"
        assert _field(reader, "adapter.type") == "lora"
        assert _field(reader, "general.name") == name
        alpha = reader.fields["adapter.lora.alpha"]
        assert alpha.types == [gguf.GGUFValueType.FLOAT32] and float(alpha.parts[alpha.data[0]][0]) == ALPHA
        tensors = {t.name: t for t in reader.tensors}
        expected = {f"blk.{i}.attn_{m}.weight.lora_{x}" for i in range(SHAPE.num_hidden_layers)
                    for m in "qv" for x in "ab"}
        assert set(tensors) == expected
        peft = load_file(str(out / "adapters" / name / "adapter_model.safetensors"))
        for i in range(SHAPE.num_hidden_layers):
            for m, module in (("q", "q_proj"), ("v", "v_proj")):
                target = f"blk.{i}.attn_{m}.weight"
                a, b = tensors[target + ".lora_a"], tensors[target + ".lora_b"]
                ne_base, ne_a, ne_b = base[target], tuple(int(n) for n in a.shape), tuple(int(n) for n in b.shape)
                # src/llama-adapter.cpp: base.ne[0] == a.ne[0], base.ne[1] == b.ne[1], a.ne[1] == b.ne[0]
                assert ne_base[0] == ne_a[0] and ne_base[1] == ne_b[1] and ne_a[1] == ne_b[0] == RANK
                p = f"base_model.model.model.layers.{i}.self_attn.{module}."
                a_np = np.asarray(a.data).reshape(ne_a[::-1])
                b_np = np.asarray(b.data).reshape(ne_b[::-1])
                assert np.array_equal(a_np, peft[p + "lora_A.weight"])
                want_b = peft[p + "lora_B.weight"]
                if m == "q":  # rows permuted like the base model's q rows
                    want_b = permute(want_b, SHAPE.num_attention_heads)
                    assert not np.array_equal(want_b, peft[p + "lora_B.weight"])
                assert np.array_equal(b_np, want_b)


def test_model_revision_is_unchanged_by_adapters(model: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = model
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == manifest
    assert "adapters" not in manifest["files"] and not any("/" in f for f in manifest["files"])
    assert set(manifest["files"]) == {p.name for p in out.iterdir() if p.is_file() and p.name != "manifest.json"}
    assert manifest["revision"] == content_hash(manifest["files"])  # adapters/ plays no part in it
