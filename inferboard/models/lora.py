"""Deterministic LoRA adapters for the tiny random-weights Llama, in PEFT and llama.cpp GGUF form.

One server can then serve several "models" (the base plus each adapter): vLLM loads the PEFT folder
(``--lora-modules name=path``), llama-server the GGUF file (``--lora path``). Each adapter is rank 8,
alpha 16, on ``q_proj`` and ``v_proj`` of every layer, with seeded normal(0, 0.02) A *and* B (B is
non-zero, unlike a freshly initialised PEFT adapter, so the adapter really changes the output). The GGUF
mirrors llama.cpp's ``convert_lora_to_gguf.py``: ``general.type`` = adapter, ``adapter.type`` = lora,
``adapter.lora.alpha`` as float32, tensors ``blk.{i}.attn_{q,v}.weight.lora_{a,b}``, and the q adapter's
B rows permuted like the base model's q rows. Two runs give byte-identical files.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from inferboard.core.errors import InferboardError
from inferboard.core.hashing import content_hash, file_sha256
from inferboard.models.tiny import TinyShape, permute, write_json

ADAPTERS: tuple[str, ...] = ("lora-a", "lora-b")
RANK = 8
ALPHA = 16
TARGET_MODULES = ("q_proj", "v_proj")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_SEED = 20261205  # fixed constant mixed into every adapter's seed


def _check_name(name: Any, source: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InferboardError(f"bad adapter name {name!r}", field=source,
                              fix="lowercase letters, digits and '-', at most 40 characters")
    return name


def _lora_weights(shape: TinyShape, index: int) -> dict[str, np.ndarray]:
    """PEFT-named lora_A (r, in) and lora_B (out, r) tensors of adapter number ``index``."""
    rng = np.random.default_rng([shape.seed, index, _SEED])
    outs = {"q_proj": shape.hidden_size, "v_proj": shape.num_key_value_heads * shape.head_dim}
    w: dict[str, np.ndarray] = {}
    for i in range(shape.num_hidden_layers):
        for module in TARGET_MODULES:
            p = f"base_model.model.model.layers.{i}.self_attn.{module}."
            w[p + "lora_A.weight"] = (rng.standard_normal((RANK, shape.hidden_size), dtype=np.float32)
                                      * 0.02).astype(np.float32)
            w[p + "lora_B.weight"] = (rng.standard_normal((outs[module], RANK), dtype=np.float32)
                                      * 0.02).astype(np.float32)
    return w


def _peft_config(shape: TinyShape) -> dict[str, Any]:
    return {
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": RANK, "lora_alpha": ALPHA,
        "target_modules": list(TARGET_MODULES), "lora_dropout": 0.0, "bias": "none", "fan_in_fan_out": False,
        "use_rslora": False, "use_dora": False, "modules_to_save": None, "inference_mode": True,
        "base_model_name_or_path": shape.name,
    }


def _write_gguf(path: Path, name: str, shape: TinyShape, weights: dict[str, np.ndarray]) -> None:
    """The llama.cpp LoRA GGUF of ``weights`` (KV fields in convert_lora_to_gguf.py's order)."""
    import gguf

    w = gguf.GGUFWriter(str(path), "llama")  # general.architecture
    w.add_type(gguf.GGUFType.ADAPTER)
    w.add_string(gguf.Keys.Adapter.TYPE, "lora")
    w.add_name(name)
    w.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(ALPHA))
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    gguf_module = {"q_proj": "attn_q", "v_proj": "attn_v"}
    for i in range(shape.num_hidden_layers):
        for module in TARGET_MODULES:
            p = f"base_model.model.model.layers.{i}.self_attn.{module}."
            a, b = weights[p + "lora_A.weight"], weights[p + "lora_B.weight"]
            if module == "q_proj":  # the base GGUF's q rows are permuted; B·A must match them
                b = permute(b, shape.num_attention_heads)
            base = f"blk.{i}.{gguf_module[module]}.weight"
            w.add_tensor(base + ".lora_a", np.ascontiguousarray(a))  # ne [in, r]: a.ne[0] == base.ne[0]
            w.add_tensor(base + ".lora_b", np.ascontiguousarray(b))  # ne [r, out]: b.ne[1] == base.ne[1]
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_adapters(model_dir: Path, shape: TinyShape, names: tuple[str, ...] = ADAPTERS) -> dict[str, Any]:
    """Write each adapter under ``model_dir/adapters`` (PEFT folder + ``<name>.gguf``) and its manifest.

    The i-th name of ``names`` is seeded with ``[shape.seed, i, _SEED]``. Returns the manifest also
    written to ``adapters/manifest.json``: per adapter its rank, alpha, target modules and file hashes
    (paths relative to ``adapters/``), and a ``revision`` hashing all the files.
    """
    from safetensors.numpy import save_file

    if len(set(names)) != len(names):
        raise InferboardError(f"duplicate adapter names {names!r}", field="names", fix="give each adapter once")
    root = model_dir / "adapters"
    root.mkdir(parents=True, exist_ok=True)
    adapters: dict[str, Any] = {}
    for index, name in enumerate(names):
        _check_name(name, "names")
        weights = _lora_weights(shape, index)
        peft = root / name
        peft.mkdir(exist_ok=True)
        write_json(peft / "adapter_config.json", _peft_config(shape))
        save_file(weights, str(peft / "adapter_model.safetensors"), metadata={"format": "pt"})
        _write_gguf(root / f"{name}.gguf", name, shape, weights)
        rel = [f"{name}/adapter_config.json", f"{name}/adapter_model.safetensors", f"{name}.gguf"]
        adapters[name] = {"rank": RANK, "alpha": ALPHA, "target_modules": list(TARGET_MODULES),
                          "files": {r: file_sha256(root / r) for r in sorted(rel)}}
    all_files = {r: h for a in adapters.values() for r, h in a["files"].items()}
    manifest = {"adapters": dict(sorted(adapters.items())), "revision": content_hash(all_files)}
    write_json(root / "manifest.json", manifest)
    return manifest
