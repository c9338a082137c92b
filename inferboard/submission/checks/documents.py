"""Checks on the cell documents (provenance.json, cell.json): schema, identity, a finished run, no host paths."""

from __future__ import annotations

from collections.abc import Iterator

from inferboard.results.schema import SCHEMA_VERSION
from inferboard.submission.bundle import Bundle, Unreadable
from inferboard.submission.checks.common import json_strings, provenance, rows, status
from inferboard.submission.manifest import HOST_PATH
from inferboard.submission.registry import Finding, check


@check("json.caps")
def json_caps(b: Bundle) -> Iterator[Finding]:
    """Every JSON file parses as JSON (no comments, no custom types) within 2 MB and 32 levels of nesting."""
    for e in b.files:
        if e.rel.endswith(".json"):
            try:
                b.json(e.rel)
            except Unreadable as err:
                yield Finding(str(err))


@check("documents.schema")
def documents_schema(b: Bundle) -> Iterator[Finding]:
    """Each cell's provenance.json matches the provenance schema (no unknown field) with a known schema version
    and the catalogue snapshot the cell used, and its cell.json matches the cell status schema."""
    for cd in b.cell_dirs:
        cell = b.cell_id(cd)
        try:
            prov = provenance(b, cd)
            if prov["schema_version"] != SCHEMA_VERSION:
                yield Finding(f"provenance schema_version {prov['schema_version']} is not {SCHEMA_VERSION}", cell)
            if not prov.get("catalogue"):
                yield Finding("provenance has no catalogue snapshot (measured by a suite too old to submit)", cell)
            status(b, cd)
        except Unreadable as err:
            yield Finding(str(err), cell)


@check("cell.identity")
def cell_identity(b: Bundle) -> Iterator[Finding]:
    """The cell's folder, its provenance, its cell.json and every summary row name the same cell: SKU, runtime,
    model and workload."""
    for cd in b.cell_dirs:
        cell = b.cell_id(cd)
        sku, runtime, model, workload = cell.split("/")
        prov, st = provenance(b, cd), status(b, cd)
        said = {"provenance cell_id": prov["cell_id"], "cell.json cell_id": st["cell_id"],
                "provenance name": "/".join((prov["sku"], prov["runtime"]["name"], prov["model"]["name"],
                                              prov["workload"]["name"])),
                "cell.json name": "/".join((st["sku"], st["runtime"], st["model"], st["workload"]))}
        for i, r in enumerate(rows(b, cd, "summary")):
            said[f"summary row {i}"] = "/".join((r["sku"], r["runtime"], r["model"], r["workload"]))
            said[f"summary row {i} cell_id"] = r["cell_id"]
        for what, value in said.items():
            if value != cell:
                yield Finding(f"{what} is {value!r}, not the folder's {sku}/{runtime}/{model}/{workload}", cell)
                break


@check("cell.finished")
def cell_finished(b: Bundle) -> Iterator[Finding]:
    """The cell ran to its end: cell.json says ok or invalid (not failed), the provenance says complete with
    an end time, and the requests recorded are the rows of requests.parquet."""
    for cd in b.cell_dirs:
        cell = b.cell_id(cd)
        prov, st = provenance(b, cd), status(b, cd)
        if st["status"] == "failed":
            yield Finding(f"the cell failed: {st['reason']}", cell)
        if not prov["complete"] or prov["end_utc"] is None:
            yield Finding("the run did not complete (interrupted or cut short)", cell)
        n = b.parquet_meta(f"{cd}/requests.parquet").num_rows
        if prov.get("requests_recorded") != n:
            yield Finding(f"provenance recorded {prov.get('requests_recorded')} requests, requests.parquet "
                          f"holds {n}", cell)


@check("paths.no_host")
def no_host_paths(b: Bundle) -> Iterator[Finding]:
    """No home folder or user path (``/home/<user>``, ``/root``, ``/Users/<user>``, ``C:\\Users``) in the JSON
    documents, the server logs, the Parquet metadata or the summary's text: `inferboard submit` makes paths
    relative or drops them."""
    for e in b.files:
        if e.rel.endswith(".parquet"):
            meta = b.parquet_meta(e.rel).metadata or {}
            texts = [v.decode(errors="replace") for v in meta.values()]
            if e.rel.endswith("summary.parquet"):
                texts += [str(r.get("server_log_tail") or "") for r in b.rows(e.rel)]
        elif e.rel.endswith(".json"):  # the strings as parsed: a JSON escape (C:\\Users) hides nothing
            texts = [s for _, s in json_strings(b.json(e.rel), e.rel)]
        else:
            texts = [b.read_bytes(e.rel).decode("utf-8", errors="replace")]
        for text in texts:
            m = HOST_PATH.search(text)
            if m:
                yield Finding(f"{e.rel!r} holds the host path {m.group(1)!r}")
                break
