"""Every registered check of the submission checker, each made to fail on its own by one edit of a real bundle.

``CASES`` holds, per check, one or more edits of a copy of the committed bundle that break that check. Each case
names the other checks that fail with it (``also``): the set of failed checks must be exactly the check plus these,
so every co-failure is written down here with why it cannot be avoided. A ``files`` stage failure stops every
``content`` check (reported "not run"); that is implied for files-stage cases, not listed.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from inferboard.scenario.workload import Workload, standard_hash
from inferboard.submission import bundle as bundle_mod
from inferboard.submission.checks import files as files_checks
from inferboard.submission.manifest import MANIFEST
from inferboard.submission.registry import all_checks
from inferboard.submission.validate import validate
from tests.unit.submission.bundles import (
    CHECK_IDS,
    CONTENT_STAGE,
    FILES_STAGE,
    OTHER_ID,
    SEVERITY,
    Rows,
    cell_dirs,
    copy_bundle,
    edit_json,
    edit_parquet,
    failed,
    first_cell,
    read_json,
    recompute_summary,
    recompute_windows,
    record_doc,
    rehash,
    report,
    run_validate,
    search_cell,
    write_parquet,
    write_record,
)

#: checks that read the provenance through its schema: all report "cannot check" when it does not validate
READS_PROVENANCE = frozenset({"accuracy.gate", "cell.identity", "cell.finished", "suite.clean", "pins.present",
                              "workload.standard",
                              "hardware.sku_verified", "summary.recomputed", "windows.recomputed", "search.probes"})
#: checks that read the manifest through its schema
READS_MANIFEST = frozenset({"accuracy.gate", "manifest.hashes", "manifest.complete", "strings.limits", "suite.clean",
                            "workload.standard"})


@dataclass
class Ctx:
    """What a mutation works on: the bundle copy (``tmp/submissions/<id>``) and a monkeypatch for the caps."""

    bundle: Path
    mp: pytest.MonkeyPatch

    @property
    def cell(self) -> Path:
        return first_cell(self.bundle)


@dataclass(frozen=True)
class Case:
    """One way to break ``check``: ``mutate`` edits the copy (and may return another bundle folder to check);
    ``reason`` is a piece of the check's reason; ``also`` the other checks that unavoidably fail with it;
    ``points`` the load points an ``invalid`` check must mark (None: the whole cell)."""

    check: str
    name: str
    mutate: Callable[[Ctx], Path | None]
    reason: str
    also: frozenset[str] = frozenset()
    points: tuple[int | None, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.check}/{self.name}"


# ------------------------------------------------------------------ small edits
def _log(ctx: Ctx, n: int = 0) -> Path:
    return ctx.cell / f"server-trial{n}.log"


def _append_log(ctx: Ctx, text: str) -> None:
    log = _log(ctx)
    log.write_bytes(log.read_bytes() + text.encode())
    rehash(ctx.bundle)


def _prov(ctx: Ctx, fn: Callable[[dict[str, Any]], Any], *, summary: bool = False) -> None:
    """Edit the provenance, hash again; ``summary``: recompute the summary too (the edit changes it)."""
    edit_json(ctx.cell / "provenance.json", fn)
    if summary:
        recompute_summary(ctx.cell)
    rehash(ctx.bundle)


def _status(ctx: Ctx, **fields: Any) -> None:
    edit_json(ctx.cell / "cell.json", lambda d: d.update(fields))
    rehash(ctx.bundle)


def _manifest(ctx: Ctx, fn: Callable[[dict[str, Any]], Any]) -> None:
    edit_json(ctx.bundle / MANIFEST, fn)


def _requests(ctx: Ctx, fn: Callable[[Rows], Any], *, summary: bool = True) -> None:
    """Edit the request records; ``summary``: recompute the summary from them (a consistent edit)."""
    edit_parquet(ctx.cell / "requests.parquet", fn)
    if summary:
        recompute_summary(ctx.cell)
    rehash(ctx.bundle)


def _summary(ctx: Ctx, fn: Callable[[Rows], Any]) -> None:
    edit_parquet(ctx.cell / "summary.parquet", fn)
    rehash(ctx.bundle)


def _metrics_rows(n: int) -> Rows:
    return [{"trial": 0, "t_ns": 0, "name": "zero", "labels": "", "value": 0.0} for _ in range(n)]


def _write_metrics(ctx: Ctx, rows: Rows, schema: pa.Schema | None = None, **kw: Any) -> None:
    path = ctx.cell / "metrics.parquet"
    table = pa.Table.from_pylist(rows, schema=schema or pq.read_schema(path))
    pq.write_table(table, path, **kw)
    rehash(ctx.bundle)


def _deep(levels: int) -> Any:
    v: Any = "bottom"
    for _ in range(levels):
        v = {"d": v}
    return v


def _nested(levels: int) -> str:
    """A JSON value ``levels`` deep written by hand (json/orjson cannot even serialise the deep ones)."""
    return '{"d":' * levels + "1" + "}" * levels


def _each_point(rows: Rows, lp: int, fn: Callable[[dict[str, Any]], None], *, per_trial: int | None = None) -> None:
    """Apply ``fn`` to the measured (non-warm-up) requests of load point ``lp``: all, or ``per_trial`` per trial."""
    done: dict[int, int] = {}
    for r in rows:
        if r["load_point"] == lp and not r["warmup"]:
            if per_trial is not None and done.get(r["trial"], 0) >= per_trial:
                continue
            done[r["trial"]] = done.get(r["trial"], 0) + 1
            fn(r)


def _first_warmup(rows: Rows) -> dict[str, Any]:
    """A warm-up request that is not the first after a server start (cold_ttft_ms and requests_to_steady read
    that one): the first warm-up of load point 1."""
    return next(r for r in rows if r["warmup"] and r["load_point"] == 1)


# ------------------------------------------------------------------ the mutations, check by check
def symlink_log(ctx: Ctx) -> None:
    os.symlink("server-trial0.log", _log(ctx, 1))


def dot_file(ctx: Ctx) -> None:
    (ctx.cell / ".DS_Store").write_text("finder\n")


def bad_folder_name(ctx: Ctx) -> Path:
    return copy_bundle(ctx.bundle, ctx.bundle.parent.parent / "incoming", "Not A Bundle")


def notes_txt(ctx: Ctx) -> None:
    (ctx.bundle / "notes.txt").write_text("hello\n")


def no_requests(ctx: Ctx) -> None:
    (ctx.cell / "requests.parquet").unlink()


def sparse_51mb(ctx: Ctx) -> None:
    with open(_log(ctx, 1), "wb") as f:
        f.truncate(51 * 2**20)


def small_total_cap(ctx: Ctx) -> None:
    ctx.mp.setattr(files_checks, "MAX_BUNDLE_BYTES", 100_000)


def parquet_is_json(ctx: Ctx) -> None:
    (ctx.cell / "metrics.parquet").write_text('{"rows": []}\n')


def nul_in_log(ctx: Ctx) -> None:
    _append_log(ctx, "a NUL \0 byte\n")


def wrong_id(ctx: Ctx) -> None:
    _manifest(ctx, lambda m: m.update(id=OTHER_ID))


def unknown_manifest_field(ctx: Ctx) -> None:
    _manifest(ctx, lambda m: m.update(homepage="https://example.com"))


def byte_changed(ctx: Ctx) -> None:
    log = _log(ctx)
    data = bytearray(log.read_bytes())
    data[0] = ord("X") if data[0] != ord("X") else ord("Y")
    log.write_bytes(bytes(data))  # same size, manifest not hashed again


def unlisted_log(ctx: Ctx) -> None:
    _log(ctx, 7).write_text("server started\n")


def long_string(ctx: Ctx) -> None:
    _status(ctx, reason="x" * 70_000)


def control_char(ctx: Ctx) -> None:
    _status(ctx, reason="\x1b[31mred\x1b[0m")


def deep_provenance(ctx: Ctx) -> None:
    _prov(ctx, lambda p: p["runtime"]["params"].update(deep=_deep(100)))


def deep_record(ctx: Ctx) -> None:
    write_record(ctx.bundle, record_doc(ctx.bundle, note=_deep(100)))


def many_rows(ctx: Ctx) -> None:
    # every other table of the bundle stays under it (the largest, a vLLM soak's metrics.parquet, holds ~39,000)
    ctx.mp.setattr(bundle_mod, "MAX_PARQUET_ROWS", 40_000)
    _write_metrics(ctx, _metrics_rows(50_000))


def inflating(ctx: Ctx) -> None:
    """A metrics.parquet of zeros, plain-encoded and compressed: a few KB on disk, MBs once decompressed (the cap
    lowered to 4 MiB: above every genuine file of the bundle, 1.5 MB at most, below the inflated one)."""
    ctx.mp.setattr(bundle_mod, "MAX_PARQUET_UNCOMPRESSED", 1 << 22)
    _write_metrics(ctx, _metrics_rows(200_000), compression="zstd", use_dictionary=False)
    assert (ctx.cell / "metrics.parquet").stat().st_size < 100_000


def extra_column(ctx: Ctx) -> None:
    schema = pq.read_schema(ctx.cell / "metrics.parquet").append(pa.field("extra", pa.string()))
    rows = pq.read_table(ctx.cell / "metrics.parquet").to_pylist()
    _write_metrics(ctx, [{**r, "extra": "x"} for r in rows], schema)


def unknown_schema_version(ctx: Ctx) -> None:
    path = ctx.cell / "summary.parquet"
    schema = pq.read_schema(path)
    meta = {**schema.metadata, b"inferboard.schema_version": b"2"}
    write_parquet(path, pq.read_table(path).to_pylist(), schema.with_metadata(meta))
    rehash(ctx.bundle)


def pwned_status(ctx: Ctx) -> None:
    _requests(ctx, lambda rows: rows[5].update(status="pwned"), summary=False)


def unknown_provenance_field(ctx: Ctx) -> None:
    _prov(ctx, lambda p: p.update(favourite_colour="blue"))


def provenance_version(ctx: Ctx) -> None:
    _prov(ctx, lambda p: p.update(schema_version=99))


def other_cell_id(ctx: Ctx) -> None:
    _status(ctx, cell_id="cpu-host/llamacpp/tiny-llama-2l/chat-short")


def incomplete(ctx: Ctx) -> None:
    _prov(ctx, lambda p: p.update(complete=False))


def failed_status(ctx: Ctx) -> None:
    _status(ctx, status="failed", reason="server crashed")


def home_in_log(ctx: Ctx) -> None:
    _append_log(ctx, "loading model from /home/alice/models/tiny.gguf\n")


def home_in_parquet_metadata(ctx: Ctx) -> None:
    path = ctx.cell / "metrics.parquet"
    schema = pq.read_schema(path)
    write_parquet(path, pq.read_table(path).to_pylist(), schema.with_metadata({b"origin": b"/home/alice/run"}))
    rehash(ctx.bundle)


def dirty(ctx: Ctx) -> None:
    _prov(ctx, lambda p: p["suite"].update(git_dirty=True))


def unknown_commit(ctx: Ctx) -> None:
    _manifest(ctx, lambda m: m["suite"].update(git_sha="0123456789abcdef0123456789abcdef01234567"))


def no_revision(ctx: Ctx) -> None:
    _prov(ctx, lambda p: p["model"].update(revision=None))


def lowered_gate(ctx: Ctx) -> None:
    """A random-weights cell claiming the real model's gate with a floor of zero: the gate is not its model's."""
    gate = {"reference": "workflows/accuracy/smollm2-135m.json", "sha256": "sha256:" + "0" * 64,
            "min_exact_share": 0.0, "min_top5_share": 0.0}
    _prov(ctx, lambda p: p["catalogue"]["model"].update(accuracy=gate), summary=True)


def no_runtime_pin(ctx: Ctx) -> None:
    def drop(p: dict[str, Any]) -> None:
        for key in ("lock_hash", "source_hash"):
            p["runtime"]["env"].pop(key, None)
        p["runtime"].pop("resolved_image_id", None)

    _prov(ctx, drop)


def _edit_timeouts(p: dict[str, Any]) -> None:
    p["workload"]["definition"]["timeouts"]["connect_s"] = 11.0  # not in the summary: it stays the same


def workload_edited(ctx: Ctx) -> None:
    _prov(ctx, _edit_timeouts)


def workload_rehashed(ctx: Ctx) -> None:
    def edit(p: dict[str, Any]) -> None:
        _edit_timeouts(p)
        p["workload"]["workload_hash"] = Workload.model_validate(p["workload"]["definition"]).content_hash()

    _prov(ctx, edit, summary=True)  # the summary rows carry the workload hash


def gpu_in_fingerprint(ctx: Ctx) -> None:
    gpu = {"index": 0, "name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-00000000-0000-0000-0000-000000000000"}
    _prov(ctx, lambda p: p["hardware"].update(gpus=[gpu]), summary=True)  # the fingerprint is a summary column


def _search_provenance(ctx: Ctx, fn: Callable[[dict[str, Any]], Any]) -> None:
    """Edit the search cell's provenance, then recompute its summary (the probe rates are its load values)."""
    cell = search_cell(ctx.bundle)
    edit_json(cell / "provenance.json", fn)
    recompute_summary(cell)
    rehash(ctx.bundle)


def moved_probe(ctx: Ctx) -> None:
    """A submitter who kept the probe that looked best: probe 1 ran 10% faster than the rule says."""
    _search_provenance(ctx, lambda p: p["search_probes"][1].update(rate=p["search_probes"][1]["rate"] * 1.1))


def dropped_probe(ctx: Ctx) -> None:
    """The last probe left out (its records too): the search now stops before its rule does."""
    cell = search_cell(ctx.bundle)
    last = len(read_json(cell / "provenance.json")["search_probes"]) - 1

    dropped = sum(1 for r in pq.read_table(cell / "requests.parquet").to_pylist() if r["load_point"] == last)

    def drop(p: dict[str, Any]) -> None:
        p["search_probes"].pop()
        p["load_point_schedule_hashes"].pop()
        for hashes in p.get("trial_schedule_hashes", [])[:1]:  # trial 0's hashes, as the probes'
            hashes.pop()
        p["requests_recorded"] -= dropped

    edit_json(cell / "provenance.json", drop)
    edit_parquet(cell / "requests.parquet", lambda rows: [r for r in rows if r["load_point"] != last])
    recompute_summary(cell)
    rehash(ctx.bundle)


def forged_confirmation(ctx: Ctx) -> None:
    """The last probe relabelled as the search's confirmation (whose rate the search does not judge), where the
    workload asks for none: a failing probe would no longer lower the answer."""
    _search_provenance(ctx, lambda p: p["search_probes"][-1].update(confirmation=True))


def inflated_windows(ctx: Ctx) -> None:
    def double(rows: Rows) -> None:
        for r in rows:
            r["output_tokens_per_s"] *= 2

    edit_parquet(ctx.cell / "windows.parquet", double)
    rehash(ctx.bundle)


def inflated_summary(ctx: Ctx) -> None:
    def double(rows: Rows) -> None:
        for r in rows:
            r["output_tokens_per_s"] *= 2

    _summary(ctx, double)


def ttft_over_e2e(ctx: Ctx) -> None:
    # a warm-up request: never summarised, so the summary recomputes the same (the windows, over time, count it)
    _requests(ctx, lambda rows: _first_warmup(rows).update(ttft_ms=_first_warmup(rows)["e2e_ms"] + 1.0),
              summary=False)
    recompute_windows(ctx.cell)
    rehash(ctx.bundle)


def reused_request_id(ctx: Ctx) -> None:
    def reuse(rows: Rows) -> None:
        warm = [r for r in rows if r["warmup"] and r["trial"] == 0 and r["load_point"] == 0]
        warm[1]["request_id"] = warm[0]["request_id"]

    _requests(ctx, reuse, summary=False)


def p99_from_16(ctx: Ctx) -> None:
    _summary(ctx, lambda rows: rows[0].update(ttft_ms_p99=1.0))


def copy_new_id(ctx: Ctx) -> Path:
    new = copy_bundle(ctx.bundle, ctx.bundle.parent.parent / "incoming", OTHER_ID)
    edit_json(new / MANIFEST, lambda m: m.update(id=OTHER_ID))
    return new


def same_id(ctx: Ctx) -> Path:
    return copy_bundle(ctx.bundle, ctx.bundle.parent.parent / "incoming")


def wrong_verdict(ctx: Ctx) -> None:
    write_record(ctx.bundle, record_doc(ctx.bundle, verdict="disagrees"))


def other_manifest(ctx: Ctx) -> None:
    write_record(ctx.bundle, record_doc(ctx.bundle, manifest_sha256="0" * 64))


def errors(ctx: Ctx) -> None:
    def fail(r: dict[str, Any]) -> None:
        r.update(status="http_error", http_status=500, error="HTTP 500")

    _requests(ctx, lambda rows: _each_point(rows, 1, fail, per_trial=4))  # 4 of 64 per trial: 6% > 1%


def send_lag(ctx: Ctx) -> None:
    _requests(ctx, lambda rows: _each_point(rows, 2, lambda r: r.update(send_lag_ms=50.0)))


def over_roofline(ctx: Ctx) -> None:
    def slow_gpu(p: dict[str, Any]) -> None:  # the snapshot the summary is computed from: a GPU of 1 MB/s
        p["catalogue"]["sku"].update(kind="gpu", memory_bandwidth_tbps=1e-6)

    _prov(ctx, slow_gpu, summary=True)


def over_power(ctx: Ctx) -> None:
    window = {"load_point": 0, "power_mean_w": 400.0, "power_max_w": 420.0, "power_limit_w": 300.0,
              "power_over_limit": True}
    _prov(ctx, lambda p: p.update(gpu_windows=[{**window, "trial": t} for t in range(3)]), summary=True)


CASES: list[Case] = [
    # files stage: every content check is reported not run
    Case("layout.entries", "symlink", symlink_log, "symbolic link"),
    Case("layout.entries", "dot-file", dot_file, "dot-file",
         also=frozenset({"layout.allowed_files"})),  # .DS_Store is also not an allowed file
    Case("layout.entries", "folder-name", bad_folder_name, "is not a bundle id"),
    Case("layout.allowed_files", "notes.txt", notes_txt, "'notes.txt' is not a file a bundle may hold"),
    Case("layout.allowed_files", "no-requests", no_requests, "no requests.parquet"),
    Case("caps.sizes", "sparse-51mb", sparse_51mb, "server-trial1.log' is 53.5 MB > 52 MB"),
    Case("caps.sizes", "bundle-total", small_total_cap, "the bundle holds"),
    Case("files.magic", "json-as-parquet", parquet_is_json, "metrics.parquet' is not a Parquet file"),
    Case("files.magic", "nul-in-log", nul_in_log, "holds NUL bytes"),
    # content stage
    Case("manifest.schema", "wrong-id", wrong_id, f"id '{OTHER_ID}' is not the bundle folder's name"),
    Case("manifest.schema", "unknown-field", unknown_manifest_field, "homepage: unknown field",
         also=READS_MANIFEST),  # they read the manifest through its schema: "cannot check"
    Case("manifest.hashes", "byte-changed", byte_changed, "server-trial0.log' does not match its SHA-256"),
    Case("manifest.complete", "unlisted-log", unlisted_log, "server-trial7.log' is not in the manifest"),
    Case("strings.limits", "70k-chars", long_string, "reason: a string of 70000 characters > 65536"),
    Case("strings.limits", "control-char", control_char, "reason: control characters"),
    Case("json.caps", "deep-provenance", deep_provenance, "nested deeper than 32 levels",
         # every reader of provenance.json gets the same Unreadable ("cannot check")
         also=READS_PROVENANCE | {"documents.schema", "strings.limits", "paths.no_host"}),
    Case("json.caps", "deep-record", deep_record, "nested deeper than 32 levels",
         also=frozenset({"strings.limits", "reproductions.records", "paths.no_host"})),  # all parse every record
    Case("parquet.caps", "rows", many_rows, "50000 rows > 40000",
         # paths.no_host reads every footer's metadata; the summary and windows are recomputed from metrics.parquet
         also=frozenset({"paths.no_host", "summary.recomputed", "windows.recomputed"})),
    Case("parquet.caps", "inflates", inflating, "once decompressed > 4194304",
         also=frozenset({"paths.no_host", "summary.recomputed", "windows.recomputed"})),
    Case("parquet.schema", "extra-column", extra_column, "unknown ['extra']",
         # a table whose columns are wrong is never read (metrics here)
         also=frozenset({"summary.recomputed", "windows.recomputed"})),
    Case("parquet.schema", "schema-version", unknown_schema_version, "schema version '2' is not a known one"),
    Case("parquet.rows", "status-pwned", pwned_status, "got 'pwned'",
         # every reader of the request rows validates them: "cannot check"
         also=frozenset({"requests.sanity", "summary.recomputed", "windows.recomputed",
                         "validity.client_saturation"})),
    Case("documents.schema", "unknown-field", unknown_provenance_field, "favourite_colour: unknown field",
         also=READS_PROVENANCE),  # they read the provenance through its schema: "cannot check"
    Case("documents.schema", "schema-version", provenance_version, "provenance schema_version 99 is not 1"),
    Case("cell.identity", "cell-json", other_cell_id, "cell.json cell_id is 'cpu-host/llamacpp/tiny-llama-2l/chat"),
    Case("cell.finished", "incomplete", incomplete, "did not complete"),
    Case("cell.finished", "failed", failed_status, "the cell failed: server crashed"),
    Case("paths.no_host", "home-in-log", home_in_log, "holds the host path '/home/alice'"),
    Case("paths.no_host", "home-in-metadata", home_in_parquet_metadata, "holds the host path '/home/alice'"),
    Case("suite.clean", "dirty", dirty, "uncommitted changes"),
    Case("suite.clean", "unknown-commit", unknown_commit, "is not in this repository's history"),
    Case("pins.present", "no-revision", no_revision, "model revision '' is not a content hash or commit"),
    Case("pins.present", "no-runtime-pin", no_runtime_pin, "no runtime pin"),
    Case("accuracy.gate", "lowered", lowered_gate, "recorded for tiny-llama-2l is not the catalogue's"),
    Case("workload.standard", "definition-edited", workload_edited, "does not hash to the recorded workload_hash"),
    Case("workload.standard", "rehashed", workload_rehashed, "'cpu-fixed' differs from the standard one"),
    Case("hardware.sku_verified", "gpu-on-cpu-host", gpu_in_fingerprint,
         "says cpu-host verified but its fingerprint matches ['h100-sxm']"),
    Case("summary.recomputed", "throughput-x2", inflated_summary, "output_tokens_per_s (trial trial 0 point 0)"),
    Case("windows.recomputed", "throughput-x2", inflated_windows, "output_tokens_per_s (trial 0 point 0 window 0)"),
    Case("search.probes", "probe-moved", moved_probe, "the search picks"),
    Case("search.probes", "probe-dropped", dropped_probe, "its rule asks for another"),
    Case("search.probes", "confirmation-forged", forged_confirmation, "marked as the search's confirmation"),
    Case("requests.sanity", "ttft-over-e2e", ttft_over_e2e, "ttft > e2e"),
    Case("requests.sanity", "id-reused", reused_request_id, "request ids used twice"),
    Case("percentiles.samples", "p99-from-16", p99_from_16, "ttft_ms_p99 published from 16 samples < 662",
         also=frozenset({"summary.recomputed"})),  # the suite never publishes that p99: the summary differs
    Case("duplicate.accepted", "new-id", copy_new_id, "is the same measurement as 20"),
    Case("duplicate.accepted", "same-id", same_id, "is taken by an accepted bundle"),
    Case("reproductions.records", "wrong-verdict", wrong_verdict, "verdict 'disagrees' is not what its comparisons"),
    Case("reproductions.records", "other-manifest", other_manifest, "made against another manifest"),
    Case("validity.error_rate", "http-errors", errors, "error rate 6.2% > 1%", points=(1,)),
    Case("validity.client_saturation", "send-lag", send_lag, "p99 send lag 50.0 ms > 10 ms", points=(2,)),
    Case("validity.roofline", "slow-gpu-snapshot", over_roofline, "of the roofline limit", points=(0, 1, 2)),
    Case("validity.power", "over-limit", over_power, "mean power 400 W above the enforced limit 300 W",
         points=(0,)),
]


# ------------------------------------------------------------------ the tests
def test_committed_bundle_is_accepted(committed: Path) -> None:
    """The real bundle passes every check, in text and in JSON."""
    code, out = run_validate(committed, "--against", str(committed.parent))
    assert code == 0, out
    assert out.strip() == f"{committed.name}: accepted ({len(CHECK_IDS)}/{len(CHECK_IDS)} checks passed)"
    code, out = run_validate(committed, "--json")
    doc = json.loads(out)
    assert code == 0
    assert doc["accepted"] is True
    assert [c["id"] for c in doc["checks"]] == CHECK_IDS
    assert all(c["ok"] and c["reason"] is None for c in doc["checks"])


def test_copy_is_accepted(bundle: Path) -> None:
    """A copy, and a copy re-encoded by the test helpers (same rows, same schema, hashed again), both pass: the
    cases below change only what they mean to."""
    assert not failed(report(bundle))
    cell = first_cell(bundle)
    for name in ("requests", "summary", "metrics"):
        edit_parquet(cell / f"{name}.parquet", lambda rows: None)
    recompute_summary(cell)
    rehash(bundle)
    assert not failed(report(bundle, against=bundle.parent))


def test_valid_record_is_accepted(bundle: Path) -> None:
    """A reproduction record built with the record models passes (the reproductions.records cases break it)."""
    write_record(bundle, record_doc(bundle))
    assert not failed(report(bundle))


def test_every_check_has_a_failing_bundle() -> None:
    """A new check without a case here fails the suite."""
    assert {c.check for c in CASES} == {c.id for c in all_checks()}
    assert len({c.id for c in CASES}) == len(CASES)


def _older_workloads(bundle: Path) -> bool:
    """Whether a cell of ``bundle`` ran a workload version other than today's standard one."""
    return any(json.loads((d / "provenance.json").read_text())["workload"]["workload_hash"]
               != standard_hash(d.name) for d in cell_dirs(bundle))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_check_fails_on_its_own(case: Case, bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The broken bundle fails exactly ``case.check`` (plus its written-down co-failures), with a specific
    reason; an ``error`` check rejects it, an ``invalid`` one keeps it and marks the cell's load points."""
    against = bundle.parent
    target = case.mutate(Ctx(bundle, monkeypatch)) or bundle
    t0 = time.monotonic()
    rep = validate(target, against=against)
    assert time.monotonic() - t0 < 10
    results = {r.id: r for r in rep.results}
    res = results[case.check]

    assert not res.ok
    assert case.reason in (res.reason or ""), res.reason
    expected = {case.check} | case.also
    if case.name == "unknown-commit" and _older_workloads(bundle):
        # the standard definitions at an unknown commit cannot be read: cells of an older workload version fail too
        expected.add("workload.standard")
    if case.check in FILES_STAGE:
        expected |= CONTENT_STAGE
        assert all(results[i].skipped for i in CONTENT_STAGE)
    assert failed(results) == expected, {i: results[i].reason for i in failed(results) ^ expected}

    code, out = run_validate(target, "--against", str(against))
    lines = out.splitlines()
    assert all(line.split(": ", 1)[0] in expected for line in lines[:-1]), lines
    if SEVERITY[case.check] == "error":
        assert not rep.accepted
        assert code == 1
        assert any(line.startswith(f"{case.check}: ") for line in lines)
        assert lines[-1].startswith(f"{target.name}: rejected (")
    else:
        assert rep.accepted and code == 0, lines
        assert any(line.startswith(f"{case.check}: ") for line in lines)
        invalid = rep.invalid_points()
        cell = first_cell(target).relative_to(target / "cells").as_posix()
        assert {p for (c, p) in invalid if c == cell} == set(case.points), invalid
        assert all(case.reason in " ".join(invalid[(cell, p)]) for p in case.points)


# ------------------------------------------------------------------ bugs found by these tests, fixed
def test_identity_checks_every_summary_row(bundle: Path) -> None:
    edit_parquet(first_cell(bundle) / "summary.parquet",
                 lambda rows: rows[0].update(cell_id="h100-sxm/vllm/llama-3.1-8b/chat-short"))
    rehash(bundle)
    assert "summary row 0 cell_id is 'h100-sxm/" in (report(bundle)["cell.identity"].reason or "")


def test_manifest_saying_dirty_is_refused(bundle: Path) -> None:
    edit_json(bundle / MANIFEST, lambda m: m["suite"].update(git_dirty=True))
    assert not report(bundle)["suite.clean"].ok
