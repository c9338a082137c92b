"""HTML pieces written in Python rather than jinja (tables reach 10,000 rows): table cells with their CI and
null reason, metric headings from the metric registry, badges, safe JSON and relative links. Text is escaped here."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from markupsafe import Markup, escape

from inferboard.metrics import Column, column
from inferboard.metrics.accuracy import ACCURACY_COLUMNS
from inferboard.site import data as sd
from inferboard.site import operational_workloads as ops
from inferboard.site.ranking import figure_with_ci, finite, rank_figure, rank_labels

_JSON_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026",
                 0x2028: "\\u2028", 0x2029: "\\u2029"}


def script_json(obj: Any) -> Markup:
    """JSON safe to place inside <script type="application/json"> (no '<', '>' or '&' survive)."""
    return Markup(json.dumps(obj, sort_keys=True, allow_nan=False, separators=(",", ":")).translate(_JSON_ESCAPES))


def fmt(v: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits (thousands separated); '—' for null."""
    f = finite(v)
    return "—" if f is None else _num(f, digits)


def load_label(r: dict[str, Any]) -> str:
    """How a load point reads: "concurrency 8", "rate 10 (burstiness 0.25)", "phases, mean 9.77 req/s",
    "probe 69.8 req/s", "trace ×2" (plain text: escape it where it goes into HTML)."""
    kind, value = str(r.get("load_kind")), r.get("load_value")
    if kind == "phases":
        return f"phases, mean {fmt(value)} req/s"
    if kind == "search":
        return f"probe {fmt(value)} req/s"
    if kind == "trace":
        return f"trace ×{fmt(value)}"
    b = finite(r.get("burstiness"))
    return f"{kind} {fmt(value)}" + (f" (burstiness {fmt(b)})" if b is not None and b != 1.0 else "")


def _num(f: float, digits: int = 3) -> str:
    if f == 0:
        return "0"
    a = abs(f)
    if a >= 10 ** digits:
        return f"{f:,.0f}"
    return f"{f:,.{digits}g}" if a >= 1e-3 else f"{f:.2e}"


def _td(row: dict[str, Any], col: str, value: Any = None, digits: int = 3) -> str:
    x = row.get(col) if value is None else value  # rows hold finite numbers or None (sitedata.load_rows)
    if x is None:
        why = sd.why_null(row, col)
        return f'<td class="ib-null" data-sort="">—<small>{escape(why)}</small></td>' if why else \
            '<td class="ib-null" data-sort="">—</td>'
    lo = row.get(col + "_ci95_low")
    if lo is not None:
        hi = row.get(col + "_ci95_high")
        ci = f'<span class="ib-ci"> [{_num(lo)}, {_num(hi)}]</span>' if hi is not None else ""
        return f'<td data-sort="{x:.9g}">{_num(x, digits)}{ci}</td>'
    return f'<td data-sort="{x:.9g}">{_num(x, digits)}</td>'


def td(row: dict[str, Any], col: str, value: Any = None, digits: int = 3) -> Markup:
    """A table cell for ``row[col]`` (or ``value``) with a sort key and its 95% CI; a null says why it is null.

    Written in Python (not a jinja macro) because cell pages hold hundreds of these; text is escaped here.
    """
    return Markup(_td(row, col, value, digits))


def cell_badges(cell: sd.PublishedCell) -> Markup:
    """INVALID (no valid load point) or PARTLY INVALID, UNVERIFIED (declared hardware) and CUSTOM WORKLOAD
    badges of an entry."""
    out = []
    if cell.best is None:
        out.append('<span class="ib-badge ib-badge--invalid" title="no valid load point">INVALID</span>')
    elif not cell.valid:
        out.append('<span class="ib-badge ib-badge--invalid" title="some load points are invalid">'
                   "PARTLY INVALID</span>")
    if not cell.verified:
        out.append('<span class="ib-badge ib-badge--unverified" title="hardware declared, not fingerprinted">'
                   "UNVERIFIED</span>")
    if cell.custom_workload:
        out.append('<span class="ib-badge ib-badge--custom" title="not a standard workload: never ranked">'
                   "CUSTOM WORKLOAD</span>")
    return Markup(" ".join(out))


LOCAL_BADGE = ('<span class="ib-badge ib-badge--local" title="a cell of results/ on the machine that built this '
               'site, in no accepted submission">local, not submitted</span>')
REPRODUCED_BADGE = ('<span class="ib-badge ib-badge--reproduced" title="a reproduction from a different host '
                    'agrees on every headline metric">reproduced</span>')


def origin_html(cell: sd.PublishedCell) -> Markup:
    """Who submitted an entry (and their organisation) and the submission id, a reproduced badge where it was
    reproduced; the "local, not submitted" badge for a local entry."""
    if cell.local:
        return Markup(LOCAL_BADGE)
    who = escape(cell.submitter or "—") + (Markup(" ({})").format(cell.org) if cell.org else "")
    rep = Markup(" " + REPRODUCED_BADGE) if cell.reproduced else ""
    return Markup('{}{}<small class="ib-sub">{}</small>').format(who, rep, cell.submission_id or "")


def latency_rows(rows: list[dict[str, Any]]) -> Markup:
    """Body rows of a cell's latency table: count, mean, std, percentiles and max per metric and load point."""
    stats = ("_count", "_mean", "_std", *(f"_{q}" for q in sd.PERCENTILES), "_max")
    out = []
    for col in sd.latency_metrics():
        for r in rows:
            cells = "".join([_td(r, col.key + s) for s in stats])
            out.append(f"<tr><th>{escape(col.heading)}</th><td>{int(r['load_point'])}</td>{cells}</tr>")
    return Markup("\n".join(out))


def rel(src: str, dest: str) -> str:
    """Relative URL from the page at ``src`` to ``dest`` (both paths under docs/; .md → .html): up to the root,
    then down (cheap: list pages hold tens of thousands of links)."""
    if dest.endswith(".md"):
        dest = dest[:-3] + ".html"
    return "../" * src.count("/") + dest


def metric_headers(cols: Iterable[Column]) -> Markup:
    """Sortable header cells of metric columns: heading (label and unit), formula as the tooltip."""
    out = []
    for c in cols:
        title = c.doc + (" Here: per host on CPU hosts, which have no GPU." if c.key in sd.PER_HOST else "")
        out.append(f'<th data-sort-method="number" title="{escape(title)}">{escape(c.heading)}</th>')
    return Markup("".join(out))


def metric_cells(row: dict[str, Any], cols: Iterable[Column]) -> Markup:
    """A row's cells for metric columns, each with its CI or the reason it is null."""
    return Markup("".join(_td(row, c.key) for c in cols))


def _usd(row: dict[str, Any], sku: str, price: float | None) -> str:
    dollars = sd.goodput_per_dollar(row, price)
    if dollars is None:
        why = "CPU host" if not row.get("gpu_count") else f"no cited price for {sku}"
        return f'<td class="ib-null" data-sort="">—<small>{escape(why)}</small></td>'
    return _td(row, "goodput_per_dollar", dollars)


def board_value(row: dict[str, Any], key: str, sku: str, price: Callable[[str], float | None]) -> str:
    """The table cell of a leaderboard column: derived per GPU (per host on CPU hosts), per joule or per dollar."""
    if key == "goodput_per_dollar":
        return _usd(row, sku, price(sku))
    derive = sd.DERIVED.get(key)
    return _td(row, key, derive(row) if derive else None)


def _value(row: dict[str, Any], key: str, sku: str, price: Callable[[str], float | None]) -> float | None:
    if key == "goodput_per_dollar":
        return sd.goodput_per_dollar(row, price(sku))
    derive = sd.DERIVED.get(key)
    return derive(row) if derive else finite(row.get(key))


def board_columns(cells: list[sd.PublishedCell], price: Callable[[str], float | None]) -> tuple[list[Column],
                                                                                               list[Column]]:
    """(shown, left out) leaderboard columns of a table of ``cells``: the registry's leaderboard columns but the
    operational figures (their own tables rank by them) and those without a value in any row."""
    shown: list[Column] = []
    left: list[Column] = []
    for col in sd.board_columns():
        if ops.operational(col.key):
            continue
        has = any(_value(c.best or c.rows[0], col.key, c.sku, price) is not None for c in cells)
        (shown if has else left).append(col)
    return shown, left


def system_html(c: sd.PublishedCell, url: Callable[[str], str]) -> str:
    """One table cell for what was measured: the runtime, the model and the SKU, one per line."""
    kind = sd.cell_model_kind(c)
    return (f'<td class="ib-system"><a href="{escape(url("runtimes/" + sd.segment(c.runtime) + ".md"))}">'
            f'{escape(c.runtime)}</a><span class="ib-line">{escape(c.model)}</span>'
            + (f'<small class="ib-line">{escape(kind)}</small>' if kind else "")
            + f'<a class="ib-line" href="{escape(url("skus/" + sd.segment(c.sku) + ".md"))}">{escape(c.sku)}</a></td>')


def entry_html(c: sd.PublishedCell, r: dict[str, Any], url: Callable[[str], str], workload: bool) -> str:
    """One table cell for the entry: its load point (the link to its page, after the workload where the table
    spans workloads), who submitted it and its badges and invalid reasons on smaller lines."""
    wl = (f'<a href="{escape(url("workloads/" + sd.segment(c.workload) + ".md"))}">{escape(c.workload)}</a> · '
          if workload else "")
    status = str(cell_badges(c))
    if c.best is None and c.invalid_reasons:
        status += f"<small> {escape('; '.join(c.invalid_reasons))}</small>"
    return (f'<td class="ib-entry"><span class="ib-load">{wl}<a href="{escape(url(c.path))}">{escape(load_label(r))}'
            f'</a></span><span class="ib-line ib-who">{origin_html(c)}</span>'
            + (f'<span class="ib-line">{status}</span>' if status else "") + "</td>")


def _row_class(c: sd.PublishedCell) -> str:
    cls = "ib-invalid" if c.best is None else ("" if c.verified else "ib-unverified")
    return (cls + (" ib-local" if c.local else "")).strip()


def _rank_td(i: int, label: str) -> str:
    """A rank cell: sorts by position, reads "=2" (with why, on hover) where the entry ties with its neighbour."""
    why = ' title="tied: the same figure to three digits, or overlapping 95% confidence intervals"' \
        if label.startswith("=") else ""
    return f'<td data-sort="{i}"{why}>{label}</td>'


def board_rows(cells: list[sd.PublishedCell], cols: list[Column], url: Callable[[str], str], rank: bool,
               price: Callable[[str], float | None], workload: bool = True) -> Markup:
    """Rows of a leaderboard table, one per entry at its ranked load point: rank, system (runtime, model, SKU),
    entry (workload and load point, submitter or local, status), then ``cols``."""
    out = []
    ranks = rank_labels([rank_figure(c.best) for c in cells])
    for i, c in enumerate(cells, 1):
        r = c.best if c.best is not None else c.rows[0]
        out.append("".join((
            f'<tr class="{_row_class(c)}">', _rank_td(i, ranks[i - 1]) if rank else "",
            system_html(c, url), entry_html(c, r, url, workload),
            *(board_value(r, col.key, c.sku, price) for col in cols), "</tr>")))
    return Markup("\n".join(out))


def key_headers(keys: Iterable[str], ranked: str | None = None, wording: str = "") -> Markup:
    """Header cells of summary columns: heading and formula from the registry (the key itself when it is not
    registered); the ``ranked`` column's tooltip says it is ranked by it and how (``wording``)."""
    out = []
    for k in keys:
        try:
            col = column(k)
            heading, doc = col.heading, col.doc
        except KeyError:
            heading, doc = k, ""
        if k == ranked:
            doc = f"Ranked by this ({wording}, nulls last). {doc}"
        out.append(f'<th title="{escape(doc)}">{escape(heading)}</th>')
    return Markup("".join(out))


def _figure_keys(fig: ops.Figure) -> tuple[str, ...]:
    """A figure table's columns: the figure, what is shown beside it, and the accuracy figures (a speed figure is
    shown only beside its accuracy)."""
    return tuple(dict.fromkeys((*fig.columns, *ACCURACY_COLUMNS)))


def figure_headers(fig: ops.Figure) -> Markup:
    """Header cells of a figure table's columns (the figure, what is shown beside it, the accuracy figures)."""
    return key_headers(_figure_keys(fig), fig.column, fig.wording)


def operations_rows(cell: sd.PublishedCell) -> Markup:
    """Body rows of a cell page's operations table: per load point its row (the median over trials), then, when
    each trial started a fresh server, each trial's row (summary.parquet) with the compile caches it started with."""
    keys = ops.operations_columns()
    several = ops.fresh_trials(cell) and any((r.get("trials") or 0) > 1 for r in cell.rows)
    trials = ops.trial_rows(cell, (*keys, "server_caches")) if several else []
    out = []
    for r in cell.rows:
        n = r.get("trials") or 0
        label = f"median of {n}" if n > 1 else "—"
        rows = [(label, r)] + [(str(t["trial"]), t) for t in trials if t["load_point"] == r["load_point"]]
        for what, row in rows:
            caches = row.get("server_caches")
            cells = "".join(_td(row, k) for k in keys)
            out.append(f'<tr><td>{int(r["load_point"])}</td><td>{escape(what)}</td>'
                       f'<td>{escape(sd.plain(caches, 40)) if isinstance(caches, str) else "—"}</td>{cells}</tr>')
    return Markup("\n".join(out))


def target_rows(rows: list[dict[str, Any]]) -> Markup:
    """Body rows of a cell page's per-target table (``ops.target_rows``): load point, trial, target, its figures."""
    out = []
    for r in rows:
        ok, total = ("—" if r[k] is None else f"{r[k]:,.0f}" for k in ("requests_ok", "requests_total"))
        cells = "".join(_td(r, k) for k in ops.TARGET_COLUMNS[2:])
        out.append(f'<tr><td>{r["load_point"]}</td><td>{r["trial"]}</td><td><code>{escape(r["target"])}</code></td>'
                   f"<td>{ok} / {total}</td>{cells}</tr>")
    return Markup("\n".join(out))


def figure_rows(cells: list[sd.PublishedCell], fig: ops.Figure, url: Callable[[str], str], rank: bool,
                workload: bool = False) -> Markup:
    """Rows of a table ranked by an operational figure: one per entry at its figure's load point, then, where its
    trials split (e.g. by the compile caches the server started with), one row per group of trials."""
    out = []
    rows = [ops.figure_row(c, fig) for c in cells]
    ranks = rank_labels([figure_with_ci(r, fig.column) for r in rows])
    for i, (c, r) in enumerate(zip(cells, rows, strict=True), 1):
        out.append("".join((f'<tr class="{_row_class(c)}">', _rank_td(i, ranks[i - 1]) if rank else "",
                            system_html(c, url),
                            entry_html(c, r, url, workload), *(_td(r, k) for k in _figure_keys(fig)), "</tr>")))
        for s in ops.split_rows(c, fig):
            trials = ", ".join(str(t) for t in s["trials"])
            what = f"{str(fig.split).replace('_', ' ')}: {s[str(fig.split)]}"
            out.append("".join((
                '<tr class="ib-trial">', "<td></td>" if rank else "",
                f'<td colspan="2">↳ {escape(what)} <small>(trial{"s" if len(s["trials"]) > 1 else ""} '
                f"{escape(trials)})</small></td>", *(_td(s, k) for k in _figure_keys(fig)), "</tr>")))
    return Markup("\n".join(out))


def figure_cells(cell: sd.PublishedCell, price: Callable[[str], float | None]) -> Markup:
    """A cell page's rows of every leaderboard column at the entry's ranked load point (derived values too)."""
    r = cell.best if cell.best is not None else cell.rows[0]
    return Markup("\n".join(f'<tr><th title="{escape(col.doc)}">{escape(col.heading)}</th>'
                            f"{board_value(r, col.key, cell.sku, price)}</tr>" for col in sd.board_columns()))


_ACRONYMS = {"ttft": "TTFT", "tpot": "TPOT", "itl": "ITL", "e2e": "E2E", "slo": "SLO", "rps": "req/s"}
_UNITS = ("ms", "s")


def _field(key: str, value: Any) -> str:
    """"ttft_ms", 1000 → "TTFT 1,000 ms"; "input_tokens", 32 → "input tokens 32"."""
    words = str(key).split("_")
    unit = words[-1] if len(words) > 1 and words[-1] in _UNITS else None
    words = words[:-1] if unit else words
    name = " ".join(_ACRONYMS.get(w, w) for w in words)
    return f"{name} {spec_text(value)}" + (f" {unit}" if unit else "")


def spec_text(spec: Any) -> str:
    """A workload's dataset, load or SLO as a reader sees it: "kind fixed · input tokens 32 · output tokens 8",
    "TTFT 1,000 ms" (field names in words, units after values, lists joined, nested parts in brackets; plain text:
    escape it where it goes into HTML)."""
    if isinstance(spec, dict):
        return " · ".join(_field(k, v) for k, v in spec.items() if v is not None)
    if isinstance(spec, list):
        return ", ".join(f"({spec_text(v)})" if isinstance(v, dict) else spec_text(v) for v in spec)
    return fmt(spec) if isinstance(spec, int | float) and not isinstance(spec, bool) else str(spec)

