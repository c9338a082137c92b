"""Record and summary schemas (pydantic → pyarrow), SCHEMA_VERSION, the journal and validated table writes.

Records stream to ``requests.partial.jsonl`` (one flushed line per finished request) while a cell
runs; ``finalize`` turns the journal into ``requests.parquet`` with a temp file and an atomic rename,
so a crash loses nothing already measured and never leaves a half-written Parquet file.
"""

from __future__ import annotations

import functools
import types
import typing
from pathlib import Path
from typing import Any, Literal

import orjson
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from inferboard.core.atomic import atomic_write_table
from inferboard.core.errors import validated_all
from inferboard.core.stats import PERCENTILES, pname
from inferboard.results.accuracy_table import AccuracyRow
from inferboard.measure.exchange import Status
from inferboard.metrics.drift import DRIFTS
from inferboard.metrics.windows import WINDOW_GAUGES, WINDOW_LATENCIES, WINDOW_PERCENTILES
from inferboard.metrics import AGGREGATE_METRICS, ALIAS_STATS, ALIASES, CENSORED, RECORD_METRICS, ci_metrics, column

SCHEMA_VERSION = 1
JOURNAL = "requests.partial.jsonl"
CLIENT_JOURNALS = "requests.client*.partial.jsonl"  # one per client process (--client-procs), merged as they grow
REQUESTS = "requests.parquet"
SUMMARY = "summary.parquet"
PROVENANCE = "provenance.json"
GPU_JOURNAL = "gpu-samples.partial.jsonl"
GPU_SAMPLES = "gpu_samples.parquet"
WINDOWS = "windows.parquet"


def _metric_descriptions(schema: dict[str, Any]) -> None:
    """Describe each per-request metric column of the JSON Schema by its registry entry (unit and formula)."""
    for name, prop in schema.get("properties", {}).items():
        if "description" not in prop:
            prop["description"] = _describe(name)


class RequestRecord(BaseModel):
    """One issued request: exactly one row of requests.parquet, whatever its outcome."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, json_schema_extra=_metric_descriptions)

    request_id: str
    """t<trial>-p<load point>-<position in the schedule>: unique within the cell"""
    trial: int
    """trial index (0-based)"""
    load_point: int
    """index of the load point in the workload's sweep"""
    load_kind: str
    """concurrency (closed loop) or rate (open loop)"""
    load_value: float
    """the load point's concurrency or rate (req/s)"""
    session_id: int
    """the session (conversation) it belongs to; single-turn workloads have one request per session"""
    turn: int
    """turn within the conversation (0-based)"""
    target: str | None = None
    """the model it addressed in a traffic split (base or a LoRA adapter's name); null: the served model"""
    client_proc: int | None = None
    """the client process that sent it (0-based) when several shared the load point (``--client-procs``); null:
    one process"""
    warmup: bool
    """a warm-up request: recorded, never summarised"""
    status: Status
    """ok, or how it failed: http_error, a timeout_*, connection_error, truncated or invalid_response"""
    http_status: int | None
    """HTTP status code of the response (null when none arrived)"""
    scheduled_ns: int
    """when the schedule said to send it (monotonic clock, ns)"""
    sent_ns: int
    """when it was sent (monotonic clock, ns)"""
    first_token_ns: int | None
    """arrival of the first content chunk (kernel receive time where available, ns)"""
    end_ns: int | None
    """end of the response (ns)"""
    ttft_ms: float | None
    tpot_ms: float | None
    e2e_ms: float | None
    ntpot_ms: float | None
    send_lag_ms: float | None
    ttft_from_scheduled_ms: float | None
    e2e_from_scheduled_ms: float | None
    prompt_tokens: int | None
    """usage.prompt_tokens reported by the server"""
    prompt_tokens_target: int
    """prompt length the schedule asked for (tokens, by the model's tokenizer)"""
    output_tokens: int | None
    """n_out: usage.completion_tokens, else the counted content chunks"""
    output_tokens_usage: int | None
    """usage.completion_tokens reported by the server"""
    content_chunks: int
    """content chunks (SSE events carrying text) received"""
    max_tokens: int
    """max_tokens sent (the output length asked for)"""
    output_forced: bool
    """the output length was forced (the runtime honours ignore_eos or its equivalent): a short output is truncated"""
    usage_mismatch: bool
    """usage.completion_tokens differs from the counted content chunks"""
    finish_reason: str | None
    """the last choice's finish_reason"""
    done_marker: bool
    """the stream ended with data: [DONE]"""
    chunk_times_ms: list[float]
    """each content chunk's arrival, ms after sent"""
    error: str | None
    """what went wrong (null when ok)"""


#: headline metrics that get a bootstrap CI and CV across trials in ``aggregate`` rows: the metric registry's
#: headline columns (inferboard.metrics.metric_registry.ci_metrics) as registered when this module is imported, like
#: the rest of the summary schema below (built at import)
CI_METRICS: tuple[str, ...] = ci_metrics()


def _summary_fields() -> dict[str, Any]:
    f: dict[str, Any] = {
        "schema_version": (int, ...), "cell_id": (str, ...),
        "row_kind": (Literal["trial", "aggregate", "target"], ...), "target": (str | None, ...),
        "trial": (int | None, ...), "load_point": (int, ...), "load_kind": (str, ...),
        "load_value": (float, ...), "burstiness": (float | None, ...), "trials": (int, ...), "workload": (str, ...),
        "workload_hash": (str, ...), "schedule_hash": (str, ...), "runtime": (str, ...), "model": (str, ...),
        "sku": (str, ...), "gpu_count": (int, ...), "requests_planned": (int, ...),
        "requests_not_issued": (int, ...), "warmup_requests": (int, ...),
    }
    for m in AGGREGATE_METRICS:
        f[m.name] = (m.dtype | None, None)
    for rm in RECORD_METRICS:
        f[f"{rm.name}_count"] = (int | None, None)
        for stat in ("mean", "std", "max"):
            f[f"{rm.name}_{stat}"] = (float | None, None)
        for q in PERCENTILES:
            f[f"{rm.name}_{pname(q)}"] = (float | None, None)
    for name in CENSORED:
        for q in (50.0, 90.0, 99.0):
            f[f"{name}_{pname(q)}_incl_failed"] = (float | None, None)
    for alias in ALIASES:
        for stat in ALIAS_STATS:
            f[f"{alias}_{stat}"] = (float | None, None)
    for key in CI_METRICS:
        for stat in ("ci95_low", "ci95_high", "cv"):
            f[f"{key}_{stat}"] = (float | None, None)
    f.update({
        "valid": (bool, ...), "invalid_reason": (str | None, None), "flags": (str | None, None),
        "null_reasons": (str | None, None), "server_exit_code": (int | None, None),
        "server_log_tail": (str | None, None), "cold_start_s": (float | None, None),
    })
    f.update(HARDWARE_FIELDS)
    f.update(SEARCH_FIELDS)
    f.update({"accuracy_exact_share": (float | None, None), "accuracy_top5_share": (float | None, None)})
    f.update({f"{col}{s}": (float | None, None) for col, _, _ in DRIFTS for s in ("", "_ci95_low", "_ci95_high")})
    return f


#: hardware, energy and roofline columns of every summary row (null where they do not apply)
HARDWARE_FIELDS: dict[str, Any] = {
    "sku_verified": (bool | None, None), "hardware_fingerprint": (str | None, None),
    "gpu_name": (str | None, None), "gpu_driver": (str | None, None), "host_cpu_model": (str | None, None),
    "energy_j": (float | None, None), "energy_method": (str | None, None),
    "energy_null_reason": (str | None, None), "joules_per_output_token": (float | None, None),
    "gpu_window_s": (float | None, None), "power_mean_w": (float | None, None),
    "power_max_w": (float | None, None), "power_limit_w": (float | None, None),
    "power_over_limit": (bool | None, None), "sm_clock_mean_mhz": (float | None, None),
    "gpu_temp_max_c": (float | None, None), "gpu_memory_used_max_bytes": (float | None, None),
    "roofline_decode_tokens_per_s": (float | None, None), "roofline_efficiency_pct": (float | None, None),
    "roofline_reason": (str | None, None),
    "kv_cache_usage_max": (float | None, None), "kv_cache_usage_mean": (float | None, None),
    "waiting_requests_max": (float | None, None), "server_rss_max_bytes": (float | None, None),
    "cold_ttft_ms": (float | None, None), "requests_to_steady": (int | None, None),
    "server_caches": (str | None, None),
}


#: a search load's result, on every row of its cell (null for other loads): cell.finalize.search_columns
SEARCH_FIELDS: dict[str, Any] = {
    "max_rate_at_slo_rps": (float | None, None), "search_probes": (int | None, None),
    "search_requests": (int | None, None), "fixed_sweep_requests": (int | None, None),
}


def _describe(key: str) -> str | None:
    """A summary column's description for the data dictionary: its metric's label, unit and formula."""
    for suffix, what in (("_ci95_low", "bootstrap 95% CI low of "), ("_ci95_high", "bootstrap 95% CI high of "),
                         ("_cv", "coefficient of variation across trials of ")):
        if key.endswith(suffix):
            inner = _describe(key.removesuffix(suffix))
            return what + (inner or key.removesuffix(suffix))
    try:
        c = column(key)
    except KeyError:
        return None
    return f"{c.heading}: {c.doc}" if c.doc else c.heading


#: One row per (trial, load point), plus one ``aggregate`` row per load point across trials.
# (create_model's field arguments are built at run time from the metric registry: mypy cannot match its overloads)
SummaryRow: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "SummaryRow", __config__=ConfigDict(extra="forbid"),
    # every key required (null where it does not apply); a metric's column is described by its registry entry
    **{k: (ann, Field(description=_describe(k))) for k, (ann, _) in _summary_fields().items()},
)


# ---------------------------------------------------------------- pydantic → pyarrow
def _arrow_type(ann: Any) -> tuple[pa.DataType, bool]:
    origin = typing.get_origin(ann)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        t, _ = _arrow_type(args[0])
        return t, True
    if origin is Literal:
        return pa.string(), False
    if origin is list:
        inner, _ = _arrow_type(typing.get_args(ann)[0])
        return pa.list_(inner), False
    mapping = {int: pa.int64(), float: pa.float64(), str: pa.string(), bool: pa.bool_()}
    if ann in mapping:
        return mapping[ann], False
    if typing.get_origin(ann) is None and hasattr(ann, "__value__"):  # type alias (Status)
        return _arrow_type(ann.__value__)
    raise TypeError(f"no Arrow type for {ann!r}")


def arrow_schema(model: type[BaseModel], kind: str) -> pa.Schema:
    """The explicit pyarrow schema of ``model``, with schema_version in its metadata."""
    fields = []
    for name, info in model.model_fields.items():
        t, nullable = _arrow_type(info.annotation)
        fields.append(pa.field(name, t, nullable=nullable))
    return pa.schema(fields, metadata={b"inferboard.schema_version": str(SCHEMA_VERSION).encode(),
                                       b"inferboard.table": kind.encode()})


REQUESTS_SCHEMA = arrow_schema(RequestRecord, "requests")
SUMMARY_SCHEMA = arrow_schema(SummaryRow, "summary")


class LeaderboardRow(SummaryRow):
    """One aggregate row of the leaderboard: a summary row and where it comes from (a submission or local)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    entry_id: str
    """<submission id>/<cell id>, or local/<cell id> for a cell of results/ not submitted"""
    origin: Literal["submitted", "local"]
    """submitted: from an accepted bundle under data/submissions/; local: this machine's results/, not submitted"""
    submission_id: str | None
    """the bundle the row comes from (null for local cells)"""
    submitter: str | None
    """who submitted the bundle (null for local cells)"""
    org: str | None
    """the submitter's organisation, when given"""
    custom_workload: bool
    """measured with a workload that is not a standard one (shown apart, never ranked with standard ones)"""
    reproduced: bool
    """a reproduction record from a different host fingerprint agrees on every headline metric"""
    cell_path: str
    """the folder holding the cell's files, relative to the folder the leaderboard was built in"""


LEADERBOARD_SCHEMA = arrow_schema(LeaderboardRow, "leaderboard")


class GpuSample(BaseModel):
    """One NVML reading of one GPU during a measurement window (gpu_samples.parquet)."""

    model_config = ConfigDict(extra="forbid")
    trial: int
    load_point: int
    t_s: float  # seconds since the window opened
    gpu: int
    power_w: float | None
    memory_used_bytes: int | None
    sm_clock_mhz: int | None
    temp_c: int | None


GPU_SAMPLES_SCHEMA = arrow_schema(GpuSample, "gpu_samples")


def _window_fields() -> dict[str, Any]:
    f: dict[str, Any] = {
        "trial": (int, ...), "load_point": (int, ...), "window": (int, ...), "t_start_s": (float, ...),
        "t_end_s": (float, ...), "phase": (int | None, ...), "phase_name": (str | None, ...),
        "offered_rate": (float | None, ...), "requests_started": (int, ...), "requests_finished": (int, ...),
        "requests_failed": (int, ...), "output_tokens_per_s": (float, ...),
    }
    for name in WINDOW_LATENCIES:
        for q in WINDOW_PERCENTILES:
            f[f"{name}_{pname(q)}"] = (float | None, ...)
    f.update({g: (float | None, ...) for g in WINDOW_GAUGES})
    return f


#: One row per time window of a (trial, load point): windows.parquet (see inferboard.metrics.windows)
WindowRow: type[BaseModel] = create_model(
    "WindowRow", __config__=ConfigDict(extra="forbid"), **_window_fields())
WINDOWS_SCHEMA = arrow_schema(WindowRow, "windows")


class Journal:
    """Append-only JSON-lines log of finished requests, flushed per record (crash-safe)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._f = open(path, "ab", buffering=0)  # noqa: SIM115 - closed in close()
        self.count = 0

    def write(self, record: dict[str, Any]) -> None:
        self._f.write(orjson.dumps(record) + b"\n")
        self.count += 1

    def close(self) -> None:
        self._f.close()


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Records from a journal; a torn last line (crash mid-write) is dropped."""
    rows = []
    with open(path, "rb") as f:
        for line in f:
            try:
                rows.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                if line.endswith(b"\n"):
                    raise
    return rows


# ---------------------------------------------------------------- validated writes
#: columns added since the first published bundles, by table: a file written before them lacks them, and a
#: reader (the checker) takes them as null; a migration needs nothing else while columns are only added
ADDED_COLUMNS: dict[str, tuple[str, ...]] = {"requests": ("target", "client_proc"),
                                              "summary": ("target", "adapter_ttft_penalty_pct", "accuracy_exact_share",
                                                          "accuracy_top5_share")}


def with_added_columns(table: pa.Table, name: str) -> pa.Table:
    """``table`` (of table ``name``) with the ADDED_COLUMNS it lacks, null, where its table has them."""
    want = TABLES[name][1] if name in TABLES else None
    for col in ADDED_COLUMNS.get(name, ()):
        if want is not None and col not in table.column_names:
            i = want.get_field_index(col)
            table = table.add_column(min(i, table.num_columns), want.field(i),
                                     pa.nulls(table.num_rows, want.field(i).type))
    return table

#: the tables a cell and the leaderboard write: name → (row model, Arrow schema)
TABLES: dict[str, tuple[type[BaseModel], pa.Schema]] = {
    "requests": (RequestRecord, REQUESTS_SCHEMA),
    "summary": (SummaryRow, SUMMARY_SCHEMA),
    "leaderboard": (LeaderboardRow, LEADERBOARD_SCHEMA),
    "gpu_samples": (GpuSample, GPU_SAMPLES_SCHEMA),
    "accuracy": (AccuracyRow, arrow_schema(AccuracyRow, "accuracy")),
    "windows": (WindowRow, WINDOWS_SCHEMA),
}


@functools.cache
def rows_adapter(model: type[BaseModel]) -> TypeAdapter[list[Any]]:
    """The (cached) pydantic adapter that validates a list of ``model`` rows."""
    return TypeAdapter(list[model])  # type: ignore[valid-type]  # a list of a model chosen at run time


def validate_rows(rows: list[dict[str, Any]], table: str) -> None:
    """Check every row against its pydantic model: an unknown, missing or mistyped key stops with an
    error naming the row and the key (pyarrow alone would drop the unknown key and null the missing one)."""
    validated_all(rows_adapter(TABLES[table][0]), rows, source=f"{table} row")


def write_rows(path: Path, rows: list[dict[str, Any]], table: str, metadata: dict[str, str] | None = None) -> pa.Table:
    """Validate ``rows`` (see validate_rows), then write them atomically as Parquet with the table's schema."""
    validate_rows(rows, table)
    return atomic_write_table(path, rows, TABLES[table][1], metadata)
