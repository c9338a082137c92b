"""The metric registry: the one ordered list of metrics, and the columns every consumer derives from it.

Consumers call these functions when they build a table, so a metric registered later (a plugin, a test with
``registered(...)``) shows up in the CI metrics, the CLI summary, ``compare`` and the site. The summary schema
and its computation (``results.schema``, ``results.summarize``: ``SUMMARY_SCHEMA``, ``CI_METRICS``,
``RECORD_METRICS``, ``AGGREGATE_METRICS``) are fixed when those modules are imported, with the metrics registered
by then; a record metric also needs its column in ``RequestRecord``.

Registration order is the column order of summary.parquet; tables order columns by ``GROUPS``, then by it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from graphlib import TopologicalSorter
from typing import Any, TypeVar, cast

from inferboard.core.stats import PERCENTILES, pname
from inferboard.metrics.base import GROUPS, AggregateMetric, Better, ColumnMetric, Metric, RecordMetric

M = TypeVar("M", bound=type[Metric])

#: summary statistics of each record metric: columns ``<name>_<stat>``
RECORD_STATS: tuple[str, ...] = ("count", "mean", "std", "max", *(pname(q) for q in PERCENTILES))
_STAT_LABELS = {"count": "n"}

_registry: list[type[Metric]] = []
_cache: dict[str, Any] = {}
_Built = TypeVar("_Built")


@dataclass(frozen=True, slots=True)
class Column:
    """One summary column of a registered metric: the metric itself, or one statistic of a record metric."""

    key: str  # summary column, e.g. "ttft_ms_p99" or "error_rate"
    metric: type[Metric]
    stat: str | None = None  # record statistic, e.g. "p99"

    @property
    def label(self) -> str:
        """Display name, e.g. "TTFT p99"."""
        if self.stat is None:
            return self.metric.label
        return f"{self.metric.label} {_STAT_LABELS.get(self.stat, self.stat.replace('_', '.'))}"

    @property
    def unit(self) -> str:
        """Display unit ("" where the label names it or for a count)."""
        if self.stat == "count":
            return ""
        m = self.metric
        return m.unit if m.display_unit is None else m.display_unit

    @property
    def heading(self) -> str:
        """Table heading: label and display unit, e.g. "TTFT p99 (ms)"."""
        return f"{self.label} ({self.unit})" if self.unit else self.label

    @property
    def better(self) -> Better:
        return None if self.stat in ("count", "std") else self.metric.better

    @property
    def headline(self) -> bool:
        h = self.metric.headline
        return self.stat in h if isinstance(h, tuple) else bool(h)

    @property
    def doc(self) -> str:
        """The metric's formula (its docstring on one line)."""
        return " ".join((self.metric.__doc__ or "").split())


def _check(m: type[Metric]) -> None:
    """Every declaration a metric needs, checked when it is registered (a TypeError lists what is wrong)."""
    needed = ("name", "unit", "label", "better", "group", *(("computed_in",) if issubclass(m, ColumnMetric) else ()))
    missing = [a for a in needed if not hasattr(m, a)]
    if missing:
        raise TypeError(f"metric {m.__name__} does not declare {', '.join(missing)}")
    problems = [f"a non-empty {a}" for a in ("name", "unit", "label") if not isinstance(getattr(m, a), str)
                or not getattr(m, a)]
    if m.better not in ("higher", "lower", None):
        problems.append(f"better={m.better!r} (higher, lower or None)")
    if m.group not in GROUPS:
        problems.append(f"group={m.group!r} (one of {', '.join(GROUPS)})")
    if "=" not in (m.__doc__ or ""):
        problems.append("a docstring with its formula (name = …)")
    if issubclass(m, RecordMetric):
        bad = [s for s in (*m.headline, *m.leaderboard) if s not in RECORD_STATS]
        problems += [f"unknown statistic {s!r} (one of {', '.join(RECORD_STATS)})" for s in bad]
    elif issubclass(m, ColumnMetric):
        if m.headline and not m.stored:
            problems.append("to be stored to be headline (a CI needs a summary column)")
    elif not issubclass(m, AggregateMetric):
        problems.append("a RecordMetric, AggregateMetric or ColumnMetric subclass")
    if any(r.name == m.name for r in _registry if r is not m):
        problems.append(f"a unique name ({m.name!r} is taken)")
    if problems:
        raise TypeError(f"metric {m.__name__} needs: {'; '.join(problems)}")


def register(metric: M) -> M:
    """Add ``metric`` after the registered ones (usable as a class decorator); checks its declarations."""
    if metric not in _registry:
        _check(metric)
        _registry.append(metric)
        _cache.clear()
    return metric


def unregister(metric: type[Metric]) -> None:
    """Remove ``metric`` from the registry."""
    _registry.remove(metric)
    _cache.clear()


@contextmanager
def registered(*metrics: type[Metric]) -> Iterator[None]:
    """Register ``metrics`` for the duration of a ``with`` block (tests); ones already registered stay."""
    added = [m for m in dict.fromkeys(metrics) if m not in _registry]
    for m in added:
        register(m)
    try:
        yield
    finally:
        for m in added:
            if m in _registry:
                unregister(m)


def _cached(key: str, build: Callable[[], _Built]) -> _Built:
    if key not in _cache:
        _cache[key] = build()
    return cast("_Built", _cache[key])


def metrics() -> tuple[type[Metric], ...]:
    """Every registered metric, in registration order."""
    return _cached("metrics", lambda: tuple(_registry))


def metric(name: str) -> type[Metric]:
    """The registered metric called ``name`` (KeyError if none)."""
    return _cached("by_name", lambda: {m.name: m for m in _registry})[name]


def record_metrics() -> tuple[type[RecordMetric], ...]:
    """Per-request metrics in registration order."""
    return _cached("record", lambda: tuple(m for m in _registry if issubclass(m, RecordMetric)))


def aggregate_metrics() -> tuple[type[AggregateMetric], ...]:
    """Aggregate metrics in an order where every metric comes after what it requires."""

    def build() -> tuple[type[AggregateMetric], ...]:
        aggs = [m for m in _registry if issubclass(m, AggregateMetric)]
        by_name = {m.name: m for m in aggs}
        graph = {m.name: {r for r in m.requires if r in by_name} for m in aggs}
        return tuple(by_name[n] for n in TopologicalSorter(graph).static_order())

    return _cached("aggregate", build)


def _per_request(m: type[Metric]) -> bool:
    return issubclass(m, RecordMetric)


def _columns(select: Any) -> tuple[Column, ...]:
    """Columns chosen by ``select(metric)`` (statistics for record metrics, a bool for the others), in table order."""
    out = []
    for i, m in enumerate(_registry):
        chosen = select(m)
        if _per_request(m):
            out += [((GROUPS.index(m.group), i, j), Column(f"{m.name}_{s}", m, s)) for j, s in enumerate(chosen)]
        elif chosen:
            out.append(((GROUPS.index(m.group), i, 0), Column(m.name, m)))
    return tuple(c for _, c in sorted(out, key=lambda kc: kc[0]))


def headline_columns() -> tuple[Column, ...]:
    """Headline columns: a bootstrap CI and CV across trials, compared by ``compare``, in every results table."""
    return _cached("headline", lambda: _columns(lambda m: m.headline))


def ci_metrics() -> tuple[str, ...]:
    """Keys of the headline columns (each gets ``_ci95_low``, ``_ci95_high`` and ``_cv`` in aggregate rows)."""
    return tuple(c.key for c in headline_columns())


def summary_columns() -> tuple[Column, ...]:
    """The CLI summary: each headline metric once (a record metric at its first headline statistic)."""
    return _cached("summary", lambda: _columns(lambda m: m.headline[:1] if _per_request(m) else m.headline))


def result_columns() -> tuple[Column, ...]:
    """A cell page's results table: the headline columns and the ones merely ``shown``."""
    return _cached("result", lambda: _columns(lambda m: m.headline if _per_request(m) else m.headline or m.shown))


def leaderboard_columns() -> tuple[Column, ...]:
    """The site's leaderboard tables (one row per cell)."""
    return _cached("leaderboard", lambda: _columns(lambda m: m.leaderboard))


def column(key: str) -> Column:
    """The column ``key`` of a registered metric: its name, or ``<name>_<stat>`` of a record metric (whose bare
    name gives the metric itself, e.g. for a chart of its distribution)."""

    def build() -> dict[str, Column]:
        out: dict[str, Column] = {}
        for m in _registry:
            out[m.name] = Column(m.name, m)
            if _per_request(m):
                out.update({f"{m.name}_{s}": Column(f"{m.name}_{s}", m, s) for s in RECORD_STATS})
        return out

    return _cached("columns", build)[key]


def column_label(key: str) -> str:
    """Display name of a column ("TTFT p99"); the key itself when no registered metric has it."""
    try:
        return column(key).label
    except KeyError:
        return key


def column_heading(key: str) -> str:
    """Label with display unit ("TTFT p99 (ms)"); the key itself when no registered metric has it."""
    try:
        return column(key).heading
    except KeyError:
        return key
