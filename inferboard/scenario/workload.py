"""Workload = dataset spec + load pattern + SLO + bounds + seed; versioned and content-hashed.

Models are strict (``extra="forbid"``); ``kind`` selects the dataset and load-pattern class.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator

from inferboard.core.errors import InferboardError, validated
from inferboard.core.hashing import content_hash
from inferboard.core.ids import BASE_TARGET
from inferboard.core.paths import REPO_ROOT
from inferboard.core.strict import Strict
from inferboard.core.yamltext import load_yaml
from inferboard.scenario.trace_dataset import TraceDataset

WORKLOAD_SCHEMA_VERSION: Final = 1
MAX_RATE = 100_000.0  # req/s: bounds on what a workload file may ask, so planning it stays bounded
MAX_DURATION_S = 7 * 86_400.0
MAX_REQUESTS = 10_000_000
NonNegInt = Annotated[int, Field(ge=0)]
NonNegFloat = Annotated[float, Field(ge=0)]


# ---------------------------------------------------------------- datasets
class FixedDataset(Strict):
    """Every request has exactly ``input_tokens`` in and ``output_tokens`` out (1k-1k, 8k-1k...)."""

    kind: Literal["fixed"]
    input_tokens: PositiveInt
    output_tokens: PositiveInt


class LognormalDataset(Strict):
    """Chat-like lengths: lognormal around a median, clamped to [min, max]."""

    kind: Literal["lognormal"]
    input_median: PositiveInt
    input_sigma: NonNegFloat = 0.5
    input_min: PositiveInt = 1
    input_max: PositiveInt
    output_median: PositiveInt
    output_sigma: NonNegFloat = 0.5
    output_min: PositiveInt = 1
    output_max: PositiveInt


class PrefixGroupsDataset(Strict):
    """Requests in ``groups`` groups; each group shares a ``prefix_tokens`` system prompt."""

    kind: Literal["prefix_groups"]
    groups: PositiveInt
    prefix_tokens: PositiveInt
    suffix_tokens: PositiveInt
    output_tokens: PositiveInt


class MultiTurnDataset(Strict):
    """Conversations of ``turns`` turns; each turn resends the history, then waits ``think_time_s``."""

    kind: Literal["multi_turn"]
    turns: Annotated[int, Field(ge=1)]
    user_tokens: PositiveInt
    output_tokens: PositiveInt
    think_time_s: NonNegFloat = 0.0
    think_time_dist: Literal["fixed", "exponential"] = "exponential"


Dataset = Annotated[
    FixedDataset | LognormalDataset | PrefixGroupsDataset | MultiTurnDataset | TraceDataset,
    Field(discriminator="kind"),
]


# ------------------------------------------------------------ load patterns
def as_list(v: Any) -> Any:
    """A single number as a one-element list (a sweep of one); anything else unchanged."""
    return [v] if isinstance(v, int | float) and not isinstance(v, bool) else v


class ConcurrencyLoad(Strict):
    """Closed loop: ``concurrency`` requests in flight; a list is a sweep (one load point each)."""

    kind: Literal["concurrency"]
    concurrency: Annotated[list[PositiveInt], Field(min_length=1)]

    _coerce = field_validator("concurrency", mode="before")(as_list)

    def points(self) -> list[float]:
        return [float(c) for c in self.concurrency]


class RateLoad(Strict):
    """Open loop: gamma arrivals at ``rate`` req/s; a list is a sweep. ``burstiness`` is the gamma shape (1 =
    Poisson, 0.25 = coefficient of variation 2), one for every point or a list with one per point (the same rate
    at burstiness 1 and 0.25 compares bursty arrivals with Poisson ones side by side)."""

    kind: Literal["rate"]
    rate: Annotated[list[PositiveFloat], Field(min_length=1)]
    burstiness: PositiveFloat | Annotated[list[PositiveFloat], Field(min_length=1)] = 1.0
    max_concurrency: PositiveInt | None = None

    _coerce = field_validator("rate", mode="before")(as_list)

    @model_validator(mode="after")
    def _one_burstiness_per_point(self) -> RateLoad:
        if isinstance(self.burstiness, list) and len(self.burstiness) != len(self.rate):
            raise ValueError(f"burstiness: give one value, or one per rate ({len(self.rate)})")
        return self

    def points(self) -> list[float]:
        return [float(r) for r in self.rate]

    def burstiness_of(self, point: int) -> float:
        """The gamma shape of load point ``point``."""
        b = self.burstiness
        return float(b[point] if isinstance(b, list) else b)


class Phase(Strict):
    """One phase of a phased load: open-loop arrivals at ``rate`` req/s for ``duration_s`` seconds."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=32)]
    rate: Annotated[float, Field(gt=0, le=MAX_RATE)]
    duration_s: Annotated[float, Field(gt=0, le=MAX_DURATION_S)]


class PhasesLoad(Strict):
    """Open loop through consecutive phases (one load point; latency counted from the scheduled time).

    Within a phase, arrivals are gamma with shape ``burstiness`` (1 = Poisson) at the phase's rate; the next phase
    follows without a gap, so whatever queued in one phase is still there in the next. The load point's value is
    the mean offered rate. A phase above the first one's rate is an overload; ``recovery_factor`` says how close
    to the first phase's median TTFT-from-scheduled the server must come back to count as recovered.
    """

    kind: Literal["phases"]
    phases: Annotated[list[Phase], Field(min_length=1, max_length=64)]
    burstiness: PositiveFloat = 1.0
    max_concurrency: PositiveInt | None = None
    recovery_factor: Annotated[float, Field(gt=1.0)] = 1.5

    @property
    def duration_s(self) -> float:
        return sum(p.duration_s for p in self.phases)

    def expected_requests(self) -> float:
        """Σ rate × duration: the mean number of arrivals over all phases."""
        return sum(p.rate * p.duration_s for p in self.phases)

    def bounds(self) -> list[tuple[float, float]]:
        """(start, end) offsets of each phase, seconds from the first arrival."""
        out, t = [], 0.0
        for p in self.phases:
            out.append((t, t + p.duration_s))
            t += p.duration_s
        return out

    def points(self) -> list[float]:
        return [self.expected_requests() / self.duration_s]


class SearchLoad(Strict):
    """Max rate at SLO: open-loop probes of ``requests`` requests each, found adaptively. Ramp up from
    ``start_rate`` by ``growth`` while a probe passes (down while it fails), then bisect between the highest
    passing and the lowest failing rate until they are within ``resolution`` of each other. A probe passes when at
    least ``goodput_target`` of its requests meet every SLO bound with latency counted from the scheduled time.
    The load points are the probes, in the order they ran (known only after the run: see provenance)."""

    kind: Literal["search"]
    start_rate: PositiveFloat
    max_rate: PositiveFloat
    growth: Annotated[float, Field(gt=1.0, le=10.0)] = 2.0
    resolution: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.05
    goodput_target: Annotated[float, Field(gt=0.0, le=1.0)] = 0.99
    max_probes: Annotated[int, Field(ge=2, le=32)] = 12
    burstiness: PositiveFloat = 1.0
    confirm_requests: Annotated[int, Field(ge=0, le=MAX_REQUESTS)] = Field(
        0, description="after the search, one more point at the max rate at SLO with this many measured requests "
        "(its own prompts and arrivals), so that the figures at that rate have the percentiles its size bounds (the "
        "p99 from 662); it does not change the answer, it measures it. 0: none")

    def points(self) -> list[float]:
        return []  # decided while the cell runs


class TraceLoad(Strict):
    """Open loop replaying the arrivals of a ``trace`` dataset's slice: its request i is sent (TIMESTAMP_i −
    TIMESTAMP_0) / ``time_scale`` seconds after its first (time_scale 2 replays twice as fast); one load point."""

    kind: Literal["trace"]
    time_scale: PositiveFloat = 1.0
    max_concurrency: PositiveInt | None = None

    def points(self) -> list[float]:
        return [self.time_scale]


LoadPattern = Annotated[ConcurrencyLoad | RateLoad | PhasesLoad | SearchLoad | TraceLoad, Field(discriminator="kind")]


# ------------------------------------------------------------ the rest
class Slo(Strict):
    """Service-level objective; a request meets it when every set bound holds (goodput)."""

    ttft_ms: PositiveFloat | None = None
    tpot_ms: PositiveFloat | None = None
    e2e_ms: PositiveFloat | None = None


class Timeouts(Strict):
    """Per-request timeouts; a request that exceeds one gets that timeout as its status."""

    connect_s: PositiveFloat = 10.0
    first_token_s: PositiveFloat = 120.0
    between_chunks_s: PositiveFloat = 60.0
    total_s: PositiveFloat = 900.0


class Sampling(Strict):
    """Sampling settings sent with every request; ``ignore_eos`` forces the output length."""

    temperature: NonNegFloat = 0.0
    ignore_eos: bool = True
    extra_body: dict[str, Any] = Field(default_factory=dict)


class Target(Strict):
    """One model requests are addressed to: ``base`` (the served model itself) or a LoRA adapter of it that the
    runtime loads next to it (the tiny model's adapters: ``inferboard model tiny`` writes lora-a and lora-b)."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]
    weight: Annotated[float, Field(gt=0, le=1e6)] = 1.0


class TrafficSplit(Strict):
    """Several models on one server: which target each arrival goes to (fixed per session, from the seed)."""

    split: Literal["weighted", "round_robin"] = Field(
        "weighted", description="weighted: drawn with probability weight/sum; round_robin: session i → i mod n")
    targets: Annotated[list[Target], Field(min_length=2, max_length=16)]

    @field_validator("targets")
    @classmethod
    def _unique(cls, v: list[Target]) -> list[Target]:
        names = [t.name for t in v]
        if len(set(names)) != len(names):
            raise ValueError("target names must be unique")
        return v

    @property
    def adapters(self) -> tuple[str, ...]:
        """The targets the runtime must load besides its model (every one but ``base``)."""
        return tuple(t.name for t in self.targets if t.name != BASE_TARGET)


class Workload(Strict):
    """A standard, versioned workload definition (see workflows/workloads/*.yaml)."""

    schema_version: Literal[1] = WORKLOAD_SCHEMA_VERSION
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=64)]
    version: PositiveInt
    description: str = ""
    dataset: Dataset
    load: LoadPattern
    requests: int | list[int] = Field(
        description="measured requests per load point (warm-up excluded); a list gives one per point of a "
        "concurrency or rate sweep (e.g. a long headline point whose p99 is published beside short ones)")
    duration_s: PositiveFloat | None = Field(None, description="stop issuing after this long per load point")
    warmup_requests: Annotated[int, Field(ge=0, le=MAX_REQUESTS)] = 0
    trials: PositiveInt = 1
    fresh_server_per_trial: bool = False
    server_caches: Literal["empty", "reuse"] = Field(
        "empty", description="empty: every server start gets empty compile caches (unless the system shares the "
        "host's: compile_caches: host, for workloads without fresh_server_per_trial); reuse: starts after the first "
        "reuse the first start's caches (a restart on the same host)")
    seed: int = 0
    api: Literal["chat", "completions"] = "completions"
    slo: Slo = Field(default_factory=Slo)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    sampling: Sampling = Field(default_factory=Sampling)
    window_s: Annotated[float, Field(ge=0.01, le=86_400)] = Field(
        1.0, description="width of the windows of windows.parquet (s, by scheduled time)")
    models: TrafficSplit | None = Field(
        None, description="several models on one server (a traffic split over targets); none: the served model")

    @field_validator("requests", mode="before")
    @classmethod
    def _counts(cls, v: Any) -> Any:
        ok = [type(n) is int and 0 < n <= MAX_REQUESTS for n in (v if isinstance(v, list) else [v])]
        if not ok or not all(ok):
            raise ValueError(f"must be greater than 0 and at most {MAX_REQUESTS:,}: a whole number or a list of them")
        return v

    @model_validator(mode="after")
    def _phases_fit(self) -> Workload:
        if isinstance(self.requests, list) and (not isinstance(self.load, ConcurrencyLoad | RateLoad)
                                                or len(self.requests) != len(self.load.points())):
            raise ValueError("requests: give one number, or one per point of a concurrency or rate sweep "
                             f"({len(self.load.points())} here)")
        if isinstance(self.load, TraceLoad) != isinstance(self.dataset, TraceDataset):
            raise ValueError("load: a trace load replays a trace dataset's arrivals; use them together")
        if isinstance(self.load, SearchLoad):
            if self.trials != 1:
                raise ValueError("trials: a search load runs one trial (its probes depend on what it measures)")
            if self.load.start_rate > self.load.max_rate:
                raise ValueError("load.start_rate: must not exceed load.max_rate")
        if isinstance(self.load, PhasesLoad):
            if isinstance(self.dataset, MultiTurnDataset):
                raise ValueError("load: a phased load sends single requests; use a single-turn dataset")
            need = math.ceil(1.5 * self.load.expected_requests())
            if self.warmup_requests + self.most_requests < need:
                raise ValueError(f"requests: the phases offer ~{self.load.expected_requests():.0f} arrivals; set "
                                 f"warmup_requests + requests to at least {need} (the bound on arrivals)")
        return self

    def requests_at(self, point: int) -> int:
        """Measured requests of load point ``point``."""
        return self.requests[point] if isinstance(self.requests, list) else self.requests

    @property
    def most_requests(self) -> int:
        """Measured requests of the longest load point."""
        return max(self.requests) if isinstance(self.requests, list) else self.requests

    def content_hash(self) -> str:
        """Hash of everything that affects a measurement (the description is excluded)."""
        # ``models`` (unset), a trace's slice fields and a search's ``confirm_requests`` (at their defaults) are left
        # out, so the hashes of workloads older than those fields are unchanged
        skip: dict[str, Any] = {"description": True} | ({"models": True} if self.models is None else {})
        if isinstance(self.dataset, TraceDataset) and (defaults := self.dataset.hash_exclusions()):
            skip["dataset"] = defaults
        if isinstance(self.load, SearchLoad) and not self.load.confirm_requests:
            skip["load"] = {"confirm_requests": True}
        return content_hash(self.model_dump(mode="json", exclude=skip))


# ------------------------------------------------------------ loading
def workloads_dir() -> Path:
    """Folder of the standard workloads (``INFERBOARD_WORKLOADS_DIR`` overrides)."""
    env = os.environ.get("INFERBOARD_WORKLOADS_DIR")
    if env:
        return Path(env)
    return REPO_ROOT / "workflows" / "workloads"


def standard_workloads() -> dict[str, Path]:
    """Names of the standard workloads mapped to their files."""
    return {p.stem: p for p in sorted(workloads_dir().glob("*.yaml"))}


def standard_hash(name: str) -> str | None:
    """The content hash of standard workload ``name`` as defined today; None when there is no such workload."""
    path = standard_workloads().get(name)
    return load_workload(str(path)).content_hash() if path is not None else None


def resolve_workload_path(name_or_path: str) -> Path:
    """A path to an existing file, or the name of a standard workload."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or os.sep in name_or_path:
        if not p.is_file():
            raise InferboardError(f"file {name_or_path!r} not found", field="--workload")
        return p
    known = standard_workloads()
    if name_or_path not in known:
        raise InferboardError(
            f"unknown workload {name_or_path!r}",
            field="--workload",
            fix=f"use a YAML path or one of: {', '.join(known) or '(none found)'}",
        )
    return known[name_or_path]


def parse_workload(data: Any, *, source: str) -> Workload:
    """Validate a mapping as a Workload, raising a one-line InferboardError."""
    if not isinstance(data, dict):
        raise InferboardError("a workload must be a YAML mapping", field=source)
    return validated(Workload, data, source=source)


def load_workload(name_or_path: str) -> Workload:
    """Load and validate a workload by standard name or file path."""
    path = resolve_workload_path(name_or_path)
    try:
        data = load_yaml(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise InferboardError(f"invalid YAML{where}: {getattr(err, 'problem', err)}", field=str(path)) from None
    return parse_workload(data, source=str(path))
