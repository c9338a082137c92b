"""The accuracy gate's requests: each prompt of a prompt set at temperature 0 through the OpenAI-compatible API.

Completion prompts go to /v1/completions as text, chat prompts to /v1/chat/completions as one user message (the
server applies the model's chat template). Each asks for the top-k log-probabilities, and for token ids where the
server names tokens by text (vLLM's ``return_tokens_as_token_ids``; llama-server gives each token's ``id``). The
generated token ids come from those fields; a server that returns neither gets its text tokenized with the model's
tokenizer (recorded as ``token_source: retokenized``). Not streamed: timing is not measured here.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from typing import Any

import httpx

TOKEN_ID = re.compile(r"^token_id:(\d+)$")
MAX_BODY = 4 << 20  # bytes of one answer read at most
EXTRA_FIELDS = ("logprobs", "top_logprobs", "return_tokens_as_token_ids")  # left out when a server refuses them


def _tid(item: dict[str, Any]) -> int | None:
    if isinstance(item.get("id"), int):
        return int(item["id"])
    m = TOKEN_ID.match(str(item.get("token", "")))
    return int(m.group(1)) if m else None


def token_ids(choice: dict[str, Any]) -> tuple[list[int] | None, list[list[int]], list[list[float]]]:
    """(generated ids or None, top-k ids per step, their log-probabilities) from one choice's ``logprobs``, in
    either the chat form (``content``: a list of tokens with ``top_logprobs``) or the legacy completions form
    (``tokens`` and ``top_logprobs`` dicts)."""
    lp = choice.get("logprobs") or {}
    ids: list[int | None]
    if isinstance(lp.get("content"), list):
        items = lp["content"]
        ids = [_tid(it) for it in items]
        tops = [[(_tid(t), float(t.get("logprob", 0.0))) for t in it.get("top_logprobs") or []] for it in items]
    elif isinstance(lp.get("tokens"), list):
        ids = [_tid({"token": t}) for t in lp["tokens"]]
        tops = [[(_tid({"token": k}), float(v)) for k, v in (d or {}).items()] for d in lp.get("top_logprobs") or []]
    else:
        return None, [], []
    known = [i for i in ids if i is not None]
    known_tops = [[(i, v) for i, v in step if i is not None] for step in tops]
    if len(known) < len(ids) or any(len(k) < len(step) for k, step in zip(known_tops, tops, strict=True)):
        return None, [], []
    top_ids = [[i for i, _ in sorted(step, key=lambda x: -x[1])] for step in known_tops]
    top_lps = [sorted((v for _, v in step), reverse=True) for step in known_tops]
    return known, top_ids, top_lps


def request_body(kind: str, prompt: str, model: str, max_tokens: int, top_k: int) -> dict[str, Any]:
    """The request of one prompt: greedy (temperature 0), at most ``max_tokens``, with the top-k log-probabilities."""
    body: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "temperature": 0.0, "stream": False,
                            "return_tokens_as_token_ids": True}
    if kind == "chat":
        return body | {"messages": [{"role": "user", "content": prompt}], "logprobs": True, "top_logprobs": top_k}
    return body | {"prompt": prompt, "logprobs": top_k}


async def _ask(client: httpx.AsyncClient, base: str, index: int, kind: str, prompt: str, model: str,
               max_tokens: int, top_k: int, tokenize: Callable[[str], list[int]]) -> dict[str, Any]:
    path = "/chat/completions" if kind == "chat" else "/completions"
    row: dict[str, Any] = {"prompt_index": index, "kind": kind, "finish_reason": None, "text": None,
                           "token_ids": None, "token_source": None, "top_ids": None, "top_logprobs": None,
                           "error": None}
    try:
        body = request_body(kind, prompt, model, max_tokens, top_k)
        resp = await client.post(base + path, json=body)
        if resp.status_code in (400, 422):  # e.g. a server that refuses fields it does not know: ask plainly
            plain = {k: v for k, v in body.items() if k not in EXTRA_FIELDS}
            resp = await client.post(base + path, json=plain)
        if len(resp.content) > MAX_BODY:
            raise ValueError(f"answer over {MAX_BODY} bytes")
        if resp.status_code != 200:
            raise ValueError(f"HTTP {resp.status_code}: {resp.text[:200]}")
        choice = resp.json()["choices"][0]
        text = choice["message"]["content"] if kind == "chat" else choice["text"]
        row.update(finish_reason=choice.get("finish_reason"), text=str(text or ""))
        ids, tops, lps = token_ids(choice)
        if ids is None:
            row.update(token_ids=tokenize(row["text"]), token_source="retokenized")
        else:
            row.update(token_ids=ids, token_source="server", top_ids=tops, top_logprobs=lps)
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError, AttributeError) as err:
        row["error"] = f"{type(err).__name__}: {err}"[:300]
    return row


async def ask_prompts(base_url: str, model: str, prompts: Sequence[tuple[str, str]], *, max_tokens: int,
                      top_k: int, tokenize: Callable[[str], list[int]], api_key: str | None = None,
                      concurrency: int = 8, timeout_s: float = 300.0) -> list[dict[str, Any]]:
    """One row per (kind, prompt) of ``prompts``, in order: the answer's text, token ids and top-k, or its error."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    sem = asyncio.Semaphore(concurrency)
    base = (base_url if "://" in base_url else "http://" + base_url).rstrip("/")
    base = base if base.endswith("/v1") else base + "/v1"  # as the load generator reads an endpoint
    async with httpx.AsyncClient(timeout=timeout_s, headers=headers, trust_env=False) as client:
        async def one(i: int, kind: str, prompt: str) -> dict[str, Any]:
            async with sem:
                return await _ask(client, base, i, kind, prompt, model, max_tokens, top_k, tokenize)

        return list(await asyncio.gather(*(one(i, k, p) for i, (k, p) in enumerate(prompts))))
