"""accuracy.parquet: a cell's answers to the accuracy gate's prompt set, one row per prompt (cell.accuracy_gate)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

ACCURACY = "accuracy.parquet"


class AccuracyRow(BaseModel):
    """One prompt of the gate: what the server answered, and how it compares with the reference's answer."""

    model_config = ConfigDict(extra="forbid")
    prompt_index: int  # position in the reference's prompt list
    kind: str  # completion or chat
    finish_reason: str | None
    text: str | None  # the generated text
    token_ids: list[int] | None  # the generated token ids
    token_source: str | None  # server: the answer's own ids; retokenized: its text encoded with the model's tokenizer
    top_ids: list[list[int]] | None  # the server's top-k token ids at each step, best first (where it gives them)
    top_logprobs: list[list[float]] | None  # their log-probabilities
    error: str | None  # why there is no answer (HTTP status, timeout, unreadable answer)
    exact: bool | None  # the same tokens as the reference (null: no answer)
    first_divergence: int | None  # the first position where they differ (null: none, or no answer)
    within_top5: bool | None  # exact, or the first differing token is within the reference's top 5 there
