"""Deterministic prompts with exact token counts, measured with the model's own tokenizer.

With a ``tokenizer.json`` (HF ``tokenizers``), every synthesized text encodes to exactly the requested
number of tokens. Without one, the documented fallback ``words-v1`` is used: one common English word
per token, which is exact for whitespace tokenizers and close for BPE vocabularies; the server's
``usage.prompt_tokens`` is then the truth and is recorded per request.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from inferboard.core.errors import InferboardError
from inferboard.core.hashing import file_sha256

FALLBACK_NAME = "words-v1"


@cache
def word_list() -> tuple[str, ...]:
    """The ASCII word list shipped with the package (prompt vocabulary)."""
    text = resources.files("inferboard").joinpath("data/words.txt").read_text()
    return tuple(w for w in text.split() if w)


class PromptTokenizer(Protocol):
    """What prompt synthesis needs from a tokenizer."""

    def count(self, text: str) -> int: ...
    def text_of(self, n_tokens: int, rng: np.random.Generator) -> str: ...
    def texts_of(self, wanted: list[tuple[int, np.random.Generator]]) -> list[str]: ...
    def provenance(self) -> dict[str, Any]: ...


class WordsTokenizer:
    """Fallback: one word = one token (``words-v1``); used when no tokenizer.json is given."""

    def count(self, text: str) -> int:
        return len(text.split())

    def text_of(self, n_tokens: int, rng: np.random.Generator) -> str:
        words = word_list()
        idx = rng.integers(0, len(words), size=n_tokens)
        return " ".join(words[i] for i in idx)

    def texts_of(self, wanted: list[tuple[int, np.random.Generator]]) -> list[str]:
        return [self.text_of(n, rng) for n, rng in wanted]

    def provenance(self) -> dict[str, Any]:
        return {
            "kind": "fallback",
            "name": FALLBACK_NAME,
            "exact": False,
            "note": "one common English word per token; server usage.prompt_tokens is authoritative",
        }


class HFTokenizer:
    """A HF ``tokenizers`` tokenizer loaded from a local tokenizer.json; counts are exact."""

    MAX_TRIES = 32

    def __init__(self, path: Path) -> None:
        from tokenizers import Tokenizer

        file = path / "tokenizer.json" if path.is_dir() else path
        if not file.is_file():
            raise InferboardError(f"no tokenizer.json at {path}", field="--tokenizer",
                                  fix="point to a model folder holding tokenizer.json, or omit it")
        try:
            self._tok = Tokenizer.from_file(str(file))
        except Exception as err:  # the Rust error type is not exported
            raise InferboardError(f"cannot load {file}: {err}", field="--tokenizer") from None
        self._file = file

    def count(self, text: str) -> int:
        return len(self._tok.encode(text, add_special_tokens=False).ids)

    def ids(self, text: str) -> list[int]:
        """The token ids of ``text`` (no special tokens added)."""
        return list(self._tok.encode(text, add_special_tokens=False).ids)

    def text_of(self, n_tokens: int, rng: np.random.Generator, first: tuple[str, Any] | None = None) -> str:
        """Random words cut at the end of token ``n_tokens``; re-encoded to check the count. ``first``: the first
        try's words and their encoding, already drawn from ``rng`` (``texts_of``)."""
        words = word_list()
        for attempt in range(self.MAX_TRIES):
            if attempt == 0 and first is not None:
                text, enc = first
            else:
                idx = rng.integers(0, len(words), size=n_tokens + 8)
                text = " ".join(words[i] for i in idx)
                enc = self._tok.encode(text, add_special_tokens=False)
            while len(enc.ids) < n_tokens:  # words shorter than one token each: add more
                text += " " + " ".join(words[i] for i in rng.integers(0, len(words), size=n_tokens))
                enc = self._tok.encode(text, add_special_tokens=False)
            for k in (n_tokens, n_tokens - 1, n_tokens + 1):
                if not 0 < k <= len(enc.offsets):
                    continue
                cand = text[: enc.offsets[k - 1][1]].rstrip()
                if cand and self.count(cand) == n_tokens:
                    return cand
        raise InferboardError(f"could not synthesize exactly {n_tokens} tokens", field="--tokenizer",
                              fix="use a tokenizer whose vocabulary covers ASCII words")

    BATCH = 1024  # prompts encoded per batch call (each keeps its encodings alive until its cuts are checked)

    def texts_of(self, wanted: list[tuple[int, np.random.Generator]]) -> list[str]:
        """``text_of`` for many prompts at once, each from its own generator, with the same results: the first
        try of every prompt is drawn, encoded and its cut checked in two batch calls per BATCH prompts (the
        tokenizer's own threads; a call per prompt cost ~50 µs each), and only a prompt whose first try misses
        goes on alone."""
        return [t for a in range(0, len(wanted), self.BATCH) for t in self._texts_of(wanted[a:a + self.BATCH])]

    def _texts_of(self, wanted: list[tuple[int, np.random.Generator]]) -> list[str]:
        words = word_list()
        texts = [" ".join(words[i] for i in rng.integers(0, len(words), size=n + 8)) for n, rng in wanted]
        encs = self._tok.encode_batch(texts, add_special_tokens=False)
        cuts = [t[: e.offsets[n - 1][1]].rstrip() if 0 < n <= len(e.offsets) else ""
                for (n, _), t, e in zip(wanted, texts, encs, strict=True)]
        counts = [len(e.ids) for e in self._tok.encode_batch(cuts, add_special_tokens=False)]
        return [cut if cut and len(e.ids) >= n and count == n else self.text_of(n, rng, first=(t, e))
                for (n, rng), t, e, cut, count in zip(wanted, texts, encs, cuts, counts, strict=True)]

    def provenance(self) -> dict[str, Any]:
        return {"kind": "hf-tokenizers", "path": str(self._file), "sha256": file_sha256(self._file),
                "exact": True}


def load_tokenizer(path: str | Path | None) -> PromptTokenizer:
    """A tokenizer from a folder or tokenizer.json path, or the ``words-v1`` fallback when None."""
    if path is None:
        return WordsTokenizer()
    return HFTokenizer(Path(path))


def joined_text(tok: PromptTokenizer, head: str, head_tokens: int, n_tail: int,
                rng: np.random.Generator) -> tuple[str, str]:
    """A tail of ``n_tail`` tokens such that ``head + " " + tail`` has head_tokens + n_tail tokens."""
    tail = tok.text_of(n_tail, rng)
    for _ in range(16):
        if tok.count(head + " " + tail) == head_tokens + n_tail:
            break
        tail = tok.text_of(n_tail, rng)
    return tail, head + " " + tail
