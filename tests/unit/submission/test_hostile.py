"""A hostile corpus: bundles made to hurt the checker (bombs, links, special files, traversal, markup, pickles).

Each case must end with the expected check failing (rejected, or accepted where that is the right outcome), in a
few seconds, without the checker writing into the bundle (listing, sizes, times and hashes compared) or opening
anything outside it (every ``os.open`` the checker makes is watched).
"""

from __future__ import annotations

import json
import os
import pathlib
import pickle
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from inferboard.submission.manifest import MANIFEST
from inferboard.submission.validate import Report, validate
from tests.unit.submission.bundles import (
    CHECK_IDS,
    OTHER_ID,
    SEVERITY,
    SUBMISSIONS,
    copy_bundle,
    edit_json,
    failed,
    first_cell,
    record_doc,
    rehash,
    report,
    run_cli,
    run_validate,
    snapshot,
    write_record,
)

SCRIPT = "<script>alert(1)</script>"
PASSWD = Path("/etc/passwd")
#: a line of /etc/passwd that must never show up in a reason
PASSWD_LINE = "root:x:0:0"


@dataclass(frozen=True)
class Hostile:
    """A hostile bundle: ``make`` breaks the copy (and may return another folder to check, or validate kwargs
    via ``against``); ``fails``: checks that must fail; ``accepted``: the right outcome."""

    name: str
    make: Callable[[Path, Path], Path | None]  # (bundle copy, scratch folder outside it) → folder to check
    fails: frozenset[str]
    accepted: bool = False
    against_real: bool = False  # check against data/submissions (the committed bundles)


# ------------------------------------------------------------------ the corpus
def _cell(b: Path) -> Path:
    return first_cell(b)


def rows_bomb(b: Path, _: Path) -> None:
    """2.1 million rows of zeros: 10 KB on disk, over the row cap once the footer is read."""
    table = pa.table({"trial": pa.array(np.zeros(2_100_000, dtype=np.int64))})
    pq.write_table(table, _cell(b) / "metrics.parquet", compression="zstd")
    assert (_cell(b) / "metrics.parquet").stat().st_size < 100_000
    rehash(b)


def row_groups_bomb(b: Path, _: Path) -> None:
    pq.write_table(pa.table({"trial": pa.array(np.zeros(300, dtype=np.int64))}), _cell(b) / "metrics.parquet",
                   row_group_size=1)
    rehash(b)


def footer_length_lie(b: Path, _: Path) -> None:
    path = _cell(b) / "metrics.parquet"
    data = path.read_bytes()
    path.write_bytes(data[:-8] + (10**9).to_bytes(4, "little") + b"PAR1")
    rehash(b)


def garbage_footer(b: Path, _: Path) -> None:
    (_cell(b) / "metrics.parquet").write_bytes(b"PAR1" + b"\xff" * 200 + (100).to_bytes(4, "little") + b"PAR1")
    rehash(b)


def _deep_text(levels: int, open_: str = '{"d":', close: str = "}") -> str:
    return open_ * levels + "1" + close * levels


def deep_provenance(b: Path, _: Path) -> None:
    (_cell(b) / "provenance.json").write_text(_deep_text(10_000))
    rehash(b)


def deep_manifest(b: Path, _: Path) -> None:
    (b / MANIFEST).write_text('{"x":' + _deep_text(10_000, "[", "]") + "}")


def deep_under_orjson_limit(b: Path, _: Path) -> None:
    (_cell(b) / "cell.json").write_text(_deep_text(1000))
    rehash(b)


def huge_manifest(b: Path, _: Path) -> None:
    data = (b / MANIFEST).read_bytes()
    (b / MANIFEST).write_bytes(data[:-2] + b" " * (3 << 20) + data[-2:])


def markup_in(field: str) -> Callable[[Path, Path], None]:
    def make(b: Path, _: Path) -> None:
        def edit(m: dict[str, Any]) -> None:
            if field == "cells":
                m["cells"][0] = SCRIPT
            elif field == "files.path":
                m["files"][0]["path"] = SCRIPT
            elif field == "suite.version":
                m["suite"]["version"] = SCRIPT
            else:
                m[field] = SCRIPT

        edit_json(b / MANIFEST, edit)

    return make


def markup_folder(b: Path, _: Path) -> None:
    os.rename(_cell(b).parent, _cell(b).parent.parent / "<img src=x onerror=alert(1)>")


def link_to_passwd(b: Path, _: Path) -> None:
    log = _cell(b) / "server-trial0.log"
    log.unlink()
    os.symlink(PASSWD, log)  # listed in the manifest, named like an allowed file


def trace_at_passwd(b: Path, _: Path) -> None:
    """A trace workload whose definition names a file of the checker's host: nothing reads it (the planned count
    comes from provenance), and the edited definition no longer hashes to its workload hash."""
    cell = next(p.parent for p in b.glob("cells/*/*/*/*/provenance.json") if p.parent.name == "cpu-trace-replay")

    def point(p: dict[str, Any]) -> None:
        p["workload"]["definition"]["dataset"]["file"] = str(PASSWD)
        p.pop("requests_planned", None)

    edit_json(cell / "provenance.json", point)
    rehash(b)


def manifest_link(b: Path, _: Path) -> None:
    (b / MANIFEST).unlink()
    os.symlink(PASSWD, b / MANIFEST)


def folder_link(b: Path, scratch: Path) -> None:
    os.symlink("/etc", _cell(b).parent / "etc")


def sparse_70mb(b: Path, _: Path) -> None:
    with open(_cell(b) / "server-trial2.log", "wb") as f:
        f.truncate(70 * 2**20)


def traversal(path: str) -> Callable[[Path, Path], None]:
    def make(b: Path, _: Path) -> None:
        edit_json(b / MANIFEST, lambda m: m["files"].append({"path": path, "sha256": "0" * 64, "bytes": 1}))

    return make


def cells_traversal(b: Path, _: Path) -> None:
    edit_json(b / MANIFEST, lambda m: m["cells"].append("../../../etc/passwd"))


def inflated(b: Path, _: Path) -> None:
    path = _cell(b) / "summary.parquet"
    schema = pq.read_schema(path)
    rows = pq.read_table(path).to_pylist()
    for r in rows:
        for k in ("output_tokens_per_s", "total_tokens_per_s", "requests_per_s", "goodput_requests_per_s"):
            r[k] *= 2
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    rehash(b)


def duplicate(b: Path, scratch: Path) -> Path:
    new = copy_bundle(b, scratch / "incoming", OTHER_ID)
    edit_json(new / MANIFEST, lambda m: m.update(id=OTHER_ID))
    return new


def fifo(b: Path, _: Path) -> None:
    os.mkfifo(_cell(b) / "server-trial1.log")


def fifo_as_manifest(b: Path, _: Path) -> None:
    (b / MANIFEST).unlink()
    os.mkfifo(b / MANIFEST)


def char_device(b: Path, _: Path) -> None:
    try:
        os.mknod(_cell(b) / "server-trial1.log", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError) as err:
        pytest.skip(f"cannot make a device node here: {err}")


def many_entries(b: Path, _: Path) -> None:
    for i in range(2001):
        (b / "reproductions" / f"d{i}").mkdir(parents=True)


def deep_folders(b: Path, _: Path) -> None:
    (b / "reproductions" / "/".join("abcdefghij")).mkdir(parents=True)


def bad_record(b: Path, _: Path) -> None:
    path = write_record(b, record_doc(b, verdict="agrees"))
    edit_json(path, lambda r: r["rerun"].update(host="<script>", suite_git_dirty="yes"))


CORPUS: list[Hostile] = [
    Hostile("parquet-rows-bomb", rows_bomb, frozenset({"parquet.caps"})),
    Hostile("parquet-row-groups", row_groups_bomb, frozenset({"parquet.caps"})),
    Hostile("parquet-footer-length", footer_length_lie, frozenset({"parquet.caps"})),
    Hostile("parquet-garbage-footer", garbage_footer, frozenset({"parquet.caps"})),
    Hostile("json-10000-deep", deep_provenance, frozenset({"json.caps", "documents.schema"})),
    Hostile("manifest-10000-deep", deep_manifest, frozenset({"json.caps", "manifest.schema"})),
    Hostile("json-1000-deep", deep_under_orjson_limit, frozenset({"json.caps", "documents.schema"})),
    Hostile("manifest-3mb", huge_manifest, frozenset({"json.caps", "manifest.schema"})),
    *(Hostile(f"markup-{f}", markup_in(f), frozenset({"manifest.schema"}))
      for f in ("submitter", "org", "created_utc", "suite.version", "cells", "files.path")),
    # notes are free text by design (printable, shown escaped by the site): markup there is accepted
    Hostile("markup-notes", markup_in("notes"), frozenset(), accepted=True),
    Hostile("markup-folder", markup_folder, frozenset({"layout.entries", "layout.allowed_files"})),
    Hostile("trace-at-passwd", trace_at_passwd, frozenset({"workload.standard"})),
    Hostile("link-to-passwd", link_to_passwd, frozenset({"layout.entries"})),
    Hostile("manifest-link", manifest_link, frozenset({"layout.entries", "layout.allowed_files"})),
    Hostile("folder-link", folder_link, frozenset({"layout.entries"})),
    Hostile("sparse-70mb", sparse_70mb, frozenset({"caps.sizes"})),
    Hostile("traversal-dotdot", traversal("../../etc/passwd"), frozenset({"manifest.schema"})),
    Hostile("traversal-absolute", traversal("/etc/passwd"), frozenset({"manifest.schema"})),
    Hostile("traversal-inside-pattern", traversal("cells/../../../../../../etc/passwd"),
            frozenset({"manifest.hashes"})),
    Hostile("traversal-cells", cells_traversal, frozenset({"manifest.schema", "strings.limits"})),
    Hostile("summary-inflated-rehashed", inflated, frozenset({"summary.recomputed"})),
    Hostile("duplicate-new-id", duplicate, frozenset({"duplicate.accepted"}), against_real=True),
    Hostile("fifo", fifo, frozenset({"layout.entries"})),
    Hostile("fifo-manifest", fifo_as_manifest, frozenset({"layout.entries", "layout.allowed_files"})),
    Hostile("char-device", char_device, frozenset({"layout.entries"})),
    Hostile("2001-entries", many_entries, frozenset({"layout.entries"})),
    Hostile("deep-folders", deep_folders, frozenset({"layout.entries"})),
    Hostile("record-markup", bad_record, frozenset({"reproductions.records"})),
]


# ------------------------------------------------------------------ watching the checker
def watched_validate(target: Path, roots: list[Path], monkeypatch: pytest.MonkeyPatch,
                     *args: str) -> tuple[Report, int, str, list[str], float]:
    """validate() and the CLI on ``target`` while every ``os.open`` is recorded; returns the report, the exit
    code, stdout, the real paths opened (each must lie under one of ``roots``) and validate()'s seconds."""
    opened: list[str] = []
    real_open = os.open

    def spy(path: Any, flags: int, *a: Any, **kw: Any) -> int:
        fd = real_open(path, flags, *a, **kw)
        opened.append(os.path.realpath(path))
        return fd

    with monkeypatch.context() as mp:
        mp.setattr(os, "open", spy)
        t0 = time.monotonic()
        rep = validate(target, against=roots[-1] if len(roots) > 1 else None)
        seconds = time.monotonic() - t0
        code, out = run_validate(target, *args)
    allowed = [str(r.resolve()) for r in roots]
    outside = [p for p in opened if not any(p == r or p.startswith(r + os.sep) for r in allowed)]
    assert not outside, f"opened outside the bundle: {outside[:5]}"
    return rep, code, out, opened, seconds


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", CORPUS, ids=lambda c: c.name)
def test_hostile(case: Hostile, bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundle ends as expected, quickly, unchanged, with nothing outside it opened or quoted."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    target = case.make(bundle, scratch) or bundle
    before = snapshot(target)
    roots = [target]
    args: tuple[str, ...] = ()
    if case.against_real:
        roots.append(SUBMISSIONS)
        args = ("--against", str(SUBMISSIONS))

    rep, code, out, opened, seconds = watched_validate(target, roots, monkeypatch, *args)
    assert seconds < 5, "too slow"

    assert snapshot(target) == before, "the checker changed the bundle"
    assert opened, "the os.open spy saw nothing: it no longer watches the checker's reads"
    assert str(PASSWD) not in opened
    results = {r.id: r for r in rep.results}
    assert case.fails <= failed(results), {i: r.reason for i, r in results.items() if not r.ok}
    reasons = [r.reason or "" for r in rep.results]
    assert not any(PASSWD_LINE in r for r in reasons)
    assert all("\n" not in r and len(r) < 4000 for r in reasons), "a reason is not one short line"
    assert "Traceback" not in out
    assert rep.accepted is case.accepted
    assert code == (0 if case.accepted else 1), out
    lines = out.splitlines()
    assert len(lines) == len(failed(results)) + 1
    for check_id in case.fails:
        assert any(line.startswith(f"{check_id}: ") for line in lines), lines
    if case.accepted:
        assert all(SEVERITY[i] == "invalid" for i in failed(results))


def test_bundle_that_is_a_link(bundle: Path, tmp_path: Path) -> None:
    """A bundle folder that is itself a symbolic link is a usage error (exit 2, one line, no traceback)."""
    link = tmp_path / "links" / bundle.name
    link.parent.mkdir()
    os.symlink(bundle, link)
    code, out, err = run_cli("validate", str(link))
    assert code == 2
    assert out == ""
    assert err.strip().startswith("error:") and "is not a bundle folder" in err
    assert len(err.strip().splitlines()) == 1


def test_missing_bundle_is_a_usage_error(tmp_path: Path) -> None:
    code, out, err = run_cli("validate", str(tmp_path / "nothing-here"))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("where", ["schema", "extension-type"])
def test_pickle_payload_is_never_unpickled(where: str, bundle: Path, tmp_path: Path) -> None:
    """A pickle that would create a file when unpickled, in the Parquet metadata or as the payload of a Python
    extension type (CVE-2023-47248's vector): it stays bytes, nothing runs, and as it breaks no rule the bundle is
    accepted."""
    marker = tmp_path / "PWNED"
    payload = pickle.dumps(_Boom(marker))
    path = first_cell(bundle) / "metrics.parquet"
    schema = pq.read_schema(path)
    if where == "schema":
        schema = schema.with_metadata({b"payload": payload, b"pandas": payload})
    else:
        ext = {b"ARROW:extension:name": b"arrow.py_extension_type", b"ARROW:extension:metadata": payload}
        schema = pa.schema([f.with_metadata(ext) if f.name == "value" else f for f in schema])
    pq.write_table(pa.Table.from_pylist(pq.read_table(path).to_pylist(), schema=schema), path)
    rehash(bundle)
    assert not marker.exists()
    code, out = run_validate(bundle)
    assert not marker.exists(), "the payload was unpickled"
    assert code == 0, out


class _Boom:
    """Unpickling it touches ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (pathlib.Path.touch, (self.marker,))


# ------------------------------------------------------------------ output
def test_json_output_shape(bundle: Path) -> None:
    """--json: {"accepted", "checks": [{"id", "ok", "severity", "reason"}]} with one entry per registered check,
    in registry order; a failed check has a reason, a passed one none."""
    (bundle / "notes.txt").write_text("hi\n")
    code, out = run_validate(bundle, "--json")
    doc = json.loads(out)
    assert code == 1
    assert set(doc) == {"accepted", "checks"}
    assert doc["accepted"] is False
    assert [c["id"] for c in doc["checks"]] == CHECK_IDS
    for c in doc["checks"]:
        assert set(c) == {"id", "ok", "severity", "reason"}
        assert isinstance(c["ok"], bool) and c["severity"] in ("error", "invalid")
        assert c["severity"] == SEVERITY[c["id"]]
        assert (c["reason"] is None) == c["ok"]
    by_id = {c["id"]: c for c in doc["checks"]}
    assert "notes.txt" in by_id["layout.allowed_files"]["reason"]
    assert by_id["summary.recomputed"]["reason"] == "not run: a file check failed"


def test_text_output_lines(bundle: Path) -> None:
    """Text: one ``CHECK_ID: reason`` line per failed check, each a registered id, then the summary line."""
    cell = first_cell(bundle)
    (cell / "server-trial0.log").write_bytes((cell / "server-trial0.log").read_bytes() + b"/home/alice\n")
    edit_json(cell / "cell.json", lambda d: d.update(reason="\x07"))
    code, out = run_validate(bundle)
    lines = out.splitlines()
    assert code == 1
    assert [line.split(": ", 1)[0] for line in lines[:-1]] == ["paths.no_host", "manifest.hashes", "strings.limits"]
    assert all(line.split(": ", 1)[0] in CHECK_IDS for line in lines[:-1])
    assert lines[-1] == f"{bundle.name}: rejected ({len(CHECK_IDS) - 3}/{len(CHECK_IDS)} checks passed)"


# ------------------------------------------------------------------ bugs found by these tests, fixed
def test_name_with_trailing_newline_is_refused(bundle: Path) -> None:
    path = write_record(bundle, record_doc(bundle))  # a valid record: today the bundle is accepted with it
    os.rename(path, f"{path}\n")
    assert not report(bundle)["layout.entries"].ok


def test_windows_home_in_json_is_found(bundle: Path) -> None:
    edit_json(first_cell(bundle) / "provenance.json",
              lambda p: p["runtime"]["env"].update(note="built in C:\\Users\\alice\\src"))
    rehash(bundle)
    assert not report(bundle)["paths.no_host"].ok


def test_home_in_file_url_is_found(bundle: Path) -> None:
    log = first_cell(bundle) / "server-trial0.log"
    log.write_bytes(log.read_bytes() + b"loading file:///home/alice/models/tiny.gguf\n")
    rehash(bundle)
    assert not report(bundle)["paths.no_host"].ok


def test_reencoded_duplicate_is_found(bundle: Path, tmp_path: Path) -> None:
    new = duplicate(bundle, tmp_path)
    path = first_cell(new) / "requests.parquet"
    pq.write_table(pq.read_table(path), path, compression="gzip")
    rehash(new)
    assert not report(new, against=bundle.parent)["duplicate.accepted"].ok
