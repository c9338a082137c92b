"""HTML pieces written in Python rather than jinja (tables reach 10,000 rows): table cells with their CI and
null reason, metric headings from the metric registry, badges, safe JSON and relative links. Text is escaped here."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from markupsafe import Markup, escape

from inferboard.metrics import Column
from inferboard.site import data as sd

_JSON_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026",
                 0x2028: "\\u2028", 0x2029: "\\u2029"}


def script_json(obj: Any) -> Markup:
    """JSON safe to place inside <script type="application/json"> (no '<', '>' or '&' survive)."""
    return Markup(json.dumps(obj, sort_keys=True, allow_nan=False, separators=(",", ":")).translate(_JSON_ESCAPES))


def fmt(v: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits (thousands separated); '—' for null."""
    f = sd.finite(v)
    return "—" if f is None else _num(f, digits)


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


def board_rows(cells: list[sd.PublishedCell], cols: list[Column], url: Callable[[str], str], rank: bool,
               price: Callable[[str], float | None]) -> Markup:
    """Rows of a leaderboard table, one per entry at its ranked load point: identity and origin (submitter or
    local), then ``cols``, then status."""
    out = []
    for i, c in enumerate(cells, 1):
        r = c.best if c.best is not None else c.rows[0]
        cls = "ib-invalid" if c.best is None else ("" if c.verified else "ib-unverified")
        cls += " ib-local" if c.local else ""
        values = []
        for col in cols:
            derive = sd.DERIVED.get(col.key)
            if col.key == "goodput_per_dollar":
                values.append(_usd(r, c.sku, price(c.sku)))
            else:
                values.append(_td(r, col.key, derive(r) if derive else None))
        status = cell_badges(c)
        if c.best is None:
            status += f"<small> {escape('; '.join(c.invalid_reasons))}</small>"
        runtime_url = escape(url(f"runtimes/{sd.segment(c.runtime)}.md"))
        workload_url = escape(url(f"workloads/{sd.segment(c.workload)}.md"))
        out.append("".join((
            f'<tr class="{cls.strip()}">',
            f'<td data-sort="{i}">{i}</td>' if rank else "",
            f'<td><a href="{runtime_url}">{escape(c.runtime)}</a></td>',
            f'<td><a href="{escape(url("skus/" + sd.segment(c.sku) + ".md"))}">{escape(c.sku)}</a></td>',
            f"<td>{escape(c.model)}</td>",
            f'<td><a href="{workload_url}">{escape(c.workload)}</a></td>',
            f'<td><a href="{escape(url(c.path))}">{escape(r["load_kind"])} {fmt(r["load_value"])}</a></td>',
            f"<td>{origin_html(c)}</td>",
            *values,
            f"<td>{status}</td></tr>",
        )))
    return Markup("\n".join(out))
