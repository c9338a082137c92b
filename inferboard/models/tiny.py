"""A deterministic tiny random-weights Llama: HF safetensors + tokenizer, and the same weights as GGUF.

Random weights are accepted practice for serving benchmarks (optimum-benchmark's ``no_weights``):
speed does not depend on weight values when output lengths are forced. The tokenizer is a byte-level
BPE trained here on ``inferboard/data/corpus.txt`` *without* the 256-byte initial alphabet, so every
token decodes to ASCII and a random token can never be a partial UTF-8 sequence (which stalls
detokenizers and, with a byte alphabet above 127, collapsed llama.cpp's throughput in trials).
Special tokens get all-zero output rows, so greedy decoding never picks them. Everything is seeded:
two runs give byte-identical files, and the files' SHA-256 digests are the model's revision.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from inferboard.core.hashing import content_hash, file_sha256

SPECIAL_TOKENS = ("<|begin_of_text|>", "<|end_of_text|>", "<|pad|>")
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


@dataclass(frozen=True)
class TinyShape:
    """Architecture of a tiny Llama (also the shape a roofline needs)."""

    name: str
    vocab_size: int = 2048
    hidden_size: int = 128  # head_dim 64: vLLM's CPU attention kernels reject smaller heads (16 failed)
    intermediate_size: int = 256
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    num_key_value_heads: int = 1
    max_position_embeddings: int = 4096
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    seed: int = 0

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads


SIZES: dict[str, TinyShape] = {
    "tiny-llama-2l": TinyShape(name="tiny-llama-2l"),
    "tiny-llama-4l": TinyShape(name="tiny-llama-4l", hidden_size=256, intermediate_size=512,
                               num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, seed=1),
}


def corpus_lines() -> list[str]:
    """The ASCII training corpus shipped with the package (comment lines removed)."""
    text = resources.files("inferboard").joinpath("data/corpus.txt").read_text()
    return [ln for ln in text.splitlines() if ln and not ln.startswith("# ")]


def train_tokenizer(vocab_size: int) -> Any:
    """A byte-level BPE over the shipped corpus whose every token is ASCII (deterministic)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False,
                                  initial_alphabet=[])  # only bytes seen in the ASCII corpus
    tok.train_from_iterator(corpus_lines(), trainer)
    return tok


def _weights(shape: TinyShape, vocab: int, special_ids: list[int]) -> dict[str, np.ndarray]:
    """HF-layout Llama weights from a seeded normal(0, 0.02) (norms are ones)."""
    rng = np.random.default_rng([shape.seed, 20261128])
    h, kv = shape.hidden_size, shape.num_key_value_heads * shape.head_dim

    def mat(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(np.float32)

    w: dict[str, np.ndarray] = {"model.embed_tokens.weight": mat(vocab, h)}
    for i in range(shape.num_hidden_layers):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = np.ones(h, dtype=np.float32)
        w[p + "self_attn.q_proj.weight"] = mat(h, h)
        w[p + "self_attn.k_proj.weight"] = mat(kv, h)
        w[p + "self_attn.v_proj.weight"] = mat(kv, h)
        w[p + "self_attn.o_proj.weight"] = mat(h, h)
        w[p + "post_attention_layernorm.weight"] = np.ones(h, dtype=np.float32)
        w[p + "mlp.gate_proj.weight"] = mat(shape.intermediate_size, h)
        w[p + "mlp.up_proj.weight"] = mat(shape.intermediate_size, h)
        w[p + "mlp.down_proj.weight"] = mat(h, shape.intermediate_size)
    w["model.norm.weight"] = np.ones(h, dtype=np.float32)
    head = mat(vocab, h)
    head[special_ids] = 0.0  # never the argmax: special tokens would decode to nothing
    w["lm_head.weight"] = head
    return w


def permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF rotary layout → GGUF's (llama.cpp convert_hf_to_gguf ``LlamaModel.permute``)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


_GGUF_NAMES = {
    "input_layernorm.weight": "attn_norm.weight", "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight", "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


def _write_gguf(path: Path, shape: TinyShape, weights: dict[str, np.ndarray], tok_json: dict[str, Any],
                special: dict[str, int]) -> None:
    import gguf

    vocab = tok_json["model"]["vocab"]
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    for added in tok_json["added_tokens"]:
        if added["id"] >= len(tokens):
            tokens.append(added["content"])
    types = [gguf.TokenType.CONTROL if t in SPECIAL_TOKENS else gguf.TokenType.NORMAL for t in tokens]
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok_json["model"]["merges"]]
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(shape.name)
    w.add_context_length(shape.max_position_embeddings)
    w.add_embedding_length(shape.hidden_size)
    w.add_block_count(shape.num_hidden_layers)
    w.add_feed_forward_length(shape.intermediate_size)
    w.add_head_count(shape.num_attention_heads)
    w.add_head_count_kv(shape.num_key_value_heads)
    w.add_rope_dimension_count(shape.head_dim)
    w.add_rope_freq_base(shape.rope_theta)
    w.add_layer_norm_rms_eps(shape.rms_norm_eps)
    w.add_vocab_size(len(tokens))
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(special["bos"])
    w.add_eos_token_id(special["eos"])
    w.add_pad_token_id(special["pad"])
    w.add_add_bos_token(True)
    w.add_chat_template(CHAT_TEMPLATE)
    w.add_tensor("token_embd.weight", weights["model.embed_tokens.weight"])
    for i in range(shape.num_hidden_layers):
        for hf, gg in _GGUF_NAMES.items():
            t = weights[f"model.layers.{i}.{hf}"]
            if hf.startswith("self_attn.q_proj"):
                t = permute(t, shape.num_attention_heads)
            elif hf.startswith("self_attn.k_proj"):
                t = permute(t, shape.num_key_value_heads)
            w.add_tensor(f"blk.{i}.{gg}", np.ascontiguousarray(t))
    w.add_tensor("output_norm.weight", weights["model.norm.weight"])
    w.add_tensor("output.weight", weights["lm_head.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_tiny_model(out: Path, size: str = "tiny-llama-2l") -> dict[str, Any]:
    """Write the model folder (HF files + ``model.gguf`` + LoRA ``adapters/``) and return its manifest (file hashes)."""
    from safetensors.numpy import save_file

    if size not in SIZES:
        from inferboard.core.errors import InferboardError

        raise InferboardError(f"unknown size {size!r}", field="--size", fix=f"one of: {', '.join(SIZES)}")
    shape = SIZES[size]
    out.mkdir(parents=True, exist_ok=True)
    tok = train_tokenizer(shape.vocab_size)
    tok.save(str(out / "tokenizer.json"))
    tok_json = json.loads((out / "tokenizer.json").read_text())
    vocab = tok.get_vocab_size()
    special = {"bos": tok.token_to_id(SPECIAL_TOKENS[0]), "eos": tok.token_to_id(SPECIAL_TOKENS[1]),
               "pad": tok.token_to_id(SPECIAL_TOKENS[2])}
    weights = _weights(shape, vocab, sorted(special.values()))
    save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": vocab,
        "hidden_size": shape.hidden_size, "intermediate_size": shape.intermediate_size,
        "num_hidden_layers": shape.num_hidden_layers, "num_attention_heads": shape.num_attention_heads,
        "num_key_value_heads": shape.num_key_value_heads, "head_dim": shape.head_dim,
        "max_position_embeddings": shape.max_position_embeddings, "rms_norm_eps": shape.rms_norm_eps,
        "rope_theta": shape.rope_theta, "hidden_act": "silu", "tie_word_embeddings": False,
        "attention_bias": False, "mlp_bias": False, "torch_dtype": "float32", "bos_token_id": special["bos"],
        "eos_token_id": special["eos"], "pad_token_id": special["pad"], "initializer_range": 0.02,
    }
    write_json(out / "config.json", config)
    write_json(out / "generation_config.json", {"bos_token_id": special["bos"], "eos_token_id": special["eos"],
                                           "do_sample": False})
    write_json(out / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": SPECIAL_TOKENS[0], "eos_token": SPECIAL_TOKENS[1],
        "pad_token": SPECIAL_TOKENS[2], "model_max_length": shape.max_position_embeddings,
        "add_bos_token": True, "clean_up_tokenization_spaces": False, "chat_template": CHAT_TEMPLATE})
    write_json(out / "special_tokens_map.json", {"bos_token": SPECIAL_TOKENS[0], "eos_token": SPECIAL_TOKENS[1],
                                            "pad_token": SPECIAL_TOKENS[2]})
    _write_gguf(out / "model.gguf", shape, weights, tok_json, special)
    files = {p.name: file_sha256(p) for p in sorted(out.iterdir()) if p.is_file() and p.name != "manifest.json"}
    manifest = {"name": shape.name, "kind": "random-weights", "shape": asdict(shape),
                "parameters": int(sum(v.size for v in weights.values())), "files": files}
    manifest["revision"] = content_hash(files)
    write_json(out / "manifest.json", manifest)
    from inferboard.models.lora import write_adapters

    write_adapters(out, shape)  # adapters/ has its own manifest: the model's files and revision are unchanged
    return manifest


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON (the model folder's config and manifest files)."""
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
