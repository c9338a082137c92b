"""Which entries a leaderboard ranks (site.ranking): goodput at the SLO per GPU of the best valid point, only beside
an accuracy figure and only on the workload as defined today; every other entry in a group that says why."""

from __future__ import annotations

from typing import Any

from inferboard.scenario.workload import standard_hash
from inferboard.site.data import PublishedCell
from inferboard.site.ranking import RANK_GROUPS, best_point, rank_groups, rank_labels, rank_value


def test_best_point_ranks_by_goodput_per_gpu_and_skips_invalid_rows() -> None:
    rows = [
        {"load_point": 0, "valid": True, "gpu_count": 2, "goodput_requests_per_s_per_gpu": 3.0},
        {"load_point": 1, "valid": False, "gpu_count": 2, "goodput_requests_per_s_per_gpu": 9.0},
        {"load_point": 2, "valid": True, "gpu_count": 2, "goodput_requests_per_s_per_gpu": 5.0},
    ]
    assert best_point(rows)["load_point"] == 2
    assert best_point([rows[1]]) is None
    # CPU hosts have no GPU: ranked per host
    cpu = {"load_point": 0, "valid": True, "gpu_count": 0, "goodput_requests_per_s": 4.0,
           "goodput_requests_per_s_per_gpu": None}
    assert rank_value(cpu) == 4.0


def test_an_entry_is_ranked_at_a_point_whose_tail_is_published() -> None:
    """cpu-fixed's Q4_1 entry: 16 requests at concurrency 1 gave 6.23 req/s, its 680 at concurrency 4 5.88 req/s and
    the p99: ranked at the latter. Without any such point (a search's 96-request probes), the best goodput."""
    light = {"load_point": 0, "valid": True, "gpu_count": 0, "goodput_requests_per_s": 6.23, "ttft_ms_p99": None}
    headline = {"load_point": 1, "valid": True, "gpu_count": 0, "goodput_requests_per_s": 5.88, "ttft_ms_p99": 505.0}
    assert best_point([light, headline]) is headline
    assert best_point([light, {**headline, "ttft_ms_p99": None}]) is light
    assert best_point([light, {**headline, "valid": False}]) is light


def _cell(**kw: Any) -> PublishedCell:
    row = {"load_point": 0, "valid": True, "gpu_count": 1, "goodput_requests_per_s_per_gpu": kw.pop("g", 1.0),
           "sku_verified": kw.pop("verified", True), "load_kind": "concurrency", "load_value": 1.0,
           "accuracy_exact_share": kw.pop("accuracy", 0.97), "workload_hash": kw.pop("workload_hash", None)}
    workload = kw.pop("workload", "w")
    c = PublishedCell(id=f"s/r/m/{workload}", sku="s", runtime="r", model="m", workload=workload, rows=[row], **kw)
    c.best = best_point(c.rows)
    return c


def test_rank_groups_keep_local_custom_invalid_unverified_unchecked_and_earlier_apart() -> None:
    today = standard_hash("cpu-fixed")
    cells = {
        "fast": _cell(entry_id="a/x", g=5.0), "slow": _cell(entry_id="b/x", g=1.0),
        "today": _cell(entry_id="b/y", g=2.0, workload="cpu-fixed", workload_hash=today),
        "local": _cell(entry_id="local/x", origin="local", g=99.0),
        "custom": _cell(entry_id="c/x", custom_workload=True, g=99.0),
        "invalid": _cell(entry_id="d/x", g=None), "unverified": _cell(entry_id="e/x", verified=False, g=99.0),
        # random weights: no reference answers, no accuracy figure; the fastest speed is not ranked
        "unchecked": _cell(entry_id="f/x", g=99.0, accuracy=None),
        # measured with an earlier definition of a standard workload
        "earlier": _cell(entry_id="g/x", g=99.0, workload="cpu-fixed", workload_hash="0" * 64),
    }
    groups = rank_groups(list(cells.values()))
    assert list(groups) == list(RANK_GROUPS)
    assert groups["ranked"] == [cells["fast"], cells["today"], cells["slow"]]
    for g in ("local", "custom", "invalid", "unverified", "unchecked", "earlier"):
        assert groups[g] == [cells[g]]


def test_a_nan_accuracy_is_not_a_figure() -> None:
    assert rank_groups([_cell(entry_id="a/x", accuracy=float("nan"))])["unchecked"]


def test_entries_that_cannot_be_told_apart_share_a_rank() -> None:
    none = (None, None)
    # 15.3 vs 15.3 (as shown) tie; 10.4 vs 10.2 with overlapping intervals tie; 8 is behind both
    assert rank_labels([(15.31, *none), (15.29, *none), (9.0, *none)]) == ["=1", "=1", "3"]
    assert rank_labels([(10.4, 10.1, 10.7), (10.2, 9.9, 10.5), (8.0, 7.9, 8.1)]) == ["=1", "=1", "3"]
    # without intervals, different shown values are different ranks (one trial: nothing to say they overlap)
    assert rank_labels([(10.4, *none), (10.2, *none)]) == ["1", "2"]
    # a run of ties keeps its first rank; a null figure never ties
    assert rank_labels([(5.0, *none), (3.0, 2.0, 4.0), (3.5, 3.1, 3.9), (3.2, 3.0, 3.3), (None, *none)]) == \
        ["1", "=2", "=2", "=2", "5"]
