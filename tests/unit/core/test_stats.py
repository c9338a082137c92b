from __future__ import annotations

import numpy as np
import pytest

from inferboard.core.stats import bootstrap_ci, coefficient_of_variation, min_samples, percentile, pname


def test_minimum_samples_match_the_early_stopping_bound() -> None:
    assert (min_samples(90), min_samples(99), min_samples(99.9)) == (64, 662, 6636)


def test_p99_from_too_few_samples_is_null_with_reason() -> None:
    v, reason = percentile(np.arange(661.0), 99)
    assert v is None and reason == "661 samples < 662 needed for p99"
    v, reason = percentile(np.arange(662.0), 99)
    assert reason is None and v == pytest.approx(np.percentile(np.arange(662.0), 99))


def test_percentile_on_failures_is_null() -> None:
    vals = np.array([1.0] * 60 + [np.inf] * 40)
    assert percentile(vals, 50)[0] is not None
    v, reason = percentile(np.array([1.0] * 10 + [np.inf] * 90), 50)
    assert v is None and "failed" in reason


def test_names() -> None:
    assert [pname(q) for q in (50, 99, 99.9)] == ["p50", "p99", "p99_9"]


def test_bootstrap_ci_brackets_the_median_and_needs_two_trials() -> None:
    lo, hi, reason = bootstrap_ci([10.0, 11.0, 12.0, 10.5, 11.5])
    assert reason is None and lo <= 11.0 <= hi
    assert bootstrap_ci([3.0])[2] is not None
    assert bootstrap_ci([5.0, 5.0]) == (5.0, 5.0, None)


def test_coefficient_of_variation() -> None:
    assert coefficient_of_variation([1.0]) is None
    assert coefficient_of_variation([9.0, 11.0]) == pytest.approx(np.std([9, 11], ddof=1) / 10)
