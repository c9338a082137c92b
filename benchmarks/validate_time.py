"""Time and peak memory of `inferboard validate` on the project's bundle and on bundles whose largest cell holds
N requests (its records repeated, so the figures scale with rows, not with what the checks then find).

Each run is a fresh process (peak RSS from getrusage); prints every run and the median per size.
Usage: python benchmarks/validate_time.py [--rows 0,20000,100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import resource, sys, time
from pathlib import Path
from inferboard.submission.validate import validate
t0 = time.perf_counter()
r = validate(Path(sys.argv[1]))
print(time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, int(r.accepted))
"""


def grow(bundle: Path, rows: int) -> None:
    """Repeat the records of the bundle's largest cell up to ``rows`` (ids kept unique)."""
    cell = max(bundle.glob("cells/*/*/*/*"), key=lambda c: pq.read_metadata(c / "summary.parquet").num_rows)
    table = pq.read_table(cell / "requests.parquet")
    big = table.take(pa.array([i % table.num_rows for i in range(rows)]))
    ids = pa.array([f"{r}-{i}" for i, r in enumerate(big.column("request_id").to_pylist())])
    big = big.set_column(big.schema.get_field_index("request_id"), "request_id", ids)
    pq.write_table(big, cell / "requests.parquet")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="0,20000,100000", help="requests in the largest cell (0: as committed)")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    src = sorted(p for p in (ROOT / "data" / "submissions").iterdir() if p.is_dir())[0]
    out = {}
    for rows in [int(x) for x in args.rows.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            bundle = Path(tmp) / src.name
            shutil.copytree(src, bundle)
            if rows:
                grow(bundle, rows)
            runs = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                res = subprocess.run([sys.executable, "-c", CHILD, str(bundle)], capture_output=True, text=True,
                                     check=True)
                secs, rss_kb, accepted = res.stdout.split()
                runs.append({"validate_s": round(float(secs), 2), "process_s": round(time.perf_counter() - t0, 2),
                             "peak_rss_mb": round(int(rss_kb) / 1024), "accepted": bool(int(accepted))})
                print(json.dumps({"rows": rows or "committed", **runs[-1]}), flush=True)
            out[rows or "committed"] = {"median_validate_s": statistics.median(r["validate_s"] for r in runs),
                                        "median_peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs)}
    print(json.dumps({"bundle": src.name, "medians": out}, indent=2))


if __name__ == "__main__":
    main()
