"""What a review of the checker found, each now refused: decoded-size bombs, a crashing check, forged
reproduction records, duplicates in disguise, control characters in reasons, a suite commit that is not an
ancestor of the checkout, and a publish build that must fail on a rejected bundle."""

from __future__ import annotations

import dataclasses
import subprocess
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from inferboard.submission.checks import origin
from inferboard.submission.intake import Intake, markdown
from inferboard.submission.manifest import MANIFEST
from inferboard.submission.registry import CHECKS
from tests.unit.submission.bundles import (
    OTHER_ID,
    copy_bundle,
    edit_json,
    first_cell,
    record_doc,
    rehash,
    report,
    run_cli,
    run_validate,
    write_record,
)


def test_dictionary_bomb_stops_at_the_decoded_cap(bundle: Path) -> None:
    """5,000 requests whose error text is one 100 kB string, dictionary-encoded: a file of a few hundred kB that
    decodes to 500 MB. The footer's sizes say little (the pages hold indices); the batched read stops at 256 MB."""
    path = first_cell(bundle) / "requests.parquet"
    table = pq.read_table(path)
    table = table.take(pa.array([i % table.num_rows for i in range(5000)]))
    bomb = pa.DictionaryArray.from_arrays(pa.array([0] * 5000, pa.int32()), pa.array(["x" * 100_000]))
    table = table.set_column(table.schema.get_field_index("error"), "error", bomb)
    pq.write_table(table, path, store_schema=False)  # no Arrow schema: the column reads back as plain strings
    assert path.stat().st_size < 2_000_000
    rehash(bundle)
    t0 = time.monotonic()
    code, out = run_validate(bundle)
    assert code == 1 and time.monotonic() - t0 < 60
    assert "once decoded" in out, out


def test_a_check_that_crashes_is_a_reason_and_rejects_even_when_its_severity_is_invalid(
        bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(_: object) -> list[object]:
        raise OverflowError("date value out of range")

    monkeypatch.setitem(CHECKS, "validity.power", dataclasses.replace(CHECKS["validity.power"], func=boom))
    code, out = run_validate(bundle)
    assert code == 1 and "validity.power: cannot check: malformed content (OverflowError: date value" in out


@pytest.mark.parametrize("forge", ["one-metric", "outside-but-within"])
def test_forged_reproduction_records_are_refused(bundle: Path, forge: str) -> None:
    doc = record_doc(bundle)
    if forge == "one-metric":  # only the comparison that agrees
        doc["metrics"] = [m for m in doc["metrics"] if m["within_ci"]][:1]
        doc["verdict"] = "agrees"
        said = "does not compare exactly every headline metric"
    else:  # a rerun value far outside the CI, said to be within it
        m = next(m for m in doc["metrics"] if m["within_ci"])
        m["rerun"] = 1e9
        said = "within_ci is not what its values give"
    write_record(bundle, doc)
    assert said in (report(bundle)["reproductions.records"].reason or "")


def test_duplicate_in_disguise_is_found(bundle: Path, tmp_path: Path) -> None:
    """The same requests in reverse order, every timestamp shifted, under a new id with its manifest re-hashed
    (the summary, recomputed from the records, is unchanged)."""
    new = copy_bundle(bundle, tmp_path / "incoming", OTHER_ID)
    edit_json(new / MANIFEST, lambda m: m.update(id=OTHER_ID))
    path = first_cell(new) / "requests.parquet"
    table = pq.read_table(path)
    table = table.take(pa.array(list(range(table.num_rows))[::-1]))
    for col in ("scheduled_ns", "sent_ns", "first_token_ns", "end_ns"):
        i = table.schema.get_field_index(col)
        table = table.set_column(i, table.schema.field(i), pa.compute.add(table.column(i), 1_000_000))
    pq.write_table(table, path, compression="gzip")
    rehash(new)
    res = report(new, against=bundle.parent)
    assert "is the same measurement as" in (res["duplicate.accepted"].reason or "")
    assert res["summary.recomputed"].ok  # the disguise really is the same measurement


def test_control_characters_never_reach_the_terminal_or_the_step_summary(bundle: Path) -> None:
    cell = first_cell(bundle)
    edit_json(cell / "cell.json", lambda d: d.update(status="failed",
                                                    reason="x\r\r## intake: accepted\r\x1b]8;;http://e\x07\u202e"))
    rehash(bundle)
    code, out = run_validate(bundle)
    assert code == 1 and "cell.finished: " in out
    assert not any(c in out for c in "\r\x1b\x07\u202e") and "\\r\\r## intake" in out
    md = markdown(Intake(), "x\r## intake: accepted `code` [a](http://e) www.example.org <b>", "head")
    assert "\r" not in md and "\\#\\# intake" in md and "\\`" in md and "http://" not in md and "<b>" not in md


def test_suite_commit_must_be_an_ancestor_of_the_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A commit merely present in the object store (e.g. fetched with a pull request) is not the suite's
    history: only an ancestor of HEAD is."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@e", *args], cwd=tmp_path,
                              capture_output=True, text=True, check=True).stdout.strip()

    git("init", "-q", "-b", "main")
    git("commit", "-q", "--allow-empty", "-m", "base")
    base = git("rev-parse", "HEAD")
    git("checkout", "-q", "-b", "pr")
    git("commit", "-q", "--allow-empty", "-m", "pr")
    pr = git("rev-parse", "HEAD")
    git("checkout", "-q", "main")
    monkeypatch.setattr(origin, "REPO_ROOT", tmp_path)
    origin.commit_known.cache_clear()
    try:
        assert origin.commit_known(base) is True
        assert origin.commit_known(pr) is False  # in the object store, not in main's history
        assert origin.commit_known("f" * 40) is False
    finally:
        origin.commit_known.cache_clear()


def test_publish_build_fails_on_a_rejected_bundle(bundle: Path, tmp_path: Path) -> None:
    edit_json(first_cell(bundle) / "provenance.json", lambda d: d["suite"].update(git_dirty=True))
    rehash(bundle)
    args = ["leaderboard", "--submissions", str(bundle.parent), "--out", str(tmp_path / "b.parquet")]
    code, _, err = run_cli(*args)
    assert code == 0 and f"rejected {bundle.name}: suite.clean" in err  # make main: shown, built without it
    code, _, err = run_cli(*args, "--strict")
    assert code == 1  # publishing: an accepted bundle that no longer passes stops the deploy


def test_rows_of_the_whole_bundle_are_capped(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many cells each under the per-file cap still cannot add up past the bundle's: no table is read then."""
    from inferboard.submission import bundle as bundle_module
    from inferboard.submission.checks import tables

    monkeypatch.setattr(bundle_module, "MAX_BUNDLE_ROWS", 100)
    monkeypatch.setattr(tables, "MAX_BUNDLE_ROWS", 100)
    res = report(bundle)
    assert "rows > 100" in (res["parquet.caps"].reason or "")
    assert "over 100 rows" in (res["summary.recomputed"].reason or "")  # nothing was read
