"""A reproduction record: a rerun of one published cell on another host, compared metric by metric against the
published confidence intervals (``reproductions/<utc>-<host>.json`` in the bundle; it comes in by pull request)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import StringConstraints

from inferboard.core.hashing import content_hash
from inferboard.core.strict import Strict
from inferboard.submission.manifest import BUNDLE_ID, GIT_SHA, SHA256

RECORD_SCHEMA_VERSION = 1
Hash = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]


class RerunRef(Strict):
    """The rerun: its host, the suite that measured it and the SKU it ran on."""

    host: Hash
    suite_version: Annotated[str, StringConstraints(max_length=32)]
    suite_git_sha: Annotated[str, StringConstraints(pattern=GIT_SHA)]
    suite_git_dirty: bool
    sku: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]
    sku_verified: bool


class MetricComparison(Strict):
    """One headline metric at one load point: the published median and CI, and the rerun's median."""

    load_point: int
    metric: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,80}$")]
    published: float | None
    ci95_low: float | None
    ci95_high: float | None
    rerun: float | None
    within_ci: bool | None


class ReproductionRecord(Strict):
    """reproductions/<utc>-<host>.json of a bundle (exported as workflows/schemas/reproduction.schema.json)."""

    schema_version: int
    submission_id: Annotated[str, StringConstraints(pattern=BUNDLE_ID)]
    cell_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._/-]{7,410}$")]
    manifest_sha256: Annotated[str, StringConstraints(pattern=SHA256)]
    created_utc: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{8,15}Z$")]
    published_host: Hash
    rerun: RerunRef
    metrics: list[MetricComparison]
    verdict: Literal["agrees", "disagrees", "inconclusive"]


def host_identity(prov: dict[str, Any]) -> str:
    """Which machine measured: the hashed host name and the GPUs' UUIDs/serials (two hosts of one SKU differ)."""
    hw = prov.get("hardware") or {}
    host = hw.get("host") or {}
    gpus = [{k: g.get(k) for k in ("uuid", "serial", "pci_bus_id")} for g in hw.get("gpus") or []]
    return content_hash({"hostname_sha256": host.get("hostname_sha256"), "cpu_model": host.get("cpu_model"),
                         "gpus": gpus})


def verdict_of(metrics: list[MetricComparison]) -> Literal["agrees", "disagrees", "inconclusive"]:
    """agrees: every headline metric measured (published or rerun) inside its published CI; disagrees: one
    outside; else inconclusive (a metric without a CI, or measured by one side only). Metrics neither side
    measured (e.g. energy on a CPU host) do not count."""
    measured = [m for m in metrics if m.published is not None or m.rerun is not None]
    if any(m.within_ci is False for m in measured):
        return "disagrees"
    if measured and all(m.within_ci for m in measured):
        return "agrees"
    return "inconclusive"
