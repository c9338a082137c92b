"""A real Llama-architecture model prepared from one GGUF file, offline and deterministically, for both runtimes.

From the shipped (quantized) GGUF it writes two model folders:

- ``full``: the weights dequantized with the ``gguf`` package and rounded to float16, as an F16 GGUF for
  llama-server and as **float32** safetensors (HF layout, q/k rows un-permuted) for vLLM. Every float16 value is
  exactly representable in float32, so both runtimes hold the *same* numbers; bfloat16 (8 significand bits against
  float16's 11) would round them again. 1-D tensors (norms) stay float32 in both.
- ``quantized``: the shipped GGUF byte for byte, for llama-server (quantization against full precision).

Both get config.json, tokenizer.json (byte-level BPE rebuilt from the GGUF's vocabulary and merges, with the
pre-tokenizer llama.cpp uses for it), the chat template, LoRA adapters for multi-model cells, and a manifest whose
revision is the hash of every file's SHA-256. Two runs give byte-identical files.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from inferboard.core.errors import InferboardError
from inferboard.core.hashing import content_hash, file_sha256
from inferboard.models.catalog import ModelEntry
from inferboard.models.packaged import packaged_path
from inferboard.models.tiny import TinyShape

# GGUF pre-tokenizer names whose split rules this module reproduces with HF `tokenizers` (llama-vocab.cpp:
# "smollm" splits every digit, then applies the GPT-2 regex)
PRE_TOKENIZERS = {"smollm": True, "gpt2": False}
HF_NAMES = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
            "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
            "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
SKIP_KEYS = {"general.architecture", "general.file_type", "general.quantization_version"}


def _reader(path: Path) -> Any:
    import gguf

    reader = gguf.GGUFReader(str(path))
    arch = reader.fields["general.architecture"].contents()
    if arch != "llama":
        raise InferboardError(f"{path.name} is a {arch!r} model; only llama GGUFs are converted", field="model source")
    return reader


def _value(reader: Any, key: str) -> Any:
    return reader.fields[key].contents()


def shape_of(reader: Any, name: str) -> TinyShape:
    """The model's architecture from the GGUF's llama.* keys."""
    eps = float(f"{_value(reader, 'llama.attention.layer_norm_rms_epsilon'):.7g}")  # float32 1e-5 → 1e-05
    return TinyShape(name=name, vocab_size=len(_value(reader, "tokenizer.ggml.tokens")),
                     hidden_size=int(_value(reader, "llama.embedding_length")),
                     intermediate_size=int(_value(reader, "llama.feed_forward_length")),
                     num_hidden_layers=int(_value(reader, "llama.block_count")),
                     num_attention_heads=int(_value(reader, "llama.attention.head_count")),
                     num_key_value_heads=int(_value(reader, "llama.attention.head_count_kv")),
                     max_position_embeddings=int(_value(reader, "llama.context_length")), rms_norm_eps=eps,
                     rope_theta=float(_value(reader, "llama.rope.freq_base")))


def tokenizer_json(reader: Any) -> str:
    """HF tokenizer.json of the GGUF's byte-level BPE (control tokens as special added tokens)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    pre = _value(reader, "tokenizer.ggml.pre")
    if _value(reader, "tokenizer.ggml.model") != "gpt2" or pre not in PRE_TOKENIZERS:
        raise InferboardError(f"tokenizer {pre!r} is not one this converter reproduces", field="model source",
                              fix=f"known: {', '.join(PRE_TOKENIZERS)}")
    tokens = list(_value(reader, "tokenizer.ggml.tokens"))
    types = list(_value(reader, "tokenizer.ggml.token_type"))
    merges = [tuple(m.split(" ", 1)) for m in _value(reader, "tokenizer.ggml.merges")]
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    tok.pre_tokenizer = (pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
                         if PRE_TOKENIZERS[pre] else byte_level)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, k in zip(tokens, types, strict=True)
                            if k == 3])  # GGUF token type 3 = control
    return str(tok.to_str(pretty=True)) + "\n"


SPECIAL_IDS = {"bos_token": "bos_token_id", "eos_token": "eos_token_id", "unk_token": "unknown_token_id",
               "pad_token": "padding_token_id"}


def _special_ids(reader: Any) -> dict[str, int]:
    """The tokenizer's special token ids the GGUF names (tokenizer.ggml.<key>), by key."""
    return {v: int(_value(reader, f"tokenizer.ggml.{v}")) for v in SPECIAL_IDS.values()
            if f"tokenizer.ggml.{v}" in reader.fields}


def hf_files(reader: Any, shape: TinyShape, torch_dtype: str) -> dict[str, Any]:
    """config.json, generation_config.json, tokenizer_config.json and special_tokens_map.json of the model."""
    ids = _special_ids(reader)
    ids.setdefault("padding_token_id", ids["eos_token_id"])
    tied = not any(t.name == "output.weight" for t in reader.tensors)
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": shape.vocab_size,
              "hidden_size": shape.hidden_size, "intermediate_size": shape.intermediate_size,
              "num_hidden_layers": shape.num_hidden_layers, "num_attention_heads": shape.num_attention_heads,
              "num_key_value_heads": shape.num_key_value_heads, "head_dim": shape.head_dim,
              "max_position_embeddings": shape.max_position_embeddings, "rms_norm_eps": shape.rms_norm_eps,
              "rope_theta": shape.rope_theta, "hidden_act": "silu", "tie_word_embeddings": tied,
              "attention_bias": False, "mlp_bias": False, "torch_dtype": torch_dtype,
              "bos_token_id": ids["bos_token_id"], "eos_token_id": ids["eos_token_id"],
              "pad_token_id": ids["padding_token_id"]}
    tokens = _value(reader, "tokenizer.ggml.tokens")
    named = _special_ids(reader)
    special = {k: tokens[named[v]] for k, v in SPECIAL_IDS.items() if v in named}
    tok_config = {"tokenizer_class": "PreTrainedTokenizerFast", **special,
                  "add_bos_token": bool(_value(reader, "tokenizer.ggml.add_bos_token")),
                  "clean_up_tokenization_spaces": False, "model_max_length": shape.max_position_embeddings,
                  "chat_template": _value(reader, "tokenizer.chat_template")}
    return {"config.json": config, "tokenizer_config.json": tok_config, "special_tokens_map.json": special,
            "generation_config.json": {"bos_token_id": ids["bos_token_id"], "eos_token_id": ids["eos_token_id"],
                                       "do_sample": False}}


def unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """GGUF's rotary row order → HF's (transformers' ``reverse_permute_weights``; inverse of convert_hf_to_gguf's)."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def dequantized(reader: Any) -> dict[str, np.ndarray]:
    """Every tensor as float32 in GGUF names and numpy (row-major) shapes; matrices rounded to float16 values."""
    from gguf.quants import dequantize

    out: dict[str, np.ndarray] = {}
    for t in reader.tensors:
        w = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32)
        w = w.reshape(tuple(int(d) for d in reversed(t.shape)))
        out[t.name] = w.astype(np.float16).astype(np.float32) if w.ndim > 1 else np.ascontiguousarray(w)
    return out


def hf_state_dict(weights: dict[str, np.ndarray], shape: TinyShape) -> dict[str, np.ndarray]:
    """The HF LlamaForCausalLM state dict of GGUF-named weights (tied embeddings: no lm_head)."""
    sd = {"model.embed_tokens.weight": weights["token_embd.weight"], "model.norm.weight": weights["output_norm.weight"]}
    if "output.weight" in weights:
        sd["lm_head.weight"] = weights["output.weight"]
    for i in range(shape.num_hidden_layers):
        for gg, hf in HF_NAMES.items():
            w = weights[f"blk.{i}.{gg}.weight"]
            if gg == "attn_q":
                w = unpermute(w, shape.num_attention_heads)
            elif gg == "attn_k":
                w = unpermute(w, shape.num_key_value_heads)
            sd[f"model.layers.{i}.{hf}.weight"] = np.ascontiguousarray(w)
    return sd


def write_f16_gguf(path: Path, reader: Any, weights: dict[str, np.ndarray]) -> None:
    """The same metadata as the shipped file, every matrix F16 and every 1-D tensor F32."""
    import gguf

    w = gguf.GGUFWriter(str(path), "llama")
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key in SKIP_KEYS:
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(key, field.contents(), vtype, sub_type=sub)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    for t in reader.tensors:
        v = weights[t.name]
        w.add_tensor(t.name, v.astype(np.float16) if v.ndim > 1 else v)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def _dump_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_model(src: Path, out: Path, *, name: str, variant: str, source: dict[str, Any]) -> dict[str, Any]:
    """Write model folder ``out`` of ``variant`` ("full" or "quantized") from GGUF ``src``; return its manifest."""
    from safetensors.numpy import save_file

    from inferboard.models.lora import write_adapters

    if variant not in ("full", "quantized"):
        raise InferboardError(f"unknown variant {variant!r}", field="variant", fix="full or quantized")
    reader = _reader(src)
    shape = shape_of(reader, name)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / "tokenizer.json").write_text(tokenizer_json(reader))
    if variant == "full":
        weights = dequantized(reader)
        sd = hf_state_dict(weights, shape)
        save_file(sd, str(out / "model.safetensors"), metadata={"format": "pt"})
        write_f16_gguf(out / "model.gguf", reader, weights)
        precision = {"model.safetensors": "float32 holding float16 values", "model.gguf": "F16 (1-D tensors F32)"}
        parameters = int(sum(v.size for v in sd.values()))
    else:
        shutil.copyfile(src, out / "model.gguf")
        types = sorted({t.tensor_type.name for t in reader.tensors})
        precision = {"model.gguf": "as shipped: " + ", ".join(types)}
        parameters = int(sum(int(t.n_elements) for t in reader.tensors if t.name != "output.weight"))
    for fname, obj in hf_files(reader, shape, "float32").items():
        _dump_json(out / fname, obj)
    files = {p.name: file_sha256(p) for p in sorted(out.iterdir()) if p.is_file()}
    manifest = {"name": name, "catalogue_id": name, "kind": "real", "variant": variant, "precision": precision,
                "source": source, "shape": asdict(shape), "parameters": parameters, "files": files,
                "revision": content_hash(files)}
    _dump_json(out / "manifest.json", manifest)
    write_adapters(out, shape)
    return manifest


def prepare_catalogue_model(entry: ModelEntry, out: Path) -> dict[str, Any]:
    """Prepare catalogue model ``entry`` (one with a ``source``) into ``out``; its files must hash to the revision
    the catalogue pins (a pinned revision that differs means this preparation is not the published one)."""
    if entry.source is None or entry.variant is None:
        raise InferboardError(f"{entry.id} has no packaged source to prepare", field="model",
                              fix="a model with `source:` in workflows/models.yaml")
    src = packaged_path(entry.source)
    manifest = write_model(src, out, name=entry.id, variant=entry.variant, source=entry.source.model_dump())
    if entry.revision is not None and manifest["revision"] != entry.revision:
        raise InferboardError(f"prepared {entry.id} has revision {manifest['revision']}, the catalogue pins "
                              f"{entry.revision}", field="workflows/models.yaml: revision",
                              fix="the preparation changed: check why, then pin the new revision")
    return manifest
