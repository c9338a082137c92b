"""Non-streaming answers of the fault-injecting test server (testkit/fakeserver.py): a request with ``stream`` false
gets one JSON answer whose generated token ids come from the accuracy reference (workflows/accuracy/*.json) of the
prompt it carries, as the server's ``answers`` control says:

- ``reference``: the reference's own tokens (a correct server);
- ``shift``: every token id plus one (a server off by one token everywhere);
- ``random``: token ids drawn from a seeded generator (a server producing noise).

The ids come back in llama-server's form (``logprobs.content[].id``, each with a top-5 list headed by itself);
a prompt not in the reference gets an empty answer."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "workflows" / "accuracy" / "smollm2-135m.json"
MODES = ("reference", "shift", "random")


@functools.cache
def _answers() -> dict[tuple[str, str], list[int]]:
    ref = json.loads(REFERENCE.read_text())
    return {(p["kind"], p["prompt"]): p["tokens"] for p in ref["prompts"]}


def answer_ids(mode: str, kind: str, prompt: str) -> list[int]:
    """The token ids the server answers ``prompt`` with in ``mode``."""
    tokens = _answers().get((kind, prompt), [])
    if mode == "shift":
        return [t + 1 for t in tokens]
    if mode == "random":
        seed = hashlib.sha256(prompt.encode()).digest()
        return [int.from_bytes(seed[2 * i % 32:2 * i % 32 + 2], "big") % 49152 for i in range(len(tokens))]
    return list(tokens)


def answer(mode: str, chat: bool, body: dict[str, Any]) -> dict[str, Any]:
    """The JSON answer to a non-streaming completions or chat request."""
    kind = "chat" if chat else "completion"
    prompt = str(body["messages"][-1]["content"]) if chat else str(body.get("prompt", ""))
    ids = answer_ids(mode, kind, prompt)[:int(body.get("max_tokens") or 16)]
    content = [{"id": t, "token": f"<{t}>", "logprob": -0.1,
                "top_logprobs": [{"id": t + k, "token": f"<{t + k}>", "logprob": -0.1 - k} for k in range(5)]}
               for t in ids]
    text = "".join(f"<{t}>" for t in ids)
    choice: dict[str, Any] = {"index": 0, "finish_reason": "length", "logprobs": {"content": content}}
    choice |= {"message": {"role": "assistant", "content": text}} if chat else {"text": text}
    return {"id": "x", "object": "chat.completion" if chat else "text_completion", "created": 0,
            "model": body.get("model", "fake"), "choices": [choice],
            "usage": {"prompt_tokens": 1, "completion_tokens": len(ids), "total_tokens": 1 + len(ids)}}
