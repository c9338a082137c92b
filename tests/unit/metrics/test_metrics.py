from __future__ import annotations

import pytest

from inferboard.metrics import AGGREGATE_METRICS, RECORD_METRICS, Timing, meets_slo, record_values
from inferboard.metrics.latency import ITL
from inferboard.results.summarize import validity

MS = 1_000_000


def test_record_formulas() -> None:
    t = Timing(scheduled_ns=0, sent_ns=2 * MS, chunk_ns=[52 * MS, 62 * MS, 72 * MS, 92 * MS], output_tokens=4)
    v = record_values(t)
    assert v["ttft_ms"] == 50 and v["e2e_ms"] == 90
    assert v["tpot_ms"] == pytest.approx((90 - 50) / 3)
    assert v["ntpot_ms"] == pytest.approx(90 / 4)
    assert v["send_lag_ms"] == 2 and v["ttft_from_scheduled_ms"] == 52 and v["e2e_from_scheduled_ms"] == 92
    assert ITL.of(t) == [10, 10, 20]


def test_tpot_uses_usage_tokens_when_chunks_carry_several() -> None:
    t = Timing(scheduled_ns=0, sent_ns=0, chunk_ns=[10 * MS, 50 * MS], output_tokens=5)
    assert record_values(t)["tpot_ms"] == pytest.approx(10)


def test_single_token_has_no_tpot() -> None:
    assert record_values(Timing(scheduled_ns=0, sent_ns=0, chunk_ns=[5 * MS], output_tokens=1))["tpot_ms"] is None


def test_every_metric_declares_unit_and_formula() -> None:
    for m in (*RECORD_METRICS, *AGGREGATE_METRICS):
        assert m.unit and m.__doc__ and "=" in m.__doc__, m.name


def test_aggregates_come_after_what_they_require() -> None:
    order = [m.name for m in AGGREGATE_METRICS]
    for i, m in enumerate(AGGREGATE_METRICS):
        for dep in m.requires:
            if dep in order:
                assert order.index(dep) < i


def test_goodput_needs_every_bound() -> None:
    r = {"status": "ok", "ttft_ms": 100.0, "tpot_ms": 20.0, "e2e_ms": 900.0}
    assert meets_slo(r, {"ttft_ms": 200, "tpot_ms": 25, "e2e_ms": None})
    assert not meets_slo(r, {"ttft_ms": 50, "tpot_ms": 25, "e2e_ms": None})
    assert not meets_slo(r | {"status": "truncated"}, {"ttft_ms": None, "tpot_ms": None, "e2e_ms": None})


def _rec(lag: float) -> dict:
    return {"send_lag_ms": lag}


def test_client_saturation_makes_a_point_invalid() -> None:
    base = {"requests_ok": 10, "error_rate": 0.0, "scheduled_rate": 10.0, "achieved_rate": 9.9}
    assert validity(base, [_rec(0.5)] * 100) == []
    assert "p90 send lag" in validity(base, [_rec(0.5)] * 88 + [_rec(30)] * 12)[0]
    assert validity(base, [_rec(0.5)] * 98 + [_rec(30)] * 2) == []  # the p99 of 100 lags is a stall, not saturation
    assert "p99 send lag" in validity(base, [_rec(0.5)] * 690 + [_rec(30)] * 10)[0]
    assert "achieved" in validity(base | {"achieved_rate": 9.0}, [_rec(0.1)])[0]
    assert "error rate 2.0%" in validity(base | {"error_rate": 0.02}, [_rec(0.1)])[0]
