"""Plotly figure specs of the site (embedded in pages as JSON): Pareto front, load sweeps, latency CDFs, and a
cell's time series (windows.parquet: latency and throughput over time, phases shaded, the recovery marked).

Text from submitted files (phase names, null reasons) reaches a chart only through ``data.plain``: Plotly reads
tags and entities in its labels."""

from __future__ import annotations

from typing import Any

from inferboard.metrics import column_heading, column_label
from inferboard.site import data as sd
from inferboard.site import operational_workloads as ops
from inferboard.site.html import fmt, load_label
from inferboard.site.ranking import finite


def figure(data: list[dict[str, Any]], xtitle: str, ytitle: str) -> dict[str, Any]:
    return {"data": data, "layout": {"xaxis": {"title": {"text": xtitle}}, "yaxis": {"title": {"text": ytitle}},
                                     "margin": {"t": 20, "r": 10, "b": 40},
                                     # below the x axis's title, not over it
                                     "legend": {"orientation": "h", "y": -0.28, "yanchor": "top"},
                                     "hovermode": "closest"}}


def pareto_chart(cells: list[sd.PublishedCell]) -> dict[str, Any]:
    """Throughput per GPU vs tokens/s per user over the valid load points of ``cells`` (the caller passes the
    ranked-eligible entries), one trace per runtime on SKU, plus the Pareto front."""
    series: dict[str, dict[str, list[Any]]] = {}
    pts = []
    for c in cells:
        for r in c.rows:
            x, y = finite(r.get("interactivity_tokens_per_s_per_user")), sd.throughput_per_gpu(r)
            if not r.get("valid") or x is None or y is None:
                continue
            s = series.setdefault(f"{c.runtime} · {c.sku} · {c.model}", {"x": [], "y": [], "text": []})
            s["x"].append(x)
            s["y"].append(y)
            s["text"].append(f"{c.entry_id} @ {load_label(r)}")
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
    pts = sorted(((float(r["load_value"]), r) for r in cell.rows if finite(r.get("load_value")) is not None),
                 key=lambda p: p[0])
    kind = cell.rows[0]["load_kind"]
    data = []
    for metric in metrics:
        ys = [(sd.throughput_per_gpu(r) if metric == "throughput" else finite(r.get(metric))) for _, r in pts]
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
                v = finite(r.get(f"{metric}_{pct}"))
                if v is not None:
                    xs.append(v)
                    ys.append(q)
            if xs:
                data.append({"type": "scatter", "mode": "lines+markers", "name": f"load point {r['load_point']}",
                             "x": xs, "y": ys})
    return figure(data, column_heading(metric), "fraction of requests"), source


# ---------------------------------------------------------------- time series of a cell (windows.parquet)
#: windows per chart: more are merged (latency: the worst window, tok/s: the mean, gauges: the max, failures: the sum)
MAX_POINTS = 600
PHASE_COLOURS = ("#3f51b5", "#e53935", "#43a047", "#fb8c00", "#8e24aa", "#00897b")
_LAT = "ttft_from_scheduled_ms"
MIB = 1024 * 1024
#: the right-hand axis of a time series (its own ticks, not aligned with the left one's) and the layout
_RIGHT = {"overlaying": "y", "side": "right", "showgrid": False, "rangemode": "tozero", "tickmode": "auto"}
_TIME_LAYOUT = {"margin": {"t": 30, "r": 60, "b": 40}, "height": 380,
                "legend": {"orientation": "h", "y": -0.22, "yanchor": "top"}}


def _round(v: float | None) -> float | None:
    return None if v is None else float(f"{v:.4g}")


def _merge(windows: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """Consecutive runs of ``k`` windows as one (see MAX_POINTS)."""
    out = []
    for i in range(0, len(windows), k):
        run = windows[i:i + k]
        row = dict(run[0])
        for col in (*(f"{_LAT}_{q}" for q in ("p50", "p90", "p99")), "waiting_requests", "server_rss_bytes"):
            vals = [w[col] for w in run if w.get(col) is not None]
            row[col] = max(vals) if vals else None
        tok = [w["output_tokens_per_s"] for w in run if w.get("output_tokens_per_s") is not None]
        row["output_tokens_per_s"] = sum(tok) / len(tok) if tok else None
        row["requests_failed"] = sum(w.get("requests_failed") or 0 for w in run)
        out.append(row)
    return out


def _phase_layout(phases: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One shaded rectangle per phase and its name above the plot."""
    shapes, notes = [], []
    for i, p in enumerate(phases):
        name = sd.plain(p.name, 40)
        shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": _round(p.start_s), "x1": _round(p.end_s),
                       "y0": 0, "y1": 1, "fillcolor": PHASE_COLOURS[i % len(PHASE_COLOURS)], "opacity": 0.1,
                       "layer": "below", "line": {"width": 0}, "name": name})
        notes.append({"text": name, "x": _round((p.start_s + p.end_s) / 2), "y": 1, "xref": "x", "yref": "paper",
                      "yanchor": "bottom", "showarrow": False, "font": {"size": 10}})
    return shapes, notes


def _wrap(text: str, width: int = 60) -> str:
    """Plain text broken into lines of about ``width`` characters with <br> (Plotly's line break)."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + len(word) < width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


def recovery_marks(phases: Any, row: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A vertical line at the end of the overload phase + recovery_s labelled "recovered", or, when the row's
    recovery_s is null, a "not recovered" label with the reason; nothing without an overload phase."""
    spike = ops.overload_phase(tuple(phases))
    if spike is None:
        return [], []
    rec = finite(row.get("recovery_s"))
    if rec is not None:
        x = _round(spike.end_s + rec)
        return ([{"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1,
                  "line": {"color": "#2e7d32", "width": 2, "dash": "dash"}, "name": "recovered"}],
                [{"text": f"recovered ({fmt(rec)} s after the {spike.name} phase)", "x": x, "y": 0.92, "xref": "x",
                  "yref": "paper", "xanchor": "left", "showarrow": False, "font": {"color": "#2e7d32"}}])
    why = sd.plain(sd.why_null(row, "recovery_s") or "")
    text = why if why.startswith("not recovered") else "not recovered" + (f": {why}" if why else "")
    return [], [{"text": _wrap(text), "x": _round(spike.end_s), "y": 0.92, "xref": "x", "yref": "paper",
                 "xanchor": "left", "yanchor": "top", "align": "left", "showarrow": False,
                 "font": {"color": "#c62828"}, "bgcolor": "rgba(255,255,255,0.8)"}]


def timeline_chart(windows: list[dict[str, Any]], phases: Any, row: dict[str, Any]) -> dict[str, Any]:
    """The windows of one (trial, load point) over time: TTFT from scheduled p50 and p99 (p90 where p99 has
    too few samples) on the left axis, output tokens/s on the right; phases shaded, the recovery marked."""
    if len(windows) > MAX_POINTS:
        windows = _merge(windows, -(-len(windows) // MAX_POINTS))
    xs = [_round(w["t_start_s"]) for w in windows]
    p50 = [_round(w.get(f"{_LAT}_p50")) for w in windows]
    tail = [_round(w.get(f"{_LAT}_p99") if w.get(f"{_LAT}_p99") is not None else w.get(f"{_LAT}_p90"))
            for w in windows]
    fallback = any(w.get(f"{_LAT}_p99") is None and w.get(f"{_LAT}_p90") is not None for w in windows)
    lat = column_label(_LAT)
    data: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "lines+markers", "name": f"{lat} p50", "x": xs, "y": p50, "marker": {"size": 4}},
        {"type": "scatter", "mode": "lines+markers", "x": xs, "y": tail, "marker": {"size": 4},
         "name": f"{lat} p99" + (" (p90 where p99 has too few samples)" if fallback else "")},
        {"type": "scatter", "mode": "lines", "name": column_label("output_tokens_per_s"), "x": xs, "yaxis": "y2",
         "y": [_round(w.get("output_tokens_per_s")) for w in windows], "line": {"dash": "dot", "width": 1.5}},
    ]
    shapes, notes = _phase_layout(phases)
    marks, marks_notes = recovery_marks(phases, row)
    known = [v for v in (*p50, *tail) if v is not None and v > 0]
    fig = figure(data, "seconds from the first scheduled request (window start)", f"{lat} (ms)")
    fig["layout"].update(
        yaxis2={**_RIGHT, "title": {"text": column_label("output_tokens_per_s")}},
        shapes=shapes + marks, annotations=notes + marks_notes, **_TIME_LAYOUT)
    if known and max(known) > 50 * min(known):
        fig["layout"]["yaxis"]["type"] = "log"
    return fig


def gauge_chart(windows: list[dict[str, Any]], phases: Any) -> dict[str, Any] | None:
    """The server's queue (waiting requests), the requests that failed and the server's resident memory per
    window; None when there is none of them."""
    if len(windows) > MAX_POINTS:
        windows = _merge(windows, -(-len(windows) // MAX_POINTS))
    xs = [_round(w["t_start_s"]) for w in windows]
    queue = [_round(w.get("waiting_requests")) for w in windows]
    rss = [_round(w["server_rss_bytes"] / MIB) if w.get("server_rss_bytes") is not None else None for w in windows]
    data: list[dict[str, Any]] = []
    if any(v is not None for v in queue):
        data.append({"type": "scatter", "mode": "lines", "name": "waiting requests (queue)", "x": xs, "y": queue,
                     "line": {"shape": "hv"}})
    failed = [w.get("requests_failed") or 0 for w in windows]
    if any(failed):
        data.append({"type": "bar", "name": "requests failed (ended in the window)", "x": xs, "y": failed,
                     "marker": {"color": "#c62828"}, "opacity": 0.5})
    if any(v is not None for v in rss):
        data.append({"type": "scatter", "mode": "lines", "name": "server RSS (MiB)", "x": xs, "y": rss,
                     "line": {"dash": "dot"}, **({"yaxis": "y2"} if data else {})})
    if not data:
        return None
    shapes, notes = _phase_layout(phases)
    fig = figure(data, "seconds from the first scheduled request (window start)",
                 "requests" if len(data) > 1 or data[0]["name"] != "server RSS (MiB)" else "server RSS (MiB)")
    fig["layout"].update(shapes=shapes, annotations=notes, **_TIME_LAYOUT)
    if any(d.get("yaxis") == "y2" for d in data):
        fig["layout"]["yaxis2"] = {**_RIGHT, "title": {"text": "server RSS (MiB)"}}
    return fig


def cell_timelines(cell: sd.PublishedCell) -> list[dict[str, Any]]:
    """Per load point with at least two windows (windows.parquet; none without it): its first trial's
    timeline and gauge charts, matched with the load point's aggregate row for the recovery."""
    windows = ops.read_windows(cell)
    by_point: dict[int, dict[int, list[dict[str, Any]]]] = {}
    for w in windows:
        by_point.setdefault(w["load_point"], {}).setdefault(w["trial"], []).append(w)
    rows = {r["load_point"]: r for r in cell.rows}
    out = []
    for lp, trials in sorted(by_point.items())[:ops.MAX_PHASES]:
        trial = min(trials)
        ws = trials[trial]
        if len(ws) < 2 or lp not in rows:
            continue
        phases = ops.phase_spans(cell, ws)
        out.append({"load_point": lp, "trial": trial, "trials": len(trials), "row": rows[lp],
                    "timeline": timeline_chart(ws, phases, rows[lp]), "gauges": gauge_chart(ws, phases)})
    return out
