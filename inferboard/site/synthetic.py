"""Synthetic leaderboards for the site's benchmark and browser tests: real rows copied under made-up names.

Never published: every synthetic row says so in ``flags``, and its cell id uses the names given here.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

#: made-up runtime names like the made-up SKUs, models and workloads: no synthetic row carries a real runtime's name
RUNTIMES = tuple(f"runtime-{i:02d}" for i in range(7))
#: numeric columns scaled together (throughputs up, latencies down) so that rows stay self-consistent
_SPEED_UP = ("output_tokens_per_s", "requests_per_s", "goodput_requests_per_s", "total_tokens_per_s",
             "input_tokens_per_s", "interactivity_tokens_per_s_per_user")


def synthesize(template: Path, out: Path, cells: int, *, seed: int = 0,
               names: dict[str, list[str]] | None = None) -> int:
    """Write a leaderboard of ``cells`` cells built from the aggregate rows of ``template``; returns rows written.

    ``names`` may give lists for ``sku``, ``runtime``, ``model`` and ``workload`` (e.g. hostile strings for tests).
    """
    table = pq.read_table(template)
    rows = [r for r in table.to_pylist() if r["row_kind"] == "aggregate"]
    by_cell: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_cell.setdefault(r["cell_id"], []).append(r)
    templates = [by_cell[k] for k in sorted(by_cell)]
    names = names or {}
    skus = names.get("sku") or [f"sku-{i:02d}" for i in range(20)]
    runtimes = names.get("runtime") or list(RUNTIMES)
    models = names.get("model") or [f"model-{i:02d}" for i in range(12)]
    workloads = names.get("workload") or [f"workload-{i:02d}" for i in range(8)]
    rng = random.Random(seed)
    combos = itertools.islice(itertools.product(workloads, models, runtimes, skus), cells)
    out_rows = []
    for i, (w, m, rt, s) in enumerate(combos):
        tmpl = templates[i % len(templates)]
        speed = rng.uniform(0.3, 3.0)
        for r in tmpl:
            n = dict(r)
            n.update(sku=s, runtime=rt, model=m, workload=w, cell_id=f"{s}/{rt}/{m}/{w}")
            for col, v in r.items():
                if not isinstance(v, float) or col.endswith("_count"):
                    continue
                if col.startswith(_SPEED_UP):
                    n[col] = v * speed
                elif col.endswith("_ms") or "_ms_" in col:
                    n[col] = v / speed
            n["flags"] = "; ".join(x for x in (r.get("flags"), "synthetic row (benchmark/test data)") if x)
            out_rows.append(n)
    if len(out_rows) == 0:
        raise ValueError("no aggregate rows in the template")
    pq.write_table(pa.Table.from_pylist(out_rows, schema=table.schema), out)
    return len(out_rows)
