"""A traffic split end to end against the test server: who each request went to, and the per-target rows."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

from testkit.cell_runs import requests_rows, run, workload

SPLIT = {"split": "weighted", "targets": [{"name": "base", "weight": 2}, {"name": "lora-a"}, {"name": "lora-b"}]}


def test_a_split_addresses_each_target_and_summarises_each(server, tmp_path: Path) -> None:
    server.configure(ttft_ms=5, itl_ms=1)
    w = workload(models=SPLIT, requests=60, warmup_requests=4, load={"kind": "concurrency", "concurrency": [4]})
    rows = run(server.url, tmp_path, w)
    recs = requests_rows(tmp_path)
    truth = server.records()
    assert len(recs) == 64 and all(r["status"] == "ok" for r in recs)
    for r in recs:  # an endpoint is asked for each target by name; base is the served model
        assert truth[r["request_id"]]["model"] == ("fake" if r["target"] == "base" else r["target"])
    point = next(r for r in rows if r["row_kind"] == "trial")
    by_target = {r["target"]: r for r in rows if r["row_kind"] == "target"}
    assert set(by_target) == {"base", "lora-a", "lora-b"}
    measured = collections.Counter(r["target"] for r in recs if not r["warmup"])
    for name, row in by_target.items():
        assert row["requests_total"] == measured[name] and row["load_point"] == point["load_point"]
        assert row["ttft_ms_p50"] is not None and row["requests_not_issued"] == 0
    assert sum(r["requests_total"] for r in by_target.values()) == point["requests_total"]
    assert point["adapter_ttft_penalty_pct"] is not None  # ≥ 11 ok requests on each side
    assert all(r["adapter_ttft_penalty_pct"] is None for r in by_target.values())  # one side only
    assert all(r["target"] is None for r in rows if r["row_kind"] != "target")


def test_without_a_split_requests_carry_no_target(server, tmp_path: Path) -> None:
    server.configure(ttft_ms=5, itl_ms=1)
    rows = run(server.url, tmp_path, workload(requests=5))
    assert all(r["target"] is None for r in requests_rows(tmp_path))
    assert {r["row_kind"] for r in rows} == {"trial", "aggregate"}
    assert all(server.records()[r["request_id"]]["model"] == "fake" for r in requests_rows(tmp_path))


def _rec(target: str | None, ttft: float, status: str = "ok") -> dict:
    return {"target": target, "ttft_ms": ttft, "status": status}


def test_adapter_ttft_penalty_compares_the_medians() -> None:
    from inferboard.metrics.base import PointContext
    from inferboard.metrics.multimodel import AdapterTtftPenalty

    def penalty(records: list[dict]) -> tuple[float | None, dict[str, str]]:
        ctx = PointContext(records=records, slo={}, load_kind="concurrency", load_value=1)
        return AdapterTtftPenalty.compute(ctx), ctx.nulls

    recs = [_rec("base", 40.0 + i % 3) for i in range(11)] + [_rec("lora-a", 80.0)] * 6 + [_rec("lora-b", 82.0)] * 5
    value, _ = penalty([*recs, _rec("lora-a", 1.0, "http_error")])  # failed requests do not count
    assert value == pytest.approx((80.0 / 41.0 - 1) * 100)
    assert penalty([_rec(None, 40.0)] * 20) == (None, {})  # no split: null, no reason (as before the column)
    value, nulls = penalty(recs[:10] + recs[11:])
    assert value is None and "10 base and 11 adapter requests" in nulls["adapter_ttft_penalty_pct"]
