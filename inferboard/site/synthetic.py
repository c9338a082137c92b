"""Synthetic leaderboards for the site's tests and benchmark: real cells wrapped as made-up submissions.

A leaderboard written here has the columns of ``LeaderboardRow`` and the ``inferboard.bundles`` metadata that
``inferboard leaderboard`` writes: entries of submitted bundles (with submitters, check results and a
reproduction record), one entry of a custom-workload bundle and one local entry (the same cell as the first
submitted one). Never published: every synthetic row says so in ``flags``.

- :func:`synthesize`: ``cells`` entries under made-up (or given, e.g. hostile) names, the benchmark's scale;
- :func:`resubmit`: every template cell under its own name, as the site tests' stand-in for the real leaderboard.

With ``root``, each entry's cell files (the template cell's folder) are copied to its ``cell_path`` under it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from inferboard.core.paths import REPO_ROOT
from inferboard.results.schema import SUMMARY_SCHEMA, write_rows
from inferboard.site.bundles import BUNDLES_KEY
from inferboard.site.data import segment
from inferboard.submission.registry import all_checks

#: made-up runtime names like the made-up SKUs, models and workloads: no synthetic row carries a real runtime's name
RUNTIMES = tuple(f"runtime-{i:02d}" for i in range(7))
#: numeric columns scaled together (throughputs up, latencies down) so that rows stay self-consistent
_SPEED_UP = ("output_tokens_per_s", "requests_per_s", "goodput_requests_per_s", "total_tokens_per_s",
             "input_tokens_per_s", "interactivity_tokens_per_s_per_user")
#: made-up people and words of the bundles (``names`` may replace each list, e.g. with hostile strings)
DEFAULT_NAMES: dict[str, list[str]] = {
    "submitter": ["Ada Example", "Bo Sample"], "org": ["Example Labs"],
    "notes": ["Synthetic bundle for tests and benchmarks (not measured)."],
    "reason": ["synthetic: one load point marked invalid by a failed check"],
    "submission": [],  # default: 20260101-synthetic-<n>-<hash>
}
CREATED = "2026-01-01T00:00:00Z"


@dataclass(frozen=True)
class TemplateCell:
    """Aggregate summary rows of one real cell, and its folder when the template was a folder of cells."""

    id: str
    rows: list[dict[str, Any]]
    folder: Path | None


@dataclass
class _Entry:
    tmpl: TemplateCell
    names: tuple[str, str, str, str]  # sku, runtime, model, workload
    bundle: str | None  # None: local
    custom: bool = False
    reproduced: bool = False
    speed: float = 1.0
    invalid_reason: str | None = None

    @property
    def cell_id(self) -> str:
        return "/".join(self.names)

    @property
    def cell_path(self) -> str:
        rel = "/".join(segment(n) for n in self.names)
        return f"results/{rel}" if self.bundle is None else f"data/submissions/{segment(self.bundle)}/cells/{rel}"


def default_template() -> Path:
    """The repository's data/ folder: its cells, wherever they are (data/submissions/*/cells/, data/results/)."""
    return REPO_ROOT / "data"


def template_cells(template: Path) -> list[TemplateCell]:
    """The cells of ``template``: a folder (every ``summary.parquet`` under it, outside ``reproductions/``; the
    newest of each cell id: bundle ids begin with their date) or a Parquet file of summary or leaderboard rows;
    aggregate rows only."""
    if template.is_dir():
        files = [p for p in sorted(template.rglob("summary.parquet")) if "reproductions" not in p.parts]
        sources: list[tuple[list[dict[str, Any]], Path | None]] = [(pq.read_table(p).to_pylist(), p.parent)
                                                                    for p in files]
    else:
        sources = [(pq.read_table(template).to_pylist(), None)]
    cells: dict[str, TemplateCell] = {}
    for rows, folder in sources:
        by_id: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            if r["row_kind"] == "aggregate":
                by_id.setdefault(r["cell_id"], []).append({k: r.get(k) for k in SUMMARY_SCHEMA.names})
        for cid, rs in by_id.items():
            cells[cid] = TemplateCell(cid, sorted(rs, key=lambda r: r["load_point"]), folder)
    if not cells:
        raise ValueError(f"no aggregate rows in {template}")
    return [cells[k] for k in sorted(cells)]


def _names(cell_id: str) -> tuple[str, str, str, str]:
    sku, runtime, model, workload = cell_id.split("/")
    return sku, runtime, model, workload


def _bundle_ids(n: int, given: list[str]) -> list[str]:
    """``n`` distinct bundle ids: the given ones (cycled, numbered past the first round), else made up."""
    if given:
        return [given[i % len(given)] + (f"-{i}" if i >= len(given) else "") for i in range(n)]
    return [f"20260101-synthetic-{i}-{hashlib.sha256(str(i).encode()).hexdigest()[:8]}" for i in range(n)]


def _finish(entries: list[_Entry], bundles: list[str], custom: str | None, out: Path, root: Path | None,
            names: dict[str, list[str]], made_up_accuracy: bool = False) -> int:
    """Mark one entry invalid by a failed check, one reproduced; write the rows, metadata and (with root) files.
    ``made_up_accuracy``: a row without an accuracy figure gets one (full marks), so that made-up models rank."""
    checks = all_checks()
    invalid_check = next((c for c in checks if c.severity == "invalid"), None)
    reason = names["reason"][0]
    meta: dict[str, Any] = {}
    for k, bid in enumerate([*bundles, *([custom] if custom else [])]):
        failed = invalid_check is not None and k == 1 and any(e.bundle == bid for e in entries)
        meta[bid] = {"submitter": names["submitter"][k % len(names["submitter"])],
                     "org": names["org"][k % len(names["org"])] if k % 2 == 0 else None,
                     "notes": names["notes"][k % len(names["notes"])], "created_utc": CREATED,
                     "custom": bid == custom, "path": f"data/submissions/{segment(bid)}",
                     "checks": [{"id": c.id, "ok": not (failed and c is invalid_check), "severity": c.severity,
                                 "reason": reason if failed and c is invalid_check else None} for c in checks],
                     "reproductions": []}
        if failed and invalid_check is not None:
            next(e for e in entries if e.bundle == bid).invalid_reason = f"{invalid_check.id}: {reason}"
    first = entries[0]  # submitted: reproduced once on another host (agrees), once on its own (disagrees)
    first.reproduced = True
    home = meta[str(first.bundle)]
    home["reproductions"] = [
        {"path": f"{home['path']}/reproductions/20260102T000000Z-0123456789ab.json", "cell_id": first.cell_id,
         "verdict": "agrees", "different_host": True, "created_utc": CREATED},
        {"path": f"{home['path']}/reproductions/20260103T000000Z-ba9876543210.json", "cell_id": first.cell_id,
         "verdict": "disagrees", "different_host": False, "created_utc": CREATED}]
    rows = []
    for e in entries:
        s, rt, m, w = e.names
        for r in e.tmpl.rows:
            n = dict(r)
            n.update(sku=s, runtime=rt, model=m, workload=w, cell_id=e.cell_id)
            if e.speed != 1.0:
                for col, v in r.items():
                    if not isinstance(v, float) or col.endswith("_count"):
                        continue
                    if col.startswith(_SPEED_UP):
                        n[col] = v * e.speed
                    elif col.endswith("_ms") or "_ms_" in col:
                        n[col] = v / e.speed
            if e.invalid_reason and r is e.tmpl.rows[0]:
                n.update(valid=False, invalid_reason=e.invalid_reason)
            if made_up_accuracy and n.get("accuracy_exact_share") is None:
                n.update(accuracy_exact_share=1.0, accuracy_top5_share=1.0)
            n["flags"] = "; ".join(x for x in (r.get("flags"), "synthetic row (benchmark/test data)") if x)
            n.update(entry_id=f"{e.bundle or 'local'}/{e.cell_id}", origin="local" if e.bundle is None else "submitted",
                     submission_id=e.bundle, submitter=meta[e.bundle]["submitter"] if e.bundle else None,
                     org=meta[e.bundle]["org"] if e.bundle else None, custom_workload=e.custom,
                     reproduced=e.reproduced, cell_path=e.cell_path)
            rows.append(n)
        if root is not None and e.tmpl.folder is not None:
            _copy_cell(e.tmpl.folder, root / e.cell_path)
    write_rows(out, rows, "leaderboard", metadata={BUNDLES_KEY.decode(): json.dumps(meta, sort_keys=True)})
    return len(rows)


def _copy_cell(src: Path, dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest, symlinks=True)


def synthesize(template: Path, out: Path, cells: int, *, seed: int = 0,
               names: dict[str, list[str]] | None = None, root: Path | None = None) -> int:
    """Write a leaderboard of about ``cells`` entries built from the cells of ``template`` (see template_cells);
    returns the rows written. All but two entries are submitted (in 2 bundles, 10 from 1,000 entries); then
    one custom-workload entry and one local entry (cells ≥ 3), both of the first entry's cell.

    ``names`` may give lists for ``sku``, ``runtime``, ``model``, ``workload``, ``submitter``, ``org``, ``notes``,
    ``reason`` (the failed check's reason) and ``submission`` (bundle ids), e.g. hostile strings for tests.
    """
    templates = template_cells(template)
    given = names or {}
    names = {**given, **{k: given.get(k) or v for k, v in DEFAULT_NAMES.items()}}
    skus = names.get("sku") or [f"sku-{i:02d}" for i in range(20)]
    runtimes = names.get("runtime") or list(RUNTIMES)
    models = names.get("model") or [f"model-{i:02d}" for i in range(12)]
    workloads = names.get("workload") or [f"workload-{i:02d}" for i in range(8)]
    rng = random.Random(seed)
    n_sub = max(1, cells - 2) if cells >= 3 else max(1, cells)
    combos = [(sk, rt, m, w) for w, m, rt, sk in  # SKUs vary fastest, workloads slowest
              itertools.islice(itertools.product(workloads, models, runtimes, skus), n_sub)]
    ids = _bundle_ids(3 if cells < 1000 else 11, names["submission"])
    bundles, custom = ids[:-1], ids[-1]
    entries = [_Entry(templates[i % len(templates)], combo, bundles[i % len(bundles)], speed=rng.uniform(0.3, 3.0))
               for i, combo in enumerate(combos)]
    if cells >= 3:
        first = entries[0]
        entries.append(_Entry(first.tmpl, first.names, custom, custom=True, speed=first.speed * 0.9))
        entries.append(_Entry(first.tmpl, first.names, None, speed=first.speed * 1.1))
    return _finish(entries, bundles, custom if cells >= 3 else None, out, root, names, made_up_accuracy=True)


def resubmit(template: Path, out: Path, root: Path | None = None) -> int:
    """Write a leaderboard of every cell of ``template`` under its own name, submitted in one bundle (the
    first cell also in a second bundle, as a custom-workload entry and as a local entry); returns the rows.

    The site tests' stand-in for the leaderboard ``inferboard leaderboard`` builds from data/submissions/."""
    templates = template_cells(template)
    bundles = _bundle_ids(2, [])
    custom = "20260101-synthetic-custom-00c0ffee"
    entries = [_Entry(t, _names(t.id), bundles[0]) for t in templates]
    first = templates[0]
    entries += [_Entry(first, entries[0].names, bundles[1]), _Entry(first, entries[0].names, custom, custom=True),
                _Entry(first, entries[0].names, None)]
    return _finish(entries, bundles, custom, out, root, dict(DEFAULT_NAMES))
