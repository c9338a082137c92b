"""The scenario of a cell (MLPerf LoadGen's split: what load is offered, apart from the system under test).

A scenario is a standard workload (or a workload file, or a Workload in code) plus typed overrides.
``WorkloadOverrides`` is the one way to change a workload, from the command line and from the pipeline
config alike: every measurement field of ``Workload`` can be overridden, nested models (slo, timeouts,
sampling) merge field by field, and the shortcuts ``concurrency``/``rate``/``burstiness``/``max_concurrency``
change the load pattern.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PositiveFloat, PositiveInt, field_validator

from inferboard.core.errors import InferboardError, validated
from inferboard.core.hashing import file_sha256
from inferboard.core.strict import Strict
from inferboard.metrics.load import OPEN_LOOP
from inferboard.scenario.workload import (
    Dataset,
    LoadPattern,
    NonNegInt,
    Sampling,
    Slo,
    Timeouts,
    TrafficSplit,
    Workload,
    as_list,
    load_workload,
    parse_workload,
    resolve_workload_path,
)

#: Workload fields that name it rather than shape the measurement: never overridden
IDENTITY_FIELDS = frozenset({"schema_version", "name", "version", "description"})
#: nested models merged field by field (only the fields an override sets change)
_MERGED = ("slo", "timeouts", "sampling")


class WorkloadOverrides(Strict):
    """Changes to a workload; a field left out (null) keeps the workload's value."""

    dataset: Dataset | None = Field(None, description="replaces the dataset")
    load: LoadPattern | None = Field(None, description="replaces the load pattern")
    concurrency: Annotated[list[PositiveInt], Field(min_length=1)] | None = Field(
        None, description="closed loop with these concurrencies (a sweep)")
    rate: Annotated[list[PositiveFloat], Field(min_length=1)] | None = Field(
        None, description="open loop at these rates, req/s (a sweep); keeps burstiness and max_concurrency")
    burstiness: PositiveFloat | None = Field(None, description="gamma shape of an open-loop load (1 = Poisson)")
    max_concurrency: PositiveInt | None = Field(None, description="cap on requests in flight of an open-loop load")
    requests: PositiveInt | None = None
    duration_s: PositiveFloat | None = None
    warmup_requests: NonNegInt | None = None
    trials: PositiveInt | None = None
    fresh_server_per_trial: bool | None = None
    server_caches: Literal["empty", "reuse"] | None = None
    window_s: PositiveFloat | None = Field(None, description="width of the windows of windows.parquet (s)")
    seed: int | None = None
    api: Literal["chat", "completions"] | None = None
    slo: Slo | None = Field(None, description="merged: only the bounds given change")
    timeouts: Timeouts | None = Field(None, description="merged: only the timeouts given change")
    sampling: Sampling | None = Field(None, description="merged: only the settings given change")
    models: TrafficSplit | None = Field(None, description="replaces the traffic split (several models on one server)")

    _coerce = field_validator("concurrency", "rate", mode="before")(as_list)

    def given(self) -> dict[str, Any]:
        """The overrides that are set, as JSON values (recorded in provenance, sent to pipeline jobs). A null
        inside slo/timeouts/sampling is kept: it clears that bound (a top-level null keeps the workload's)."""
        return {k: v for k, v in self.model_dump(mode="json", exclude_unset=True).items() if v is not None}

    def apply(self, w: Workload, *, source: str = "overrides") -> Workload:
        """``w`` with these overrides; the result is validated again (errors name ``source``)."""
        data = w.model_dump(mode="json")
        over = self.model_dump(mode="json", exclude_none=True, exclude_unset=True)
        if "concurrency" in over and "rate" in over:
            raise InferboardError("give concurrency or rate, not both", field=f"{source}: concurrency/rate",
                                  fix="one load pattern per cell")
        shortcuts = {"concurrency", "rate", "burstiness", "max_concurrency"} & over.keys()
        if "load" in over and shortcuts:
            raise InferboardError(f"give load or {', '.join(sorted(shortcuts))}, not both", field=f"{source}: load",
                                  fix="put every load setting into load")
        for key in _MERGED:
            if key in over:
                given = getattr(self, key).model_dump(mode="json", exclude_unset=True)
                data[key] = {**data[key], **given}
                del over[key]
        if "concurrency" in over:
            data["load"] = {"kind": "concurrency", "concurrency": over.pop("concurrency")}
        if "rate" in over:
            old = data["load"]
            data["load"] = {"kind": "rate", "rate": over.pop("rate"), "burstiness": old.get("burstiness", 1.0),
                            "max_concurrency": old.get("max_concurrency")}
        for key in ("burstiness", "max_concurrency"):
            if key in over:
                if data["load"]["kind"] not in OPEN_LOOP:
                    raise InferboardError(f"{key} applies to an open-loop (rate or phases) load only",
                                          field=f"{source}: {key}",
                                          fix="also give rate, or drop it")
                data["load"][key] = over.pop(key)
        data.update(over)
        if isinstance(data["requests"], list) and "requests" not in over and data["load"] != w.model_dump(
                mode="json")["load"] and len(data["requests"]) != _points(data["load"]):
            # a per-point list that no longer fits the new sweep: every point gets the longest point's count
            data["requests"] = max(data["requests"])
        return parse_workload(data, source=source)


def _points(load: dict[str, Any]) -> int:
    """Load points of a load pattern given as JSON (a sweep's length; 1 for the others)."""
    return len(load.get("concurrency") or load.get("rate") or [None])


def parse_overrides(data: Any, *, source: str) -> WorkloadOverrides:
    """Validate a mapping as WorkloadOverrides, raising a one-line InferboardError."""
    return validated(WorkloadOverrides, data or {}, source=source)


def with_overrides(w: Workload, **overrides: Any) -> Workload:
    """``w`` with the overrides given as keywords (None = keep), e.g. ``with_overrides(w, rate=[2.0], seed=1)``."""
    return parse_overrides({k: v for k, v in overrides.items() if v is not None}, source="overrides").apply(w)


@dataclass(frozen=True)
class Scenario:
    """What a cell offers the system under test: a workload (standard name, YAML path or Workload) + overrides."""

    workload: str | Workload
    overrides: WorkloadOverrides = field(default_factory=WorkloadOverrides)

    def resolve(self) -> tuple[Workload, dict[str, Any]]:
        """The effective workload and where it came from (file, its hash, the base hash, the overrides)."""
        source: dict[str, str | None]
        if isinstance(self.workload, Workload):
            base, source = self.workload, {"file": None, "file_hash": None}
        else:
            path = resolve_workload_path(self.workload)
            base = load_workload(self.workload)
            source = {"file": _shown(path), "file_hash": file_sha256(path)}
        effective = self.overrides.apply(base)
        return effective, {**source, "base_hash": base.content_hash(), "overrides": self.overrides.given()}


def _shown(path: Path) -> str:
    """A workload file as recorded: relative to the working folder when it lies below it."""
    p = path.resolve()
    return str(p.relative_to(Path.cwd())) if p.is_relative_to(Path.cwd()) else str(path)
