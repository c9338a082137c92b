"""A random-weights copy of a catalogue model's real shape (``inferboard model random``), for GPU cells.

The config is the catalogue's shape plus its ``hf_config``; weights are drawn by transformers' own
initialiser (normal, std = initializer_range) from a fixed seed, in the catalogue dtype, on the chosen
device, then saved as safetensors. The tokenizer is the locally trained ASCII byte-level BPE, padded
to the model's vocabulary with ASCII filler tokens ``<tNNNNNN>``, so every sampled id decodes to text
(speed does not depend on weight values when output lengths are forced). Needs torch + transformers.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from inferboard.core.errors import InferboardError
from inferboard.core.hashing import content_hash, file_sha256
from inferboard.models.catalog import load_models
from inferboard.models.tiny import CHAT_TEMPLATE, SPECIAL_TOKENS, train_tokenizer, write_json

BPE_VOCAB = 4096


def padded_tokenizer(vocab_size: int) -> Any:
    """The local BPE with filler tokens appended until it has exactly ``vocab_size`` ids."""
    from tokenizers import AddedToken

    tok = train_tokenizer(min(BPE_VOCAB, vocab_size))
    n = tok.get_vocab_size()
    if n < vocab_size:
        tok.add_tokens([AddedToken(f"<t{i:06d}>", normalized=False, special=False) for i in range(n, vocab_size)])
    if tok.get_vocab_size() != vocab_size:
        raise InferboardError(f"tokenizer has {tok.get_vocab_size()} ids, the model {vocab_size}", field="vocab_size")
    return tok


def hf_config(model_id: str, models_path: Path | None = None) -> dict[str, Any]:
    """The HF config.json of a catalogue model (shape fields + its hf_config)."""
    models = load_models(models_path)
    if model_id not in models:
        raise InferboardError(f"unknown model {model_id!r}", field="--like", fix=f"one of: {', '.join(models)}")
    m = models[model_id]
    if not m.hf_config:
        with_cfg = [k for k, v in models.items() if v.hf_config]
        raise InferboardError(f"{model_id} has no hf_config in workflows/models.yaml", field="--like",
                              fix=f"add its public config fields, or use one of: {', '.join(with_cfg)}")
    return {**m.hf_config, "hidden_size": m.hidden_size, "num_hidden_layers": m.layers,
            "num_attention_heads": m.attention_heads, "num_key_value_heads": m.kv_heads, "head_dim": m.head_dim,
            "torch_dtype": m.dtype, "initializer_range": 0.02}


def write_random_model(out: Path, like: str, *, device: str = "cuda", seed: int = 0,
                       models_path: Path | None = None) -> dict[str, Any]:
    """Write config, tokenizer and random safetensors weights; returns the manifest."""
    try:
        import torch
        import transformers
    except ImportError as err:
        raise InferboardError(f"{err.name} is needed to make a random-weights model", field="--like",
                              fix="run on a host with torch and transformers (e.g. the GPU image)") from None
    cfg = hf_config(like, models_path)
    out.mkdir(parents=True, exist_ok=True)
    tok = padded_tokenizer(cfg["vocab_size"])
    tok.save(str(out / "tokenizer.json"))
    special = {k: tok.token_to_id(t) for k, t in zip(("bos", "eos", "pad"), SPECIAL_TOKENS, strict=True)}
    cfg.update(bos_token_id=special["bos"], eos_token_id=special["eos"], pad_token_id=special["pad"])
    write_json(out / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": SPECIAL_TOKENS[0], "eos_token": SPECIAL_TOKENS[1],
        "pad_token": SPECIAL_TOKENS[2], "model_max_length": cfg["max_position_embeddings"], "add_bos_token": True,
        "clean_up_tokenization_spaces": False, "chat_template": CHAT_TEMPLATE})
    config = transformers.AutoConfig.for_model(**cfg)
    dtype = getattr(torch, cfg["torch_dtype"])
    t0 = time.monotonic()
    torch.manual_seed(seed)
    with torch.device(device):
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=dtype)
    with torch.no_grad():  # special tokens never win the argmax: they would decode to nothing
        model.get_output_embeddings().weight[sorted(special.values())] = 0
    model.generation_config.do_sample = False
    model.save_pretrained(out, safe_serialization=True, max_shard_size="5GB")
    del model
    files = {p.name: file_sha256(p) for p in sorted(out.iterdir())
             if p.is_file() and p.suffix != ".safetensors" and p.name != "manifest.json"}
    manifest = {
        "name": f"{like}-random", "catalogue_id": like, "kind": "random-weights",
        "shape": {k: cfg[k] for k in sorted(cfg)}, "parameters": load_models(models_path)[like].parameters,
        "weights": {"init": "transformers from_config (normal, std=initializer_range)", "seed": seed,
                    "device": device, "dtype": cfg["torch_dtype"], "torch": torch.__version__,
                    "transformers": transformers.__version__, "seconds": round(time.monotonic() - t0, 1),
                    "safetensors_bytes": {p.name: p.stat().st_size for p in sorted(out.glob("*.safetensors"))}},
        "files": files,
    }
    manifest["revision"] = content_hash({k: manifest[k] for k in ("shape", "files")} | {"seed": seed})
    write_json(out / "manifest.json", manifest)
    return manifest
