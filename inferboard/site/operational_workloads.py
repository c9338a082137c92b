"""Operational workloads (overload and recovery, cold start): the figure each one is ranked by, and what the site
reads from a cell folder for them (the time windows, the trial rows). No HTML here.

A workload is ranked by its own figure when an entry of FIGURES applies to it (see :func:`workload_figure`);
every other workload is ranked by goodput at the SLO (``ranking.rank_groups``). Labels, units and directions come
from the metric registry (``inferboard.metrics``). To rank a new kind of workload by its figure, add one entry,
e.g. ``Figure("max_rate_at_slo_rps", present=("max_rate_at_slo_rps",))``: every workload whose rows carry a value
of that column is then ranked by it (in its registry direction) on its workload page, its best entry is on the
home page, and the generic leaderboard tables leave the column to it.

The cell folder's files come from submitters: read only under the leaderboard's root (``data.PublishedCell.dir``),
only the expected columns, at most MAX_ROWS rows; a missing, oversized or malformed file gives nothing, never an
error.
"""

from __future__ import annotations

import functools
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from inferboard.metrics import Better, column, metrics
from inferboard.metrics.windows import PhaseSpan
from inferboard.results.schema import SUMMARY, WINDOWS, WINDOWS_SCHEMA
from inferboard.site import data as sd
from inferboard.site.bundles import MAX_FILE_BYTES, cell_file
from inferboard.site.ranking import finite, rank_groups

MAX_ROWS = 100_000  # rows read of a cell's windows.parquet or summary.parquet
MAX_PHASES = 64


@dataclass(frozen=True)
class Figure:
    """What an operational workload is ranked by.

    ``column``: the leaderboard column ranked by, in its registry direction (``better`` only while the column is
    not in the registry); ``then``: tie-breaks, each in its own direction, nulls last; ``shown``: columns shown
    beside it. It applies to a workload when a row of it has a value in one of ``present``, when its load kind is
    one of ``load_kinds``, or when its definition sets ``flag`` (e.g. a fresh server per trial). ``split``: a
    summary column whose values split the entry's trials into rows of their own (the compile caches a server
    started with). ``absolute``: ranked by the distance from 0 (a drift either way is worse than none).
    ``is_rate``: the figure is one of the entry's load points (a search's max rate at SLO is its highest passing
    probe): the row shown is that point's (its confirmation point's, which has the p99, where it has one).
    """

    column: str
    then: tuple[str, ...] = ()
    shown: tuple[str, ...] = ()
    present: tuple[str, ...] = ()
    load_kinds: tuple[str, ...] = ()
    flag: str | None = None
    split: str | None = None
    better: Better = "lower"
    absolute: bool = False
    is_rate: bool = False

    @property
    def direction(self) -> Better:
        return better(self.column) or self.better

    @property
    def wording(self) -> str:
        """How the ranking reads: "lower is better", "closest to 0 is better"."""
        return "closest to 0 is better" if self.absolute else f"{self.direction or 'lower'} is better"

    @property
    def columns(self) -> tuple[str, ...]:
        """The figure and the columns shown beside it, once each."""
        return tuple(dict.fromkeys((self.column, *self.shown)))


#: the figures of operational workloads, first match wins (see workload_figure)
FIGURES: tuple[Figure, ...] = (
    Figure("recovery_s", then=("overload_error_rate",), present=("recovery_s",), load_kinds=("phases",),
           shown=("overload_error_rate", "overload_timeout_rate", "overload_shed_rate", "waiting_requests_max")),
    Figure("cold_start_s", then=("cold_ttft_ms",), flag="fresh_server_per_trial", split="server_caches",
           shown=("cold_ttft_ms", "requests_to_steady")),
    # the row shown is the confirmation point's where the search has one: the answer's latency with its p99
    Figure("max_rate_at_slo_rps", present=("max_rate_at_slo_rps",), then=("goodput_requests_per_s",), is_rate=True,
           shown=("ttft_ms_p50", "ttft_ms_p99", "tpot_ms_p50")),
    # a soak is a run bounded by time (duration_s): any run long enough has drift values (cpu-fixed's 680 requests
    # on a real model last over a minute), and its workload is not ranked by them
    Figure("drift_ttft_p50_pct_per_h", flag="duration_s", absolute=True,
           shown=("drift_tpot_p50_pct_per_h", "rss_growth_bytes_per_h")),
    Figure("adapter_ttft_penalty_pct", present=("adapter_ttft_penalty_pct",), then=("ttft_ms_p50",),
           shown=("ttft_ms_p50", "tpot_ms_p50")),
)


def better(key: str) -> Better:
    """The registry's direction of a column (None when it is not registered or has none)."""
    try:
        return column(key).better
    except KeyError:
        return None


def figure_columns() -> tuple[str, ...]:
    """Every column a figure ranks by or shows."""
    return tuple(dict.fromkeys(c for f in FIGURES for c in f.columns))


def operational(key: str) -> bool:
    """Whether a column is an operational figure (a FIGURES column or in the registry's "operations" group): the
    generic leaderboard tables leave it to the figure tables and the cell pages."""
    if key in figure_columns():
        return True
    try:
        return column(key).metric.group == "operations"
    except KeyError:
        return False


def operations_columns() -> tuple[str, ...]:
    """A cell page's operations table: the registry's "operations" group, then the figures' other columns."""
    ops = [m.name for m in metrics() if m.group == "operations"]
    return tuple(dict.fromkeys([*ops, *figure_columns()]))


def _definition(cell: sd.PublishedCell) -> dict[str, Any]:
    """The workload definition recorded in the cell's provenance ({} without one)."""
    wl = (cell.provenance or {}).get("workload")
    d = wl.get("definition") if isinstance(wl, dict) else None
    return d if isinstance(d, dict) else {}


def workload_figure(cells: list[sd.PublishedCell], spec: dict[str, Any] | None = None) -> Figure | None:
    """The first figure of FIGURES that applies to a workload with these entries (``spec``: its standard
    definition, when it is one), or None: ranked by goodput."""
    rows = [r for c in cells for r in c.rows]
    kinds = {r.get("load_kind") for r in rows}
    # a standard workload is decided by its own definition (a custom or earlier entry's must not switch the page)
    defs = [spec] if spec else [d for d in (_definition(c) for c in cells) if d]
    for f in FIGURES:
        if any(finite(r.get(k)) is not None for k in f.present for r in rows) or kinds & set(f.load_kinds):
            return f
        if f.flag and any(d.get(f.flag) not in (None, False) for d in defs):  # set in the definition
            return f
    return None


def figure_row(cell: sd.PublishedCell, fig: Figure) -> dict[str, Any]:
    """The row an entry is ranked by: its best valid value of the figure, else its ranked (or first valid, or
    first) load point, whose null figure says why."""
    valid = [r for r in cell.rows if r.get("valid")]
    ok = [r for r in valid if finite(r.get(fig.column)) is not None]
    if ok:
        def at(r: dict[str, Any]) -> float:  # how far the row's load point is from the figure, when it names one
            return abs((finite(r.get("load_value")) or 0.0) - (finite(r.get(fig.column)) or 0.0)) if fig.is_rate \
                else 0.0

        # at the same load (a search's answer and its confirmation point) the point with a published p99 first
        return min(ok, key=lambda r: (_key(r.get(fig.column), fig.direction, fig.absolute), at(r),
                                      finite(r.get("ttft_ms_p99")) is None, r["load_point"]))
    return cell.best or (valid[0] if valid else cell.rows[0])


def _key(v: Any, direction: Better, absolute: bool = False) -> tuple[bool, float]:
    f = finite(v)
    if f is None:
        return (True, 0.0)
    return (False, abs(f) if absolute else -f if direction == "higher" else f)


def figure_key(cell: sd.PublishedCell, fig: Figure) -> tuple[Any, ...]:
    """Sort key: the figure (nulls last), then each tie-break column (nulls last), then the entry id."""
    r = figure_row(cell, fig)
    return (_key(r.get(fig.column), fig.direction, fig.absolute), *(_key(r.get(c), better(c)) for c in fig.then),
            cell.entry_id)


def figure_groups(cells: list[sd.PublishedCell], fig: Figure) -> dict[str, list[sd.PublishedCell]]:
    """Entries split into ranking.RANK_GROUPS as for any workload, each group ordered by the figure."""
    return {g: sorted(cs, key=lambda c: figure_key(c, fig)) for g, cs in rank_groups(cells).items()}


# ---------------------------------------------------------------- the cell folder's tables
def _read(f: Path | None, wanted: tuple[str, ...]) -> list[dict[str, Any]] | None:
    """The ``wanted`` columns of a Parquet file (those it has), at most MAX_ROWS rows; None when unreadable."""
    if f is None:
        return None
    try:
        pf = pq.ParquetFile(f)
        cols = [c for c in wanted if c in pf.schema_arrow.names]
        rows: list[dict[str, Any]] = []
        for batch in pf.iter_batches(batch_size=4096, columns=cols):  # streamed; column-wise is 2x faster
            d = batch.to_pydict()
            rows += [dict(zip(d, values, strict=True)) for values in zip(*d.values(), strict=True)]
            if len(rows) >= MAX_ROWS:
                return rows[:MAX_ROWS]
        return rows
    except Exception:  # a damaged or hostile file: no chart, no table
        return None


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _num(v: Any) -> float | None:
    """A finite number of a file's numeric column (anything else, a numeric string included, is null)."""
    return finite(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


#: the columns of windows.parquet the site reads (results.schema.WindowRow; the charts need no others)
WINDOW_COLUMNS: tuple[str, ...] = tuple(c for c in WINDOWS_SCHEMA.names if c in (
    "trial", "load_point", "window", "t_start_s", "t_end_s", "phase", "phase_name", "offered_rate", "requests_failed",
    "output_tokens_per_s", "ttft_from_scheduled_ms_p50", "ttft_from_scheduled_ms_p90", "ttft_from_scheduled_ms_p99",
    "waiting_requests", "server_rss_bytes"))


def read_windows(cell: sd.PublishedCell) -> list[dict[str, Any]]:
    """The cell's windows.parquet rows, numbers checked (a non-number reads as null), by (trial, load point,
    window); [] when there is none."""
    rows = _read(cell_file(cell.dir, WINDOWS, MAX_FILE_BYTES), WINDOW_COLUMNS) or []
    out = []
    for r in rows:
        trial, lp, w = _int(r.get("trial")), _int(r.get("load_point")), _int(r.get("window"))
        t0, t1 = _num(r.get("t_start_s")), _num(r.get("t_end_s"))
        if trial is None or lp is None or w is None or t0 is None or t1 is None:
            continue
        clean: dict[str, Any] = {k: _num(v) for k, v in r.items()}
        name = r.get("phase_name")
        clean.update(trial=trial, load_point=lp, window=w, phase=_int(r.get("phase")),
                     phase_name=sd.plain(name, 40) if isinstance(name, str) else None)
        clean.update((k, None) for k in WINDOW_COLUMNS if k not in r)
        out.append(clean)
    out.sort(key=lambda r: (r["trial"], r["load_point"], r["window"]))
    return out


@functools.lru_cache(maxsize=64)
def _trial_rows(folder: Path, columns: tuple[str, ...]) -> tuple[dict[str, Any], ...]:
    rows = _read(cell_file(folder, SUMMARY, MAX_FILE_BYTES), ("row_kind", "trial", "load_point", *columns)) or []
    return tuple(r for r in rows if r.get("row_kind") == "trial" and _int(r.get("trial")) is not None
                 and _int(r.get("load_point")) is not None)


def trial_rows(cell: sd.PublishedCell, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    """The cell's per-trial summary rows (summary.parquet, row_kind "trial") with ``columns``; [] without."""
    if cell.dir is None:
        return []
    rows = _trial_rows(cell.dir, columns)
    return sorted(rows, key=lambda r: (r["load_point"], r["trial"]))


#: a cell page's per-target table: each target's latency next to the others' on the same server
TARGET_COLUMNS: tuple[str, ...] = ("requests_ok", "requests_total", "ttft_ms_p50", "ttft_ms_p90", "ttft_ms_p99",
                                   "tpot_ms_p50", "e2e_ms_p50", "output_tokens_per_s")


@functools.lru_cache(maxsize=64)
def _target_rows(folder: Path) -> tuple[dict[str, Any], ...]:
    rows = _read(cell_file(folder, SUMMARY, MAX_FILE_BYTES),
                 ("row_kind", "target", "trial", "load_point", *TARGET_COLUMNS)) or []
    out = []
    for r in rows:
        trial, lp, name = _int(r.get("trial")), _int(r.get("load_point")), r.get("target")
        if r.get("row_kind") != "target" or trial is None or lp is None or not isinstance(name, str) or not name:
            continue
        out.append({**{c: _num(r.get(c)) for c in TARGET_COLUMNS}, "trial": trial, "load_point": lp,
                    "target": sd.plain(name, 40)})
    return tuple(out)


def target_rows(cell: sd.PublishedCell) -> list[dict[str, Any]]:
    """The cell's per-target rows (summary.parquet, row_kind "target": a traffic split over several models on one
    server) by (load point, trial), each target in the file's order; [] without a split."""
    if cell.dir is None:
        return []
    return sorted(_target_rows(cell.dir), key=lambda r: (r["load_point"], r["trial"]))


def fresh_trials(cell: sd.PublishedCell) -> bool:
    """Whether each trial of the cell started a fresh server (its recorded workload definition says so)."""
    return _definition(cell).get("fresh_server_per_trial") is True


def split_rows(cell: sd.PublishedCell, fig: Figure) -> list[dict[str, Any]]:
    """The figure row's trials grouped by ``fig.split`` (e.g. server_caches: "empty", then "warm"), one row each:
    the median of each figure column over the group's trials, ``trials`` listing them; [] when no trial has a
    value to split by."""
    if fig.split is None:
        return []
    lp = figure_row(cell, fig)["load_point"]
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in trial_rows(cell, (*fig.columns, fig.split)):
        v = r.get(fig.split)
        if r["load_point"] == lp and isinstance(v, str) and v:
            groups.setdefault(sd.plain(v, 40), []).append(r)
    out = []
    for v, rs in sorted(groups.items(), key=lambda kv: (kv[0] != "empty", kv[0])):
        row: dict[str, Any] = {fig.split: v, "trials": [r["trial"] for r in rs], "load_point": lp}
        for c in fig.columns:
            vals = [f for f in (finite(r.get(c)) for r in rs) if f is not None]
            row[c] = statistics.median(vals) if vals else None
        out.append(row)
    return out


def phase_spans(cell: sd.PublishedCell, windows: list[dict[str, Any]]) -> tuple[PhaseSpan, ...]:
    """The phases of a phased load: from the workload definition in the cell's provenance, else from the
    windows' phase names (each phase from its first window's start to the next phase's start)."""
    load = _definition(cell).get("load")
    if isinstance(load, dict) and load.get("kind") == "phases" and isinstance(load.get("phases"), list):
        spans, t = [], 0.0
        for p in load["phases"][:MAX_PHASES]:
            rate = finite(p.get("rate")) if isinstance(p, dict) else None
            dur = finite(p.get("duration_s")) if isinstance(p, dict) else None
            if rate is None or dur is None or dur <= 0:
                return ()
            spans.append(PhaseSpan(sd.plain(str(p.get("name", "")), 40), rate, t, t + dur))
            t += dur
        return tuple(spans)
    return spans_from_windows(windows)


def spans_from_windows(windows: list[dict[str, Any]]) -> tuple[PhaseSpan, ...]:
    """Phases as the windows of one (trial, load point) mark them (consecutive windows of one phase index)."""
    spans: list[PhaseSpan] = []
    for w in windows:
        k = w.get("phase")
        if k is None:
            continue
        name, rate = w.get("phase_name") or f"phase {k}", w.get("offered_rate") or 0.0
        if spans and spans[-1].name == name and math.isclose(spans[-1].end_s, w["t_start_s"]):
            spans[-1] = PhaseSpan(name, spans[-1].rate, spans[-1].start_s, w["t_end_s"])
        elif len(spans) < MAX_PHASES:
            spans.append(PhaseSpan(name, rate, w["t_start_s"], w["t_end_s"]))
    return tuple(spans)


def overload_phase(phases: tuple[PhaseSpan, ...] | list[PhaseSpan]) -> PhaseSpan | None:
    """The overload phase (as ``metrics.windows.recovery`` picks it): the highest rate, above the first phase's."""
    if not phases:
        return None
    peak = max(range(len(phases)), key=lambda i: (phases[i].rate, -i))
    return phases[peak] if phases[peak].rate > phases[0].rate else None

