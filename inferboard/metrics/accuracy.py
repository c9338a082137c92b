"""Accuracy against a reference: does a server generate the reference implementation's greedy tokens?

Each prompt of the gate's prompt set was answered once by an independent implementation (transformers, float32):
its greedy tokens (up to ``max_tokens``, ending at an end-of-sequence token) and, at each step, its top-5 tokens.
A server's answer at temperature 0 is compared token by token, end-of-sequence tokens removed from both ends:

- **exact**: the same tokens;
- **within top 5**: exact, or at the first position where the two differ, the server's token (end of sequence
  where the server stopped) is among the reference's 5 most likely tokens at that position. Two correct
  implementations can break a near-tie differently (a different summation order moves a logit by ~1e-6); after
  that the contexts differ, so later tokens are not compared. The usual way to compare two greedy decoders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from inferboard.metrics.base import ColumnMetric


@dataclass(frozen=True, slots=True)
class PromptScore:
    """One prompt's comparison: exact match, the first differing position (None if none), within top 5."""

    exact: bool
    first_divergence: int | None
    within_top5: bool


def _strip(tokens: Sequence[int], eos: Sequence[int]) -> list[int]:
    out = list(tokens)
    while out and out[-1] in eos:
        out.pop()
    return out


def score_prompt(generated: Sequence[int], ref_tokens: Sequence[int], ref_top: Sequence[Sequence[int]],
                 eos: Sequence[int], max_tokens: int, *, top_k: int = 5) -> PromptScore:
    """Compare a server's greedy ``generated`` tokens with the reference's (``ref_top``: the reference's most likely
    token ids at each of its steps, best first)."""
    gen = _strip(generated[:max_tokens], eos)
    ref = _strip(ref_tokens[:max_tokens], eos)
    if gen == ref:
        return PromptScore(True, None, True)
    n = min(len(gen), len(ref))
    p = next((i for i in range(n) if gen[i] != ref[i]), n)
    top = list(ref_top[p])[:top_k] if p < len(ref_top) else []
    # where the server stopped, it chose to end the sequence: any end-of-sequence token counts
    within = gen[p] in top if p < len(gen) else any(e in top for e in eos)
    return PromptScore(False, p, within)


def shares(scores: Sequence[PromptScore]) -> tuple[float | None, float | None]:
    """(exact share, within-top-5 share) of ``scores``; None without any."""
    if not scores:
        return None, None
    n = len(scores)
    return sum(s.exact for s in scores) / n, sum(s.within_top5 for s in scores) / n


class AccuracyExactShare(ColumnMetric):
    """accuracy_exact_share = prompts whose greedy tokens (at most 32) equal the reference implementation's ÷ prompts
    of the gate's prompt set; one figure per cell, measured through the same API after its timed load (null: the
    model has no reference, and the cell has no accuracy figure)."""

    name, unit, label, display_unit = "accuracy_exact_share", "fraction", "exact match with reference", None
    better, group, leaderboard, shown = "higher", "accuracy", True, True
    computed_in = "cell.accuracy_gate.accuracy_columns"


class AccuracyTop5Share(ColumnMetric):
    """accuracy_top5_share = prompts whose greedy tokens equal the reference's, or whose first differing token is
    among the reference's 5 most likely tokens at that position ÷ prompts; the cell is invalid below its
    precision's threshold (the model's catalogue entry)."""

    name, unit, label, display_unit = "accuracy_top5_share", "fraction", "agreement with reference (top 5)", None
    better, group, leaderboard, shown = "higher", "accuracy", True, True
    computed_in = "cell.accuracy_gate.accuracy_columns"


#: the summary's accuracy columns (one figure per cell, on every row): what a speed figure is shown beside
ACCURACY_COLUMNS: tuple[str, ...] = (AccuracyExactShare.name, AccuracyTop5Share.name)
