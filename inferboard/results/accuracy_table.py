"""accuracy.parquet: a cell's answers to the accuracy gate's prompt set, one row per prompt (cell.accuracy_gate)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

ACCURACY = "accuracy.parquet"


class AccuracyRow(BaseModel):
    """One prompt of the gate: what the server answered, and how it compares with the reference's answer."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
    prompt_index: int
    """position of the prompt in the reference's prompt list"""
    kind: str
    """completion (text to /v1/completions) or chat (one user message to /v1/chat/completions)"""
    finish_reason: str | None
    """why the server stopped (length, stop)"""
    text: str | None
    """the generated text"""
    token_ids: list[int] | None
    """the generated token ids"""
    token_source: str | None
    """server: the answer's own token ids; retokenized: its text encoded with the model's tokenizer"""
    top_ids: list[list[int]] | None
    """the server's most likely token ids at each step, best first (where it returns them)"""
    top_logprobs: list[list[float]] | None
    """their log-probabilities"""
    error: str | None
    """why there is no answer (HTTP status, timeout, unreadable answer); the prompt then counts as wrong"""
    exact: bool | None
    """the same tokens as the reference (null: no answer); the published figures are recomputed from token_ids"""
    first_divergence: int | None
    """the first position where the answer and the reference differ (null: none, or no answer)"""
    within_top5: bool | None
    """exact, or the first differing token is among the reference's 5 most likely tokens there"""
