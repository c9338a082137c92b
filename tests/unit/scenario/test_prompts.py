from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inferboard.core.errors import InferboardError
from inferboard.scenario.prompts import HFTokenizer, WordsTokenizer, load_tokenizer


@pytest.mark.parametrize("n", [1, 2, 7, 32, 100, 1000])
def test_hf_text_has_exact_token_count(tokenizer_dir: Path, n: int) -> None:
    tok = load_tokenizer(tokenizer_dir)
    assert isinstance(tok, HFTokenizer)
    text = tok.text_of(n, np.random.default_rng(n))
    assert tok.count(text) == n
    assert text.isascii()


def test_same_seed_same_text(tokenizer_dir: Path) -> None:
    tok = load_tokenizer(tokenizer_dir)
    a = tok.text_of(64, np.random.default_rng([1, 2]))
    b = tok.text_of(64, np.random.default_rng([1, 2]))
    c = tok.text_of(64, np.random.default_rng([1, 3]))
    assert a == b != c


def test_fallback_is_documented_in_provenance() -> None:
    tok = load_tokenizer(None)
    assert isinstance(tok, WordsTokenizer)
    assert tok.provenance()["name"] == "words-v1" and tok.provenance()["exact"] is False
    assert tok.count(tok.text_of(50, np.random.default_rng(0))) == 50


def test_hf_provenance_hashes_the_file(tokenizer_dir: Path) -> None:
    prov = load_tokenizer(tokenizer_dir).provenance()
    assert prov["exact"] is True and prov["sha256"].startswith("sha256:")


def test_missing_tokenizer_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InferboardError, match="--tokenizer"):
        load_tokenizer(tmp_path)
