"""Pipeline helpers: an interrupted cell is kept, statuses, the local leaderboard and compare."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import orjson
import pyarrow.parquet as pq

from inferboard.pipeline import jobs as pipeline
from inferboard.results.compare import compare
from inferboard.results.schema import JOURNAL
from inferboard.results.status import status_from_rows, write_status
from testkit.cell_runs import run, workload


def test_interrupted_cell_is_finalized_and_set_aside(server, tmp_path: Path) -> None:
    server.configure(ttft_ms=2, itl_ms=1)
    out = tmp_path / "cell"
    run(server.url, out, workload(requests=6))
    records = pq.read_table(out / "requests.parquet").to_pylist()
    (out / "requests.parquet").unlink()
    (out / "summary.parquet").unlink()
    (out / JOURNAL).write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))  # as a killed run leaves it
    aside = pipeline.set_aside_interrupted(out)
    assert aside is not None and not out.exists() and aside.name.startswith("cell.interrupted-")
    kept = pq.read_table(aside / "requests.parquet").to_pylist()
    assert len(kept) == len(records) and not (aside / JOURNAL).exists()
    assert pipeline.set_aside_interrupted(tmp_path / "nothing") is None
    run(server.url, out, workload(requests=4))
    assert pipeline.set_aside_interrupted(out) is None  # a complete cell stays where it is
    prov = json.loads((out / "provenance.json").read_text())
    (out / "provenance.json").write_text(json.dumps({**prov, "complete": False}))  # stopped by a signal
    assert pipeline.set_aside_interrupted(out) is not None and not out.exists()


def test_local_leaderboard_and_compare(server, tmp_path: Path) -> None:
    """A finished local cell reaches the leaderboard as "local" (scratch files ignored); compare reads it."""
    from inferboard.submission.leaderboard import build_leaderboard

    server.configure(ttft_ms=2, itl_ms=1)
    a, b = tmp_path / "results/cpu-host/fake/m/t", tmp_path / "other"
    rows = run(server.url, a, workload(requests=12, trials=3))
    status, reason = status_from_rows(rows)
    write_status(a, cell_id="cpu-host/fake/m/t", runtime="fake", model="m", workload="t", sku="cpu-host",
                 mode="endpoint", started_utc="2026-01-01T00:00:00.000Z", status=status, reason=reason)
    (a / JOURNAL).write_text("")
    info = build_leaderboard(None, tmp_path / "results", tmp_path / "board.parquet", tmp_path)
    board = pq.read_table(tmp_path / "board.parquet").to_pylist()
    assert info["rows"] == len(board) == 1 and board[0]["row_kind"] == "aggregate"
    assert (board[0]["origin"], board[0]["entry_id"], board[0]["cell_path"]) == (
        "local", "local/cpu-host/fake/m/t", "results/cpu-host/fake/m/t")
    assert json.loads(pq.read_metadata(tmp_path / "board.parquet").metadata[b"inferboard.cells"])[0]["status"] == status
    shutil.copytree(a, b)
    cmp = compare(b, a)
    tput = next(r for r in cmp if r["metric"] == "output_tokens_per_s")
    assert tput["delta"] == 0 and tput["within_ci"] is True


def test_failed_status_without_rows() -> None:
    assert status_from_rows([]) == ("failed", "no load point was measured")
