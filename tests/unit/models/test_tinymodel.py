from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

from inferboard.models.tiny import SPECIAL_TOKENS, write_tiny_model


def test_two_runs_are_byte_identical(tmp_path: Path) -> None:
    a = write_tiny_model(tmp_path / "a")
    b = write_tiny_model(tmp_path / "b")
    assert a["revision"] == b["revision"] and a["files"] == b["files"]
    for name in a["files"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert write_tiny_model(tmp_path / "c", "tiny-llama-4l")["revision"] != a["revision"]


def test_every_token_decodes_to_ascii(tmp_path: Path) -> None:
    write_tiny_model(tmp_path)
    tok = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    for token, i in tok.get_vocab().items():
        if token not in SPECIAL_TOKENS:
            text = tok.decode([i])
            assert text.isascii() and text, (token, text)


def test_weights_match_config_and_gguf(tmp_path: Path) -> None:
    import gguf

    write_tiny_model(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    w = load_file(str(tmp_path / "model.safetensors"))
    assert w["model.embed_tokens.weight"].shape == (cfg["vocab_size"], cfg["hidden_size"])
    assert cfg["hidden_size"] // cfg["num_attention_heads"] >= 32  # vLLM CPU attention needs head_dim >= 32
    reader = gguf.GGUFReader(str(tmp_path / "model.gguf"))
    tensors = {t.name: t for t in reader.tensors}
    assert len(tensors) == 2 + 9 * cfg["num_hidden_layers"] + 1
    emb = np.asarray(tensors["token_embd.weight"].data).reshape(cfg["vocab_size"], cfg["hidden_size"])
    assert np.array_equal(emb, w["model.embed_tokens.weight"])  # the same weights in both formats
    arch = reader.fields["general.architecture"]
    assert bytes(arch.parts[arch.data[0]]).decode() == "llama"
