"""The client's clock against a server that records when it actually sent each token.

Medians and orderings only: they hold on a busy host, where a descheduled client reads a chunk late now and then.
The client's tail timing error is a precision figure, measured on a quiet host by benchmarks/client_capacity.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from testkit.cell_runs import requests_rows, run, workload


@pytest.mark.parametrize(("concurrency", "requests"), [(1, 40), (64, 256)])
def test_ttft_and_gaps_match_the_servers_record(server, tmp_path: Path, concurrency: int, requests: int) -> None:
    server.configure(ttft_ms=50, itl_ms=10)
    w = workload(load={"kind": "concurrency", "concurrency": [concurrency]}, requests=requests)
    run(server.url, tmp_path, w)
    rows = requests_rows(tmp_path)
    truth = server.records()
    assert len(rows) == requests and all(r["status"] == "ok" for r in rows)
    client_ttft, server_ttft, true_ttft, client_gaps, server_gaps, recv_err = [], [], [], [], [], []
    for r in rows:
        s = truth[r["request_id"]]
        assert len(s["sent_ns"]) == r["content_chunks"] == r["output_tokens"] == 20
        client_ttft.append(r["ttft_ms"])
        server_ttft.append((s["sent_ns"][0] - s["arrival_ns"]) / 1e6)
        # from the client's send to the server's write of the first token: what TTFT is, on one clock (the
        # server's own TTFT starts when it gets round to reading the request, later when its loop is busy)
        true_ttft.append((s["sent_ns"][0] - r["sent_ns"]) / 1e6)
        client_gaps.extend(np.diff(r["chunk_times_ms"]))
        server_gaps.extend(np.diff(s["sent_ns"]) / 1e6)
        # the same chunk, seen by both ends of the same monotonic clock
        recv = r["sent_ns"] + np.asarray(r["chunk_times_ms"]) * 1e6
        recv_err.extend((recv - np.asarray(s["sent_ns"])) / 1e6)
    assert abs(np.median(client_ttft) - np.median(server_ttft)) < 1.0
    assert abs(np.median(client_ttft) - np.median(true_ttft)) < 1.0
    assert all(c >= t for c, t in zip(client_ttft, true_ttft, strict=True))  # never before the server wrote it
    assert abs(np.median(client_gaps) - np.median(server_gaps)) < 0.5
    assert np.min(recv_err) >= 0  # never before the server sent it
    assert np.median(recv_err) < 1.0
