"""Comparing greedy answers with a reference's: exact, the first divergence, within the reference's top 5."""

from __future__ import annotations

from inferboard.metrics.accuracy import PromptScore, score_prompt, shares

EOS = [2]
REF = [10, 11, 12, 2]
TOP = [[10, 20, 21, 22, 23], [11, 30, 31, 32, 33], [12, 2, 40, 41, 42], [2, 12, 50, 51, 52]]


def test_exact_ignores_the_end_of_sequence_token() -> None:
    assert score_prompt([10, 11, 12], REF, TOP, EOS, 32) == PromptScore(True, None, True)
    assert score_prompt([10, 11, 12, 2], REF, TOP, EOS, 32) == PromptScore(True, None, True)


def test_first_divergence_within_and_outside_top5() -> None:
    assert score_prompt([10, 30, 99], REF, TOP, EOS, 32) == PromptScore(False, 1, True)
    assert score_prompt([10, 99, 12], REF, TOP, EOS, 32) == PromptScore(False, 1, False)
    assert score_prompt([11, 11, 12], REF, TOP, EOS, 32) == PromptScore(False, 0, False)


def test_stopping_early_or_late() -> None:
    assert score_prompt([10, 11], REF, TOP, EOS, 32) == PromptScore(False, 2, True)  # EOS is 2nd at step 2
    assert score_prompt([10], REF, TOP, EOS, 32) == PromptScore(False, 1, False)  # EOS not in step 1's top 5
    assert score_prompt([10, 11, 12, 12], REF, TOP, EOS, 32) == PromptScore(False, 3, True)  # 12 is 2nd at step 3
    assert score_prompt([10, 11, 12, 50, 7], REF, TOP, EOS, 32) == PromptScore(False, 3, True)


def test_only_the_first_max_tokens_count() -> None:
    ref = list(range(100, 140))
    top = [[t] for t in ref]
    assert score_prompt([*ref[:32], 1, 1], ref, top, EOS, 32).exact


def test_shares() -> None:
    s = [PromptScore(True, None, True), PromptScore(False, 3, True), PromptScore(False, 0, False),
         PromptScore(False, 1, True)]
    assert shares(s) == (0.25, 0.75)
    assert shares([]) == (None, None)
