"""Plotly figure specs of the site (embedded in pages as JSON): Pareto front, load sweeps, latency CDFs."""

from __future__ import annotations

from typing import Any

from inferboard.metrics import column_heading, column_label
from inferboard.site import data as sd
from inferboard.site.html import fmt


def figure(data: list[dict[str, Any]], xtitle: str, ytitle: str) -> dict[str, Any]:
    return {"data": data, "layout": {"xaxis": {"title": {"text": xtitle}}, "yaxis": {"title": {"text": ytitle}},
                                     "margin": {"t": 20, "r": 10}, "legend": {"orientation": "h"},
                                     "hovermode": "closest"}}


def pareto_chart(cells: list[sd.PublishedCell]) -> dict[str, Any]:
    """Throughput per GPU vs tokens/s per user over the valid load points of ``cells`` (the caller passes the
    ranked-eligible entries), one trace per runtime on SKU, plus the Pareto front."""
    series: dict[str, dict[str, list[Any]]] = {}
    pts = []
    for c in cells:
        for r in c.rows:
            x, y = sd.finite(r.get("interactivity_tokens_per_s_per_user")), sd.throughput_per_gpu(r)
            if not r.get("valid") or x is None or y is None:
                continue
            s = series.setdefault(f"{c.runtime} · {c.sku} · {c.model}", {"x": [], "y": [], "text": []})
            s["x"].append(x)
            s["y"].append(y)
            s["text"].append(f"{c.entry_id} @ {r['load_kind']} {fmt(r['load_value'])}")
            pts.append((x, y))
    data: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "markers", "name": n, "hoverinfo": "text+x+y", **s}
        for n, s in sorted(series.items())
    ]
    front = sd.pareto_front(pts)
    if front:
        data.append({"type": "scatter", "mode": "lines", "name": "Pareto front", "line": {"dash": "dot"},
                     "x": [p[0] for p in front], "y": [p[1] for p in front], "hoverinfo": "skip"})
    return figure(data, "tokens/s per user (1000 / TPOT p50)", "output tokens/s per GPU (per host on CPU)")


def sweep_chart(cell: sd.PublishedCell, metrics: tuple[str, ...], title: str) -> dict[str, Any]:
    """One line per metric over the cell's load points (an x marks an invalid point; nulls are gaps)."""
    pts = sorted(((float(r["load_value"]), r) for r in cell.rows if sd.finite(r.get("load_value")) is not None),
                 key=lambda p: p[0])
    kind = cell.rows[0]["load_kind"]
    data = []
    for metric in metrics:
        ys = [(sd.throughput_per_gpu(r) if metric == "throughput" else sd.finite(r.get(metric))) for _, r in pts]
        if all(y is None for y in ys):
            continue
        data.append({"type": "scatter", "mode": "lines+markers", "x": [p[0] for p in pts], "y": ys,
                     "name": title if metric == "throughput" else column_label(metric),
                     "marker": {"symbol": ["circle" if r.get("valid") else "x" for _, r in pts], "size": 9}})
    return figure(data, "concurrency" if kind == "concurrency" else "target rate (requests/s)", title)


def cdf_chart(cell: sd.PublishedCell, metric: str) -> tuple[dict[str, Any], str]:
    """Latency CDF per load point: from requests.parquet where published, else from the percentiles."""
    samples = sd.latency_samples(cell, metric)
    data = []
    if samples:
        source = "every ok request (all trials pooled), from requests.parquet"
        for p, vals in samples.items():
            n = len(vals)
            data.append({"type": "scatter", "mode": "lines", "line": {"shape": "hv"}, "name": f"load point {p}",
                         "x": vals, "y": [(i + 1) / n for i in range(n)]})
    else:
        source = "the published percentiles (requests.parquet not available)"
        for r in cell.rows:
            xs, ys = [], []
            for pct, q in zip(sd.PERCENTILES, (0.5, 0.9, 0.95, 0.99, 0.999), strict=True):
                v = sd.finite(r.get(f"{metric}_{pct}"))
                if v is not None:
                    xs.append(v)
                    ys.append(q)
            if xs:
                data.append({"type": "scatter", "mode": "lines+markers", "name": f"load point {r['load_point']}",
                             "x": xs, "y": ys})
    return figure(data, column_heading(metric), "fraction of requests"), source
